"""The explanation panel of the Recommendations page (streamlit; charts from
``ui.explain.charts``, numbers from ``explain``).

:func:`explanation_panel` runs as a fragment, so changing the method, the "why not"
item or pressing the counterfactual button reruns only the panel, not the page.
Results are cached with ``st.cache_resource`` (frozen result objects are shared, never
pickled) keyed by model fingerprint, data content key, history, item, budgets and seed;
``explain`` keeps its own in-process LRU as well. :mod:`ui.explain.warmup` pays shap's
one-time JIT compilation in a background thread at app start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explain import MethodComparison, compare_methods, explain_item
from explain.explanation import Attribution, Explanation
from explain.units import AUTO_MIN_ITEMS, MAX_GROUPS
from recsys.data.types import DataError, Dataset, History
from recsys.models.base import Scorer, model_key, recommend
from recsys.runtime import serving_threads, torch_threads
from ui.core import policy, state
from ui.explain import charts, warmup
from ui.whatif.logic import Scenario, new_scenario


# ---- cached computations ------------------------------------------------------------------
def _history_key(h: History) -> tuple[str, tuple[int, ...], tuple[int, ...] | None]:
    """A hashable cache key of a history (the arrays themselves are not hashed by value)."""
    return h.user, tuple(h.items.tolist()), None if h.timestamps is None else tuple(h.timestamps.tolist())


UNITS = ("auto", "items", "recent", "session", "category")
UNIT_LABELS = {"auto": "Auto", "items": "Items", "recent": "Last N", "session": "Sessions",
               "category": "Category × time"}


@st.cache_resource(max_entries=128, show_spinner=False)
def _compare_cached(
    mkey: str, data_fp: str, hkey: tuple, target: int, k: int, seed: int, units: str, _ds: Dataset,
    _scorer: Scorer, _history: History,
) -> MethodComparison:
    with torch_threads(serving_threads()):  # fragment reruns may run in a fresh thread
        return compare_methods(_ds, _scorer, _history, target, k=k, seed=seed, units=units)


@st.cache_resource(max_entries=128, show_spinner=False)
def _pair_figure(
    mkey: str, data_fp: str, hkey: tuple, target: int, k: int, seed: int, units: str, method: str, _ds: Dataset,
    _comp: MethodComparison,
) -> go.Figure:
    """SHAP/LIME bars of the cached comparison with the same key (the chosen method
    first); built once (~60 ms of plotly work), shared and only read."""
    first, second = (_comp.shap, _comp.lime) if method == "shap" else (_comp.lime, _comp.shap)
    return charts.attribution_pair(_ds, first.attribution, second.attribution, top=12)


@st.cache_resource(max_entries=128, show_spinner=False)
def _why_not_cached(
    mkey: str, data_fp: str, hkey: tuple, target: int, other: int, method: str, k: int, seed: int, _ds: Dataset,
    _scorer: Scorer, _history: History,
) -> Explanation:
    with torch_threads(serving_threads()):
        return explain_item(_ds, _scorer, _history, target, method=method, k=k, seed=seed, why_not=other,
                            extras=False)


def _resolve_target(ds: Dataset, target_item: int | str | None) -> int:
    if target_item is None:
        raise DataError("no item to explain")
    if isinstance(target_item, (int, np.integer)):
        if not 0 <= int(target_item) < ds.n_items:
            raise DataError(f"item index {target_item} outside 0..{ds.n_items - 1}")
        return int(target_item)
    return ds.item_index(str(target_item))


def counterfactual_profile(ds: Dataset, history: History, e: Explanation) -> Scenario:
    """The Scenario the What-if studio loads: ``history`` without the counterfactual
    items (a history without timestamps gets one day between items)."""
    cf = e.counterfactual
    drop = set(cf.positions) if cf is not None else set()
    keep = [p for p in range(len(history)) if p not in drop]
    ts = None if history.timestamps is None else history.timestamps[keep]
    removed = ", ".join(f"“{ds.titles[i]}”" for i in (cf.removed if cf else ()))
    return new_scenario(
        ds, f"counterfactual: {history.user or 'profile'} without {len(drop)} item(s)", history.user or None,
        history.items[keep], ts, note=f"removing {removed} drops “{ds.titles[e.target]}” out of the top-{e.k}",
    )


# ---- rendering ----------------------------------------------------------------------------
def agreement_block(ds: Dataset, comp: MethodComparison, key: str) -> None:
    """The unstable notice, the agreement figures and, where SHAP and LIME disagree, the
    disagreeing units with each method's faithfulness (shared by every page)."""
    d = comp.detail
    if not d.stable:
        st.warning(
            f"**Unstable explanation.** LIME's top 5 still changes with its seed (stability {d.stability:.0%} "
            f"at {d.lime_samples:,} samples) after the time cap: read the bars as a rough guide, not a firm "
            "ranking. Grouped units usually settle faster.", icon=":material/warning:")
    unit_word = "items" if d.units == "items" else f"groups ({d.units})"
    st.caption(f"Units: {comp.shap.attribution.n_features} {unit_word}. Agreement = top-5 overlap "
               f"{d.top5:.0%}; rank-biased overlap {d.rbo:.2f}; Kendall τ {d.kendall:.2f}. LIME used "
               f"{d.lime_samples:,} samples, SHAP {d.shap_evaluations:,} evaluations.")
    if not d.disagreements:
        st.caption("SHAP and LIME name the same top 5.")
        return
    st.markdown("**Where SHAP and LIME disagree**")
    rows = [{"unit": r["unit"], "in the top 5 of": r["top5_of"].upper(), "SHAP rank": r["shap_rank"],
             "LIME rank": r["lime_rank"], "value lost when removed alone": round(r["drop"], 4),
             "items": ", ".join(r["titles"][:4]) + (" …" if len(r["titles"]) > 4 else "")} for r in d.disagreements]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{key}.disagree")
    if d.shap_deletion_auc is not None and d.lime_deletion_auc is not None:
        follows = "SHAP" if d.shap_deletion_auc < d.lime_deletion_auc else "LIME"
        st.caption(f"Faithfulness (deletion AUC, lower = removing its top units hurts the item more): SHAP "
                   f"{d.shap_deletion_auc:.3f}, LIME {d.lime_deletion_auc:.3f}, random "
                   f"{d.random_deletion_auc:.3f} — the model follows **{follows}** more closely here.")


