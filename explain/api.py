"""The public entry points: explain one recommended item, compare SHAP with LIME, warm up.

``explain_item`` is the Explainer → Explanation step of the shap-style contract: a
:class:`~explain.masked.MaskedScorer` (the masker + model) is built for the user's
history and the target item, SHAP or LIME attributes the target's value to the
history items, and the result is wrapped with faithfulness, a counterfactual, an
optional "why not Y?" contrast, a summary and provenance. Results are cached
in-process by (model, data, history, item, method, budget, seed, options).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from explain.cache import LRUCache
from explain.counterfactual import DEFAULT_CF_BUDGET, counterfactual
from explain.explanation import Attribution, Explanation
from explain.faithfulness import DEFAULT_RANDOM_ORDERS, faithfulness
from explain.lime_explain import DEFAULT_LIME_SAMPLES, STABILITY_SEEDS, agreement, explain_lime, stability
from explain.masked import DEFAULT_MAX_FEATURES, MaskedScorer
from explain.shap_explain import DEFAULT_SHAP_BUDGET, _GlobalRNGGuard, explain_shap
from explain.summary import summarise
from recsys.data.types import DataError, Dataset
from recsys.models.base import Scorer

METHODS = ("shap", "lime")
DEFAULT_BUDGETS = {"shap": DEFAULT_SHAP_BUDGET, "lime": DEFAULT_LIME_SAMPLES}

_CACHE = LRUCache(maxsize=256)


def default_cache() -> LRUCache:
    """The process-wide explanation cache."""
    return _CACHE


# ---- provenance ---------------------------------------------------------------------
def model_fingerprint(scorer: Scorer) -> str | None:
    """A stable id of the model: its ``fingerprint`` attribute, else a fingerprint field
    of its ``manifest``, else a sha256 of the saved manifest (unique per artifact: it
    records data fingerprint, seed and creation time); None for unsaved models."""
    fp = getattr(scorer, "fingerprint", None)
    if isinstance(fp, str) and fp:
        return fp
    man = getattr(scorer, "manifest", None)
    if isinstance(man, dict) and man:
        for key in ("model_fingerprint", "weights_sha256", "fingerprint"):
            if isinstance(man.get(key), str) and man[key]:
                return man[key]
        blob = json.dumps(man, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()
    return None


def _model_key(scorer: Scorer) -> str:
    fp = model_fingerprint(scorer)
    return fp if fp is not None else f"unsaved:{getattr(scorer, 'name', type(scorer).__name__)}@{id(scorer)}"


def _versions() -> dict[str, str]:
    import lime
    import shap

    return {"shap": shap.__version__, "lime": getattr(lime, "__version__", "unknown")}


def provenance(ds: Dataset, scorer: Scorer, a: Attribution, **extra: Any) -> dict[str, Any]:
    """Model and data fingerprints, method, budget, seed, evaluations, elapsed ms."""
    p = {
        "model": getattr(scorer, "name", type(scorer).__name__),
        "model_fingerprint": model_fingerprint(scorer),
        "data_fingerprint": ds.fingerprint,
        "data_source": ds.source,
        "method": a.method,
        "explainer": a.params.get("explainer"),
        "value": a.value_kind,
        "budget": a.params.get("budget"),
        "seed": a.params.get("seed"),
        "evaluations": a.params.get("evaluations"),
        "elapsed_ms": round(a.elapsed_ms, 3),
        "cpu_ms": a.params.get("cpu_ms"),
        "versions": _versions(),
    }
    p.update(extra)
    return p


# ---- validation -----------------------------------------------------------------------
def _check_inputs(ds: Dataset, scorer: Scorer, history: np.ndarray, target: int, method: str, k: int) -> None:
    if method not in METHODS:
        raise DataError(f"unknown explanation method {method!r} (choose from {', '.join(METHODS)})")
    if int(scorer.n_items) != ds.n_items:
        raise DataError(f"the model scores {scorer.n_items} items but the data has {ds.n_items}")
    if not 0 <= int(target) < ds.n_items:
        raise DataError(f"item index {target} outside 0..{ds.n_items - 1}")
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    if history.size == 0:
        raise DataError("cannot explain an empty history: there is nothing to attribute to")


def attribute(f: MaskedScorer, method: str, *, budget: int | None = None, seed: int = 0) -> Attribution:
    """Run one explainer on a masked scorer."""
    b = DEFAULT_BUDGETS[method] if budget is None else int(budget)
    if method == "shap":
        return explain_shap(f, budget=b, seed=seed)
    return explain_lime(f, samples=b, seed=seed)


def explain_item(
    ds: Dataset,
    scorer: Scorer,
    history: Sequence[int] | np.ndarray,
    timestamps: Sequence[int] | np.ndarray | None,
    target: int,
    *,
    method: str = "shap",
    k: int = 10,
    budget: int | None = None,
    seed: int = 0,
    value: str = "logprob",
    max_features: int = DEFAULT_MAX_FEATURES,
    why_not: int | None = None,
    user: str = "",
    extras: bool = True,
    n_random: int = DEFAULT_RANDOM_ORDERS,
    cf_budget: int = DEFAULT_CF_BUDGET,
    cache: LRUCache | None = _CACHE,
) -> Explanation:
    """Explain why ``target`` (an item index) is recommended after ``history``.

    ``method``: "shap" (budget = model evaluations, default 1000) or "lime" (budget =
    samples, default 500). ``extras`` adds faithfulness, the top-``k`` counterfactual
    and the summary; ``why_not`` (an item index) adds attributions of the score
    difference target − why_not. Pass ``cache=None`` to bypass the cache.
    """
    t0 = time.perf_counter()
    hist = np.asarray(history, dtype=np.int64).reshape(-1)
    ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64).reshape(-1)
    _check_inputs(ds, scorer, hist, int(target), method, int(k))
    if why_not is not None and not 0 <= int(why_not) < ds.n_items:
        raise DataError(f"why-not item index {why_not} outside 0..{ds.n_items - 1}")
    b = DEFAULT_BUDGETS[method] if budget is None else int(budget)
    key = (
        _model_key(scorer),
        ds.fingerprint,
        tuple(hist.tolist()),
        None if ts is None else tuple(ts.tolist()),
        int(target),
        method,
        b,
        int(seed),
        value,
        int(max_features),
        int(k),
        None if why_not is None else int(why_not),
        bool(extras),
        int(n_random),
        int(cf_budget),
    )
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return dataclasses.replace(hit, user=user, provenance={**hit.provenance, "cache_hit": True})

    f = MaskedScorer(scorer, hist, ts, int(target), value=value, max_features=max_features)
    attr = attribute(f, method, budget=b, seed=seed)
    faith = cf = summ = None
    if extras:
        faith = faithfulness(f, attr, n_random=n_random, seed=seed)
        cf = counterfactual(f, attr, int(k), budget=cf_budget)
        summ = summarise(ds, attr, hist.size)
    wn = None
    if why_not is not None:
        g = MaskedScorer(
            scorer, hist, ts, int(target), value="margin", contrast=int(why_not), max_features=max_features
        )
        wn = attribute(g, method, budget=b, seed=seed)
        wn = dataclasses.replace(wn, params={**wn.params, "contrast": int(why_not)})
    total = (time.perf_counter() - t0) * 1000.0
    prov = provenance(
        ds,
        scorer,
        attr,
        n_features=f.n_features,
        n_context=f.n_context,
        total_ms=round(total, 3),
        cache_hit=False,
    )
    expl = Explanation(
        user=user,
        target=int(target),
        k=int(k),
        attribution=attr,
        faithfulness=faith,
        counterfactual=cf,
        summary=summ,
        why_not=wn,
        provenance=prov,
        note=f.note(),
        n_context=f.n_context,
        total_ms=total,
    )
    if cache is not None:
        cache.put(key, expl)
    return expl


@dataclass(frozen=True, eq=False)
class MethodComparison:
    """SHAP and LIME side by side: Kendall-tau agreement and LIME's top-5 stability."""

    shap: Explanation
    lime: Explanation
    agreement: float  # Kendall tau between SHAP and LIME weights
    stability: float  # mean top-5 overlap of LIME across ``stability_seeds``
    stability_seeds: tuple[int, ...]


