"""RecLens — Home: data source, dataset summary, model card (trains on first start)."""

from __future__ import annotations

import streamlit as st

from ui import charts_data, components, explain_glue, loaders, model_card, state

components.setup_page("Home")
ctx = components.load_context()
if ctx is None:
    st.stop()
ds = ctx.ds
components.header("RecLens", ctx, "explainable recommendations")
st.markdown(
    "Pick a user, see how their interests moved, inspect the transformer's recommendations and *why* "
    "each item is there (SHAP and LIME over the user's own history), tune fairness and diversity live, "
    "and edit a profile to ask *what if*."
)

summary = charts_data.dataset_summary(ds)
cols = st.columns(6)
for col, (label, key) in zip(cols, (("Users", "users"), ("Items", "items"), ("Interactions", "interactions"),
                                    ("Categories", "categories"))):
    n = int(summary[key])
    col.metric(label, charts_data.compact_count(n), help=f"{n:,}" if n >= 10_000 else None)
cols[4].metric("Median history", f"{summary['median_history']:.0f}")
span_days = (summary["last"] - summary["first"]).days
cols[5].metric("Span", charts_data.span_text(span_days),
               help=f"{summary['first']:%Y-%m-%d} → {summary['last']:%Y-%m-%d}")

# trains on first start (progress bar right here, before the tabs)
model = components.model_gate(ds)

tab_data, tab_model = st.tabs(["Dataset", "Model card"])
with tab_data:
    figs = loaders.dataset_figures(ds.fingerprint, ds)
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(figs["activity"], key="home.activity")
    c2.plotly_chart(figs["longtail"], key="home.longtail")
    c3, c4 = st.columns([3, 2])
    c3.plotly_chart(figs["cats"], key="home.cats")
    c4.plotly_chart(figs["hist"], key="home.hist")
    feat = loaders.featured_users(ds)
    st.markdown("**Users worth a look:** " + " · ".join(components.md(u) for u in feat))
    if ds.warnings:
        with st.expander(f"{len(ds.warnings)} data warning(s)"):
            for w in ds.warnings:
                st.text(w)

with tab_model:
    loc = loaders.locate_model(ds)
    if model is None:
        components.empty_state("No model yet", "Train the model above to see its card.")
    else:
        man = loaders.read_manifest(str(loc.path))
        ev = loaders.read_evaluation(str(loc.path))
        left, right = st.columns([2, 3])
        with left:
            st.subheader("Training facts")
            facts = model_card.manifest_facts(man)
            facts.append(("Artifact", str(loc.path)))
            # a list, not a table: long values (schedule, filter, paths) wrap instead of being cut
            st.markdown("\n".join(f"- **{components.md(f)}:** {components.md(v)}" for f, v in facts))
            mm = model_card.manifest_metrics(man)
            if mm:
                st.caption("Recorded metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in list(mm.items())[:6]))
        with right:
            st.subheader("Model vs baselines")
            components.pending_note(loc.path, ev)
            df = model_card.metrics_frame(ev)
            if df.empty:
                components.empty_state(
                    "No evaluation table in this artifact",
                    "Artifacts trained by the app or `python -m recsys train` store evaluation.json beside "
                    "the model; this one has none.",
                )
            else:
                st.plotly_chart(model_card.metrics_chart(df, title=None), key="home.metrics")
                show = df.drop(columns=["key"])
                st.dataframe(show, hide_index=True)
                proto = ev.get("protocol")
                if proto:
                    st.caption(f"Protocol: {components.md(model_card.protocol_text(proto))}")
        components.page_link("eval", "Full evaluation →")

st.divider()
st.markdown("#### Where next")
n1, n2, n3 = st.columns(3)
with n1:
    components.page_link("users")
    components.page_link("recs")
with n2:
    components.page_link("lab")
    components.page_link("whatif")
with n3:
    components.page_link("item")
    components.page_link("eval")
state.write_url()
if model is not None:
    explain_glue.warm_up()  # shap's one-time JIT compile, in a background thread
