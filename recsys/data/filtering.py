"""Iterative N-core filtering: keep only users and items with at least N interactions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.types import DataError, Dataset, build_dataset


def n_core_mask(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int, n: int) -> np.ndarray:
    """Boolean mask of the interactions that survive iterative N-core filtering.

    Users and items with fewer than ``n`` remaining interactions are removed, and the
    counts recomputed, until every remaining user and item has at least ``n``.
    """
    keep = np.ones(user.shape[0], dtype=bool)
    while True:
        uc = np.bincount(user[keep], minlength=n_users)
        ic = np.bincount(item[keep], minlength=n_items)
        new = keep & (uc[user] >= n) & (ic[item] >= n)
        if new.sum() == keep.sum():
            return keep
        keep = new


def filter_min_count(ds: Dataset, n: int) -> Dataset:
    """Iterative N-core on users and items; rebuilt so the fingerprint reflects the result.

    Items that are left without interactions (including catalogue items nobody
    interacted with) are dropped; user attributes, titles, categories and text of the
    survivors are kept. Raises :class:`DataError` when nothing is left.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"--min-count must be a positive integer, got {n!r}")
    keep = n_core_mask(ds.user, ds.item, ds.n_users, ds.n_items, int(n))
    if not keep.any():
        raise DataError(
            f"--min-count {n} leaves no interactions ({ds.n_users} users, {ds.n_items} items, "
            f"{ds.n_interactions} interactions before filtering)"
        )
    return subset_interactions(ds, keep)


def sample_users(ds: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """A seeded random ``fraction`` of the users with all their interactions (items nobody
    in the sample interacted with are dropped) — a sparser version of the same world, e.g.
    to see how a model behaves when items have fewer interactions."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise DataError(f"user fraction must be in (0, 1], got {fraction!r}")
    rng = np.random.default_rng(seed)
    n = max(1, int(round(fraction * ds.n_users)))
    chosen = np.zeros(ds.n_users, dtype=bool)
    chosen[rng.choice(ds.n_users, size=n, replace=False)] = True
    return subset_interactions(ds, chosen[ds.user])


def subset_interactions(ds: Dataset, keep: np.ndarray) -> Dataset:
    """The dataset rebuilt from the interactions where ``keep`` is true (fingerprint,
    ids and the survivors' metadata as :func:`filter_min_count` describes)."""
    if not keep.any():
        raise DataError("no interactions left")
    u, i = ds.user[keep], ds.item[keep]
    uids = np.asarray(ds.user_ids, dtype=object)
    iids = np.asarray(ds.item_ids, dtype=object)
    inter = pd.DataFrame({"user_id": uids[u], "item_id": iids[i], "timestamp": ds.timestamp[keep]})
    if ds.rating is not None:
        inter["rating"] = ds.rating[keep]
    kept_items = np.unique(i)
    items = pd.DataFrame(
        {
            "item_id": iids[kept_items],
            "title": [ds.titles[k] for k in kept_items],
            "categories": [ds.item_categories[k] for k in kept_items],
            "text": [ds.item_text[k] for k in kept_items],
        }
    )
    users = None
    if ds.user_attrs is not None:
        users = ds.user_attrs.copy()
        users.insert(0, "user_id", list(ds.user_ids))
    return build_dataset(ds.source, inter, items, users, warnings=ds.warnings, truth=ds.truth,
                         tie_order=ds.tie_order)
