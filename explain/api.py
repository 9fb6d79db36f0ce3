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
import time
from dataclasses import dataclass
from typing import Any, Sequence, TypeAlias, TypedDict, Unpack, overload

import numpy as np

from explain import jitcache
from explain.cache import LRUCache
from explain.counterfactual import DEFAULT_CF_BUDGET, counterfactual
from explain.explanation import Attribution, Explanation
from explain.faithfulness import DEFAULT_RANDOM_ORDERS, faithfulness
from explain.lime_explain import DEFAULT_LIME_SAMPLES, explain_lime
from explain.masked import DEFAULT_MAX_FEATURES, MaskedScorer
from explain.shap_explain import DEFAULT_SHAP_BUDGET, EXACT_MAX_FEATURES, _GlobalRNGGuard, explain_shap
from explain.summary import summarise
from explain.units import GroupedScorer, build_groups, expand, resolve_units
from recsys.data.types import DataError, Dataset, History
from recsys.models.base import Scorer, model_key

METHODS = ("shap", "lime")
DEFAULT_BUDGETS = {"shap": DEFAULT_SHAP_BUDGET, "lime": DEFAULT_LIME_SAMPLES}

_CACHE = LRUCache(maxsize=256)


# ---- provenance ---------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import lime
    import shap

    return {"shap": shap.__version__, "lime": getattr(lime, "__version__", "unknown")}


