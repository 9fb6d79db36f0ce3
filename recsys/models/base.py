"""The scoring contract every recommender (baselines and the transformer) fulfils.

A *scorer* maps item-index histories (oldest first) to scores over **all** items.
Everything above it — evaluation, re-ranking, explanations, the timeline, the app —
speaks only this contract, so any model can be explained and re-ranked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Scorer(Protocol):
    name: str
    n_items: int

    def score(
        self,
        histories: Sequence[np.ndarray],
        timestamps: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Scores (B, n_items) float32, higher is better, one row per history.

        ``histories[b]`` is an int array of item indices, oldest first (may be empty:
        cold start). ``timestamps[b]`` (int64 seconds, same length) is optional.
        Seen items are *not* masked here; callers exclude them.
        """
        ...


def context_length(scorer: object) -> int | None:
    """The number of most recent history items ``scorer`` reads, or None when it reads
    them all (a scorer may declare a ``context_length`` attribute)."""
    n = getattr(scorer, "context_length", None)
    return int(n) if isinstance(n, (int, np.integer)) and n > 0 else None


def model_key(scorer: object) -> str:
    """One stable key for a model, for caches and provenance.

    A saved artifact's key is its fingerprint: the ``model_fingerprint`` its manifest
    records (the sha256 of the weights file and config.json, written by
    ``TransformerRecommender.save``); a manifest without one (e.g. a stand-in scorer's)
    is keyed by the sha256 of the manifest itself. A scorer with no manifest (not
    saved, not loaded) gets ``unsaved:<name>@<id>``, unique among the objects alive at
    the same time.
    """
    man = getattr(scorer, "manifest", None)
    if isinstance(man, dict) and man:
        fp = man.get("model_fingerprint")
        if isinstance(fp, str) and fp:
            return fp
        blob = json.dumps(man, sort_keys=True, default=str).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()
    return f"unsaved:{getattr(scorer, 'name', type(scorer).__name__)}@{id(scorer)}"


@dataclass(frozen=True)
class RecList:
    """A ranked recommendation list for one user (indices into the dataset)."""

    user: str  # external user id ("" for an anonymous / edited profile)
    items: np.ndarray  # int item indices, best first
    scores: np.ndarray  # float32 model scores, aligned with items

    @property
    def ranks(self) -> np.ndarray:
        return np.arange(1, len(self.items) + 1)


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k best scores (best first), never any index in ``exclude`` nor
    one scoring NaN or -inf. Ties are broken by the smaller item index, so results are
    deterministic (one row of :func:`recsys.evaluation.metrics.top_k_lists`)."""
    from recsys.evaluation.metrics import top_k_lists  # lazy: recsys.evaluation imports this module

    ex = None if exclude is None else [np.asarray(exclude, dtype=np.int64)]
    row = top_k_lists(np.asarray(scores, dtype=np.float64)[None, :], k, ex, skip_unscored=True)[0]
    return row[row >= 0]


def recommend(
    scorer: Scorer,
    history: np.ndarray,
    k: int = 10,
    timestamps: np.ndarray | None = None,
    user: str = "",
    exclude: np.ndarray | None = None,
) -> RecList:
    """Top-k for one history, excluding the history itself (and ``exclude``)."""
    s = scorer.score([history], None if timestamps is None else [timestamps])[0]
    ex = history if exclude is None else np.concatenate([history, exclude])
    idx = top_k(s, k, ex)
    return RecList(user=user, items=idx, scores=s[idx].astype(np.float32))
