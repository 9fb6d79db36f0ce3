"""Fairness & diversity lab: live re-ranking weights, before/after lists, trade-offs."""

from __future__ import annotations

import streamlit as st

from ui import components, lab, state

page = components.model_page("Fairness lab", ":material/balance: Fairness & diversity lab")
ds, model = page.ds, page.model
uid = page.user
k = page.k

lab.live_section(ds, model, uid, k)
st.divider()
lab.population_section(ds, model, k)
state.write_url()