def open_groups(ds: Dataset, a: Attribution, key: str) -> None:
    """Open a unit to its member items."""
    if not a.groups:
        return
    labels = [g.label for g in a.groups]
    pick = st.selectbox("Open a group", labels, key=f"{key}.group")
    j = labels.index(pick) if pick in labels else 0
    rows = [r for r in charts.units_table(ds, a) if r["unit"] == labels[j]]
    st.dataframe(pd.DataFrame(rows).drop(columns=["unit", "unit weight"]), hide_index=True,
                 key=f"{key}.group.items")


def _badge(e: Explanation) -> None:
    text, colour = charts.badge(e.faithfulness)
    st.markdown(
        f"<span style='background:{colour};color:white;padding:2px 8px;border-radius:10px;"
        f"font-size:0.85em'>{text}</span>", unsafe_allow_html=True,
    )


def _counterfactual(ds: Dataset, history: History, e: Explanation, key: str) -> None:
    cf = e.counterfactual
    if cf is None:
        return
    if not cf.found:
        st.caption(f"No small set of history items drops this item out of the top-{cf.k} "
                   f"(searched within {cf.evaluations} re-rankings).")
        return
    if not cf.removed:
        st.caption(f"This item is at rank {cf.rank_before}, already outside the top-{cf.k}.")
        return
    names = ", ".join(f"“{ds.titles[i]}”" for i in cf.removed)
    st.markdown(f"**Counterfactual:** without {names} it falls from rank {cf.rank_before} to "
                f"{cf.rank_after} (out of the top-{cf.k}; verified by re-ranking).")
    if st.button("Open this profile in the What-if studio", key=f"{key}.cf"):
        st.session_state[state.COUNTERFACTUAL] = counterfactual_profile(ds, history, e)
        st.success("Stored — the What-if studio offers to load it.")


def _why_not(ds: Dataset, scorer: Scorer, history: History, target: int, k: int, seed: int, method: str,
             key: str) -> None:
    recs = [int(i) for i in recommend(scorer, history.items, max(k, 20), history.timestamps).items
            if int(i) != target]
    options = [None, *recs]
    other = st.selectbox(
        "Why not …?", options, key=f"{key}.whynot",
        format_func=lambda i: "— pick an item to compare —" if i is None else f"{ds.titles[i]} ({ds.item_ids[i]})",
    )
    if other is None:
        return
    with st.spinner("Explaining the difference…"):
        e = _why_not_cached(model_key(scorer), ds.content_key, _history_key(history), target, int(other), method,
                            k, seed, ds, scorer, history)
    w = e.why_not
    if w is None:
        return
    st.caption(f"{method.upper()} attributions of score(“{ds.titles[target]}”) − score(“{ds.titles[other]}”) "
               f"= {w.value:+.3f}: green items favour the recommended item, red ones favour “{ds.titles[other]}”.")
    st.plotly_chart(charts.attribution_bars(ds, w, top=10), width="stretch", key=f"{key}.whynot.fig")


