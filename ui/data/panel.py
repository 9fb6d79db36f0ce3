"""User explorer panels (streamlit): find users by group, the user's profile card and
history. Numbers come from :mod:`ui.data.logic`, charts from :mod:`ui.data.charts`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from ui.core import components, loaders, state
from ui.data import charts, logic


def _on_group_pick() -> None:
    sel = st.session_state.get(state.GROUP_TABLE)
    rows = getattr(getattr(sel, "selection", None), "rows", None) if sel is not None else None
    ids = st.session_state.get(state.GROUP_IDS) or []
    if rows:
        r = rows[0]
        if 0 <= r < len(ids):
            state.set_user(ids[r])


def group_finder(ds: Dataset, limit: int = 200) -> None:
    """Find users by group (user attribute) or by activity band; click a row to select."""
    table = loaders.users_table(ds.content_key, ds)
    attrs = [c for c in table.columns if c not in ("user_id", "interactions", "first", "last")]
    c1, c2, c3 = st.columns([1, 1, 1])
    choices = ["activity"] + attrs
    attr = c1.selectbox("Group by", choices, key=state.GROUP_ATTR)
    if attr == "activity":
        bands = pd.qcut(table["interactions"].rank(method="first"), 4, labels=["light", "regular", "heavy", "very heavy"])
        col = pd.Series(bands, index=table.index).astype(str)
    else:
        col = table[attr].astype(str)
    values = sorted(col.unique().tolist())
    val = c2.selectbox("Group", values, key=state.GROUP_VALUE)
    sort = c3.selectbox("Sort by", ["interactions (most first)", "user id"], key=state.GROUP_SORT)
    sub = table.loc[col == val]
    sub = sub.sort_values("interactions", ascending=False) if sort.startswith("inter") else sub
    sub = sub.head(limit).reset_index(drop=True)
    st.session_state[state.GROUP_IDS] = sub["user_id"].tolist()
    n_group = int(np.count_nonzero((col == val).to_numpy()))
    st.caption(f"{n_group:,} users in this group (showing {len(sub)}). Click a row to select the user.")
    st.dataframe(
        sub, hide_index=True, key=state.GROUP_TABLE, on_select=_on_group_pick, selection_mode="single-row",
        height=260,
        column_config={"first": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
                       "last": st.column_config.DatetimeColumn(format="YYYY-MM-DD")},
    )


def profile_card(ds: Dataset, user: str) -> None:
    """Counts, span, categories and attributes of one user."""
    p = logic.user_profile(ds, user)
    st.subheader(f"User {components.md(user)}")
    m = st.columns(5)
    m[0].metric("Interactions", f"{p.n:,}")
    m[1].metric("First", p.first[:7], help=p.first)
    m[2].metric("Last", p.last[:7], help=p.last)
    m[3].metric("Distinct categories", p.n_categories)
    m[4].metric("Avg item popularity", f"{p.avg_popularity:,.0f}")
    if p.attributes:
        st.caption(" · ".join(f"{components.md(k)}: **{components.md(v)}**" for k, v in p.attributes.items()))
    st.markdown(components.category_chips(p.top_categories, components.colors_for(ds)), unsafe_allow_html=True)


def history_tab(ds: Dataset, user: str) -> None:
    hist = logic.history_table(ds, user)
    st.dataframe(
        hist, hide_index=True, height=420,
        column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
    components.csv_download(hist, "Download history (CSV)", f"history_{user}.csv", "dl.hist")


def summary_metrics(ds: Dataset) -> None:
    """Six cards: users, items, interactions, categories, median history, span."""
    summary = charts.dataset_summary(ds)
    cols = st.columns(6)
    for col, (label, key) in zip(cols, (("Users", "users"), ("Items", "items"), ("Interactions", "interactions"),
                                        ("Categories", "categories"))):
        n = int(summary[key])
        col.metric(label, charts.compact_count(n), help=f"{n:,}" if n >= 10_000 else None)
    cols[4].metric("Median history", f"{summary['median_history']:.0f}")
    span_days = (summary["last"] - summary["first"]).days
    cols[5].metric("Span", charts.span_text(span_days),
                   help=f"{summary['first']:%Y-%m-%d} → {summary['last']:%Y-%m-%d}")


def dataset_charts(ds: Dataset) -> None:
    """Activity over time, the long tail, categories and history lengths."""
    figs = loaders.dataset_figures(ds.content_key, ds)
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(figs["activity"], key="home.activity")
    c2.plotly_chart(figs["longtail"], key="home.longtail")
    c3, c4 = st.columns([3, 2])
    c3.plotly_chart(figs["cats"], key="home.cats")
    c4.plotly_chart(figs["hist"], key="home.hist")
