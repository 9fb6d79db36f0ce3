"""Evaluation: the model vs baselines under the leave-one-out protocol, per-group NDCG.
With a serving table, the model's ranks over every user come from it."""

from __future__ import annotations

import streamlit as st

from ui.core import loaders
from ui.core.model_gate import model_page
from ui.model_card import panel as card_panel
from ui.serving import panel as serving_panel
from ui.serving import tables

page = model_page(":material/analytics: Evaluation")
loc = loaders.locate_model(page.ds)
ev = loaders.read_evaluation(str(loc.path))
card_panel.pending_note(loc.path, ev)
st.markdown(
    "Leave-one-out by time: per user the last interaction is the test item, the one before it validation, "
    "the rest training. **All** items are ranked (seen items excluded); no sampled negatives."
)
mode, table = serving_panel.population_mode(page.ds, page.model, "The model's ranking metrics over every user")
if mode == "table":
    card_panel.table_metrics_section(tables.evaluation(table.key), table)
if card_panel.metrics_section(ev):
    card_panel.per_group_section(ev)
