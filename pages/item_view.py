"""Item view: who gets an item in their top-K, similar items, exposure before/after re-ranking.
Above the first-start limit the audience and exposure come from the serving table."""

from __future__ import annotations

import streamlit as st

from ui.core import components, loaders, recs, state
from ui.core.model_gate import model_page
from ui.item import charts as item_charts
from ui.item import logic as item_logic
from ui.item import panel as item_panel
from ui.serving import panel as serving_panel

page = model_page(":material/category: Item view")
ds, model, k = page.ds, page.model, page.k

iid = state.resolve_item(ds.has_item, item_logic.default_item(ds)) or item_logic.default_item(ds)
with st.expander("Choose another item", expanded=st.session_state.get(state.ITEM) is None):
    pick = components.item_search(ds, key=state.ITEM_SEARCH)
    if pick and st.button("Show this item", key=state.ITEM_GO, type="primary"):
        state.set_item(pick)
        iid = pick
i = ds.item_index(iid)
item_panel.item_card(ds, i)

w = state.weights()
TABS = ["Who gets it", "Similar items", "Exposure"]
mode, table = serving_panel.population_mode(ds, model, "This item's audience and exposure")
top = st.container()  # the exposure tiles (or the progress of scoring every user)
tab_who, tab_sim, tab_exp = st.tabs(TABS)
with tab_sim:  # drawn first: it needs no population work
    item_panel.similar_tab(ds, loaders.item_embeddings(ds.content_key, ds, model), i)
if mode == "live":
    with top:
        lists = recs.population_lists(ds, model, k, w)  # None while queued/running (progress shown)
    if lists is None:
        for tab in (tab_who, tab_exp):
            tab.caption("Shown once every user has been scored (progress above).")
    else:
        base, after = lists
        with top:
            item_panel.exposure_tiles(ds, i, base, after, k, w.any)
        with tab_who:
            item_panel.who_gets_tab(ds, i, iid, base, after, k)
        with tab_exp:
            st.plotly_chart(item_charts.exposure_chart(ds, i, base, after, k), key="item.exposure")
            st.plotly_chart(item_charts.category_exposure_chart(ds, i, base, after), key="item.catexp")
else:
    view = item_panel.table_population(ds, i, k, table, w.any) if mode == "table" else None
    with tab_who:
        item_panel.table_who_gets_tab(ds, iid, view, k)
    with tab_exp:
        item_panel.table_exposure_tab(view, k)