def compare_methods(
    ds: Dataset,
    scorer: Scorer,
    history: Sequence[int] | np.ndarray,
    timestamps: Sequence[int] | np.ndarray | None,
    target: int,
    *,
    k: int = 10,
    seed: int = 0,
    shap_budget: int | None = None,
    lime_budget: int | None = None,
    stability_seeds: Sequence[int] = STABILITY_SEEDS,
    value: str = "logprob",
    max_features: int = DEFAULT_MAX_FEATURES,
    user: str = "",
    cache: LRUCache | None = _CACHE,
) -> MethodComparison:
    """Both explanations (cached individually), their agreement and LIME's stability."""
    common = dict(k=k, seed=seed, value=value, max_features=max_features, user=user, cache=cache)
    s = explain_item(ds, scorer, history, timestamps, target, method="shap", budget=shap_budget, **common)
    ln = explain_item(ds, scorer, history, timestamps, target, method="lime", budget=lime_budget, **common)
    runs: list[Attribution] = [ln.attribution]
    for sd in stability_seeds:
        if int(sd) == int(seed):
            continue
        other = explain_item(
            ds,
            scorer,
            history,
            timestamps,
            target,
            method="lime",
            budget=lime_budget,
            extras=False,
            **{**common, "seed": int(sd)},
        )
        runs.append(other.attribution)
    return MethodComparison(
        shap=s,
        lime=ln,
        agreement=agreement(s.attribution, ln.attribution),
        stability=stability(runs),
        stability_seeds=tuple(dict.fromkeys([int(seed), *[int(x) for x in stability_seeds]])),
    )


# ---- one-time costs -------------------------------------------------------------------
def warm_up() -> float:
    """Pay shap's one-time just-in-time compilation (numba) and lime/sklearn imports
    now, so the first real explanation is not slowed down. Returns elapsed ms; cheap
    after the first call in a process."""
    import shap
    from lime.lime_base import LimeBase

    from explain.lime_explain import _kernel

    t0 = time.perf_counter()
    n = 4

    def toy(x: np.ndarray) -> np.ndarray:
        return x.sum(axis=1) + x[:, 0] * x[:, 1]

    masker = shap.maskers.Independent(np.zeros((1, n)), max_samples=1)
    with _GlobalRNGGuard():
        shap.explainers.Permutation(toy, masker, seed=0)(
            np.ones((1, n)), max_evals=2 * (2 * n + 1), silent=True
        )
        shap.explainers.Exact(toy, masker)(np.ones((1, n)), max_evals=2**n, silent=True)
    rng = np.random.RandomState(0)
    data = (rng.rand(20, n) > 0.5).astype(float)
    data[0] = 1.0
    LimeBase(_kernel, random_state=rng).explain_instance_with_data(
        data, toy(data)[:, None], np.abs(rng.rand(20)), 0, n, feature_selection="none"
    )
    return (time.perf_counter() - t0) * 1000.0
