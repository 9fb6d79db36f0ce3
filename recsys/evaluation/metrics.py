"""Ranking and beyond-accuracy metrics (DESIGN §4). Full ranking only — never sampled negatives.

Conventions used throughout:

* A *rank* is 1-based, computed over **all** items except the user's seen (excluded)
  items. The target itself is never excluded, even if it also occurs in the history
  (re-consumption), so every target is rankable.
* **Ties** are counted pessimistically by default: ``rank = 1 + #{other rankable items
  with score >= target score}``. This is the only rule under which a degenerate scorer
  (e.g. constant scores) cannot look good; with continuous model scores ties are
  practically absent, so it changes nothing for real models. ``ties="optimistic"``
  gives ``1 + #{score > target score}`` for comparison. NaN scores rank below
  everything (a NaN target gets the worst rank).
* Recommendation *lists* are ``(B, k)`` int arrays of item indices, best first, padded
  with ``-1`` when fewer than ``k`` items are rankable.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import scipy.sparse as sp

from recsys.data.types import DataError

Ties = Literal["pessimistic", "optimistic"]


def _exclusion_mask(n_rows: int, n_items: int, exclude: Sequence[np.ndarray] | None) -> np.ndarray:
    """Boolean (B, n_items): True where an item may be ranked/recommended."""
    mask = np.ones((n_rows, n_items), dtype=bool)
    if exclude is not None:
        if len(exclude) != n_rows:
            raise ValueError(f"exclude has {len(exclude)} rows, scores have {n_rows}")
        lens = np.fromiter((len(e) for e in exclude), dtype=np.int64, count=n_rows)
        if lens.sum():
            rows = np.repeat(np.arange(n_rows), lens)
            cols = np.concatenate([np.asarray(e, dtype=np.int64).ravel() for e in exclude])
            mask[rows, cols] = False
    return mask


def rank_of_targets(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: Sequence[np.ndarray] | None = None,
    ties: Ties = "pessimistic",
) -> np.ndarray:
    """1-based rank of ``targets[b]`` among all items in ``scores[b]`` not in ``exclude[b]``.

    See the module docstring for the tie rule. Returns int64 (B,).
    """
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', not {ties!r}")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be (B, n_items), got shape {s.shape}")
    b, n = s.shape
    t_idx = np.asarray(targets, dtype=np.int64).ravel()
    if t_idx.shape[0] != b:
        raise ValueError(f"{t_idx.shape[0]} targets for {b} score rows")
    if b and (t_idx.min() < 0 or t_idx.max() >= n):
        raise ValueError("target item index out of range")
    rows = np.arange(b)
    mask = _exclusion_mask(b, n, exclude)
    mask[rows, t_idx] = False  # the target is compared, not counted
    t = s[rows, t_idx]
    t = np.where(np.isnan(t), -np.inf, t)[:, None]
    ahead = (s >= t) if ties == "pessimistic" else (s > t)
    return 1 + (ahead & mask).sum(axis=1).astype(np.int64)


def ndcg_of_ranks(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with one relevant item: 1/log2(rank+1) if rank <= k else 0."""
    r = np.asarray(ranks, dtype=np.float64)
    return np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)


def accuracy_metrics(ranks: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """HR@k, NDCG@k, MRR@k (means over users) from 1-based target ranks."""
    r = np.asarray(ranks, dtype=np.float64).ravel()
    if r.size == 0:
        raise DataError("no users to evaluate (every user has fewer than 3 interactions)")
    out: dict[str, float] = {}
    for k in ks:
        hit = r <= k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(ndcg_of_ranks(r, k).mean())
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / r, 0.0).mean())
    return out


def top_k_lists(scores: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """(B, k) best items per row, best first, excluded items never included; ties go to
    the smaller item index; rows with fewer than k rankable items are padded with -1."""
    s = np.array(scores, dtype=np.float64, copy=True)
    b, n = s.shape
    s[np.isnan(s)] = -np.inf
    mask = _exclusion_mask(b, n, exclude)
    s[~mask] = -np.inf
    kk = min(k, n)
    if kk <= 0 or b == 0:
        return np.full((b, max(k, 0)), -1, dtype=np.int64)
    part = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (b, 1))
    vals = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    lists = np.take_along_axis(part, order, axis=1).astype(np.int64)
    rankable = np.take_along_axis(mask, lists, axis=1)
    lists[~rankable] = -1
    if kk < k:
        lists = np.concatenate([lists, np.full((b, k - kk), -1, dtype=np.int64)], axis=1)
    return lists


