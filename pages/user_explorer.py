"""User explorer: find a user (search, random, by group), profile and interest timeline."""

from __future__ import annotations

import streamlit as st

from ui.core import components, sidebar, state
from ui.core.model_gate import model_gate
from ui.data import panel as data_panel
from ui.live import panel as live_panel
from ui.timeline import panel as timeline_panel

ctx = sidebar.context()
ds, uid = ctx.ds, ctx.user
components.header(":material/person_search: User explorer", ctx)

with st.expander("Find a user by group", expanded=False):
    data_panel.group_finder(ds)

data_panel.profile_card(ds, uid)
model = model_gate(ds)
tab_tl, tab_hist = st.tabs(["Interest timeline", "Profile history"])
with tab_hist:
    data_panel.history_tab(ds, uid)
with tab_tl:
    timeline_panel.timeline_panel(ds, model, user=uid, key="tl")

if st.toggle("Show population drift (who changed taste recently, which categories gain and lose)",
             key=state.DRIFT_TOGGLE):
    timeline_panel.population_drift_panel(ds, key="ue.drift")

if model is not None:
    live_panel.live_panel(ctx, model)

st.divider()
c1, c2, c3 = st.columns(3)
with c1:
    components.page_link("recs", "Recommendations for this user →")
with c2:
    components.page_link("whatif", "Edit this profile in the What-if studio →")
with c3:
    components.page_link("lab", "Re-rank this user's list →")
