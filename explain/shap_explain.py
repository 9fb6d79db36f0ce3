"""SHAP attributions over history items with the ``shap`` library.

The masked scorer is the model, ``shap.maskers.Independent`` with one all-zero
background row is the masker and the explained row is all ones, so a masked-out
feature means "item removed" and the attributions add up to f(full) - f(empty):

- up to ``EXACT_MAX_FEATURES`` features: ``shap.explainers.Exact`` (2^n evaluations);
- otherwise ``shap.explainers.Permutation`` with a fixed evaluation budget (antithetic
  permutations; each permutation costs 2n+1 evaluations, evaluated in one batch).

shap seeds numpy's *global* generator (``np.random.seed``) inside the permutation
explainer; we serialise shap runs across threads and save/restore that state so
callers see no hidden side effect and results stay reproducible.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from explain import jitcache
from explain.explanation import Attribution, timed_attribution
from explain.masked import MaskedScorer

if TYPE_CHECKING:
    from explain.units import GroupedScorer

EXACT_MAX_FEATURES = 10
DEFAULT_SHAP_BUDGET = 1000


_SHAP_LOCK = threading.Lock()


class _GlobalRNGGuard:
    """Serialises shap runs (its permutations draw from numpy's *global* generator, so
    two threads at once would make each other's results irreproducible) and restores
    the global RNG state on exit."""

    def __enter__(self) -> None:
        _SHAP_LOCK.acquire()
        self._state = np.random.get_state()

    def __exit__(self, *exc: Any) -> None:
        try:
            np.random.set_state(self._state)
        finally:
            _SHAP_LOCK.release()


def permutation_masks(n: int, n_perm: int) -> np.ndarray:
    """The ``n_perm * (2n + 1)`` masks shap's permutation explainer will ask for, in
    one array, drawn from numpy's global RNG exactly as shap draws them (its
    ``np.random.shuffle`` of the feature indices, once per permutation, each from the
    previous order) — without consuming the draws: the global state is restored.

    shap evaluates one permutation per model call (2n + 1 rows from empty to full and
    back); scoring all of them at once lets the masked scorer batch by length across
    permutations. Should a shap version ask for other masks, those are scored on
    demand: results never depend on this prediction, only speed does.
    """
    state = np.random.get_state()
    try:
        inds = np.arange(n)
        out = np.zeros((n_perm, 2 * n + 1, n), dtype=bool)
        tri = np.tri(n, dtype=bool)  # row i: the first i + 1 positions of the order
        for p in range(n_perm):
            np.random.shuffle(inds)
            fwd = np.zeros((n, n), dtype=bool)
            fwd[:, inds] = tri  # forward: the first 1..n features of the order switched on
            out[p, 1 : n + 1] = fwd
            out[p, n + 1 :] = ~fwd  # backward: the same features switched off again
        return out.reshape(-1, n)
    finally:
        np.random.set_state(state)


def shap_values(
    f: MaskedScorer | GroupedScorer, *, budget: int = DEFAULT_SHAP_BUDGET, seed: int = 0
) -> tuple[np.ndarray, float, float, dict[str, Any]]:
    """(values (n,), base_value, value, params) of the masked scorer ``f``."""
    jitcache.enable()  # shap's compiled helpers come from (and go to) the cache under RECSYS_HOME
    from shap.explainers import Exact, Permutation
    from shap.maskers import Independent

    n = f.n_features
    background = np.zeros((1, n))
    x = np.ones((1, n))
    masker = Independent(background, max_samples=1)
    start_evals = f.evaluations
    if n == 0:
        v = float(f(x)[0])
        return np.zeros(0), v, v, {"explainer": "none", "budget": budget, "seed": seed, "evaluations": 1}
    res: Any  # a shap.Explanation (shap's annotations also allow a list of them)
    with _GlobalRNGGuard():
        if n <= EXACT_MAX_FEATURES:
            explainer = Exact(f, masker)
            res = explainer(x, max_evals=2**n, silent=True)
            name = "shap.explainers.Exact"
            n_perm = None
            budget = 2**n  # exact: every coalition is evaluated
        else:
            min_budget = 2 * n + 1
            if budget < min_budget:
                budget = min_budget  # one antithetic permutation is the least shap accepts
            explainer = Permutation(f, masker, seed=seed)  # seeds numpy's global RNG
            n_perm = int(budget) // (2 * n + 1)
            f.prefetch(permutation_masks(n, n_perm))
            try:
                res = explainer(x, max_evals=int(budget), silent=True)
            finally:
                f.clear_prefetch()
            name = "shap.explainers.Permutation"
    values = np.asarray(res.values, dtype=np.float64).reshape(-1)
    base = float(np.asarray(res.base_values).reshape(-1)[0])
    value = base + float(values.sum())
    params = {
        "explainer": name,
        "budget": int(budget),
        "seed": int(seed),
        "evaluations": int(f.evaluations - start_evals),
        "permutations": n_perm,
    }
    return values, base, value, params


def explain_shap(f: MaskedScorer | GroupedScorer, *, budget: int = DEFAULT_SHAP_BUDGET, seed: int = 0) -> Attribution:
    """SHAP :class:`Attribution` of the masked scorer's target."""
    return timed_attribution("shap", f, lambda: shap_values(f, budget=budget, seed=seed))
