"""The currency of the explanation layer: frozen, typed results.

An :class:`Attribution` is what an explainer produces (one weight per explained
history item, plus the value of the full and of the empty profile). An
:class:`Explanation` bundles it with everything shown beside it: faithfulness,
counterfactual, "why not", summary and provenance. Chart builders (``ui/``) and the
CLI read these; nothing here imports streamlit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

#: The value kinds a :class:`~explain.masked.MaskedScorer` can compute.
VALUE_KINDS = ("logprob", "rr", "margin")


@dataclass(frozen=True, eq=False)  # holds arrays: identity equality, no hashing
class Attribution:
    """Per-feature weights of one explainer run.

    ``features[j]`` is the item index of explained history position ``positions[j]``
    (positions index the full history, oldest first); ``values[j]`` its weight.
    ``value`` is f(full history) and ``base_value`` f(no explained item; the older
    context items are kept). For SHAP, ``values.sum() == value - base_value``.
    """

    method: str  # "shap" | "lime"
    target: int  # item index being explained
    value_kind: str  # "logprob" | "rr" | "margin"
    features: np.ndarray  # int64 (n,) item indices, oldest first
    positions: np.ndarray  # int64 (n,) positions in the full history
    timestamps: np.ndarray | None  # int64 (n,) or None
    values: np.ndarray  # float64 (n,)
    value: float
    base_value: float
    params: dict[str, Any] = field(default_factory=dict)  # explainer, budget, seed, evaluations...
    elapsed_ms: float = 0.0
    # grouped units (explain.units.Group, one per feature; a unit's feature/position is its
    # most recent member): None when every feature is one history item
    groups: tuple[Any, ...] | None = None

    @property
    def units(self) -> str:
        """"items", or the grouping the features are groups of."""
        return str(self.params.get("units", "items")) if self.groups else "items"

    def label(self, j: int, titles: Any = None) -> str:
        """A feature's label: the group label, or the item's title when ``titles`` is given."""
        if self.groups:
            return str(self.groups[j].label)
        return str(titles[int(self.features[j])]) if titles is not None else str(int(self.features[j]))

    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])

    def order(self) -> np.ndarray:
        """Feature indices (into ``features``) by weight, largest first; ties by recency
        (the more recent item first), so the order is deterministic."""
        return np.lexsort((-self.positions, -self.values))

    def top(self, n: int = 5) -> np.ndarray:
        """Item indices of the ``n`` largest weights."""
        return self.features[self.order()[:n]]


@dataclass(frozen=True, eq=False)  # holds arrays: identity equality, no hashing
class Faithfulness:
    """Deletion/insertion curves of the target's reciprocal rank.

    Curves have n+1 points (0..n items removed/added, in attribution order, largest
    weight first). AUCs are trapezoid areas over x in [0, 1], so in [0, 1] (reciprocal
    ranks are in (0, 1]). A faithful explanation has ``deletion_auc`` below
    ``random_deletion_auc`` and ``insertion_auc`` above ``random_insertion_auc``.
    """

    deletion_curve: np.ndarray
    insertion_curve: np.ndarray
    random_deletion_curve: np.ndarray  # mean over the random orders
    random_insertion_curve: np.ndarray
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    n_random: int

    @property
    def faithful(self) -> bool:
        """Deletion beats random (lower area) and insertion beats random (higher)."""
        return self.deletion_auc < self.random_deletion_auc and self.insertion_auc > self.random_insertion_auc


@dataclass(frozen=True)
class Counterfactual:
    """The smallest set of explained history items (found greedily, then pruned) whose
    removal drops the target out of the top-k, verified by re-ranking the edited
    profile. ``found`` is False when no set was found within the budget; ``removed`` is
    then empty. When the target is not in the top-k to start with, ``removed`` is empty
    and ``found`` True (nothing needs removing)."""

    k: int
    found: bool
    removed: tuple[int, ...]  # item indices
    positions: tuple[int, ...]  # positions in the full history
    rank_before: int  # target's rank with the full history (1 = best)
    rank_after: int | None  # target's rank after removing ``removed`` (verified)
    evaluations: int


@dataclass(frozen=True, eq=False)  # holds arrays: identity equality, no hashing
class Summary:
    """Attributions grouped by category and by recency window, and one sentence."""

    by_category: tuple[tuple[str, float], ...]  # (category, summed weight), largest |weight| first
    by_window: tuple[
        dict[str, Any], ...
    ]  # {label, first, last (positions back), start_ts, end_ts, weight, n}
    sentence: str


@dataclass(frozen=True)
class Agreement:
    """How far SHAP and LIME agree on one recommendation, and how firm LIME is.

    ``top5``: |top-5(SHAP) ∩ top-5(LIME)| / 5 over the explained units; ``rbo``:
    rank-biased overlap (p = 0.9) of the two full rankings; ``kendall``: Kendall τ of
    the weights (kept for comparison: it mostly measures noise among near-zero units);
    ``stability``: LIME's mean pairwise top-5 overlap across its seeds at its final
    sample count (``shap_stability`` the same for SHAP's permutation runs; 1 for exact
    values); ``stable`` is False when a time cap stopped the budgets from growing
    before both reached the threshold. ``disagreements``: one row per unit in the top 5
    of one method only (label, items, both ranks and weights, and ``drop``: the value
    lost when that unit alone is removed); ``*_deletion_auc``: each method's
    faithfulness (lower than ``random_deletion_auc`` = the model follows it)."""

    top5: float
    rbo: float
    kendall: float
    stability: float
    shap_stability: float
    stable: bool
    units: str
    lime_samples: int
    shap_evaluations: int
    disagreements: tuple[dict[str, Any], ...]
    shap_deletion_auc: float | None
    lime_deletion_auc: float | None
    random_deletion_auc: float | None
    elapsed_ms: float

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True, eq=False)  # holds arrays: identity equality, no hashing
class Explanation:
    """One explained recommendation: attributions plus everything shown beside them."""

    user: str
    target: int
    k: int
    attribution: Attribution
    faithfulness: Faithfulness | None
    counterfactual: Counterfactual | None
    summary: Summary | None
    why_not: Attribution | None
    provenance: dict[str, Any]
    note: str  # e.g. "explained the most recent 50 of 212 items; 162 older items kept as fixed context"
    n_context: int  # older history items kept fixed (never masked)
    total_ms: float = 0.0
    agreement: Agreement | None = None  # set when SHAP and LIME were compared (compare_methods)

    @property
    def method(self) -> str:
        return self.attribution.method


def timed_attribution(method: str, f: Any, run: Callable[[], tuple[np.ndarray, float, float, dict[str, Any]]]) -> Attribution:
    """Run an explainer (``run() -> (values, base_value, value, params)``) over the masked
    scorer ``f`` and wrap its result, with wall time and CPU time, as an :class:`Attribution`."""
    t0, c0 = time.perf_counter(), time.process_time()
    values, base, value, params = run()
    ms = (time.perf_counter() - t0) * 1000.0
    params = {**params, "cpu_ms": round((time.process_time() - c0) * 1000.0, 3)}
    return Attribution(
        method=method,
        target=f.target,
        value_kind=f.value_kind,
        features=f.features.copy(),
        positions=f.positions.copy(),
        timestamps=None if f.feature_timestamps is None else f.feature_timestamps.copy(),
        values=values,
        value=value,
        base_value=base,
        params=params if getattr(f, "groups", None) is None else {**params, "units": f.grouping},
        elapsed_ms=ms,
        groups=getattr(f, "groups", None),
    )
