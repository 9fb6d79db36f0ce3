"""Recommendations: the user's top-K and why each item is there (SHAP / LIME)."""

from __future__ import annotations

import streamlit as st

from ui.compare import panel as compare_panel
from ui.core import components, recs, state
from ui.core.model_gate import model_page
from ui.report import panel as report

try:  # a broken shap/lime install: lists and re-ranking still work
    from ui.explain import panel as explain_panel
except ImportError as e:
    explain_panel, _missing = None, str(e)

page = model_page(":material/star: Recommendations")
ds, model, uid, k = page.ds, page.model, page.user, page.k

w = state.weights()
history = ds.history(uid)
res = recs.recommend(ds, model, history, k, w)
table = recs.rec_frame(ds, res)
if w.any:
    st.info(
        f"Re-ranked with diversity {w.diversity:g} · calibration {w.calibration:g} · fairness {w.fairness:g} "
        "(set on the Fairness lab page; all 0 = the model's own order).", icon=":material/balance:",
    )
listed = table["item_id"].tolist()
sel = state.resolve_item(lambda i: i in listed, listed[0] if listed else None)

left, right = st.columns([5, 6], gap="large")
with left:
    st.subheader(f"Top {k} for user {components.md(uid)}")
    picked = st.dataframe(
        table if w.any else table.drop(columns=["why"]), hide_index=True, key=state.REC_TABLE, on_select="rerun",
        selection_mode="single-row", column_config={"title": st.column_config.TextColumn(width="large")},
    )
    rows = picked.selection.rows if picked is not None else []
    if rows and listed[rows[0]] != sel:
        sel = listed[rows[0]]
        state.set_item(sel)
    st.caption("Click a row to explain that item.")
    downloads = st.container()
explanation = None
with right:
    if sel is None:
        components.empty_state("Nothing to explain", "This user has no recommendations.")
    elif explain_panel is None:
        components.empty_state("Explanations are not available",
                               f"The explainers could not be imported ({_missing}). Lists and re-ranking still work.")
    else:
        st.subheader(f"Why “{components.md(ds.titles[ds.item_index(sel)])}”?")
        explanation = explain_panel.explanation_panel(ds, model, history, target_item=sel, k=k, key="recs.ex")
with downloads:
    d1, d2 = st.columns(2)
    with d1:
        components.csv_download(table, "List (CSV)", f"recommendations_{uid}.csv", "dl.recs")
    with d2:
        report.case_file_button(ds, model, uid, res, item=sel, key="dl.case.recs", explanation=explanation)

st.divider()
compare_panel.compare_section(ds, model, uid, k)

st.divider()
c1, c2, c3 = st.columns(3)
with c1:
    components.page_link("whatif", "Try a what-if on this profile →")
with c2:
    components.page_link("item", "Who else gets this item? →")
with c3:
    components.page_link("lab", "Tune diversity & fairness →")
