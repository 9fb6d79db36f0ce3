"""Home: dataset summary and the model card (the model trains here on first start)."""

from __future__ import annotations

import streamlit as st

from ui.core import components, loaders, sidebar
from ui.core.model_gate import model_gate
from ui.data import panel as data_panel
from ui.explain import warmup
from ui.model_card import panel as card_panel
from ui.serving import panel as serving_panel

ctx = sidebar.context()
ds = ctx.ds
components.header("RecLens", ctx, "explainable recommendations")
st.markdown(
    "Pick a user, see how their interests moved, inspect the transformer's recommendations and *why* "
    "each item is there (SHAP and LIME over the user's own history), tune fairness and diversity live, "
    "and edit a profile to ask *what if*."
)
data_panel.summary_metrics(ds)

model = model_gate(ds)  # trains on first start (progress bar right here, before the tabs)
if model is not None:
    serving_panel.home_status(ds, model)  # the serving table, or how to write it on big data

tab_data, tab_model = st.tabs(["Dataset", "Model card"])
with tab_data:
    data_panel.dataset_charts(ds)
    st.markdown("**Users worth a look:** " + " · ".join(components.md(u) for u in loaders.featured_users(ds)))
    if ds.warnings:
        with st.expander(f"{len(ds.warnings)} data warning(s)"):
            for w in ds.warnings:
                st.text(w)
with tab_model:
    if model is None:
        components.empty_state("No model yet", "The model card appears once the model is trained (see above).")
    else:
        card_panel.model_card(ds)

st.divider()
st.markdown("#### Where next")
for col, names in zip(st.columns(3), (("users", "recs"), ("lab", "whatif"), ("item", "eval"))):
    with col:
        for name in names:
            components.page_link(name)
if model is not None:
    warmup.start()  # shap's one-time JIT compile, in a background thread
