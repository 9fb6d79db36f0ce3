"""Fairness & diversity lab: live re-ranking weights, before/after lists, trade-offs."""

from __future__ import annotations

import streamlit as st

from ui import components, lab, state

components.setup_page("Fairness lab")
ctx = components.load_context()
if ctx is None:
    st.stop()
ds = ctx.ds
uid = components.user_picker(ds)
k = components.k_picker()
components.header(":material/balance: Fairness & diversity lab", ctx)
model = components.model_gate(ds)
if model is None:
    state.write_url()
    st.stop()

lab.live_section(ds, model, uid, k)
st.divider()
lab.population_section(ds, model, k)
state.write_url()
