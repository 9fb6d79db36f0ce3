"""Greedy multi-objective re-ranking over the model's top-N candidates.

At every step the re-ranker picks, among the candidates still available, the item
maximising

    (1 − w_div − w_cal − w_fair)·relevance + w_div·novelty + w_cal·calibration + w_fair·fairness

where every term is min-max normalised to [0, 1] over the candidates still available at
that step (a term that is constant over them becomes 1 for relevance and ``raw > 0``
for the others):

* relevance — the model score;
* novelty (MMR) — 1 − the largest text-embedding cosine similarity to the items
  already selected (1 for the first pick);
* calibration (Steck 2018) — the reduction of KL(p ‖ q̃) when adding the item, with p
  the user's history category mix, q the list's category mix (both normalised over
  category mass; an item of several categories splits its weight) and
  q̃ = (1 − α)·q + α·p, α = 0.01;
* fairness — 1 for an item of the under-exposed group while the group's share of the
  list so far is below its target (default: the group's share of the catalogue).

The same code runs one user (``U = 1``) or the whole population at once: every array
is ``(U, N)`` (users × candidates), so a batch result equals the per-user result.
Ties are broken by the model's order (then the smaller item index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from recsys.data.types import DataError
from recsys.evaluation.metrics import CALIBRATION_ALPHA, calibration_kl, top_k_lists
from recsys.rerank.context import RerankContext
from recsys.rerank.weights import FairGroup, Weights

TERMS = ("relevance", "diversity", "calibration", "fairness")
ALPHA = CALIBRATION_ALPHA
DEFAULT_CANDIDATES = 200


# ---------------------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------------------
def select_candidates(
    scores: np.ndarray,
    exclude: Sequence[np.ndarray | None] | None = None,
    n_candidates: int = DEFAULT_CANDIDATES,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-N candidates per row of ``scores`` (U, n_items), best first, never an
    excluded item nor one scoring NaN or -inf; ties go to the smaller item index
    (:func:`recsys.evaluation.metrics.top_k_lists`).

    Returns (items (U, N) int64, scores (U, N) float64); rows with fewer than N usable
    items are padded with item -1 and score -inf.
    """
    s = np.array(scores, dtype=np.float64, ndmin=2)
    u, n = s.shape
    if exclude is not None and len(exclude) != u:
        raise DataError(f"{len(exclude)} exclusion lists for {u} score rows")
    big_n = int(min(max(n_candidates, 1), n))
    items = top_k_lists(s, big_n, exclude, skip_unscored=True)
    vals = np.where(items >= 0, np.take_along_axis(s, np.maximum(items, 0), axis=1), -np.inf)
    return items, vals


# ---------------------------------------------------------------------------------------
# the greedy core
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BatchRerank:
    """Re-ranked lists for U users (padded with item -1 where a pool ran out)."""

    items: np.ndarray  # (U, k) int64
    positions: np.ndarray  # (U, k) int64 position in the candidate pool (0 = model's best)
    scores: np.ndarray  # (U, k) float64 combined score at pick time
    contributions: np.ndarray  # (U, k, 4) weighted per-term contributions (sum = score)
    terms: np.ndarray  # (U, k, 4) unweighted normalised term values of the picked items
    trace: np.ndarray | None = None  # (k, U, N, 4) contributions of every candidate per step

    @property
    def original_ranks(self) -> np.ndarray:
        """1-based rank of each picked item in the model's order (0 for padding)."""
        return np.where(self.items >= 0, self.positions + 1, 0)


