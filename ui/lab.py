"""Fairness lab glue: weight sliders bound to the shared state (in a fragment, so a
slider move reruns only the lists), before/after lists, population trade-offs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from recsys.data.types import Dataset
from ui import components, panel_lab, recs, state

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


@st.fragment
def live_section(ds: Dataset, model: Any, user: str, k: int) -> None:
    st.subheader(f"Live re-ranking for user {user}")
    w = weight_sliders()
    items, ts = recs.user_history(ds, user)
    res = recs.recommend(ds, model, items, ts, k, w, user=user)
    panel_lab.before_after_panel(ds, res, key="lab.ba")
    table = recs.rec_frame(ds, res)
    components.csv_download(table, "Re-ranked list (CSV)", f"reranked_{user}.csv", "dl.lab")
    state.write_url()


def population_section(ds: Dataset, model: Any, k: int) -> None:
    st.subheader("Population trade-offs")
    panel_lab.population_panel(ds, model, k=k, weights=recs.to_weights(state.weights()), key="lab.pop")
