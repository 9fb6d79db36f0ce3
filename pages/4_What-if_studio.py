"""What-if studio: edit a profile and see how the recommendations and their reasons change."""

from __future__ import annotations

import streamlit as st

from recsys.data.types import DataError
from ui import components, profile, recs, state, whatif
from ui import whatif_logic as wl

page = components.model_page("What-if studio", ":material/science: What-if studio")
ds, model = page.ds, page.model
uid = page.user
k = page.k

sc = whatif.current(ds, uid)
base = sc.get("base_user")
label = f"a copy of user **{components.md(base)}**" if base else "an **empty profile** (cold start)"
st.markdown(f"Editing **{components.md(sc['name'])}** — {label}; {len(sc['history'])} items."
            + (" *(edited)*" if whatif.is_edited() else ""))

b1, b2, b3, b4 = st.columns(4)
b1.button(f"Reset to user {uid}", key="w.wi_reset", on_click=whatif.act_reset, args=(ds, uid), width="stretch")
b2.button("Start from an empty profile", key="w.wi_empty", on_click=whatif.act_empty, args=(ds,), width="stretch")
has_cf = st.session_state.get(state.COUNTERFACTUAL) is not None
if b3.button("Load counterfactual", key="w.wi_cf", disabled=not has_cf, width="stretch",
             help="The profile without the items of the counterfactual shown on the Recommendations page"
             + ("." if has_cf else " — open one there first (\"Open this profile in the What-if studio\").")):
    try:
        for msg in whatif.load_counterfactual(ds):
            st.warning(msg)
        st.rerun()
    except DataError as e:
        st.error(f"Counterfactual refused: {e}")
b4.page_link("pages/2_Recommendations.py", label="Back to Recommendations", icon=":material/star:")

sc = whatif.current(ds, uid)
left, right = st.columns([5, 6], gap="large")
with left:
    st.subheader("Edit the history")
    hist = whatif.history_display(ds, sc)
    st.dataframe(hist, hide_index=True, key="w.wi_table", on_select="rerun", selection_mode="multi-row",
                 height=320, column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD")})
    st.caption("Newest first. Select rows, then remove, move or shift their dates.")
    e1, e2, e3 = st.columns(3)
    e1.button("Remove", key="w.wi_rm", on_click=whatif.act_remove, args=(ds,), width="stretch")
    e2.button("Move later", key="w.wi_up", on_click=whatif.act_move, args=(ds, 1), width="stretch")
    e3.button("Move earlier", key="w.wi_down", on_click=whatif.act_move, args=(ds, -1), width="stretch")
    s1, s2 = st.columns([2, 1])
    s1.number_input("Shift dates of the selected rows (all rows if none) by days", -3650, 3650, 0, step=7,
                    key="w.wi_days")
    s2.button("Shift", key="w.wi_shift", on_click=whatif.act_shift, args=(ds,), width="stretch")
    msg = st.session_state.pop("rl._wi_msg", None)
    if msg:
        st.warning(msg)
    with st.container(border=True):
        st.markdown("**Add an item**")
        pick = components.item_search(ds, key="w.wi_add")
        st.button("Add to the end of the history", key="w.wi_addgo", on_click=whatif.act_add, args=(ds,),
                  disabled=pick is None)

items_b, ts_b = whatif.base_arrays(ds, sc)
items_a, ts_a = wl.arrays(ds, sc)
w = state.weights()
before = recs.recommend(ds, model, items_b, ts_b, k, w, user=base or "")
after = recs.recommend(ds, model, items_a, ts_a, k, w, user=base or "")
lb, la, diff = whatif.diff_frames(ds, before, after)
with right:
    st.subheader("Before → after")
    m = st.columns(3)
    m[0].metric("Kendall τ", f"{diff.tau:.2f}")
    m[1].metric("Entering", len(diff.entering))
    m[2].metric("Leaving", len(diff.leaving))
    c1, c2 = st.columns(2)
    c1.markdown("**Before** (" + (f"user {components.md(base)}" if base else "empty profile") + ")")
    c1.dataframe(lb, hide_index=True)
    c2.markdown("**After** (edited)")
    c2.dataframe(la, hide_index=True)
    components.csv_download(recs.rec_frame(ds, after), "After list (CSV)", "whatif_after.csv", "dl.wi_after")

st.divider()
tab_ex, tab_tl, tab_sc = st.tabs(["Explanation delta", "Timeline of the edited profile", "Scenarios"])
with tab_ex:
    cand = list(dict.fromkeys([int(i) for i in after.items] + [int(i) for i in before.items]))
    if not cand:
        components.empty_state("Nothing to explain", "Neither list has items.")
    else:
        target = st.selectbox("Explain item", cand, key="w.wi_target", format_func=lambda i: ds.titles[i])
        if st.button("Compute explanation delta (SHAP)", key="w.wi_explain"):
            with st.spinner("Explaining before and after…"):
                df, facts = whatif.explanation_delta(ds, model, target, (items_b, ts_b), (items_a, ts_a), k)
            f = st.columns(4)
            for col, key in zip(f, ("rank before", "rank after", "value before", "value after")):
                if key in facts:
                    col.metric(key, f"{facts[key]:.0f}" if key.startswith("rank") else f"{facts[key]:.3f}")
            if df.empty:
                st.caption("No history items to attribute (empty profile).")
            else:
                st.dataframe(df, hide_index=True)
with tab_tl:
    profile.timeline_section(ds, base or uid, model, history=(items_a, ts_a), key="wi.tl")
with tab_sc:
    n1, n2 = st.columns([3, 1])
    n1.text_input("Scenario name", value=sc.get("name", ""), key="w.wi_name")
    n2.button("Save in session", key="w.wi_save", on_click=whatif.save_current,
              args=(st.session_state.get("w.wi_name", ""),), width="stretch")
    saved = state.scenarios()
    if saved:
        name = st.selectbox("Saved scenarios", list(saved), key="w.wi_saved")
        l1, l2 = st.columns(2)
        l1.button("Load", key="w.wi_loadsaved", on_click=whatif.act_load, args=(saved[name],), width="stretch")
        l2.download_button("Download saved (JSON)", wl.to_json(saved[name]), file_name="scenario.json",
                           mime="application/json", key="dl.wi_saved", on_click="ignore")
    st.download_button("Download the current profile (JSON)", wl.to_json(sc), file_name="scenario.json",
                       mime="application/json", key="dl.wi_json", on_click="ignore")
    up = st.file_uploader("Upload a scenario (JSON)", type=["json"], key="w.wi_upload")
    if up is not None and st.button("Load uploaded scenario", key="w.wi_loadup"):
        try:
            for msg in whatif.load_upload(ds, up.getvalue(), up.name):
                st.warning(msg)
            st.rerun()
        except DataError as e:
            st.error(f"Scenario refused: {e}")
state.write_url()