def provenance(ds: Dataset, scorer: Scorer, a: Attribution, **extra: Any) -> dict[str, Any]:
    """Model and data fingerprints, method, budget, seed, evaluations, elapsed ms."""
    p = {
        "model": getattr(scorer, "name", type(scorer).__name__),
        "model_fingerprint": model_key(scorer),  # the artifact fingerprint, or unsaved:<name>@<id>
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


# ---- inputs ---------------------------------------------------------------------------
ItemsLike: TypeAlias = "Sequence[int] | np.ndarray"


class ExplainOptions(TypedDict, total=False):
    """Keyword options of :func:`explain_item` (see its docstring)."""

    method: str
    k: int
    budget: int | None
    seed: int
    value: str
    max_features: int
    why_not: int | None
    user: str
    extras: bool
    n_random: int
    cf_budget: int
    cache: LRUCache | None
    units: str


def as_history(history: History | ItemsLike, timestamps: ItemsLike | None = None, user: str = "") -> History:
    """``history`` itself when it is a :class:`History`, else one built from item
    indices and optional timestamps (DataError when they do not fit together)."""
    if isinstance(history, History):
        return history
    items = np.asarray(history).reshape(-1)
    ts = None if timestamps is None else np.asarray(timestamps).reshape(-1)
    return History(user, items, ts)


def _history_and_target(history: History | ItemsLike, where: tuple[Any, ...], user: str) -> tuple[History, int]:
    """Read the positional arguments after the scorer: ``(History, target)`` or the
    older ``(items, timestamps, target)``."""
    if isinstance(history, History):
        if len(where) != 1:
            raise TypeError("pass (history: History, target); timestamps come from the History")
        return history, int(where[0])
    if len(where) != 2:
        raise TypeError("pass (history: History, target) or (items, timestamps, target)")
    return as_history(history, where[0], user), int(where[1])


def _check_inputs(ds: Dataset, scorer: Scorer, history: History, target: int, method: str, k: int) -> None:
    if method not in METHODS:
        raise DataError(f"unknown explanation method {method!r} (choose from {', '.join(METHODS)})")
    if int(scorer.n_items) != ds.n_items:
        raise DataError(f"the model scores {scorer.n_items} items but the data has {ds.n_items}")
    if not 0 <= int(target) < ds.n_items:
        raise DataError(f"item index {target} outside 0..{ds.n_items - 1}")
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    if len(history) == 0:
        raise DataError("cannot explain an empty history: there is nothing to attribute to")


def attribute(f: MaskedScorer | GroupedScorer, method: str, *, budget: int | None = None, seed: int = 0) -> Attribution:
    """Run one explainer on a masked scorer."""
    b = DEFAULT_BUDGETS[method] if budget is None else int(budget)
    if method == "shap":
        if isinstance(f, GroupedScorer) and f.n_features <= EXACT_MAX_FEATURES:
            f.prefetch_all()  # exact values need every coalition: one batched pass
        return explain_shap(f, budget=b, seed=seed)
    return explain_lime(f, samples=b, seed=seed)


@dataclass(frozen=True, eq=False)
class _Request:
    """One validated explanation request."""

    history: History
    user: str
    target: int
    method: str
    k: int
    budget: int
    seed: int
    value: str
    max_features: int
    why_not: int | None
    extras: bool
    n_random: int
    cf_budget: int
    units: str = "items"

    def key(self, ds: Dataset, scorer: Scorer) -> tuple[Any, ...]:
        """The cache key: model, data, history and every option that changes the result."""
        h = self.history
        ts = None if h.timestamps is None else tuple(h.timestamps.tolist())
        return (model_key(scorer), ds.fingerprint, tuple(h.items.tolist()), ts, self.target, self.method,
                self.budget, self.seed, self.value, self.max_features, self.k, self.why_not, self.extras,
                self.n_random, self.cf_budget, self.units)


def units_scorer(ds: Dataset, base: MaskedScorer, units: str) -> MaskedScorer | GroupedScorer:
    """``base`` itself for item units, else the :class:`GroupedScorer` of the grouping
    ``units`` resolves to on ``base``'s explained items."""
    grouping = resolve_units(units, base.n_features)
    if grouping == "items":
        return base
    return GroupedScorer(base, build_groups(ds, base, grouping), grouping)


def _finish(ds: Dataset, scorer: Scorer, r: _Request, base: MaskedScorer, f: MaskedScorer | GroupedScorer,
            attr: Attribution, t0: float, wn: Attribution | None = None) -> Explanation:
    """Wrap an attribution with faithfulness (over its units), the counterfactual and the
    summary (over items: a grouped attribution is expanded to its members) and provenance."""
    faith = cf = summ = None
    if r.extras:
        faith = faithfulness(f, attr, n_random=r.n_random, seed=r.seed)
        items_attr = expand(attr, base)
        cf = counterfactual(base, items_attr, r.k, budget=r.cf_budget)
        summ = summarise(ds, items_attr, len(r.history), grouped=attr)
    total = (time.perf_counter() - t0) * 1000.0
    prov = provenance(
        ds, scorer, attr, n_features=base.n_features, n_context=base.n_context, total_ms=round(total, 3),
        cache_hit=False, units=attr.units, n_units=attr.n_features,
    )
    return Explanation(
        user=r.user,
        target=r.target,
        k=r.k,
        attribution=attr,
        faithfulness=faith,
        counterfactual=cf,
        summary=summ,
        why_not=wn,
        provenance=prov,
        note=f.note(),
        n_context=base.n_context,
        total_ms=total,
    )


def _run(ds: Dataset, scorer: Scorer, r: _Request, t0: float) -> Explanation:
    """Compute the explanation of a request (no cache)."""
    base = MaskedScorer(scorer, r.history, r.target, value=r.value, max_features=r.max_features)
    f = units_scorer(ds, base, r.units)
    attr = attribute(f, r.method, budget=r.budget, seed=r.seed)
    wn = None
    if r.why_not is not None:
        gb = MaskedScorer(scorer, r.history, r.target, value="margin", contrast=r.why_not,
                          max_features=r.max_features)
        wn = attribute(units_scorer(ds, gb, r.units), r.method, budget=r.budget, seed=r.seed)
        wn = dataclasses.replace(wn, params={**wn.params, "contrast": r.why_not})
    return _finish(ds, scorer, r, base, f, attr, t0, wn)


@overload
def explain_item(
    ds: Dataset, scorer: Scorer, history: History, target: int, /, **options: Unpack[ExplainOptions]
) -> Explanation: ...
@overload
def explain_item(
    ds: Dataset,
    scorer: Scorer,
    history: ItemsLike,
    timestamps: ItemsLike | None,
    target: int,
    /,
    **options: Unpack[ExplainOptions],
) -> Explanation: ...
def explain_item(
    ds: Dataset,
    scorer: Scorer,
    history: History | ItemsLike,
    *where: Any,
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
    units: str = "items",
) -> Explanation:
    """Explain why ``target`` (an item index) is recommended after ``history``.

    Call as ``explain_item(ds, scorer, history, target, ...)`` with a
    :class:`~recsys.data.types.History`, or as ``explain_item(ds, scorer, items,
    timestamps, target, ...)`` with item indices and timestamps (or None).
    ``method``: "shap" (budget = model evaluations, default 1000) or "lime" (budget =
    samples, default 500). ``extras`` adds faithfulness, the top-``k`` counterfactual
    and the summary; ``why_not`` (an item index) adds attributions of the score
    difference target − why_not. ``user`` names the user in the result (default: the
    History's user). Pass ``cache=None`` to bypass the cache. ``units``: "items"
    (default), "auto", "recent", "session" or "category" (:mod:`explain.units`).
    """
    t0 = time.perf_counter()
    hist, target = _history_and_target(history, where, user)
    user = user or hist.user
    _check_inputs(ds, scorer, hist, target, method, int(k))
    if why_not is not None and not 0 <= int(why_not) < ds.n_items:
        raise DataError(f"why-not item index {why_not} outside 0..{ds.n_items - 1}")
    req = _Request(
        history=hist,
        user=user,
        target=target,
        method=method,
        k=int(k),
        budget=DEFAULT_BUDGETS[method] if budget is None else int(budget),
        seed=int(seed),
        value=value,
        max_features=int(max_features),
        why_not=None if why_not is None else int(why_not),
        extras=bool(extras),
        n_random=int(n_random),
        cf_budget=int(cf_budget),
        units=str(units),
    )
    key = req.key(ds, scorer)
    hit = None if cache is None else cache.get(key)
    if hit is not None:
        return dataclasses.replace(hit, user=user, provenance={**hit.provenance, "cache_hit": True})
    expl = _run(ds, scorer, req, t0)
    if cache is not None:
        cache.put(key, expl)
    return expl


# ---- one-time costs -------------------------------------------------------------------
def warm_up() -> float:
    """Pay shap's one-time just-in-time compilation (numba) and lime/sklearn imports
    now, so the first real explanation is not slowed down. Returns elapsed ms; cheap
    after the first call in a process, and after the first process on a machine: the
    compiled code is kept in numba's on-disk cache under ``RECSYS_HOME``
    (:mod:`explain.jitcache`)."""
    jitcache.enable()  # imports shap (not timed here, as before)
    from lime.lime_base import LimeBase
    from shap.explainers import Exact, Permutation
    from shap.maskers import Independent

    from explain.lime_explain import _kernel

    t0 = time.perf_counter()
    n = 4

    def toy(x: np.ndarray) -> np.ndarray:
        return x.sum(axis=1) + x[:, 0] * x[:, 1]

    masker = Independent(np.zeros((1, n)), max_samples=1)
    with _GlobalRNGGuard():
        Permutation(toy, masker, seed=0)(
            np.ones((1, n)), max_evals=2 * (2 * n + 1), silent=True
        )
        Exact(toy, masker)(np.ones((1, n)), max_evals=2**n, silent=True)
    rng = np.random.RandomState(0)
    data = (rng.rand(20, n) > 0.5).astype(float)
    data[0] = 1.0
    LimeBase(_kernel, random_state=rng).explain_instance_with_data(
        data, toy(data)[:, None], np.abs(rng.rand(20)), 0, n, feature_selection="none"
    )
    return (time.perf_counter() - t0) * 1000.0
