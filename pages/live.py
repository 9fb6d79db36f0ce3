"""Live: watch new events arrive in the data source's event log and the lists move."""

from __future__ import annotations

import streamlit as st

from ui.core import components, sidebar
from ui.core.model_gate import model_gate
from ui.live import panel as live_panel

ctx = sidebar.context()
components.header(":material/sensors: Live", ctx)
live_panel.replays_panel(ctx.source, ctx.ds)  # before the model: a replayed source offers its replay
model = model_gate(ctx.ds, train_if_missing=False)
if model is None:
    st.stop()
live_panel.live_page(ctx, model)
