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

from typing import Sequence

import numpy as np

from explain.explanation import VALUE_KINDS
from recsys.data.types import DataError
from recsys.models.base import Scorer

DEFAULT_MAX_FEATURES = 50
DEFAULT_CHUNK = 1024
LENGTH_SPLIT = 64  # batches at least this large are scored in >= 2 length groups


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


class MaskedScorer:
    """Turns (M, n_features) 0/1 masks into the target's value (M,).

    Parameters
    ----------
    scorer: any :class:`recsys.models.base.Scorer`.
    history, timestamps: the user's full history (item indices, oldest first) and
        optional timestamps (same length).
    target: the item index being explained.
    value: ``"logprob"``, ``"rr"`` or ``"margin"`` (needs ``contrast``).
    max_features: explain at most this many most recent items; older ones are fixed
        context.
    chunk: rows per ``scorer.score`` call.
    """

    def __init__(
        self,
        scorer: Scorer,
        history: Sequence[int] | np.ndarray,
        timestamps: Sequence[int] | np.ndarray | None,
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
        hist = np.asarray(history, dtype=np.int64).reshape(-1)
        if hist.size and (hist.min() < 0 or hist.max() >= n_items):
            raise DataError(f"history holds item indices outside 0..{n_items - 1}")
        if not 0 <= int(target) < n_items:
            raise DataError(f"target item index {target} outside 0..{n_items - 1}")
        if contrast is not None and not 0 <= int(contrast) < n_items:
            raise DataError(f"contrast item index {contrast} outside 0..{n_items - 1}")
        ts = None
        if timestamps is not None:
            ts = np.asarray(timestamps, dtype=np.int64).reshape(-1)
            if ts.shape != hist.shape:
                raise DataError(f"history has {hist.size} items but {ts.size} timestamps")
        self.scorer = scorer
        self.n_items = n_items
        self.history = hist
        self.timestamps = ts
        self.target = int(target)
        self.contrast = None if contrast is None else int(contrast)
        self.value_kind = value
        self.chunk = max(1, int(chunk))
        self.n_context = max(0, hist.size - int(max_features))
        self.positions = np.arange(self.n_context, hist.size, dtype=np.int64)
        self.features = hist[self.n_context :]
        cand = np.ones(n_items, dtype=bool)
        cand[hist] = False
        cand[self.target] = True
        if self.contrast is not None:
            cand[self.contrast] = True
        self.candidates = cand
        self._cand_idx = np.flatnonzero(cand)
        self.evaluations = 0  # masked rows scored so far
        self.calls = 0  # scorer.score calls so far

    # ---- shape ---------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])

    @property
    def feature_timestamps(self) -> np.ndarray | None:
        return None if self.timestamps is None else self.timestamps[self.n_context :]

    def note(self) -> str:
        """Says what was explained and what was kept as context."""
        n = self.history.size
        if self.n_context == 0:
            return f"explained all {n} history items"
        return (
            f"explained the most recent {self.n_features} of {n} history items; "
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

    def scores(self, masks: np.ndarray) -> np.ndarray:
        """Raw model scores (M, n_items) float32 of each masked history.

        Rows are grouped by how many items they keep (sequence models pad a batch to
        its longest history, and masked rows range from empty to full), then scored in
        at most ``chunk`` rows per ``scorer.score`` call; batches of ``LENGTH_SPLIT``
        rows or more are split into at least two length groups, which cuts padding
        work by about a tenth to a fifth for the explainers' batches.
        """
        m = self._as_masks(masks)
        out = np.empty((m.shape[0], self.n_items), dtype=np.float32)
        n_parts = -(-m.shape[0] // self.chunk)
        if m.shape[0] >= LENGTH_SPLIT:
            n_parts = max(n_parts, 2)
        order = np.argsort(m.sum(axis=1), kind="stable")
        for part in np.array_split(order, max(n_parts, 1)):
            if part.size == 0:
                continue
            keep = [self.kept_positions(r) for r in m[part]]
            hists = [self.history[k] for k in keep]
            tss = None if self.timestamps is None else [self.timestamps[k] for k in keep]
            s = np.asarray(self.scorer.score(hists, tss), dtype=np.float32)
            if s.shape != (len(hists), self.n_items):
                raise ValueError(f"scorer returned shape {s.shape}, expected {(len(hists), self.n_items)}")
            out[part] = s
            self.calls += 1
        self.evaluations += m.shape[0]
        return out

    def values_from_scores(self, s: np.ndarray, kind: str | None = None) -> np.ndarray:
        """The value (M,) float64 of each score row (``kind`` defaults to this scorer's)."""
        kind = kind or self.value_kind
        t = s[:, self.target].astype(np.float64)
        if kind == "margin":
            if self.contrast is None:
                raise ValueError("margin needs a contrast item")
            return t - s[:, self.contrast].astype(np.float64)
        if kind == "logprob":
            return t - _logsumexp(np.take(s, self._cand_idx, axis=1).astype(np.float64), axis=1)
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
        return self.values_from_scores(self.scores(masks))

    def rerank(self, masks: np.ndarray) -> np.ndarray:
        """Target's rank (M,) after re-ranking each edited profile as the served list
        would: excluding only the items that remain in that profile."""
        m = self._as_masks(masks)
        s = self.scores(m)
        excl = [self.history[self.kept_positions(r)] for r in m]
        return self.ranks_from_scores(s, exclude_rows=excl)

    def full_mask(self) -> np.ndarray:
        return np.ones(self.n_features, dtype=np.float64)

    def empty_mask(self) -> np.ndarray:
        return np.zeros(self.n_features, dtype=np.float64)
