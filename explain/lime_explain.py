"""LIME attributions over history items with the ``lime`` library.

History items are present/absent features, exactly like words in LIME's text
explainer, so we follow ``lime.lime_text``'s neighbourhood (the faithful use of the
library for presence features): the first sample is the full history; each other
sample removes a uniformly drawn number (1..n) of uniformly drawn items; distances are
cosine distances to the full history (x100), weighted by LIME's exponential kernel
(width 25); ``lime.lime_base.LimeBase.explain_instance_with_data`` fits the weighted
ridge surrogate over *all* features (``feature_selection="none"``), so every explained
item gets a weight. Everything random comes from ``random_state=seed``.

Also here: the stability score (mean top-5 overlap across seeds) and SHAP–LIME
agreement (Kendall tau of the two weight vectors).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from explain.explanation import Attribution, timed_attribution
from explain.masked import MaskedScorer

if TYPE_CHECKING:
    from explain.units import GroupedScorer

DEFAULT_LIME_SAMPLES = 500
KERNEL_WIDTH = 25.0
STABILITY_SEEDS = (0, 1, 2)


def _kernel(d: np.ndarray, kernel_width: float = KERNEL_WIDTH) -> np.ndarray:
    """lime_text's default kernel: sqrt(exp(-d^2 / width^2))."""
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))


def neighbourhood(n: int, samples: int, rng: np.random.RandomState) -> np.ndarray:
    """(samples, n) binary masks: row 0 all ones, each other row removes a uniform
    number of uniformly chosen features (lime_text's scheme)."""
    data = np.ones((samples, n))
    sizes = rng.randint(1, n + 1, samples - 1)
    for i, size in enumerate(sizes, start=1):
        # == rng.choice(n, size, replace=False) (the same draws), without its checks
        data[i, rng.permutation(n)[:size]] = 0
    return data


def _cosine_distance_to_first(data: np.ndarray) -> np.ndarray:
    """Cosine distance (x100) of every row to the first, computed on a sparse matrix as
    ``lime_text`` does (the dense computation differs in the last bits)."""
    from scipy.sparse import csr_matrix
    from sklearn.metrics.pairwise import pairwise_distances

    x = csr_matrix(data)
    return pairwise_distances(x, x[0], metric="cosine").ravel() * 100


def lime_values(
    f: MaskedScorer | GroupedScorer, *, samples: int = DEFAULT_LIME_SAMPLES, seed: int = 0
) -> tuple[np.ndarray, float, float, dict[str, Any]]:
    """(weights (n,), base_value f(empty), value f(full), params) of the masked scorer."""
    from lime.lime_base import LimeBase

    n = f.n_features
    samples = max(int(samples), 2)
    start = f.evaluations
    rng = np.random.RandomState(seed)
    base = LimeBase(_kernel, verbose=False, random_state=rng)
    if n == 0:
        v = float(f(np.ones((1, 0)))[0])
        return np.zeros(0), v, v, {"explainer": "none", "budget": samples, "seed": seed, "evaluations": 1}
    data = neighbourhood(n, samples, base.random_state)
    # score the neighbourhood plus the empty profile (for base_value) in one pass
    values = f(np.vstack([data, np.zeros((1, n))]))
    labels, empty_value = values[:-1, None], float(values[-1])
    distances = _cosine_distance_to_first(data)
    fit: Any = base.explain_instance_with_data(  # lime is untyped: (intercept, [(j, w)], r2, pred)
        data, labels, distances, label=0, num_features=n, feature_selection="none"
    )
    intercept, exp, score, local_pred = fit
    weights = np.zeros(n)
    for j, w in exp:
        weights[int(j)] = float(w)
    params = {
        "explainer": "lime.lime_base.LimeBase",
        "budget": samples,
        "seed": int(seed),
        "evaluations": int(f.evaluations - start),
        "kernel_width": KERNEL_WIDTH,
        "intercept": float(intercept),
        "r2": float(score),
        "local_pred": float(np.asarray(local_pred).reshape(-1)[0]),
    }
    return weights, empty_value, float(values[0]), params


def explain_lime(f: MaskedScorer | GroupedScorer, *, samples: int = DEFAULT_LIME_SAMPLES, seed: int = 0) -> Attribution:
    """LIME :class:`Attribution` of the masked scorer's target."""
    return timed_attribution("lime", f, lambda: lime_values(f, samples=samples, seed=seed))


def top_set(a: Attribution, n: int = 5) -> set[int]:
    """Positions of the n largest weights (positions, so repeated items stay distinct)."""
    return set(int(p) for p in a.positions[a.order()[:n]])


def stability(attrs: Sequence[Attribution], n: int = 5) -> float:
    """Mean pairwise top-n overlap |A ∩ B| / n over the runs (1 = identical top-n)."""
    if len(attrs) < 2:
        return 1.0
    m = max(1, min(n, attrs[0].n_features))
    sets = [top_set(a, m) for a in attrs]
    return float(np.mean([len(x & y) / m for x, y in itertools.combinations(sets, 2)]))


def agreement(a: Attribution, b: Attribution) -> float:
    """Kendall tau between two attributions of the same features (nan if undefined)."""
    from scipy.stats import kendalltau

    if a.n_features != b.n_features or not np.array_equal(a.positions, b.positions):
        raise ValueError("attributions explain different features")
    if a.n_features < 2:
        return float("nan")
    res: Any = kendalltau(a.values, b.values)  # scipy's result type is not visible to type checkers
    return float(res.statistic)
