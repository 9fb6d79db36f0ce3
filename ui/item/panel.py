"""Item view panels (streamlit): the item card, exposure tiles, who gets it, similar items.
Numbers come from :mod:`ui.item.logic`, charts from :mod:`ui.item.charts`."""

from __future__ import annotations

import numpy as np
import streamlit as st

from recsys.data.types import Dataset
from ui.core import components, state
from ui.core.theme import category_colors
from ui.item import charts, logic
from ui.serving import panel as serving_panel
from ui.serving import tables
from ui.serving.logic import TableStatus


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


# ---- from a serving table ------------------------------------------------------------------
def table_population(ds: Dataset, i: int, k: int, status: TableStatus, reranked: bool) -> logic.TableItem:
    """Tiles of the item's exposure read from the serving table (cached per table, k and
    item); returns the numbers for the tabs."""
    view = tables.item(status.key, ds.item_ids[i], k, ds)
    c = st.columns(4)
    c[0].metric(f"Users with it in their top-{k}", f"{view.users:,}")
    c[1].metric("Exposure rank", f"{view.exposure_rank:,} / {ds.n_items:,}",
                help=f"1 = the item in the most users' top-{k}")  # fmt: skip
    c[2].metric("Interactions", f"{int(ds.item_popularity[i]):,}")
    c[3].metric("Popularity rank", f"{logic.popularity_rank(ds, i):,} / {ds.n_items:,}")
    serving_panel.table_caption(status, "Model-order exposure")
    if reranked:
        st.caption("The serving table holds the model's own order: exposure after re-ranking with the Fairness "
                   "lab's weights is not shown here.")
    return view


def table_who_gets_tab(ds: Dataset, item_id: str, view: logic.TableItem | None, k: int) -> None:
    if view is None:
        st.caption("Who gets this item needs the serving table (see the command above).")
        return
    if view.who.empty:
        components.empty_state("Nobody gets this item", f"It is in no user's top-{k}.")
        return
    st.dataframe(view.who, hide_index=True, height=360)
    if view.listed < view.users:
        st.caption(f"The {view.listed:,} best-placed of the {view.users:,} users (table and CSV).")
    components.csv_download(view.who, "Who gets it (CSV)", f"item_{item_id}_users.csv", "dl.who")


def table_exposure_tab(view: logic.TableItem | None, k: int) -> None:
    if view is None:
        st.caption("Exposure needs the serving table (see the command above).")
        return
    st.plotly_chart(charts.rank_chart(view.rank_counts, None, k), key="item.exposure")
    st.plotly_chart(charts.category_chart(view.categories, view.category_shares, None), key="item.catexp")
