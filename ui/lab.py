"""Fairness lab glue: weight sliders bound to the shared state (in a fragment, so a
slider move reruns only the lists), before/after lists, population trade-offs."""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from ui import components, recs, state

_SLIDERS = (
    ("div", "Diversity (MMR novelty)", state.DIV),
    ("cal", "Calibration (match the history's category mix)", state.CAL),
    ("fair", "Fairness (long-tail exposure)", state.FAIR),
)


def _on_weight(name: str) -> None:
    state.set_weight(name, st.session_state.get(f"w.{name}", 0.0))


def weight_sliders() -> state.Weights:
    """Three sliders bound to the session's weights (their sum is kept ≤ 1)."""
    cols = st.columns(3)
    for col, (name, label, key) in zip(cols, _SLIDERS):
        st.session_state[f"w.{name}"] = float(st.session_state.get(key, 0.0))
        col.slider(label, 0.0, 1.0, step=0.05, key=f"w.{name}", on_change=_on_weight, args=(name,))
    w = state.weights()
    st.caption(f"Relevance keeps {1 - w.div - w.cal - w.fair:.2f} of the weight. All 0 = the model's own order.")
    return w


def _call_with_supported(fn: Any, **kwargs: Any) -> Any:
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def _list_table(ds: Dataset, items: Any, moves: Any = None, reasons: Any = None) -> pd.DataFrame:
    items = [int(i) for i in items]
    df = pd.DataFrame({"rank": range(1, len(items) + 1), "title": [ds.titles[i] for i in items],
                       "categories": [", ".join(ds.item_categories[i]) for i in items]})
    if moves is not None:
        df["move"] = [f"▲{m}" if m > 0 else (f"▼{-m}" if m < 0 else "–") for m in moves]
    if reasons is not None:
        df["why"] = list(reasons)
    return df


@st.fragment
def live_section(ds: Dataset, model: Any, user: str, k: int) -> None:
    st.subheader(f"Live re-ranking for user {user}")
    w = weight_sliders()
    items, ts = recs.user_history(ds, user)
    res = recs.recommend(ds, model, items, ts, k, w, user=user)
    try:
        from ui import panel_lab
    except ImportError:
        panel_lab = None
    fn = getattr(panel_lab, "before_after_panel", None) if panel_lab is not None else None
    if fn is not None:
        _call_with_supported(fn, ds=ds, result=res, res=res, model=model, user=user, k=k, key="lab.ba")
    else:
        keys = ("ild", "long_tail_share", "miscalibration", "avg_popularity")
        mc = st.columns(len(keys))
        for col, m in zip(mc, keys):
            if m in res.metrics:
                col.metric(m.replace("_", " "), f"{res.metrics[m]:.3f}",
                           delta=f"{res.metrics[m] - res.baseline_metrics[m]:+.3f}")
        c1, c2 = st.columns(2)
        c1.markdown("**Model order**")
        c1.dataframe(_list_table(ds, res.baseline_items), hide_index=True)
        c2.markdown("**Re-ranked**")
        c2.dataframe(_list_table(ds, res.items, res.moves, res.reasons), hide_index=True)
    table = recs.rec_frame(ds, res)
    components.csv_download(table, "Re-ranked list (CSV)", f"reranked_{user}.csv", "dl.lab")
    state.write_url()


def population_section(ds: Dataset, model: Any, k: int) -> None:
    st.subheader("Population trade-offs")
    try:
        from ui import panel_lab
    except ImportError:
        panel_lab = None
    fn = getattr(panel_lab, "population_panel", None) if panel_lab is not None else None
    if fn is None:
        components.empty_state("Population trade-offs not available in this build",
                               "ui/panel_lab.py (population_panel) is missing.")
        return
    _call_with_supported(fn, ds=ds, model=model, k=k, weights=recs.to_weights(state.weights()), key="lab.pop")
