"""Explanations of recommendations over the user's own history (never imports streamlit).

Shap-style contract: :class:`MaskedScorer` (masker + model: a set function over
history items) → explainer (:func:`explain_shap` / :func:`explain_lime`) →
:class:`Attribution` → :class:`Explanation` (with faithfulness, counterfactual,
"why not", summary, provenance) → ``ui.explain.charts`` plots.

Typical use::

    from explain import explain_item, warm_up
    warm_up()  # once per process: shap's JIT compilation
    e = explain_item(ds, scorer, ds.history(user_id), target, method="shap", k=10)
    e.attribution.values, e.faithfulness.deletion_auc, e.counterfactual.removed, e.summary.sentence
    c = compare_methods(ds, scorer, ds.history(user_id), target)  # SHAP vs LIME, units="auto"
    c.agreement, c.stability, c.units, c.detail.disagreements, c.shap.attribution.groups

An edited or anonymous profile is a ``recsys.data.History("", items, timestamps)``;
``explain_item(ds, scorer, items, timestamps, target)`` is accepted too.
"""

from explain.api import (
    METHODS,
    attribute,
    explain_item,
    warm_up,
)
from explain.cache import LRUCache
from explain.compare import MethodComparison, compare_methods
from explain.counterfactual import counterfactual
from explain.explanation import Agreement, Attribution, Counterfactual, Explanation, Faithfulness, Summary
from explain.faithfulness import faithfulness
from explain.lime_explain import agreement, explain_lime, stability
from explain.masked import MaskedScorer
from explain.shap_explain import explain_shap
from explain.summary import summarise
from explain.units import UNITS, Group, GroupedScorer

__all__ = [
    "METHODS",
    "UNITS",
    "Agreement",
    "Group",
    "GroupedScorer",
    "Attribution",
    "Counterfactual",
    "Explanation",
    "Faithfulness",
    "LRUCache",
    "MaskedScorer",
    "MethodComparison",
    "Summary",
    "agreement",
    "attribute",
    "compare_methods",
    "counterfactual",
    "explain_item",
    "explain_lime",
    "explain_shap",
    "faithfulness",
    "stability",
    "summarise",
    "warm_up",
]
