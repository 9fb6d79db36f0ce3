"""Item view panels (streamlit): the item card, exposure tiles, who gets it, similar items.
Numbers come from :mod:`ui.item.logic`, charts from :mod:`ui.item.charts`."""

from __future__ import annotations

import numpy as np
import streamlit as st

from recsys.data.types import Dataset
from ui.core import components, state
from ui.core.theme import category_colors
from ui.item import logic


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


def exposure_tiles(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray, k: int, reranked: bool) -> None:
    n_before, n_after = int((base == i).any(axis=1).sum()), int((after == i).any(axis=1).sum())
    c = st.columns(4)
    c[0].metric(f"Users with it in their top-{k}", f"{n_before:,}")
    c[1].metric("After re-ranking", f"{n_after:,}", delta=((n_after - n_before) or None) if reranked else None)
    c[2].metric("Interactions", f"{int(ds.item_popularity[i]):,}")
    c[3].metric("Popularity rank", f"{logic.popularity_rank(ds, i):,} / {ds.n_items:,}")
    if not reranked:
        st.caption("Re-ranking weights are all 0 (model order); set them on the Fairness lab page to compare exposure.")


def who_gets_tab(ds: Dataset, i: int, item_id: str, base: np.ndarray, after: np.ndarray, k: int) -> None:
    who = logic.who_gets(ds, i, base, after)
    if who.empty:
        components.empty_state("Nobody gets this item", f"It is in no user's top-{k}, before or after re-ranking.")
        return
    st.dataframe(who, hide_index=True, height=360)
    components.csv_download(who, "Who gets it (CSV)", f"item_{item_id}_users.csv", "dl.who")


def similar_tab(ds: Dataset, emb: np.ndarray, i: int) -> None:
    sim = logic.similar_table(ds, emb, i)
    st.dataframe(sim, hide_index=True)
    st.caption("By cosine similarity of the items' text embeddings (all-MiniLM-L6-v2 over title, categories, text).")
    options = sim["item_id"].tolist()
    if options:
        nxt = st.selectbox("Open a similar item", options, key=state.SIMILAR_PICK,
                           format_func=lambda x: ds.titles[ds.item_index(x)])
        st.button("Open", key=state.SIMILAR_GO, on_click=state.set_item, args=(nxt,))
