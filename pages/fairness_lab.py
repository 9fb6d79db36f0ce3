"""Fairness & diversity lab: live re-ranking weights, before/after lists, trade-offs."""

from __future__ import annotations

import streamlit as st

from ui.core.model_gate import model_page
from ui.lab import panel as lab_panel

page = model_page(":material/balance: Fairness & diversity lab")
lab_panel.live_section(page.ds, page.model, page.user, page.k)
st.divider()
lab_panel.population_section(page.ds, page.model, page.k)
