"""Item view helpers: item card, who gets an item, similar items, exposure charts."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from recsys.data.types import Dataset
from ui import components, recs
from ui.theme import ACCENT, category_colors, style


def default_item(ds: Dataset) -> str:
    """The most popular item (used when no item is selected)."""
    return ds.item_ids[int(np.argmax(ds.item_popularity))]


def popularity_rank(ds: Dataset, i: int) -> int:
    pop = ds.item_popularity
    return int((pop > pop[i]).sum()) + 1


def item_card(ds: Dataset, i: int) -> None:
    colors = category_colors(ds.categories)
    st.subheader(components.md(ds.titles[i]))
    st.markdown(
        components.category_chips(ds.item_categories[i], colors)
        + f' <span class="rl-context">id {components.esc(ds.item_ids[i])}</span>',
        unsafe_allow_html=True,
    )
    if ds.item_text[i]:
        st.caption(components.md(ds.item_text[i][:600]))


def who_gets(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """Users with item i in their model top-k and/or re-ranked top-k, with ranks."""
    hb = base == i
    ha = after == i
    users = np.flatnonzero(hb.any(axis=1) | ha.any(axis=1))
    rank_b = np.where(hb[users].any(axis=1), hb[users].argmax(axis=1) + 1, 0)
    rank_a = np.where(ha[users].any(axis=1), ha[users].argmax(axis=1) + 1, 0)
    df = pd.DataFrame(
        {
            "user_id": [ds.user_ids[int(u)] for u in users],
            "rank (model)": [int(r) if r else None for r in rank_b],
            "rank (re-ranked)": [int(r) if r else None for r in rank_a],
            "history length": np.diff(ds.user_offsets)[users].astype(int),
        }
    )
    if ds.user_attrs is not None:
        for c in ds.user_attrs.columns[:4]:
            df[str(c)] = ds.user_attrs[c].iloc[users].astype(str).to_numpy()
    return df.sort_values(["rank (model)", "rank (re-ranked)"], na_position="last").reset_index(drop=True)


def similar_table(ds: Dataset, emb: np.ndarray, i: int, n: int = 10) -> pd.DataFrame:
    idx, sims = recs.similar_items(emb, i, n)
    return pd.DataFrame(
        {
            "item_id": [ds.item_ids[int(j)] for j in idx],
            "title": [ds.titles[int(j)] for j in idx],
            "categories": [", ".join(ds.item_categories[int(j)]) for j in idx],
            "cosine": np.round(sims, 3),
            "interactions": ds.item_popularity[idx].astype(int),
        }
    )


def exposure_chart(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray, k: int) -> go.Figure:
    """How often the item appears at each rank, model order vs re-ranked."""
    ranks = np.arange(1, k + 1)
    cb = (base == i).sum(axis=0)[:k]
    ca = (after == i).sum(axis=0)[:k]
    fig = go.Figure()
    fig.add_bar(x=ranks, y=cb, name="model order", marker_color="#9E9E9E")
    fig.add_bar(x=ranks, y=ca, name="re-ranked", marker_color=ACCENT)
    fig.update_layout(barmode="group", xaxis=dict(title="rank", dtick=1), yaxis=dict(title="users"))
    return style(fig, height=300, title="Where the item lands in users' lists")


def category_exposure_chart(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray) -> go.Figure:
    """Exposure (share of all list slots) of the item's categories, before vs after."""
    cats = list(ds.item_categories[i]) or ["(no category)"]

    def share(lists: np.ndarray, c: str) -> float:
        flat = lists[lists >= 0]
        if flat.size == 0:
            return 0.0
        if c == "(no category)":
            return float(np.mean([not ds.item_categories[int(j)] for j in flat]))
        mask = np.array([c in cs for cs in ds.item_categories], dtype=bool)
        return float(mask[flat].mean())

    labels = [html.escape(c) for c in cats]
    fig = go.Figure()
    fig.add_bar(x=labels, y=[share(base, c) for c in cats], name="model order", marker_color="#9E9E9E")
    fig.add_bar(x=labels, y=[share(after, c) for c in cats], name="re-ranked", marker_color=ACCENT)
    fig.update_layout(barmode="group", yaxis=dict(title="share of list slots", tickformat=".0%"))
    return style(fig, height=300, title="Exposure of the item's categories")
