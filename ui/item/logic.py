"""Item view numbers (pure: no streamlit): the default item, its popularity rank, who
gets it in their lists, and its nearest neighbours by text embedding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.types import Dataset


def default_item(ds: Dataset) -> str:
    """The most popular item (used when no item is selected)."""
    return ds.item_ids[int(np.argmax(ds.item_popularity))]


def popularity_rank(ds: Dataset, i: int) -> int:
    pop = ds.item_popularity
    return int((pop > pop[i]).sum()) + 1


def who_gets(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """Users with item i in their model top-k and/or re-ranked top-k, with ranks."""
    hb = base == i
    ha = after == i
    users = np.flatnonzero(hb.any(axis=1) | ha.any(axis=1))
    rank_b = np.where(hb[users].any(axis=1), hb[users].argmax(axis=1) + 1, 0)
    rank_a = np.where(ha[users].any(axis=1), ha[users].argmax(axis=1) + 1, 0)
    df = pd.DataFrame(
        {
            "user_id": [ds.user_ids[int(u)] for u in users],
            "rank (model)": [int(r) if r else None for r in rank_b],
            "rank (re-ranked)": [int(r) if r else None for r in rank_a],
            "history length": np.diff(ds.user_offsets)[users].astype(int),
        }
    )
    if ds.user_attrs is not None:
        for c in ds.user_attrs.columns[:4]:
            df[str(c)] = ds.user_attrs[c].iloc[users].astype(str).to_numpy()
    return df.sort_values(["rank (model)", "rank (re-ranked)"], na_position="last").reset_index(drop=True)


def similar_items(emb: np.ndarray, i: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The n items with the highest text-embedding cosine to item i (itself excluded)."""
    sims = emb @ emb[i]
    sims = np.asarray(sims, dtype=np.float64).copy()
    sims[i] = -np.inf
    idx = np.argsort(-sims, kind="stable")[:n]
    return idx, sims[idx]


def similar_table(ds: Dataset, emb: np.ndarray, i: int, n: int = 10) -> pd.DataFrame:
    idx, sims = similar_items(emb, i, n)
    return pd.DataFrame(
        {
            "item_id": [ds.item_ids[int(j)] for j in idx],
            "title": [ds.titles[int(j)] for j in idx],
            "categories": [", ".join(ds.item_categories[int(j)]) for j in idx],
            "cosine": np.round(sims, 3),
            "interactions": ds.item_popularity[idx].astype(int),
        }
    )


# ---- from a serving table (big data: the model's own order, no session-wide scoring) ----
def table_audience(path: str, item_id: str, k: int) -> pd.DataFrame:
    """``user_id, rank`` of the users with ``item_id`` in their top ``k`` of a serving
    table (a folder of Parquet shards or one file), sorted by rank then user. pyarrow
    applies the filter while it scans, so only matching rows are held in memory."""
    df = pd.read_parquet(path, columns=["user_id", "rank"],
                         filters=[("item_id", "==", str(item_id)), ("rank", "<=", int(k))])  # fmt: skip
    df = df.astype({"user_id": str, "rank": "int64"})
    return df.sort_values(["rank", "user_id"], kind="stable").reset_index(drop=True)


def rank_counts(ranks: np.ndarray, k: int) -> np.ndarray:
    """(k,) how many users have the item at rank 1 … k (ranks are 1-based)."""
    r = np.asarray(ranks, dtype=np.int64)
    r = r[(r >= 1) & (r <= k)]
    return np.bincount(r - 1, minlength=k)[:k]


#: The "who gets it" table from a serving table lists at most this many users (best ranks
#: first): a popular item can sit in hundreds of thousands of lists.
WHO_LIMIT = 10_000


def who_gets_from_table(ds: Dataset, audience: pd.DataFrame, limit: int = WHO_LIMIT) -> pd.DataFrame:
    """The "who gets it" table from a serving table's rows of one item (sorted by rank):
    user, model rank, history length and up to four user attributes, the first ``limit``
    users (users unknown to ``ds`` are left out)."""
    idx = pd.Index(ds.user_ids).get_indexer(audience["user_id"].astype(str).to_numpy())
    keep = np.flatnonzero(idx >= 0)[:limit]
    users = idx[keep].astype(np.int64)
    df = pd.DataFrame(
        {
            "user_id": audience["user_id"].to_numpy()[keep],
            "rank (model)": audience["rank"].to_numpy()[keep].astype(int),
            "history length": np.diff(ds.user_offsets)[users].astype(int),
        }
    )
    if ds.user_attrs is not None:
        for c in ds.user_attrs.columns[:4]:
            df[str(c)] = ds.user_attrs[c].iloc[users].astype(str).to_numpy()
    return df


def item_exposure(exposure: pd.DataFrame, item_id: str) -> int:
    """The item's exposure (users with it in their top k) from ``exposure_from_table``."""
    hit = exposure.loc[exposure["item_id"].astype(str) == str(item_id), "exposure"]
    return int(hit.iloc[0]) if len(hit) else 0


def category_shares(ds: Dataset, exposure: pd.DataFrame, cats: list[str]) -> list[float]:
    """Share of all top-k list slots that go to items of each category in ``cats``
    (``"(no category)"``: items without one), from ``exposure_from_table``."""
    idx = pd.Index(ds.item_ids).get_indexer(exposure["item_id"].astype(str).to_numpy())
    counts = exposure["exposure"].to_numpy(dtype=np.float64)[idx >= 0]
    idx = idx[idx >= 0]
    total = float(counts.sum())
    out = []
    for c in cats:
        if c == "(no category)":
            member = np.fromiter((not cs for cs in ds.item_categories), dtype=bool, count=ds.n_items)
        else:
            member = np.fromiter((c in cs for cs in ds.item_categories), dtype=bool, count=ds.n_items)
        out.append(float(counts[member[idx]].sum() / total) if total > 0 else 0.0)
    return out


@dataclass(frozen=True)
class TableItem:
    """One item's audience and exposure from a serving table (the model's own order)."""

    users: int  # users with the item in their top k
    listed: int  # rows of who (at most WHO_LIMIT)
    exposure_rank: int  # 1 = the most exposed item
    rank_counts: np.ndarray  # (k,) users holding it at rank 1 … k
    who: pd.DataFrame  # who_gets_from_table
    categories: list[str]  # the item's categories (or "(no category)")
    category_shares: list[float]  # share of all list slots per category


def item_from_table(ds: Dataset, i: int, exposure: pd.DataFrame, audience: pd.DataFrame, k: int) -> TableItem:
    """Assemble :class:`TableItem` from ``exposure_from_table`` and :func:`table_audience`."""
    item_id = ds.item_ids[i]
    users = item_exposure(exposure, item_id)
    counts = exposure["exposure"].to_numpy(dtype=np.int64)
    cats = list(ds.item_categories[i]) or ["(no category)"]
    who = who_gets_from_table(ds, audience)
    return TableItem(
        users=users,
        listed=len(who),
        exposure_rank=int((counts > users).sum()) + 1,
        rank_counts=rank_counts(audience["rank"].to_numpy(), k),
        who=who,
        categories=cats,
        category_shares=category_shares(ds, exposure, cats),
    )
