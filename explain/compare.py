"""SHAP and LIME compared over the same units, with budgets that grow until the top 5
holds still (issue 23).

:func:`compare_methods` builds one masked scorer (grouped by ``units``, see
:mod:`explain.units`), runs SHAP (exact over groups; otherwise two half-budget
permutation runs whose budget doubles until their top 5 agree) and LIME (one run per
stability seed; samples double until the seeds' top 5 agree), each within a time cap
(else the result is flagged unstable), and wraps both with faithfulness, counterfactual
and summary plus an :class:`~explain.explanation.Agreement` (top-5 overlap, RBO,
Kendall τ, disagreements with each method's deletion AUC).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Sequence, TypedDict, Unpack, overload

from explain import agree
from explain.api import (
    _CACHE,
    ItemsLike,
    _check_inputs,
    _finish,
    _history_and_target,
    _Request,
    attribute,
    units_scorer,
)
from explain.cache import LRUCache
from explain.counterfactual import DEFAULT_CF_BUDGET
from explain.explanation import Agreement, Attribution, Explanation
from explain.faithfulness import DEFAULT_RANDOM_ORDERS
from explain.lime_explain import DEFAULT_LIME_SAMPLES, STABILITY_SEEDS, agreement, stability
from explain.masked import DEFAULT_MAX_FEATURES, MaskedScorer
from explain.shap_explain import DEFAULT_SHAP_BUDGET, EXACT_MAX_FEATURES
from explain.units import GroupedScorer
from recsys.data.types import Dataset, History
from recsys.models.base import Scorer, model_key


class CompareOptions(TypedDict, total=False):
    """Keyword options of :func:`compare_methods` (see its docstring)."""

    k: int
    seed: int
    shap_budget: int | None
    lime_budget: int | None
    stability_seeds: Sequence[int]
    value: str
    max_features: int
    user: str
    cache: LRUCache | None
    units: str
    adaptive: bool
    time_cap_ms: float



#: LIME's top-5 stability across seeds at which its sample count stops growing.
STABLE_LIME = 0.9
#: SHAP's top-5 overlap between its two half-budget runs at which its budget stops growing.
STABLE_SHAP = 0.8
LIME_MIN_SAMPLES_PER_UNIT = 20  # the first round's samples: at least this many per unit
MAX_LIME_SAMPLES = 16000
MAX_SHAP_BUDGET = 16000
#: Time caps of the growing budgets (ms of attribution work per method): reached before
#: the threshold, the explanation is flagged unstable instead of running on.
DEFAULT_TIME_CAP_MS = 1500.0


@dataclass(frozen=True, eq=False)
class MethodComparison:
    """SHAP and LIME side by side over the same units.

    ``agreement``: top-5 overlap of SHAP and LIME in [0, 1]; ``stability``: LIME's mean
    top-5 overlap across ``stability_seeds`` at its final sample count; ``detail``: the
    full :class:`~explain.explanation.Agreement` (RBO, Kendall τ, disagreements with each
    method's deletion AUC, budgets, the unstable flag), also attached to both
    explanations as ``.agreement``."""

    shap: Explanation
    lime: Explanation
    agreement: float
    stability: float
    stability_seeds: tuple[int, ...]
    detail: Agreement

    @property
    def units(self) -> str:
        return self.shap.attribution.units

    @property
    def stable(self) -> bool:
        return self.detail.stable


def _shap_runs(f: MaskedScorer | GroupedScorer, budget: int | None, seed: int, adaptive: bool,
               cap_ms: float) -> tuple[Attribution, float | None]:
    """SHAP over ``f``: exact for few units; a fixed ``budget`` as given; otherwise two
    half-budget permutation runs (seeds ``seed``, ``seed + 1``) whose budget doubles until
    their top-5 overlap reaches ``STABLE_SHAP`` (or the cap) and whose mean is returned
    (still additive). Returns the attribution and that overlap (None when not measured)."""
    n = f.n_features
    if budget is not None or not adaptive or n <= EXACT_MAX_FEATURES:
        a = attribute(f, "shap", budget=budget, seed=seed)
        return a, (1.0 if a.params.get("explainer") == "shap.explainers.Exact" else None)
    half = max(DEFAULT_SHAP_BUDGET // 2, 2 * n + 1)
    spent = 0.0
    while True:
        r1 = attribute(f, "shap", budget=half, seed=seed)
        r2 = attribute(f, "shap", budget=half, seed=seed + 1)
        spent += r1.elapsed_ms + r2.elapsed_ms
        over = agree.top_overlap(r1, r2)
        if over >= STABLE_SHAP or spent >= cap_ms or 2 * half > MAX_SHAP_BUDGET // 2:
            break
        half *= 2
    params = {**r1.params, "budget": 2 * int(r1.params["budget"]), "seeds": [seed, seed + 1],
              "evaluations": int(r1.params["evaluations"]) + int(r2.params["evaluations"]),
              "cpu_ms": r1.params.get("cpu_ms", 0.0) + r2.params.get("cpu_ms", 0.0),
              "half_run_top5_overlap": over, "adaptive": True}
    merged = dataclasses.replace(r1, values=(r1.values + r2.values) / 2.0,
                                 value=float(r1.base_value + ((r1.values + r2.values) / 2.0).sum()),
                                 params=params, elapsed_ms=spent)
    return merged, over


def _lime_runs(f: MaskedScorer | GroupedScorer, budget: int | None, seeds: tuple[int, ...], adaptive: bool,
               cap_ms: float) -> tuple[list[Attribution], float, float]:
    """LIME runs over ``f``, one per seed (the first is the shown one), with a sample count
    that doubles until their top-5 stability reaches ``STABLE_LIME`` or the cap is spent.
    Returns (runs, stability, ms spent)."""
    n = f.n_features
    grow = adaptive and budget is None
    samples = int(budget) if budget is not None else DEFAULT_LIME_SAMPLES
    if grow:
        samples = max(samples, LIME_MIN_SAMPLES_PER_UNIT * n)
    spent = 0.0
    while True:
        runs = [attribute(f, "lime", budget=samples, seed=sd) for sd in seeds]
        spent += sum(r.elapsed_ms for r in runs)
        stab = stability(runs)
        if not grow or stab >= STABLE_LIME or spent >= cap_ms or 2 * samples > MAX_LIME_SAMPLES:
            break
        samples *= 2
    return runs, stab, spent


def _describe(ds: Dataset, a: Attribution) -> Any:
    def describe(j: int) -> dict[str, Any]:
        if a.groups:
            g = a.groups[j]
            return {"unit": g.label, "items": [ds.item_ids[int(i)] for i in g.items],
                    "titles": [ds.titles[int(i)] for i in g.items], "position": int(a.positions[j])}
        i = int(a.features[j])
        return {"unit": ds.titles[i], "items": [ds.item_ids[i]], "titles": [ds.titles[i]],
                "position": int(a.positions[j])}

    return describe


@overload
def compare_methods(
    ds: Dataset, scorer: Scorer, history: History, target: int, /, **options: Unpack[CompareOptions]
) -> MethodComparison: ...
@overload
def compare_methods(
    ds: Dataset,
    scorer: Scorer,
    history: ItemsLike,
    timestamps: ItemsLike | None,
    target: int,
    /,
    **options: Unpack[CompareOptions],
) -> MethodComparison: ...
def compare_methods(
    ds: Dataset,
    scorer: Scorer,
    history: History | ItemsLike,
    *where: Any,
    k: int = 10,
    seed: int = 0,
    shap_budget: int | None = None,
    lime_budget: int | None = None,
    stability_seeds: Sequence[int] = STABILITY_SEEDS,
    value: str = "logprob",
    max_features: int = DEFAULT_MAX_FEATURES,
    user: str = "",
    cache: LRUCache | None = _CACHE,
    units: str = "auto",
    adaptive: bool = True,
    time_cap_ms: float = DEFAULT_TIME_CAP_MS,
) -> MethodComparison:
    """SHAP and LIME over the same units, their agreement and LIME's stability.

    Positional arguments as for :func:`explain_item`. ``units`` (default "auto": groups
    for long histories, :mod:`explain.units`). With ``adaptive`` budgets grow until the
    top 5 holds still across seeds (LIME: ``stability_seeds``; SHAP: two half runs),
    each within ``time_cap_ms``; a given ``shap_budget``/``lime_budget`` is used as is.
    Both explanations carry the :class:`~explain.explanation.Agreement` as
    ``.agreement``. Cached as a whole by every option that changes the result."""
    t0 = time.perf_counter()
    h, target = _history_and_target(history, where, user)
    user = user or h.user
    _check_inputs(ds, scorer, h, target, "shap", int(k))
    seeds = tuple(dict.fromkeys([int(seed), *[int(x) for x in stability_seeds]]))
    ts_key = None if h.timestamps is None else tuple(h.timestamps.tolist())
    key = ("compare", model_key(scorer), ds.fingerprint, tuple(h.items.tolist()), ts_key, target, int(k), seeds,
           shap_budget, lime_budget, value, int(max_features), units, bool(adaptive), float(time_cap_ms))
    hit = None if cache is None else cache.get(key)
    if hit is not None:
        return dataclasses.replace(hit, shap=dataclasses.replace(hit.shap, user=user),
                                   lime=dataclasses.replace(hit.lime, user=user))
    base = MaskedScorer(scorer, h, target, value=value, max_features=int(max_features))
    f = units_scorer(ds, base, units)
    s_attr, s_stab = _shap_runs(f, shap_budget, int(seed), adaptive, time_cap_ms)
    runs, l_stab, _ = _lime_runs(f, lime_budget, seeds, adaptive, time_cap_ms)
    l_attr = runs[0]

    def req(method: str, a: Attribution) -> _Request:
        return _Request(history=h, user=user, target=target, method=method, k=int(k),
                        budget=int(a.params.get("budget") or 0), seed=int(seed), value=value,
                        max_features=int(max_features), why_not=None, extras=True,
                        n_random=DEFAULT_RANDOM_ORDERS, cf_budget=DEFAULT_CF_BUDGET, units=units)

    s_exp = _finish(ds, scorer, req("shap", s_attr), base, f, s_attr, t0)
    l_exp = _finish(ds, scorer, req("lime", l_attr), base, f, l_attr, t0)
    rows = agree.disagreements(s_attr, l_attr, f, _describe(ds, s_attr))
    sf, lf = s_exp.faithfulness, l_exp.faithfulness
    top5 = agree.top_overlap(s_attr, l_attr)
    detail = Agreement(
        top5=top5, rbo=agree.rank_biased_overlap(s_attr, l_attr),
        kendall=agreement(s_attr, l_attr), stability=l_stab, shap_stability=1.0 if s_stab is None else s_stab,
        stable=bool(l_stab >= STABLE_LIME and (s_stab is None or s_stab >= STABLE_SHAP)),
        units=s_attr.units, lime_samples=int(l_attr.params.get("budget") or 0),
        shap_evaluations=int(s_attr.params.get("evaluations") or 0), disagreements=rows,
        shap_deletion_auc=None if sf is None else sf.deletion_auc,
        lime_deletion_auc=None if lf is None else lf.deletion_auc,
        random_deletion_auc=None if sf is None else sf.random_deletion_auc,
        elapsed_ms=(time.perf_counter() - t0) * 1000.0,
    )
    out = MethodComparison(
        shap=dataclasses.replace(s_exp, agreement=detail),
        lime=dataclasses.replace(l_exp, agreement=detail),
        agreement=top5,
        stability=l_stab,
        stability_seeds=seeds,
        detail=detail,
    )
    if cache is not None:
        cache.put(key, out)
    return out
