"""User explorer: find a user (search, random, by group), profile and interest timeline."""

from __future__ import annotations

import streamlit as st

from ui import components, profile, state

components.setup_page("User explorer")
ctx = components.load_context()
if ctx is None:
    st.stop()
ds = ctx.ds
uid = components.user_picker(ds)
components.header(":material/person_search: User explorer", ctx)

with st.expander("Find a user by group", expanded=False):
    components.group_finder(ds)

p = profile.user_profile(ds, uid)
st.subheader(f"User {components.md(uid)}")
m = st.columns(5)
m[0].metric("Interactions", f"{p.n:,}")
m[1].metric("First", p.first[:7], help=p.first)
m[2].metric("Last", p.last[:7], help=p.last)
m[3].metric("Distinct categories", p.n_categories)
m[4].metric("Avg item popularity", f"{p.avg_popularity:,.0f}")
if p.attributes:
    st.caption(" · ".join(f"{k}: **{v}**" for k, v in p.attributes.items()))
st.markdown(components.category_chips(p.top_categories, components.colors_for(ds)), unsafe_allow_html=True)

model = components.model_gate(ds)
tab_tl, tab_hist = st.tabs(["Interest timeline", "Profile history"])
with tab_hist:
    hist = profile.history_table(ds, uid)
    st.dataframe(
        hist, hide_index=True, height=420,
        column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
    components.csv_download(hist, "Download history (CSV)", f"history_{uid}.csv", "dl.hist")
with tab_tl:
    profile.timeline_section(ds, uid, model)

if st.toggle("Show population drift (who changed taste recently, which categories gain and lose)",
             key="w.ue_drift"):
    profile.population_drift_section(ds)

st.divider()
c1, c2, c3 = st.columns(3)
with c1:
    components.page_link("recs", "Recommendations for this user →")
with c2:
    components.page_link("whatif", "Edit this profile in the What-if studio →")
with c3:
    components.page_link("lab", "Re-rank this user's list →")
state.write_url()