@st.fragment
def explanation_panel(
    ds: Dataset,
    scorer: Scorer | None,
    history: History,
    target_item: int | str | None = None,
    k: int = 10,
    method_default: str = "shap",
    *,
    key: str = "ex",
    seed: int = 0,
) -> Explanation | None:
    """Render the explanation of ``target_item`` (an item index or external id) for the
    given history: SHAP and LIME bars side by side, agreement and stability, the
    faithfulness badge and curves, the summary sentence, "why not …?" and the
    counterfactual hand-over button. Returns the explanation of the chosen method."""
    if scorer is None:
        st.info("No model loaded: explanations need a trained model.")
        return None
    try:
        target = _resolve_target(ds, target_item)
        if len(history) == 0:
            st.info("This profile has no history, so there is nothing to attribute the recommendation to.")
            return None
        units = st.radio("Units", UNITS, format_func=UNIT_LABELS.__getitem__, horizontal=True,
                         key=f"{key}.units",
                         help="Explain single history items or groups of them: the last N items (the most "
                              "recent ones alone), sessions of events close in time, or one category within a "
                              f"time window. Auto groups histories of more than {AUTO_MIN_ITEMS} explained items into at most "
                              f"{MAX_GROUPS} groups.")
        if not warmup.done():
            with st.spinner("Preparing the explainers (one-time warm-up)…"):
                warmup.wait()
        with st.spinner("Explaining…"):
            comp = _compare_cached(model_key(scorer), ds.content_key, _history_key(history), target, int(k), seed,
                                   str(units), ds, scorer, history)
    except DataError as err:
        st.error(str(err))
        return None

    methods = ["shap", "lime"]
    method = st.radio("Method", methods, index=methods.index(method_default) if method_default in methods else 0,
                      format_func=str.upper, horizontal=True, key=f"{key}.method")
    e = comp.shap if method == "shap" else comp.lime
    a = e.attribution
    if e.summary is not None:
        st.markdown(f"**{e.summary.sentence}**")
    _badge(e)
    # two rows of two: four cards in the half-width column cut their labels short
    c1, c2 = st.columns(2)
    c3, c4 = st.columns(2)
    c1.metric("Score (log-prob)", f"{a.value:.2f}", help="log-probability of the item among unseen items")
    c2.metric("Without these items", f"{a.base_value:.2f}",
              help="the same log-probability with none of the explained history items (older items stay as "
                   "context); the SHAP values add up to the difference")
    c3.metric("SHAP–LIME agreement", f"{comp.agreement:.0%}",
              help="share of the top 5 units both methods name (rank-biased overlap and Kendall τ below)")
    c4.metric("LIME stability", f"{comp.stability:.0%}" + ("" if comp.stable else " ⚠"),
              help=f"mean top-5 overlap across seeds {', '.join(map(str, comp.stability_seeds))}; the sample "
                   "count grows until it reaches 90% or a time cap")
    agreement_block(ds, comp, key)
    st.plotly_chart(_pair_figure(model_key(scorer), ds.content_key, _history_key(history), target, int(k), seed,
                                 str(units), method, ds, comp), width="stretch", key=f"{key}.bars")
    open_groups(ds, a, key)
    st.caption(f"{e.note}. Green pushes the item up, red pushes it down. "
               f"{a.method.upper()} took {a.elapsed_ms:.0f} ms ({a.params.get('evaluations')} model evaluations).")
    _counterfactual(ds, history, e, key)
    _why_not(ds, scorer, history, target, int(k), seed, method, key)
    with st.expander("Faithfulness, groups and provenance"):
        if e.faithfulness is not None:
            st.plotly_chart(charts.faithfulness_curves(e.faithfulness), width="stretch",
                            key=f"{key}.faith")
        if e.summary is not None:
            g1, g2 = st.columns(2)
            with g1:
                st.plotly_chart(charts.category_bars(e.summary), width="stretch", key=f"{key}.cats")
            with g2:
                st.plotly_chart(charts.window_bars(e.summary), width="stretch", key=f"{key}.wins")
        # the data as the app names it: never an upload's temporary folder, in demo mode no path
        shown = {**e.provenance, "data_source": policy.source_display(state.data_source())}
        st.json(shown, expanded=False)
    return e
