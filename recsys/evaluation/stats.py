"""Confidence intervals for comparing two models on the same users.

A paired comparison takes, per user, model A's metric minus model B's (same split,
same targets), so the users' own difficulty cancels out. Several runs (seeds) of the
same comparison are *strata*: the effect is the mean over runs of each run's mean
difference, and the bootstrap resamples users within each run (``scipy.stats.bootstrap``
with one sample per run, resampled independently), which keeps every run's weight.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from recsys.data.types import DataError


class PairedEffect(NamedTuple):
    """Mean of the per-user differences A − B (averaged over runs) and its interval."""

    mean: float
    low: float
    high: float
    confidence: float


def _runs(x: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """One array per run: a 1-D array (or a list of numbers) is a single run."""
    if isinstance(x, np.ndarray):
        rows = [x] if x.ndim == 1 else list(x)
    else:
        rows = list(x)
        rows = [np.asarray(rows)] if rows and np.ndim(rows[0]) == 0 else rows
    return [np.asarray(r, dtype=np.float64) for r in rows]


def _mean_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([s.mean(axis=axis) for s in samples], axis=0)


def paired_bootstrap_ci(
    a: Sequence[np.ndarray] | np.ndarray,
    b: Sequence[np.ndarray] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "percentile",
) -> PairedEffect:
    """Bootstrap interval of the mean per-user difference ``a − b``.

    ``a`` and ``b`` are per-user metric values (e.g. NDCG@10 of each test user) of two
    models on the same users, either one array each or one array per run (seed): then
    users are resampled within runs and the statistic is the mean over runs of each
    run's mean difference. ``method`` is passed to :func:`scipy.stats.bootstrap`
    ("percentile", "basic" or "BCa").
    """
    from scipy.stats import bootstrap

    runs_a, runs_b = _runs(a), _runs(b)
    if len(runs_a) != len(runs_b) or any(x.shape != y.shape for x, y in zip(runs_a, runs_b)):
        raise DataError("paired comparison needs the same users in both models (shapes differ)")
    diffs = tuple(x - y for x, y in zip(runs_a, runs_b))
    if not diffs or any(d.size < 2 for d in diffs):
        raise DataError("paired comparison needs at least 2 users per run")
    res = bootstrap(
        diffs, _mean_of_means, n_resamples=n_resamples, vectorized=True, paired=False,
        confidence_level=confidence, method=method, rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return PairedEffect(float(_mean_of_means(*diffs)), float(ci.low), float(ci.high), confidence)
