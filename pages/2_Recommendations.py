"""Recommendations: the user's top-K and why each item is there (SHAP / LIME)."""

from __future__ import annotations

import streamlit as st

from ui import components, explain_glue, recs, report, state

page = components.model_page("Recommendations", ":material/star: Recommendations")
ds, model = page.ds, page.model
uid = page.user
k = page.k

w = state.weights()
items, ts = recs.user_history(ds, uid)
res = recs.recommend(ds, model, items, ts, k, w, user=uid)
table = recs.rec_frame(ds, res)
if w.any:
    st.info(
        f"Re-ranked with diversity {w.div:g} · calibration {w.cal:g} · fairness {w.fair:g} "
        "(set on the Fairness lab page; all 0 = the model's own order).", icon=":material/balance:",
    )
listed = table["item_id"].tolist()
sel = state.resolve_item(lambda i: i in listed, listed[0] if listed else None)

left, right = st.columns([5, 6], gap="large")
with left:
    st.subheader(f"Top {k} for user {components.md(uid)}")
    shown = table.drop(columns=["why"] if not w.any else [])
    picked = st.dataframe(
        shown, hide_index=True, key="w.rec_table", on_select="rerun", selection_mode="single-row",
        column_config={"title": st.column_config.TextColumn(width="large")},
    )
    rows = picked.selection.rows if picked is not None and hasattr(picked, "selection") else []
    if rows and listed[rows[0]] != sel:
        state.set_item(listed[rows[0]])
        sel = listed[rows[0]]
    st.caption("Click a row to explain that item.")
    downloads = st.container()
explanation = None
with right:
    if sel is None:
        components.empty_state("Nothing to explain", "This user has no recommendations.")
    else:
        i = ds.item_index(sel)
        st.subheader(f"Why “{components.md(ds.titles[i])}”?")
        explanation = explain_glue.explanation_section(ds, model, uid, sel, history=items, timestamps=ts, k=k,
                                                       key="recs.ex")
with downloads:
    d1, d2 = st.columns(2)
    with d1:
        components.csv_download(table, "List (CSV)", f"recommendations_{uid}.csv", "dl.recs")
    with d2:
        report.case_file_button(ds, model, uid, res, item=sel, key="dl.case.recs", explanation=explanation)

st.divider()
c1, c2, c3 = st.columns(3)
with c1:
    components.page_link("whatif", "Try a what-if on this profile →")
with c2:
    components.page_link("item", "Who else gets this item? →")
with c3:
    components.page_link("lab", "Tune diversity & fairness →")
state.write_url()
