"""Beyond-accuracy metrics of recommendation lists (DESIGN §4), vectorised over users.

Per list: ``ild`` (mean pairwise 1 − cosine of text embeddings), ``long_tail_share``,
``miscalibration`` (KL(p ‖ (1−α)q + αp), α = 0.01, p = history category mix, q = list
category mix) and ``avg_popularity`` (mean training interactions). Per population:
coverage, Gini of exposure and NDCG@k of a single held-out target per user.
Lists are (U, k) int arrays; entries < 0 are padding and ignored.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recsys.rerank.core import ALPHA, RerankContext, _kl

LIST_METRICS = ("ild", "long_tail_share", "miscalibration", "avg_popularity")


def _as_lists(lists: np.ndarray | Sequence[int]) -> np.ndarray:
    a = np.asarray(lists, dtype=np.int64)
    return a[None, :] if a.ndim == 1 else a


def ild(ctx: RerankContext, lists: np.ndarray) -> np.ndarray:
    """(U,) mean pairwise 1 − cosine similarity within each list (0 for < 2 items)."""
    a = _as_lists(lists)
    valid = a >= 0
    safe = np.maximum(a, 0)
    full = ctx.similarity()
    if full is not None:
        sim = full[safe[:, :, None], safe[:, None, :]].astype(np.float64)
    else:
        e = ctx.emb[safe].astype(np.float64)
        sim = np.einsum("ukd,ujd->ukj", e, e)
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(a.shape[1], dtype=bool)
    n_pairs = pair.sum(axis=(1, 2))
    dist = np.where(pair, 1.0 - sim, 0.0).sum(axis=(1, 2))
    return np.divide(dist, n_pairs, out=np.zeros(a.shape[0]), where=n_pairs > 0)


def group_share(mask: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """(U,) share of each list's items that lie in ``mask`` (0 for an empty list)."""
    a = _as_lists(lists)
    valid = a >= 0
    hits = (mask[np.maximum(a, 0)] & valid).sum(axis=1)
    n = valid.sum(axis=1)
    return np.divide(hits, n, out=np.zeros(a.shape[0]), where=n > 0)


def long_tail_share(ctx: RerankContext, lists: np.ndarray) -> np.ndarray:
    """(U,) share of long-tail items (bottom 80% by training popularity) per list."""
    return group_share(ctx.long_tail, lists)


def miscalibration(ctx: RerankContext, lists: np.ndarray, hist_dist: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """(U,) KL(p ‖ (1−α)q + αp) of each list's category mix q against the history mix p."""
    a = _as_lists(lists)
    valid = a >= 0
    q = (ctx.category_matrix[np.maximum(a, 0)].astype(np.float64) * valid[..., None]).sum(axis=1)
    mass = q.sum(axis=1, keepdims=True)
    q = np.divide(q, mass, out=np.zeros_like(q), where=mass > 0)
    return _kl(np.atleast_2d(np.asarray(hist_dist, dtype=np.float64)), q, alpha)


def avg_popularity(ctx: RerankContext, lists: np.ndarray) -> np.ndarray:
    """(U,) mean training interactions of the listed items."""
    a = _as_lists(lists)
    valid = a >= 0
    tot = np.where(valid, ctx.popularity[np.maximum(a, 0)], 0).sum(axis=1).astype(np.float64)
    n = valid.sum(axis=1)
    return np.divide(tot, n, out=np.zeros(a.shape[0]), where=n > 0)


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


# ---------------------------------------------------------------------------------------
# population metrics
# ---------------------------------------------------------------------------------------
def coverage(lists: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    a = _as_lists(lists)
    return float(np.unique(a[a >= 0]).shape[0] / max(n_items, 1))


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = perfectly equal)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, tot = x.shape[0], x.sum()
    if n == 0 or tot <= 0:
        return 0.0
    idx = np.arange(1, n + 1)
    return float(((2 * idx - n - 1) * x).sum() / (n * tot))


def exposure_gini(lists: np.ndarray, n_items: int) -> float:
    """Gini of item exposure (appearances in the lists) over the whole catalogue."""
    a = _as_lists(lists)
    return gini(np.bincount(a[a >= 0], minlength=n_items))


def ndcg_at_k(lists: np.ndarray, targets: np.ndarray, k: int = 10) -> np.ndarray:
    """(U,) NDCG@k of one held-out target per user: 1/log2(rank + 1) if within the top k."""
    a = _as_lists(lists)[:, :k]
    hit = a == np.asarray(targets, dtype=np.int64)[:, None]
    rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    return np.where(rank > 0, 1.0 / np.log2(np.maximum(rank, 1) + 1), 0.0)