# ---- beyond accuracy ---------------------------------------------------------------


def coverage(lists: np.ndarray, n_items: int) -> float:
    """Distinct items recommended across all lists / n_items."""
    v = lists[lists >= 0]
    return float(np.unique(v).size / n_items) if n_items else 0.0


def intra_list_diversity(lists: np.ndarray, emb: np.ndarray) -> float:
    """Mean over lists (with >= 2 items) of the mean pairwise ``1 - cosine`` of item embeddings."""
    e = np.asarray(emb, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    e = e / np.where(norms > 0, norms, 1.0)
    valid = lists >= 0
    x = e[np.where(valid, lists, 0)]  # (B, k, d)
    sim = np.einsum("bid,bjd->bij", x, x)
    k = lists.shape[1]
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(k, dtype=bool)[None]
    n_pairs = pair.sum(axis=(1, 2))
    ok = n_pairs > 0
    if not ok.any():
        return 0.0
    per_list = ((1.0 - sim) * pair).sum(axis=(1, 2))[ok] / n_pairs[ok]
    return float(per_list.mean())


def average_popularity(lists: np.ndarray, popularity: np.ndarray) -> float:
    """Mean training popularity of the recommended items (over all list slots)."""
    v = lists[lists >= 0]
    return float(np.asarray(popularity, dtype=np.float64)[v].mean()) if v.size else 0.0


def long_tail_items(popularity: np.ndarray, head_share: float = 0.2) -> np.ndarray:
    """Boolean mask of long-tail items: all but the ``ceil(head_share * n)`` most popular
    items (ordered by popularity descending, then item index)."""
    pop = np.asarray(popularity)
    n = pop.shape[0]
    n_head = int(np.ceil(head_share * n))
    order = np.lexsort((np.arange(n), -pop))
    tail = np.ones(n, dtype=bool)
    tail[order[:n_head]] = False
    return tail


def long_tail_share(lists: np.ndarray, popularity: np.ndarray) -> float:
    """Share of recommended slots holding a long-tail item (bottom 80% by popularity)."""
    v = lists[lists >= 0]
    return float(long_tail_items(popularity)[v].mean()) if v.size else 0.0


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal, -> 1 = concentrated)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def exposure_gini(lists: np.ndarray, n_items: int) -> float:
    """Gini of how often each of the n_items items is recommended (all items count)."""
    v = lists[lists >= 0]
    return gini(np.bincount(v, minlength=n_items))


def _rows_matrix(rows: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    r = np.repeat(np.arange(len(rows)), lens)
    c = np.concatenate([np.asarray(x, dtype=np.int64) for x in rows]) if len(rows) else np.zeros(0, np.int64)
    keep = c >= 0
    return sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float64), (r[keep], c[keep])), shape=(len(rows), n_items)
    )


def miscalibration(
    histories: Sequence[np.ndarray],
    lists: np.ndarray,
    category_matrix: np.ndarray,
    alpha: float = 0.01,
) -> float | None:
    """Mean KL(p || q~) (Steck 2018): p = category distribution of the user's history, q
    of the list, q~ = (1 - alpha) q + alpha p. Users whose history has no category are
    skipped; returns None when no user has one (or there are no categories)."""
    cm = np.asarray(category_matrix, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[1] == 0:
        return None
    n_items = cm.shape[0]
    p = np.asarray(_rows_matrix(histories, n_items) @ cm)
    q = np.asarray(_rows_matrix(list(lists), n_items) @ cm)
    ps, qs = p.sum(axis=1, keepdims=True), q.sum(axis=1, keepdims=True)
    ok = ps[:, 0] > 0
    if not ok.any():
        return None
    p = p[ok] / ps[ok]
    q = np.divide(q[ok], qs[ok], out=np.zeros_like(q[ok]), where=qs[ok] > 0)
    qt = (1.0 - alpha) * q + alpha * p
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(p > 0, qt, 1.0)), 0.0)
    return float(terms.sum(axis=1).mean())
