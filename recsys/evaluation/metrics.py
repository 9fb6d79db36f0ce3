"""Ranking and beyond-accuracy metrics. Full ranking only — never sampled negatives.

The one home of every metric primitive (top-k, coverage, Gini, calibration KL, ILD,
long tail); :mod:`recsys.rerank.metrics` adapts them to the re-ranker's context.

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


CALIBRATION_ALPHA = 0.01  # the q~ = (1 - alpha) q + alpha p smoothing of miscalibration (Steck 2018)


def _exclusion_mask(
    n_rows: int, n_items: int, exclude: Sequence[np.ndarray | Sequence[int] | None] | None
) -> np.ndarray:
    """Boolean (B, n_items): True where an item may be ranked/recommended (``None``
    rows of ``exclude`` exclude nothing)."""
    mask = np.ones((n_rows, n_items), dtype=bool)
    if exclude is not None:
        if len(exclude) != n_rows:
            raise ValueError(f"exclude has {len(exclude)} rows, scores have {n_rows}")
        lens = np.fromiter((0 if e is None else len(e) for e in exclude), dtype=np.int64, count=n_rows)
        if lens.sum():
            rows = np.repeat(np.arange(n_rows), lens)
            cols = np.concatenate([np.asarray(e, dtype=np.int64).ravel() for e in exclude if e is not None])
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


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of each row's ``k`` largest entries of a 2-D array; ties at the k-th
    value go to the smaller column index (deterministic). Vectorised, O(rows * cols).
    NaN must be replaced by the caller (it compares false with everything)."""
    s = np.asarray(scores)
    n = s.shape[1]
    if k >= n:
        return np.ones(s.shape, dtype=bool)
    if k <= 0:
        return np.zeros(s.shape, dtype=bool)
    kth = np.partition(s, n - k, axis=1)[:, n - k][:, None]  # the k-th largest value
    greater = s > kth
    equal = s == kth
    room = k - greater.sum(axis=1)
    mask = greater | equal
    crowded = np.flatnonzero(equal.sum(axis=1) > room)  # only these rows need the tie-break
    if crowded.size:
        eq = equal[crowded]
        mask[crowded] = greater[crowded] | (eq & (np.cumsum(eq, axis=1) <= room[crowded, None]))
    return mask


def top_k_lists(
    scores: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray | Sequence[int] | None] | None = None,
    *,
    skip_unscored: bool = False,
) -> np.ndarray:
    """(B, k) best items per row of ``scores`` (B, n_items), best first; excluded items
    never included; ties go to the smaller item index, at the k-th place too; rows
    with fewer than k rankable items are padded with -1. NaN scores rank last; with
    ``skip_unscored`` items scoring NaN or -inf are not rankable (padding instead).

    The one top-k of the project: :func:`recsys.models.base.top_k` (one row) and the
    re-ranker's candidate pools use it."""
    s = np.array(scores, dtype=np.float64, ndmin=2, copy=True)
    b, n = s.shape
    kk = min(max(int(k), 0), n)
    if kk == 0 or b == 0:
        return np.full((b, max(int(k), 0)), -1, dtype=np.int64)
    s[np.isnan(s)] = -np.inf
    rankable = _exclusion_mask(b, n, exclude)
    if skip_unscored:
        rankable &= s > -np.inf
    # a rankable -inf still beats every excluded item
    s = np.where(rankable, np.maximum(s, -np.finfo(np.float64).max), -np.inf)
    sel = top_k_mask(s, kk) & rankable
    rows, cols = np.nonzero(sel)
    order = np.lexsort((cols, -s[rows, cols], rows))  # by row, score descending, item index
    rows, cols = rows[order], cols[order]
    counts = sel.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lists = np.full((b, int(k)), -1, dtype=np.int64)
    lists[rows, np.arange(rows.shape[0]) - np.repeat(starts, counts)] = cols
    return lists


# ---- beyond accuracy ---------------------------------------------------------------
# Lists are (U, k) int arrays (a single list may be 1-D); entries < 0 are padding.


def _valid_entries(lists: np.ndarray | Sequence[int]) -> np.ndarray:
    a = np.asarray(lists, dtype=np.int64)
    return a[a >= 0]


def coverage(lists: np.ndarray | Sequence[int], n_items: int) -> float:
    """Distinct items recommended across all lists / n_items (0 for an empty catalogue)."""
    return float(np.unique(_valid_entries(lists)).size / n_items) if n_items else 0.0


