"""Shared widgets: headers, empty states, category chips, item search, history tables,
CSV downloads. Every data text shown through HTML is escaped (:mod:`ui.core.text`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from ui.core import loaders, state
from ui.core.navigation import page_link
from ui.core.sidebar import PageContext
from ui.core.text import esc, md
from ui.core.theme import category_colors

__all__ = ["category_chips", "colors_for", "csv_download", "empty_state", "esc", "header", "item_search", "md", "page_link"]


def empty_state(title: str, body: str, link: str | None = None) -> None:
    """A friendly box for 'nothing to show yet' with an optional way out."""
    st.markdown(
        f'<div class="rl-empty"><h4>{esc(title)}</h4><div>{esc(body)}</div></div>',
        unsafe_allow_html=True,
    )
    if link:
        page_link(link)


def category_chips(cats: tuple[str, ...] | list[str], colors: dict[str, str]) -> str:
    """Coloured category pills as escaped HTML."""
    return "".join(
        f'<span class="rl-chip" style="background:{colors.get(c, "#999")}">{esc(c)}</span>' for c in cats
    )


def header(title: str, ctx: PageContext | None = None, subtitle: str | None = None) -> None:
    """The page title, the data line and, when the requested user was unknown, a note."""
    st.title(title)
    parts = []
    if ctx is not None:
        parts.append(f"Data: <b>{esc(loaders.source_label(ctx.source, ctx.min_count))}</b>")
        parts.append(f"{ctx.ds.n_users:,} users · {ctx.ds.n_items:,} items · {ctx.ds.n_interactions:,} interactions")
    if subtitle:
        parts.append(esc(subtitle))
    if parts:
        st.markdown(f'<div class="rl-context">{" · ".join(parts)}</div>', unsafe_allow_html=True)
    note = state.user_note()
    if note:
        st.info(note, icon=":material/info:")


def item_search(ds: Dataset, key: str, label: str = "Find an item by title", limit: int = 50) -> str | None:
    """Search items by title substring (case-insensitive); returns the chosen item id."""
    q = st.text_input(label, key=f"{key}.q", placeholder="type part of a title…")
    table = loaders.items_table(ds.content_key, ds)
    if q:
        mask = table["title"].str.contains(q.strip(), case=False, regex=False, na=False)
        hits = table.loc[mask].sort_values("popularity", ascending=False).head(limit)
    else:
        hits = table.sort_values("popularity", ascending=False).head(limit)
    if hits.empty:
        st.caption("No item title matches.")
        return None
    options = hits["item_id"].tolist()
    titles = dict(zip(hits["item_id"], hits["title"]))
    return st.selectbox(
        "Matches", options, key=f"{key}.pick", format_func=lambda i: f"{titles.get(i, i)}  [{i}]",
    )


def colors_for(ds: Dataset) -> dict[str, str]:
    return category_colors(ds.categories)


def csv_download(df: pd.DataFrame, label: str, file_name: str, key: str) -> None:
    st.download_button(
        label, df.to_csv(index=False).encode("utf-8"), file_name=file_name, mime="text/csv", key=key,
        icon=":material/download:",
    )
