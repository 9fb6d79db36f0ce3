"""What-if studio: edit a profile and see how the recommendations and their reasons change."""

from __future__ import annotations

import streamlit as st

from ui.core import components, policy, recs, state
from ui.core.model_gate import model_page
from ui.timeline.panel import timeline_panel
from ui.whatif import logic as wl
from ui.whatif import panel as whatif

page = model_page(":material/science: What-if studio")
ds, model, uid, k = page.ds, page.model, page.user, page.k

sc = whatif.current(ds, uid)
base = sc.base_user
label = f"a copy of user **{components.md(base)}**" if base else "an **empty profile** (cold start)"
st.markdown(f"Editing **{components.md(sc.name)}** — {label}; {len(sc)} items."
            + (" *(edited)*" if whatif.is_edited() else ""))

b1, b2, b3, b4 = st.columns(4)
b1.button(f"Reset to user {uid}", key=state.WI_RESET, on_click=whatif.act_reset, args=(ds, uid), width="stretch")
b2.button("Start from an empty profile", key=state.WI_EMPTY, on_click=whatif.act_empty, args=(ds,), width="stretch")
has_cf = whatif.has_counterfactual()
b3.button("Load counterfactual", key=state.WI_CF, disabled=not has_cf, width="stretch",
          on_click=whatif.act_counterfactual, args=(ds,),
          help="The profile without the items of the counterfactual shown on the Recommendations page"
          + ("." if has_cf else " — open one there first (\"Open this profile in the What-if studio\")."))
with b4:
    components.page_link("recs", "Back to Recommendations")
whatif.show_messages("top")

left, right = st.columns([5, 6], gap="large")
with left:
    st.subheader("Edit the history")
    st.dataframe(wl.history_display(ds, sc), hide_index=True, key=state.WI_TABLE, on_select="rerun",
                 selection_mode="multi-row", height=320,
                 column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD")})
    st.caption("Newest first. Select rows, then remove, move or shift their dates.")
    e1, e2, e3 = st.columns(3)
    e1.button("Remove", key=state.WI_REMOVE, on_click=whatif.act_remove, width="stretch")
    e2.button("Move later", key=state.WI_UP, on_click=whatif.act_move, args=(1,), width="stretch")
    e3.button("Move earlier", key=state.WI_DOWN, on_click=whatif.act_move, args=(-1,), width="stretch")
    s1, s2 = st.columns([2, 1])
    s1.number_input("Shift dates of the selected rows (all rows if none) by days", -3650, 3650, 0, step=7,
                    key=state.WI_DAYS)
    s2.button("Shift", key=state.WI_SHIFT, on_click=whatif.act_shift, width="stretch")
    whatif.show_messages("edit")
    with st.container(border=True):
        st.markdown("**Add an item**")
        pick = components.item_search(ds, key=state.WI_ADD)
        st.button("Add to the end of the history", key=state.WI_ADD_GO, on_click=whatif.act_add, args=(ds, pick),
                  disabled=pick is None)

cmp = whatif.compare(ds, model, sc, k)
with right:
    st.subheader("Before → after")
    m = st.columns(3)
    m[0].metric("Kendall τ", f"{cmp.diff.tau:.2f}")
    m[1].metric("Entering", len(cmp.diff.entering))
    m[2].metric("Leaving", len(cmp.diff.leaving))
    c1, c2 = st.columns(2)
    c1.markdown("**Before** (" + (f"user {components.md(base)}" if base else "empty profile") + ")")
    c1.dataframe(cmp.before_table, hide_index=True)
    c2.markdown("**After** (edited)")
    c2.dataframe(cmp.after_table, hide_index=True)
    components.csv_download(recs.rec_frame(ds, cmp.after_list), "After list (CSV)", "whatif_after.csv", "dl.wi_after")

st.divider()
tab_ex, tab_tl, tab_sc = st.tabs(["Explanation delta", "Timeline of the edited profile", "Scenarios"])
with tab_ex:
    if not cmp.candidates:
        components.empty_state("Nothing to explain", "Neither list has items.")
    else:
        target = st.selectbox("Explain item", cmp.candidates, key=state.WI_TARGET, format_func=lambda i: ds.titles[i])
        if st.button("Compute explanation delta (SHAP)", key=state.WI_EXPLAIN):
            whatif.explanation_delta(ds, model, target, cmp, k)
        if len(cmp.after) == 0:
            st.caption("The edited profile is empty: there is nothing to compare SHAP and LIME on.")
        elif st.toggle("SHAP and LIME on the edited profile (grouped units, agreement)", key=state.WI_COMPARE):
            try:
                from ui.explain import panel as explain_panel
            except ImportError as e:  # the explainers' libraries are missing
                components.empty_state("Explanations are not available", f"The explainers could not be imported ({e}).")
            else:
                explain_panel.explanation_panel(ds, model, cmp.after, target_item=int(target), k=k, key="wi.ex")
with tab_tl:
    timeline_panel(ds, model, base or uid, cmp.after, key="wi.tl")
with tab_sc:
    n1, n2 = st.columns([3, 1])
    n1.text_input("Scenario name", value=sc.name, key=state.WI_NAME)
    n2.button("Save in session", key=state.WI_SAVE, on_click=whatif.act_save, width="stretch")
    saved = state.scenarios()
    if saved:
        name = st.selectbox("Saved scenarios", list(saved), key=state.WI_SAVED)
        l1, l2 = st.columns(2)
        l1.button("Load", key=state.WI_LOAD_SAVED, on_click=whatif.act_load, args=(saved[name],), width="stretch")
        l2.download_button("Download saved (JSON)", saved[name].to_json(), file_name="scenario.json",
                           mime="application/json", key="dl.wi_saved", on_click="ignore")
    st.download_button("Download the current profile (JSON)", sc.to_json(), file_name="scenario.json",
                       mime="application/json", key="dl.wi_json", on_click="ignore")
    up = None if policy.demo_mode() else st.file_uploader("Upload a scenario (JSON)", type=["json"],
                                                          key=state.WI_UPLOAD)  # no uploads in demo mode
    if up is not None:
        st.button("Load uploaded scenario", key=state.WI_LOAD_UPLOAD, on_click=whatif.act_upload, args=(ds, up))
    whatif.show_messages("scenarios")