def ild_per_list(lists: np.ndarray, unit_emb: np.ndarray, sim: np.ndarray | None = None) -> np.ndarray:
    """(U,) mean pairwise ``1 - cosine`` within each list (0 for lists of < 2 items).

    ``unit_emb`` (n_items, d) has L2-normalised rows; ``sim`` is an optional precomputed
    (n_items, n_items) cosine matrix (then the embeddings are not read)."""
    a = np.asarray(lists, dtype=np.int64)
    a = a[None, :] if a.ndim == 1 else a
    valid = a >= 0
    safe = np.maximum(a, 0)
    if sim is not None:
        s = sim[safe[:, :, None], safe[:, None, :]].astype(np.float64)
    else:
        e = np.asarray(unit_emb)[safe].astype(np.float64)
        s = np.einsum("ukd,ujd->ukj", e, e)
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(a.shape[1], dtype=bool)
    n_pairs = pair.sum(axis=(1, 2))
    dist = np.where(pair, 1.0 - s, 0.0).sum(axis=(1, 2))
    return np.divide(dist, n_pairs, out=np.zeros(a.shape[0]), where=n_pairs > 0)


def intra_list_diversity(lists: np.ndarray, emb: np.ndarray) -> float:
    """Mean over lists (with >= 2 items) of the mean pairwise ``1 - cosine`` of item embeddings."""
    e = np.asarray(emb, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    e = e / np.where(norms > 0, norms, 1.0)
    a = np.asarray(lists, dtype=np.int64)
    ok = (a >= 0).sum(axis=-1) >= 2
    if not ok.any():
        return 0.0
    return float(ild_per_list(a, e)[np.atleast_1d(ok)].mean())


def list_mean(item_values: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """(U,) mean of a per-item value (popularity, a 0/1 group mask, …) over each list's
    items (0 for an empty list)."""
    a = np.asarray(lists, dtype=np.int64)
    a = a[None, :] if a.ndim == 1 else a
    valid = a >= 0
    tot = np.where(valid, np.asarray(item_values)[np.maximum(a, 0)], 0).sum(axis=1).astype(np.float64)
    n = valid.sum(axis=1)
    return np.divide(tot, n, out=np.zeros(a.shape[0]), where=n > 0)


def average_popularity(lists: np.ndarray, popularity: np.ndarray) -> float:
    """Mean training popularity of the recommended items (over all list slots)."""
    v = _valid_entries(lists)
    return float(np.asarray(popularity, dtype=np.float64)[v].mean()) if v.size else 0.0


def long_tail_items(popularity: np.ndarray, head_share: float = 0.2) -> np.ndarray:
    """Boolean mask of long-tail items: all but the ``ceil(head_share * n)`` most popular
    items (ordered by popularity descending, then item index)."""
    pop = np.asarray(popularity)
    n = pop.shape[0]
    n_head = int(np.ceil(head_share * n))
    order = np.lexsort((np.arange(n), -pop.astype(np.float64)))
    tail = np.ones(n, dtype=bool)
    tail[order[:n_head]] = False
    return tail


def long_tail_share(lists: np.ndarray, popularity: np.ndarray) -> float:
    """Share of recommended slots holding a long-tail item (bottom 80% by popularity)."""
    v = _valid_entries(lists)
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


def exposure_gini(lists: np.ndarray | Sequence[int], n_items: int) -> float:
    """Gini of how often each of the n_items items is recommended (all items count)."""
    return gini(np.bincount(_valid_entries(lists), minlength=n_items))


def calibration_kl(p: np.ndarray, q: np.ndarray, alpha: float = CALIBRATION_ALPHA) -> np.ndarray:
    """KL(p || (1 - alpha) q + alpha p) over the last axis (natural log, 0 log 0 = 0);
    ``p`` broadcasts against ``q``. The miscalibration of a list with category mix q for
    a history with mix p (Steck 2018); alpha keeps it finite when q misses a category."""
    p = np.asarray(p, dtype=np.float64)
    qt = (1.0 - alpha) * np.asarray(q, dtype=np.float64) + alpha * p
    pos = p > 0
    terms = np.where(pos, p * (np.log(np.where(pos, p, 1.0)) - np.log(np.where(pos, qt, 1.0))), 0.0)
    return terms.sum(axis=-1)


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
    alpha: float = CALIBRATION_ALPHA,
) -> float | None:
    """Mean :func:`calibration_kl` of the lists: p = category distribution of the user's
    history, q of the list. Users whose history has no category are skipped; returns
    None when no user has one (or there are no categories)."""
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
    return float(calibration_kl(p, q, alpha).mean())
