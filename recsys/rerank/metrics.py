"""Beyond-accuracy metrics of recommendation lists, vectorised over users.

Per list: ``ild`` (mean pairwise 1 − cosine of text embeddings), ``long_tail_share``,
``miscalibration`` (KL(p ‖ (1−α)q + αp), α = 0.01, p = history category mix, q = list
category mix) and ``avg_popularity`` (mean training interactions). Per population:
coverage, Gini of exposure and NDCG@k of a single held-out target per user.
Lists are (U, k) int arrays; entries < 0 are padding and ignored.

These are thin adapters: every formula lives in :mod:`recsys.evaluation.metrics`; here
they read the item side (embeddings, categories, popularity) from a
:class:`~recsys.rerank.context.RerankContext`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recsys.evaluation.metrics import (
    CALIBRATION_ALPHA,
    calibration_kl,
    coverage,
    exposure_gini,
    ild_per_list,
    list_mean,
    ndcg_of_ranks,
)
from recsys.rerank.context import RerankContext

LIST_METRICS = ("ild", "long_tail_share", "miscalibration", "avg_popularity")

__all__ = [
    "LIST_METRICS",
    "avg_popularity",
    "coverage",
    "exposure_gini",
    "group_share",
    "ild",
    "list_metrics",
    "list_metrics_batch",
    "long_tail_share",
    "miscalibration",
    "ndcg_at_k",
]


def _as_lists(lists: np.ndarray | Sequence[int]) -> np.ndarray:
    a = np.asarray(lists, dtype=np.int64)
    return a[None, :] if a.ndim == 1 else a


def ild(ctx: RerankContext, lists: np.ndarray) -> np.ndarray:
    """(U,) mean pairwise 1 − cosine similarity within each list (0 for < 2 items)."""
    return ild_per_list(_as_lists(lists), ctx.emb, ctx.similarity())


def group_share(mask: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """(U,) share of each list's items that lie in ``mask`` (0 for an empty list)."""
    return list_mean(np.asarray(mask, dtype=bool), _as_lists(lists))


def long_tail_share(ctx: RerankContext, lists: np.ndarray) -> np.ndarray:
    """(U,) share of long-tail items (bottom 80% by training popularity) per list."""
    return group_share(ctx.long_tail, lists)


def miscalibration(
    ctx: RerankContext, lists: np.ndarray, hist_dist: np.ndarray, alpha: float = CALIBRATION_ALPHA
) -> np.ndarray:
    """(U,) KL(p ‖ (1−α)q + αp) of each list's category mix q against the history mix p."""
    a = _as_lists(lists)
    valid = a >= 0
    q = (ctx.category_matrix[np.maximum(a, 0)].astype(np.float64) * valid[..., None]).sum(axis=1)
    mass = q.sum(axis=1, keepdims=True)
    q = np.divide(q, mass, out=np.zeros_like(q), where=mass > 0)
    return calibration_kl(np.atleast_2d(np.asarray(hist_dist, dtype=np.float64)), q, alpha)


def avg_popularity(ctx: RerankContext, lists: np.ndarray) -> np.ndarray:
    """(U,) mean training interactions of the listed items."""
    return list_mean(ctx.popularity, _as_lists(lists))


def list_metrics_batch(ctx: RerankContext, lists: np.ndarray, hist_dist: np.ndarray) -> dict[str, np.ndarray]:
    """The four per-list metrics, each (U,)."""
    return {
        "ild": ild(ctx, lists),
        "long_tail_share": long_tail_share(ctx, lists),
        "miscalibration": miscalibration(ctx, lists, hist_dist),
        "avg_popularity": avg_popularity(ctx, lists),
    }


def list_metrics(ctx: RerankContext, items: Sequence[int] | np.ndarray, history: Sequence[int] | np.ndarray) -> dict:
    """The four per-list metrics of one list against one history, as plain floats."""
    p = ctx.history_distribution([np.asarray(history, dtype=np.int64)])
    m = list_metrics_batch(ctx, _as_lists(items), p)
    return {name: float(v[0]) for name, v in m.items()}


def ndcg_at_k(lists: np.ndarray, targets: np.ndarray, k: int = 10) -> np.ndarray:
    """(U,) NDCG@k of one held-out target per user: 1/log2(rank + 1) if within the top k."""
    a = _as_lists(lists)[:, :k]
    hit = a == np.asarray(targets, dtype=np.int64)[:, None]
    rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, k + 1)
    return ndcg_of_ranks(rank, k)
