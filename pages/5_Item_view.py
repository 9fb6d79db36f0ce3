"""Item view: who gets an item in their top-K, similar items, exposure before/after re-ranking."""

from __future__ import annotations

import streamlit as st

from ui import components, item_view, loaders, recs, state

page = components.model_page("Item view", ":material/category: Item view", user=False)
ds, model = page.ds, page.model
k = page.k

default_item = item_view.default_item(ds)
iid = state.resolve_item(ds.has_item, default_item)
with st.expander("Choose another item", expanded=st.session_state.get(state.ITEM) is None):
    pick = components.item_search(ds, key="w.item_search")
    if pick and st.button("Show this item", key="w.item_go", type="primary"):
        state.set_item(pick)
        iid = pick
i = ds.item_index(iid)
item_view.item_card(ds, i)

w = state.weights()
mkey = recs.model_key(model)
base, after = recs.population_lists(ds.fingerprint, mkey, k, w.div, w.cal, w.fair, ds, model)
who = item_view.who_gets(ds, i, base, after)
n_before, n_after = int((base == i).any(axis=1).sum()), int((after == i).any(axis=1).sum())
c = st.columns(4)
c[0].metric(f"Users with it in their top-{k}", f"{n_before:,}")
c[1].metric("After re-ranking", f"{n_after:,}", delta=((n_after - n_before) or None) if w.any else None)  # no "↑ 0"
c[2].metric("Interactions", f"{int(ds.item_popularity[i]):,}")
c[3].metric("Popularity rank", f"{item_view.popularity_rank(ds, i):,} / {ds.n_items:,}")
if not w.any:
    st.caption("Re-ranking weights are all 0 (model order); set them on the Fairness lab page to compare exposure.")

tab_who, tab_sim, tab_exp = st.tabs(["Who gets it", "Similar items", "Exposure"])
with tab_who:
    if who.empty:
        components.empty_state("Nobody gets this item", f"It is in no user's top-{k}, before or after re-ranking.")
    else:
        st.dataframe(who, hide_index=True, height=360)
        components.csv_download(who, "Who gets it (CSV)", f"item_{iid}_users.csv", "dl.who")
with tab_sim:
    emb = loaders.item_embeddings(ds.fingerprint, ds, model)
    sim = item_view.similar_table(ds, emb, i)
    st.dataframe(sim, hide_index=True)
    st.caption("By cosine similarity of the items' text embeddings (all-MiniLM-L6-v2 over title, categories, text).")
    options = sim["item_id"].tolist()
    if options:
        nxt = st.selectbox("Open a similar item", options, key="w.sim_pick",
                           format_func=lambda x: ds.titles[ds.item_index(x)])
        if st.button("Open", key="w.sim_go"):
            state.set_item(nxt)
            st.rerun()
with tab_exp:
    st.plotly_chart(item_view.exposure_chart(ds, i, base, after, k), key="item.exposure")
    st.plotly_chart(item_view.category_exposure_chart(ds, i, base, after), key="item.catexp")
state.write_url()
