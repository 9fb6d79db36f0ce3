"""Greedy multi-objective re-ranking over the model's top-N candidates (DESIGN §5).

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

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

from recsys.data.types import DataError
from recsys.rerank.weights import FairGroup, Weights

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset

TERMS = ("relevance", "diversity", "calibration", "fairness")
ALPHA = 0.01
DEFAULT_CANDIDATES = 200
HEAD_FRACTION = 0.2  # the long tail is the bottom 80% of items by popularity
SIM_MATRIX_MAX_ITEMS = 6000  # precompute the item×item cosine matrix up to this catalogue size


# ---------------------------------------------------------------------------------------
# item-side context
# ---------------------------------------------------------------------------------------
def long_tail_mask(popularity: np.ndarray, head_fraction: float = HEAD_FRACTION) -> np.ndarray:
    """Bool (n_items,): True for the long tail = every item outside the ``head_fraction``
    most popular ones (ties at the border go to the smaller item index)."""
    pop = np.asarray(popularity)
    n = pop.shape[0]
    n_head = int(math.ceil(head_fraction * n))
    order = np.lexsort((np.arange(n), -pop.astype(np.float64)))
    mask = np.ones(n, dtype=bool)
    mask[order[:n_head]] = False
    return mask


@dataclass(frozen=True, eq=False)
class RerankContext:
    """Everything item-side the re-ranker and the list metrics need (build once per
    dataset + model with :func:`build_context`)."""

    emb: np.ndarray  # (n_items, d) float32, rows L2-normalised
    category_matrix: np.ndarray  # (n_items, C) float32, rows sum to 1 (or 0)
    categories: tuple[str, ...]
    popularity: np.ndarray  # (n_items,) int64 training interactions
    long_tail: np.ndarray  # (n_items,) bool
    titles: tuple[str, ...]
    item_categories: tuple[tuple[str, ...], ...]
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_items(self) -> int:
        return int(self.emb.shape[0])

    def similarity(self) -> np.ndarray | None:
        """(n_items, n_items) float32 cosine matrix, computed once; None for catalogues
        larger than :data:`SIM_MATRIX_MAX_ITEMS` (then similarities come from dot products)."""
        if self.n_items > SIM_MATRIX_MAX_ITEMS:
            return None
        if "sim" not in self._cache:
            self._cache["sim"] = self.emb @ self.emb.T
        return self._cache["sim"]

    def group_mask(self, group: FairGroup) -> tuple[np.ndarray, float]:
        """(bool mask over items, target share) of a fairness group."""
        key = ("group", group.kind, group.category)
        if key not in self._cache:
            if group.kind == "longtail":
                mask = self.long_tail
            else:
                if group.category not in self.categories:
                    shown = ", ".join(self.categories[:20]) + (" …" if len(self.categories) > 20 else "")
                    raise DataError(f"unknown category {group.category!r} (known: {shown or 'none'})")
                mask = np.array([group.category in cs for cs in self.item_categories], dtype=bool)
            self._cache[key] = mask
        mask = self._cache[key]
        target = float(group.target) if group.target is not None else float(mask.mean()) if mask.size else 0.0
        return mask, target

    def history_distribution(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(U, C) float64 category mix p of each history (sums to 1, or 0 if no category)."""
        u = len(histories)
        if u == 1:  # one user (the interactive path): no sparse matrix needed
            h = np.asarray(histories[0], dtype=np.int64)
            mass = self.category_matrix[h].sum(axis=0, dtype=np.float64)[None, :]
            tot = mass.sum(axis=1, keepdims=True)
            return np.divide(mass, tot, out=np.zeros_like(mass), where=tot > 0)
        lens = np.fromiter((len(h) for h in histories), dtype=np.int64, count=u)
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if u else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(lens)])
        counts = sp.csr_matrix((np.ones(cols.shape[0]), cols, indptr), shape=(u, self.n_items))
        mass = np.asarray(counts @ self.category_matrix.astype(np.float64), dtype=np.float64)
        tot = mass.sum(axis=1, keepdims=True)
        return np.divide(mass, tot, out=np.zeros_like(mass), where=tot > 0)


