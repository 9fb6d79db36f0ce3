"""The masked scorer: a set function over the user's history items.

Features are the most recent ``max_features`` items of the history (one feature per
interaction, i.e. per position); older items are *fixed context*, always kept. A 0/1
mask row keeps the explained items where it is 1 and removes them where it is 0 (the
remaining sequence, with its timestamps, is re-scored by the model). Masks are scored
in chunks, one ``scorer.score`` call (one forward pass) per chunk.

Value of a mask (``value=``):

- ``"logprob"`` (default): log-softmax probability of the target among the *candidate
  set* = every item not in the **full** history (the target always included). The
  candidate set is fixed for all masks on purpose: were removed items to re-enter the
  softmax denominator, removing an item would change the value merely because that
  item became a competitor, not because the model's belief about the target changed.
  A fixed set also makes the value exactly the log-probability the served list is
  ranked by (recommendations exclude the history).
- ``"rr"``: reciprocal rank of the target among the same candidate set (ties broken by
  the smaller item index, as :func:`recsys.models.base.top_k` does).
- ``"margin"``: raw score difference ``score(target) - score(contrast)`` — used for
  "why not Y?" (the log-softmax normalisers cancel, so it is also the log-probability
  ratio of target over Y).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from explain.explanation import VALUE_KINDS
from recsys.data.types import DataError, History
from recsys.models.base import Scorer, context_length

DEFAULT_MAX_FEATURES = 50
DEFAULT_CHUNK = 1024
# Cost model of one ``scorer.score`` call for length grouping, in "token-rows" (rows x
# padded length): a fixed overhead per call (Python + framework dispatch: ~1.8 ms on a
# 2-layer d=64 transformer, where a token-row costs ~6.5 us) plus the padded work.
CALL_OVERHEAD_TOKEN_ROWS = 280.0


class MaskedScorer:
    """Turns (M, n_features) 0/1 masks into the target's value (M,).

    Parameters
    ----------
    scorer: any :class:`recsys.models.base.Scorer`.
    history: the user's full :class:`~recsys.data.types.History` (items oldest first,
        optional timestamps).
    target: the item index being explained.
    value: ``"logprob"``, ``"rr"`` or ``"margin"`` (needs ``contrast``).
    max_features: explain at most this many most recent items; older ones are fixed
        context.
    chunk: rows per ``scorer.score`` call.
    """

    def __init__(
        self,
        scorer: Scorer,
        history: History,
        target: int,
        *,
        value: str = "logprob",
        contrast: int | None = None,
        max_features: int = DEFAULT_MAX_FEATURES,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        if value not in VALUE_KINDS:
            raise DataError(f"unknown explanation value {value!r} (choose from {', '.join(VALUE_KINDS)})")
        if value == "margin" and contrast is None:
            raise DataError("value 'margin' needs a contrast item")
        if max_features < 1:
            raise DataError(f"max_features must be at least 1, got {max_features}")
        n_items = int(scorer.n_items)
        hist = history.items
        if hist.size and hist.max() >= n_items:
            raise DataError(f"history holds item indices outside 0..{n_items - 1}")
        if not 0 <= int(target) < n_items:
            raise DataError(f"target item index {target} outside 0..{n_items - 1}")
        if contrast is not None and not 0 <= int(contrast) < n_items:
            raise DataError(f"contrast item index {contrast} outside 0..{n_items - 1}")
        self.scorer = scorer
        self.n_items = n_items
        self.history = history
        self.items = hist
        self.timestamps = history.timestamps
        self.target = int(target)
        self.contrast = None if contrast is None else int(contrast)
        self.value_kind = value
        self.chunk = max(1, int(chunk))
        window = context_length(scorer)
        # the model never reads items older than its window: explaining them would only
        # produce zero attributions, so the features stop at the window
        self.max_features = int(max_features) if window is None else min(int(max_features), window)
        self.n_context = max(0, hist.size - self.max_features)
        self.positions = np.arange(self.n_context, hist.size, dtype=np.int64)
        self.features = hist[self.n_context :]
        cand = np.ones(n_items, dtype=bool)
        cand[hist] = False
        cand[self.target] = True
        if self.contrast is not None:
            cand[self.contrast] = True
        self.candidates = cand
        self._cand_idx = np.flatnonzero(cand)
        self.evaluations = 0  # masked rows evaluated so far (rows asked for, memo hits included)
        self.calls = 0  # scorer.score calls so far
        self._memo: dict[bytes, float] | None = None  # value of prefetched masks (see prefetch)
        self.memo_hits = 0

    # ---- shape ---------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])

    @property
    def feature_timestamps(self) -> np.ndarray | None:
        return None if self.timestamps is None else self.timestamps[self.n_context :]

    def note(self) -> str:
        """Says what was explained and what was kept as context."""
        n = len(self.history)
        if self.n_context == 0:
            return f"explained all {n} history items"
        window = context_length(self.scorer)
        why = f" (the model reads the most recent {window})" if window == self.n_features else ""
        return (
            f"explained the most recent {self.n_features} of {n} history items{why}; "
            f"the {self.n_context} older items are kept as fixed context"
        )

    # ---- scoring ---------------------------------------------------------------
    def _as_masks(self, masks: np.ndarray) -> np.ndarray:
        m = np.asarray(masks)
        if m.ndim == 1:
            m = m[None, :]
        if m.shape[1] != self.n_features:
            raise ValueError(f"mask has {m.shape[1]} columns, expected {self.n_features}")
        return m > 0.5

    def kept_positions(self, mask_row: np.ndarray) -> np.ndarray:
        """Positions of the full history kept under one boolean mask row."""
        return np.concatenate([np.arange(self.n_context, dtype=np.int64), self.positions[mask_row]])

    def _grouped(self, m: np.ndarray):
        """Yield (row indices into ``m``'s unique rows, their raw scores) per length group;
        returns the unique rows and the inverse map first (see :meth:`scores`)."""
        uniq, inverse = np.unique(m, axis=0, return_inverse=True)
        lengths = self.n_context + uniq.sum(axis=1)
        order = np.argsort(lengths, kind="stable")

        def groups():
            for part in length_groups(lengths[order], self.chunk):
                rows = order[part]
                keep = [self.kept_positions(r) for r in uniq[rows]]
                hists = [self.items[k] for k in keep]
                tss = None if self.timestamps is None else [self.timestamps[k] for k in keep]
                s = np.asarray(self.scorer.score(hists, tss), dtype=np.float32)
                if s.shape != (len(hists), self.n_items):
                    raise ValueError(f"scorer returned shape {s.shape}, expected {(len(hists), self.n_items)}")
                self.calls += 1
                yield rows, s

        return uniq, inverse.reshape(-1), groups()

    def scores(self, masks: np.ndarray) -> np.ndarray:
        """Raw model scores (M, n_items) float32 of each masked history.

        Sequence models pad a batch to its longest history, and masked rows range from
        empty to full, so rows are sorted by how many items they keep and cut into
        length groups that minimise padded work plus a fixed per-call overhead
        (:func:`length_groups`); each group (at most ``chunk`` rows) is one
        ``scorer.score`` call. Identical mask rows are scored once.
        """
        m = self._as_masks(masks)
        uniq, inverse, groups = self._grouped(m)
        res = np.empty((uniq.shape[0], self.n_items), dtype=np.float32)
        for rows, s in groups:
            res[rows] = s
        self.evaluations += m.shape[0]
        return res[inverse]

    def _values(self, m: np.ndarray) -> np.ndarray:
        """Values (M,) of boolean mask rows, group by group (no (M, n_items) matrix kept)."""
        uniq, inverse, groups = self._grouped(m)
        vals = np.empty(uniq.shape[0], dtype=np.float64)
        for rows, s in groups:
            vals[rows] = self.values_from_scores(s)
        return vals[inverse]

    @staticmethod
    def _keys(m: np.ndarray) -> list[bytes]:
        packed = np.packbits(m, axis=1)
        return [row.tobytes() for row in packed]

    def prefetch(self, masks: np.ndarray) -> None:
        """Score ``masks`` now, in one length-grouped batch, and remember their values:
        later calls asking for these masks are answered from memory. Explainers that
        ask in many small batches (shap's permutation explainer: one call per
        permutation) get the batching of one large call. Values are the same as
        computed on demand; prefetched rows count as evaluations only when asked for."""
        m = self._as_masks(masks)
        if m.shape[0] == 0:
            return
        vals = self._values(m)
        memo = self._memo if self._memo is not None else {}
        memo.update(zip(self._keys(m), vals.tolist()))
        self._memo = memo

    def clear_prefetch(self) -> None:
        self._memo = None

    def values_from_scores(self, s: np.ndarray, kind: str | None = None) -> np.ndarray:
        """The value (M,) float64 of each score row (``kind`` defaults to this scorer's)."""
        kind = kind or self.value_kind
        t = s[:, self.target].astype(np.float64)
        if kind == "margin":
            if self.contrast is None:
                raise ValueError("margin needs a contrast item")
            return t - s[:, self.contrast].astype(np.float64)
        if kind == "logprob":
            return t - logsumexp(np.take(s, self._cand_idx, axis=1).astype(np.float64), axis=1)
        return 1.0 / self.ranks_from_scores(s)

    def ranks_from_scores(self, s: np.ndarray, exclude_rows: list[np.ndarray] | None = None) -> np.ndarray:
        """Rank (1 = best) of the target in each score row among the candidate set, or,
        with ``exclude_rows``, among all items except that row's excluded items (the
        served-list semantics: an edited profile excludes only its own items).
        Ties go to the smaller item index, as in :func:`recsys.models.base.top_k`."""
        s = np.asarray(s, dtype=np.float64)
        t = s[:, self.target][:, None]
        idx = np.arange(self.n_items)
        beats = (s > t) | ((s == t) & (idx < self.target)[None, :])
        if exclude_rows is None:
            beats &= self.candidates[None, :]
        else:
            for r, ex in enumerate(exclude_rows):
                beats[r, ex] = False
        return 1 + beats.sum(axis=1)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Value (M,) of each mask row: the set function explainers consume."""
        m = self._as_masks(masks)
        if self._memo is None:
            out = self._values(m)
        else:
            keys = self._keys(m)
            got = [self._memo.get(k) for k in keys]
            miss = np.array([g is None for g in got], dtype=bool)
            out = np.array([np.nan if g is None else g for g in got], dtype=np.float64)
            self.memo_hits += int((~miss).sum())
            if miss.any():
                out[miss] = self._values(m[miss])
        self.evaluations += m.shape[0]
        return out

    def rerank(self, masks: np.ndarray) -> np.ndarray:
        """Target's rank (M,) after re-ranking each edited profile as the served list
        would: excluding only the items that remain in that profile."""
        m = self._as_masks(masks)
        s = self.scores(m)
        excl = [self.items[self.kept_positions(r)] for r in m]
        return self.ranks_from_scores(s, exclude_rows=excl)


def length_groups(sorted_lengths: np.ndarray, chunk: int,
                  overhead: float = CALL_OVERHEAD_TOKEN_ROWS) -> list[slice]:
    """Cut rows sorted by sequence length into consecutive groups (slices) minimising
    ``sum(overhead + rows_g * (max_len_g + 1))`` — padded work plus a per-call cost —
    with at most ``chunk`` rows per group. Exact dynamic programme over the distinct
    lengths (group borders fall between distinct lengths), then oversized groups are
    split evenly."""
    n = int(sorted_lengths.shape[0])
    if n == 0:
        return []
    vals, starts = np.unique(sorted_lengths, return_index=True)
    ends = np.append(starts[1:], n)  # rows [starts[j], ends[j]) have length vals[j]
    d = vals.shape[0]
    best = np.full(d + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(d + 1, dtype=np.int64)
    for j in range(1, d + 1):  # the last group covers distinct lengths [i, j), i < j
        rows = ends[j - 1] - starts[:j]
        c = best[:j] + overhead * np.maximum(1, -(-rows // chunk)) + rows * (float(vals[j - 1]) + 1.0)
        i = int(np.argmin(c))
        best[j], cut[j] = c[i], i
    bounds = []
    j = d
    while j > 0:
        i = int(cut[j])
        bounds.append((int(starts[i]), int(ends[j - 1])))
        j = i
    out: list[slice] = []
    for a, b in reversed(bounds):
        k = max(1, -(-(b - a) // chunk))
        edges = np.linspace(a, b, k + 1).round().astype(int)
        out.extend(slice(int(x), int(y)) for x, y in zip(edges[:-1], edges[1:]) if y > x)
    return out
