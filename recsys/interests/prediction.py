"""Predicted interest: the model's next-item distribution (softmax of the scores over the
items not yet seen) after each prefix of a history, aggregated by category. Prefixes
are subsampled to ``max_steps`` and scored in a few batched ``scorer.score`` calls; the
forecast for the next window is the distribution after the whole history."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import softmax

from recsys.data.types import DataError
from recsys.interests.categories import CategoryAssignment
from recsys.interests.windows import shares_dict
from recsys.models.base import Scorer

DEFAULT_MAX_STEPS = 32
SCORE_BATCH = 64


class Prediction(NamedTuple):
    """The model's category mix for the next item, after the history up to ``ts``."""

    ts: int
    shares: dict[str, float]


def prefix_steps(n: int, max_steps: int = DEFAULT_MAX_STEPS) -> np.ndarray:
    """Prefix lengths 1..n at which to query the model, at most ``max_steps``, always incl. n."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n <= max_steps:
        return np.arange(1, n + 1, dtype=np.int64)
    return np.unique(np.round(np.linspace(1, n, max_steps)).astype(np.int64))


def category_distribution(scores: np.ndarray, seen: np.ndarray, cat_matrix: np.ndarray) -> np.ndarray:
    """Softmax of ``scores`` over the items not in ``seen`` (and with a finite score),
    aggregated by category (C,). When every item is seen, over all items."""
    raw = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isfinite(raw), raw, -np.inf)
    if seen.size:
        s[np.asarray(seen, dtype=np.int64)] = -np.inf
    if not np.isfinite(s).any():  # every item seen: fall back to all items
        s = np.where(np.isfinite(raw), raw, -np.inf)
    return softmax(s) @ cat_matrix


def predicted_interest(
    scorer: Scorer,
    items: np.ndarray,
    ts: np.ndarray,
    assignment: CategoryAssignment,
    max_steps: int = DEFAULT_MAX_STEPS,
    batch: int = SCORE_BATCH,
) -> tuple[list[Prediction], dict[str, float]]:
    """(predictions after each sampled prefix, forecast after the full history)."""
    cats = assignment.categories
    cm = np.asarray(assignment.category_matrix, dtype=np.float64)
    if getattr(scorer, "n_items", cm.shape[0]) != cm.shape[0]:
        raise DataError(f"model scores {scorer.n_items} items but the dataset has {cm.shape[0]}")
    steps = prefix_steps(items.size, max_steps)
    preds: list[Prediction] = []
    for a in range(0, steps.size, batch):
        ks = steps[a : a + batch]
        scores = scorer.score([items[:k] for k in ks], [ts[:k] for k in ks])
        for k, row in zip(ks, np.asarray(scores)):
            dist = category_distribution(row, items[:k], cm)
            preds.append(Prediction(ts=int(ts[k - 1]), shares=shares_dict(cats, dist)))
    forecast = dict(preds[-1].shares) if preds else {}
    return preds, forecast