def _minmax(x: np.ndarray, avail: np.ndarray, constant_fill: np.ndarray | float) -> np.ndarray:
    """Min-max normalise each row of ``x`` over its available entries; rows that are
    constant there get ``constant_fill``. Unavailable entries become 0."""
    lo = np.where(avail, x, np.inf).min(axis=1, keepdims=True)
    hi = np.where(avail, x, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    const = ~(span > 1e-12 * np.maximum(1.0, np.abs(hi)))
    out = np.where(const, constant_fill, (x - lo) / np.where(const, 1.0, span))
    return np.where(avail, out, 0.0)


class _Novelty:
    """MMR: 1 − the largest cosine similarity to the items already selected."""

    def __init__(self, ctx: RerankContext, safe: np.ndarray) -> None:
        self.ctx, self.safe = ctx, safe
        self.sim = ctx.similarity()
        self.cand_emb = ctx.emb[safe] if self.sim is None else None
        self.maxsim = np.full(safe.shape, -np.inf)

    def values(self, t: int, avail: np.ndarray) -> np.ndarray:
        if t == 0:  # nothing selected yet: novelty 1 for every candidate
            return avail.astype(np.float64)
        raw = 1.0 - self.maxsim
        return _minmax(raw, avail, (raw > 0).astype(np.float64))

    def update(self, rows: np.ndarray, pick: np.ndarray, ok: np.ndarray) -> None:
        chosen = np.maximum(self.safe[rows, pick], 0)
        if self.sim is not None:
            s_new = np.take_along_axis(self.sim[chosen], self.safe, axis=1).astype(np.float64)
        else:
            assert self.cand_emb is not None
            s_new = np.einsum("und,ud->un", self.cand_emb, self.ctx.emb[chosen]).astype(np.float64)
        self.maxsim = np.where(ok[:, None], np.maximum(self.maxsim, s_new), self.maxsim)


class _Calibration:
    """Reduction of KL(p ‖ q̃) when an item joins the list (q = the list's category mix)."""

    def __init__(self, ctx: RerankContext, safe: np.ndarray, hist_dist: np.ndarray, alpha: float) -> None:
        self.alpha = alpha
        self.p = p = np.asarray(hist_dist, dtype=np.float64)
        self.cat_c = ctx.category_matrix[safe]  # (U, N, C) float32
        self.cat_mass = self.cat_c.sum(axis=-1, dtype=np.float64)  # (U, N)
        self.qsum = np.zeros_like(p)
        # Σ_g p log q̃ only needs the categories with p > 0: elsewhere add 1 so the log is 0·finite
        self.plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
        self.p32 = p.astype(np.float32)
        self.ap32 = (alpha * p + (p == 0)).astype(np.float32)

    def values(self, t: int, avail: np.ndarray) -> np.ndarray:
        qsum, alpha = self.qsum, self.alpha
        qmass = qsum.sum(axis=1, keepdims=True)
        kl_cur = calibration_kl(self.p, np.divide(qsum, qmass, out=np.zeros_like(qsum), where=qmass > 0), alpha)
        new_mass = qmass + self.cat_mass  # (U, N)
        scale = np.divide(1.0 - alpha, new_mass, out=np.zeros_like(new_mass), where=new_mass > 0)
        qt = self.cat_c + qsum.astype(np.float32)[:, None, :]  # (U, N, C) float32: q̃ of the list + item
        qt *= scale.astype(np.float32)[..., None]
        qt += self.ap32[:, None, :]
        np.log(qt, out=qt)
        qt *= self.p32[:, None, :]
        kl_new = self.plogp[:, None] - qt.sum(axis=-1, dtype=np.float64)  # (U, N)
        raw = kl_cur[:, None] - kl_new
        return _minmax(raw, avail, (raw > 0).astype(np.float64))

    def update(self, rows: np.ndarray, pick: np.ndarray, ok: np.ndarray) -> None:
        self.qsum = self.qsum + np.where(ok[:, None], self.cat_c[rows, pick].astype(np.float64), 0.0)


class _Fairness:
    """1 for a group item while the group's share of the list is below its target."""

    def __init__(self, ctx: RerankContext, group: FairGroup, valid: np.ndarray, safe: np.ndarray) -> None:
        gmask, self.target = ctx.group_mask(group)
        self.g_c = np.where(valid, gmask[safe], False).astype(np.float64)
        self.in_group = np.zeros(safe.shape[0])

    def values(self, t: int, avail: np.ndarray) -> np.ndarray:
        below = (self.in_group < self.target * t) if t else np.full(self.in_group.shape, self.target > 0)
        # 0/1 values: min-max normalisation (and its constant fill) leaves them unchanged
        return np.where(avail, self.g_c * below[:, None], 0.0)

    def update(self, rows: np.ndarray, pick: np.ndarray, ok: np.ndarray) -> None:
        self.in_group = self.in_group + np.where(ok, self.g_c[rows, pick], 0.0)


def _term_states(
    ctx: RerankContext, items: np.ndarray, hist_dist: np.ndarray, w: np.ndarray,
    group: FairGroup, trace: bool, alpha: float,
) -> list[_Novelty | _Calibration | _Fairness | None]:
    """The stateful terms (diversity, calibration, fairness) that are needed: a term of
    weight 0 is skipped unless the trace asks for every term's values."""
    valid = items >= 0
    safe = np.maximum(items, 0)
    return [
        _Novelty(ctx, safe) if trace or w[1] > 0 else None,
        _Calibration(ctx, safe, hist_dist, alpha) if trace or w[2] > 0 else None,
        _Fairness(ctx, group, valid, safe) if trace or w[3] > 0 else None,
    ]


def rerank_batch(
    ctx: RerankContext,
    cand_items: np.ndarray,
    cand_scores: np.ndarray,
    hist_dist: np.ndarray,
    weights: Weights,
    k: int = 10,
    group: FairGroup | None = None,
    *,
    trace: bool = False,
    alpha: float = ALPHA,
) -> BatchRerank:
    """Greedy re-ranking of U candidate pools at once.

    ``cand_items``/``cand_scores``: (U, N) from :func:`select_candidates` (model order);
    ``hist_dist``: (U, C) history category mixes (:meth:`RerankContext.history_distribution`).
    ``trace`` keeps every candidate's contributions at every step (for explanations).
    """
    items = np.asarray(cand_items, dtype=np.int64)
    if items.ndim != 2:
        raise DataError("candidate items must be a (users, candidates) array")
    u, n = items.shape
    k = int(k)
    if k < 1:
        raise DataError(f"k must be at least 1, not {k}")
    w = weights.as_array()
    avail = items >= 0
    rel_raw = np.where(avail, np.asarray(cand_scores, dtype=np.float64), 0.0)
    states = _term_states(ctx, items, hist_dist, w, group or FairGroup(), trace, alpha)

    out_pos = np.full((u, k), -1, dtype=np.int64)
    out_contrib = np.zeros((u, k, 4))
    out_terms = np.zeros((u, k, 4))
    steps: list[np.ndarray] = []
    rows = np.arange(u)
    zeros = np.zeros((u, n))
    for t in range(min(k, n)):
        terms = [_minmax(rel_raw, avail, 1.0)] + [zeros if s is None else s.values(t, avail) for s in states]
        contrib = [w[j] * terms[j] if w[j] != 0.0 else zeros for j in range(4)]
        # summed in TERMS order, exactly as the recorded contributions are summed below
        total = ((contrib[0] + contrib[1]) + contrib[2]) + contrib[3]
        if trace:
            steps.append(np.where(avail[..., None], np.stack(contrib, axis=-1), np.nan))
        pick = np.where(avail, total, -np.inf).argmax(axis=1)
        ok = avail[rows, pick]
        out_pos[:, t] = np.where(ok, pick, -1)
        out_contrib[:, t] = np.where(ok[:, None], np.stack([c[rows, pick] for c in contrib], axis=-1), 0.0)
        out_terms[:, t] = np.where(ok[:, None], np.stack([v[rows, pick] for v in terms], axis=-1), 0.0)
        if not ok.any():
            break
        avail[rows[ok], pick[ok]] = False
        for s in states:
            if s is not None:
                s.update(rows, pick, ok)
    picked_items = np.where(out_pos >= 0, np.take_along_axis(items, np.maximum(out_pos, 0), axis=1), -1)
    return BatchRerank(
        items=picked_items,
        positions=np.where(out_pos >= 0, out_pos, 0),
        scores=((out_contrib[..., 0] + out_contrib[..., 1]) + out_contrib[..., 2]) + out_contrib[..., 3],
        contributions=out_contrib,
        terms=out_terms,
        trace=np.stack(steps) if trace and steps else None,
    )