def build_context(
    ds: Dataset,
    emb: np.ndarray | None = None,
    popularity: np.ndarray | None = None,
    head_fraction: float = HEAD_FRACTION,
) -> RerankContext:
    """Item-side context of ``ds``.

    ``emb``: item text embeddings (default :func:`recsys.text.item_embeddings`, cached
    per dataset; pass a model's ``.text_emb`` to avoid the encoder). ``popularity``:
    interactions per item (default: the training interactions of the leave-one-out
    protocol, i.e. every interaction but the test targets).
    """
    if emb is None:
        from recsys.text import item_embeddings

        emb = item_embeddings(ds)
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != ds.n_items:
        raise DataError(f"item embeddings have shape {emb.shape}, expected ({ds.n_items}, d)")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
    if popularity is None:
        popularity = training_popularity(ds)
    pop = np.asarray(popularity, dtype=np.int64)
    if pop.shape != (ds.n_items,):
        raise DataError(f"popularity has shape {pop.shape}, expected ({ds.n_items},)")
    return RerankContext(
        emb=emb,
        category_matrix=np.asarray(ds.category_matrix, dtype=np.float32),
        categories=tuple(ds.categories),
        popularity=pop,
        long_tail=long_tail_mask(pop, head_fraction),
        titles=tuple(ds.titles),
        item_categories=tuple(ds.item_categories),
    )


def training_popularity(ds: Dataset) -> np.ndarray:
    """Training interactions per item under the leave-one-out protocol at the test stage
    (every user's training input plus validation item; users counted once per item), the
    popularity the evaluation package reports."""
    from recsys.evaluation.split import leave_one_out

    return leave_one_out(ds).train_popularity("test")


