"""Evaluate any :class:`~recsys.models.base.Scorer` under the leave-one-out protocol (:data:`PROTOCOL`)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from recsys.data.types import DataError, Dataset
from recsys.evaluation.metrics import (
    accuracy_metrics,
    average_popularity,
    coverage,
    exposure_gini,
    intra_list_diversity,
    long_tail_share,
    miscalibration,
    ndcg_of_ranks,
    rank_of_targets,
    top_k_lists,
)
from recsys.evaluation.split import Split, Stage
from recsys.models.base import Scorer

LIST_K = 10  # beyond-accuracy metrics are over each user's top-10
MAX_GROUPS = 25  # attribute columns with more distinct values (e.g. zip codes) are not groups
# buckets of a test target's training popularity (interactions at the stage's input):
# where a content (text) signal should matter most is the rare end
TARGET_POP_EDGES = (10, 50, 200)
TARGET_POP_ATTR = "target item popularity"

PROTOCOL = {
    "split": "leave-one-out by time: per user last = test, second-to-last = validation, rest = train",
    "ranking": "full ranking over all items, seen items excluded (never sampled negatives)",
    "users": "all users with >= 3 interactions",
    "ties": "pessimistic: rank = 1 + #items scoring >= the target",
    "summary": "leave-one-out by time, full ranking, seen items excluded",
}


def score_ranks(
    scorer: Scorer,
    split: Split,
    which: Stage = "test",
    batch_size: int = 256,
    list_k: int = LIST_K,
) -> tuple[np.ndarray, np.ndarray]:
    """(ranks (E,), top-``list_k`` lists (E, list_k)) of the evaluated users, scored in batches."""
    hist, ts, targets = split.inputs(which)
    n = len(hist)
    ranks = np.zeros(n, dtype=np.int64)
    lists = np.full((n, list_k), -1, dtype=np.int64)
    for a in range(0, n, batch_size):
        b = min(n, a + batch_size)
        s = np.asarray(scorer.score(hist[a:b], ts[a:b]))
        if s.shape != (b - a, split.n_items):
            raise ValueError(
                f"scorer {getattr(scorer, 'name', scorer)!r} returned shape {s.shape}, "
                f"expected {(b - a, split.n_items)}"
            )
        ranks[a:b] = rank_of_targets(s, targets[a:b], hist[a:b])
        lists[a:b] = top_k_lists(s, list_k, hist[a:b])
    return ranks, lists


def group_ndcg(
    ds: Dataset, split: Split, ranks: np.ndarray, k: int = 10, max_groups: int = MAX_GROUPS
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """NDCG@k per value of each user attribute column (evaluated users only), and the
    group sizes. Columns with more than ``max_groups`` distinct values are skipped."""
    by: dict[str, dict[str, float]] = {}
    sizes: dict[str, dict[str, int]] = {}
    if ds.user_attrs is None or len(split.eval_users) == 0:
        return by, sizes
    nd = ndcg_of_ranks(ranks, k)
    for col in ds.user_attrs.columns:
        vals = ds.user_attrs[col].to_numpy()[split.eval_users].astype(str)
        uniq = sorted(set(vals.tolist()))
        if len(uniq) > max_groups:
            continue
        by[str(col)] = {v: float(nd[vals == v].mean()) for v in uniq}
        sizes[str(col)] = {v: int((vals == v).sum()) for v in uniq}
    return by, sizes


def target_popularity_labels(edges: Sequence[int] = TARGET_POP_EDGES) -> list[str]:
    """Bucket labels for :func:`target_popularity_ndcg`, rarest first ("0-9", ..., "200+")."""
    lo = [0, *edges]
    return [f"{a}-{b - 1}" for a, b in zip(lo, edges)] + [f"{edges[-1]}+"]


def target_popularity_ndcg(
    ranks: np.ndarray, targets: np.ndarray, pop: np.ndarray, k: int = 10,
    edges: Sequence[int] = TARGET_POP_EDGES,
) -> tuple[dict[str, float], dict[str, int]]:
    """NDCG@k of the evaluated users grouped by how many training interactions their
    target item has (``pop[target]``), and the group sizes; empty buckets are left out."""
    nd = ndcg_of_ranks(ranks, k)
    bucket = np.searchsorted(np.asarray(edges), np.asarray(pop)[np.asarray(targets, dtype=np.int64)], side="right")
    by: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for b, label in enumerate(target_popularity_labels(edges)):
        sel = bucket == b
        if sel.any():
            by[label] = float(nd[sel].mean())
            sizes[label] = int(sel.sum())
    return by, sizes


def evaluate_scorer(
    scorer: Scorer,
    ds: Dataset,
    split: Split,
    which: Stage = "test",
    ks: Sequence[int] = (5, 10),
    batch_size: int = 256,
    text_emb: np.ndarray | None = None,
    groups: bool = True,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Every metric of the protocol for ``scorer`` at stage ``which`` ("valid" or "test").

    Returns plain numbers: ``users``; ``hr@k``, ``ndcg@k``, ``mrr@k`` for k in ``ks``;
    over each user's top-10 (seen items excluded): ``coverage@10``, ``ild@10`` (only
    with ``text_emb``), ``avg_popularity`` (mean training interactions of recommended
    items, training = the stage's input), ``long_tail_share`` (share of recommended
    slots in the bottom 80% of items by that popularity), ``gini`` (of exposure over
    all items), ``miscalibration`` (KL, alpha=0.01; only if items have categories);
    with ``groups``: ``ndcg@10_by`` {attribute: {value: NDCG@10}} and ``users_by``
    (group sizes) for each user attribute column, and ``ndcg@10_by_target_pop``
    {bucket: NDCG@10} with ``users_by_target_pop`` — users grouped by the training
    popularity of their target item (does a model find the rare items?).
    """
    if split.n_eval == 0:
        raise DataError("no users to evaluate (every user has fewer than 3 interactions)")
    if split.n_items != ds.n_items:
        raise DataError(f"split has {split.n_items} items, dataset {ds.n_items}: split of another dataset")
    if progress:
        progress(0.0, f"scoring {split.n_eval} users with {getattr(scorer, 'name', 'model')}")
    ranks, lists = score_ranks(scorer, split, which, batch_size)
    out: dict[str, Any] = {"users": split.n_eval}
    out.update(accuracy_metrics(ranks, ks))
    if 10 not in ks:
        out["ndcg@10"] = float(ndcg_of_ranks(ranks, 10).mean())
    pop = split.train_popularity(which)
    out[f"coverage@{LIST_K}"] = coverage(lists, ds.n_items)
    if text_emb is not None:
        if text_emb.shape[0] != ds.n_items:
            raise DataError(f"text embeddings have {text_emb.shape[0]} rows, dataset {ds.n_items} items")
        out[f"ild@{LIST_K}"] = intra_list_diversity(lists, text_emb)
    out["avg_popularity"] = average_popularity(lists, pop)
    out["long_tail_share"] = long_tail_share(lists, pop)
    out["gini"] = exposure_gini(lists, ds.n_items)
    if ds.categories:
        hist, _, _ = split.inputs(which)
        mc = miscalibration(hist, lists, ds.category_matrix)
        if mc is not None:
            out["miscalibration"] = mc
    if groups:
        by, sizes = group_ndcg(ds, split, ranks)
        if by:
            out["ndcg@10_by"] = by
            out["users_by"] = sizes
        _, _, targets = split.inputs(which)
        out["ndcg@10_by_target_pop"], out["users_by_target_pop"] = target_popularity_ndcg(ranks, targets, pop)
    if progress:
        progress(1.0, f"{getattr(scorer, 'name', 'model')}: NDCG@10 {out['ndcg@10']:.4f}")
    return out


def ranking_metrics(
    scorer: Scorer, split: Split, which: Stage = "valid", ks: Sequence[int] = (10,), batch_size: int = 256
) -> dict[str, float]:
    """Accuracy metrics only (HR/NDCG/MRR@k), e.g. validation NDCG@10 for early stopping."""
    hist, ts, targets = split.inputs(which)
    ranks = np.zeros(len(hist), dtype=np.int64)
    for a in range(0, len(hist), batch_size):
        b = min(len(hist), a + batch_size)
        s = np.asarray(scorer.score(hist[a:b], ts[a:b]))
        ranks[a:b] = rank_of_targets(s, targets[a:b], hist[a:b])
    return accuracy_metrics(ranks, ks)