# ---------------------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------------------
def select_candidates(
    scores: np.ndarray,
    exclude: Sequence[np.ndarray | None] | None = None,
    n_candidates: int = DEFAULT_CANDIDATES,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-N candidates per row of ``scores`` (U, n_items), best first, never an
    excluded item; ties go to the smaller item index (as :func:`recsys.models.base.top_k`).

    Returns (items (U, N) int64, scores (U, N) float64); rows with fewer than N usable
    items are padded with item -1 and score -inf.
    """
    s = np.array(scores, dtype=np.float64, ndmin=2, copy=True)
    s[~np.isfinite(s)] = -np.inf
    u, n = s.shape
    if exclude is not None:
        if len(exclude) != u:
            raise DataError(f"{len(exclude)} exclusion lists for {u} score rows")
        lens = np.fromiter((0 if e is None else len(e) for e in exclude), dtype=np.int64, count=u)
        if lens.sum():
            rows = np.repeat(np.arange(u), lens)
            cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude if e is not None and len(e)])
            s[rows, cols] = -np.inf
    big_n = int(min(max(n_candidates, 1), n))
    kth = np.partition(s, n - big_n, axis=1)[:, n - big_n][:, None]
    finite = np.isfinite(s)
    gt = (s > kth) & finite
    eq = (s == kth) & finite
    need = big_n - gt.sum(axis=1, keepdims=True)
    sel = gt | (eq & (np.cumsum(eq, axis=1) <= need))
    rows, cols = np.nonzero(sel)  # row-major: item index ascending within a row
    counts = sel.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(rows.shape[0]) - np.repeat(starts, counts)
    items = np.full((u, big_n), -1, dtype=np.int64)
    items[rows, pos] = cols
    vals = np.where(items >= 0, np.take_along_axis(s, np.maximum(items, 0), axis=1), -np.inf)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1), np.take_along_axis(vals, order, axis=1)


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


def _kl(p: np.ndarray, q: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """KL(p ‖ (1−α)q + αp) over the last axis; p broadcasts against q."""
    qt = (1.0 - alpha) * q + alpha * p
    pos = p > 0
    terms = np.where(pos, p * (np.log(np.where(pos, p, 1.0)) - np.log(np.where(pos, qt, 1.0))), 0.0)
    return terms.sum(axis=-1)


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
    group = group or FairGroup()
    items = np.asarray(cand_items, dtype=np.int64)
    if items.ndim != 2:
        raise DataError("candidate items must be a (users, candidates) array")
    u, n = items.shape
    k = int(k)
    if k < 1:
        raise DataError(f"k must be at least 1, not {k}")
    w = weights.as_array()
    valid = items >= 0
    safe = np.maximum(items, 0)
    rel_raw = np.where(valid, np.asarray(cand_scores, dtype=np.float64), 0.0)
    avail = valid.copy()
    need_div, need_cal, need_fair = trace or w[1] > 0, trace or w[2] > 0, trace or w[3] > 0

    sim = ctx.similarity() if need_div else None
    cand_emb = ctx.emb[safe] if need_div and sim is None else None
    maxsim = np.full((u, n), -np.inf)
    if need_cal:
        p = np.asarray(hist_dist, dtype=np.float64)
        cat_c = ctx.category_matrix[safe]  # (U, N, C) float32
        cat_mass = cat_c.sum(axis=-1, dtype=np.float64)  # (U, N)
        qsum = np.zeros_like(p)
        # Σ_g p log q̃ only needs the categories with p > 0: elsewhere add 1 so the log is 0·finite
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
        p32 = p.astype(np.float32)
        ap32 = (alpha * p + (p == 0)).astype(np.float32)
    if need_fair:
        gmask, target = ctx.group_mask(group)
        g_c = np.where(valid, gmask[safe], False).astype(np.float64)
        in_group = np.zeros(u)

    out_pos = np.full((u, k), -1, dtype=np.int64)
    out_contrib = np.zeros((u, k, 4))
    out_terms = np.zeros((u, k, 4))
    steps: list[np.ndarray] = []
    rows = np.arange(u)
    zeros = np.zeros((u, n))
    for t in range(min(k, n)):
        rel = _minmax(rel_raw, avail, 1.0)
        if need_div:
            if t == 0:  # nothing selected yet: novelty 1 for every candidate
                nov = avail.astype(np.float64)
            else:
                nov_raw = 1.0 - maxsim
                nov = _minmax(nov_raw, avail, (nov_raw > 0).astype(np.float64))
        else:
            nov = zeros
        if need_cal:
            qmass = qsum.sum(axis=1, keepdims=True)
            kl_cur = _kl(p, np.divide(qsum, qmass, out=np.zeros_like(qsum), where=qmass > 0), alpha)  # (U,)
            new_mass = qmass + cat_mass  # (U, N)
            scale = np.divide(1.0 - alpha, new_mass, out=np.zeros_like(new_mass), where=new_mass > 0)
            qt = cat_c + qsum.astype(np.float32)[:, None, :]  # (U, N, C) float32: q̃ of the list + item
            qt *= scale.astype(np.float32)[..., None]
            qt += ap32[:, None, :]
            np.log(qt, out=qt)
            qt *= p32[:, None, :]
            kl_new = plogp[:, None] - qt.sum(axis=-1, dtype=np.float64)  # (U, N)
            cal_raw = kl_cur[:, None] - kl_new
            cal = _minmax(cal_raw, avail, (cal_raw > 0).astype(np.float64))
        else:
            cal = zeros
        if need_fair:
            below = (in_group < target * t) if t else np.full(u, target > 0)
            # 0/1 values: min-max normalisation (and its constant fill) leaves them unchanged
            fair = np.where(avail, g_c * below[:, None], 0.0)
        else:
            fair = zeros
        terms = (rel, nov, cal, fair)
        contrib = [w[j] * terms[j] if w[j] != 0.0 else zeros for j in range(4)]
        # summed in TERMS order, exactly as the recorded contributions are summed below
        total = ((contrib[0] + contrib[1]) + contrib[2]) + contrib[3]
        if trace:
            steps.append(np.where(avail[..., None], np.stack(contrib, axis=-1), np.nan))
        pick = np.where(avail, total, -np.inf).argmax(axis=1)
        ok = avail[rows, pick]
        out_pos[:, t] = np.where(ok, pick, -1)
        for j in range(4):
            out_contrib[:, t, j] = np.where(ok, contrib[j][rows, pick], 0.0)
            out_terms[:, t, j] = np.where(ok, terms[j][rows, pick], 0.0)
        if not ok.any():
            break
        avail[rows[ok], pick[ok]] = False
        chosen = items[rows, pick]
        if need_div:
            if sim is not None:
                s_new = np.take_along_axis(sim[np.maximum(chosen, 0)], safe, axis=1).astype(np.float64)
            else:
                s_new = np.einsum("und,ud->un", cand_emb, ctx.emb[np.maximum(chosen, 0)]).astype(np.float64)
            maxsim = np.where(ok[:, None], np.maximum(maxsim, s_new), maxsim)
        if need_cal:
            qsum = qsum + np.where(ok[:, None], cat_c[rows, pick].astype(np.float64), 0.0)
        if need_fair:
            in_group = in_group + np.where(ok, g_c[rows, pick], 0.0)
    picked_items = np.where(out_pos >= 0, np.take_along_axis(items, np.maximum(out_pos, 0), axis=1), -1)
    return BatchRerank(
        items=picked_items,
        positions=np.where(out_pos >= 0, out_pos, 0),
        scores=((out_contrib[..., 0] + out_contrib[..., 1]) + out_contrib[..., 2]) + out_contrib[..., 3],
        contributions=out_contrib,
        terms=out_terms,
        trace=np.stack(steps) if trace and steps else None,
    )
