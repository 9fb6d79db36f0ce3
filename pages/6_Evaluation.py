"""Evaluation: the model vs baselines under the leave-one-out protocol, per-group NDCG."""

from __future__ import annotations

import streamlit as st

from ui import components, loaders, model_card, state

page = components.model_page("Evaluation", ":material/analytics: Evaluation", user=False, k=False)
ds, model = page.ds, page.model
loc = loaders.locate_model(ds)
ev = loaders.read_evaluation(str(loc.path))
df = model_card.metrics_frame(ev)
components.pending_note(loc.path, ev)
st.markdown(
    "Leave-one-out by time: per user the last interaction is the test item, the one before it validation, "
    "the rest training. **All** items are ranked (seen items excluded); no sampled negatives."
)
if df.empty:
    components.empty_state(
        "No evaluation table for this model",
        "This artifact has no evaluation.json. Run `python -m recsys evaluate --data SRC --model DIR` or "
        "retrain from Home to produce one.",
    )
    state.write_url()
    st.stop()

metric_options = [c for c in df.columns if c not in ("model", "key") and not c.endswith("_std")]
default = [m for m in ("ndcg@10", "hr@10", "mrr@10") if m in metric_options] or metric_options[:3]
chosen = st.multiselect("Metrics", metric_options, default=default, key="w.eval_metrics")
st.plotly_chart(model_card.metrics_chart(df, tuple(chosen or default)), key="eval.chart")
show = df.drop(columns=["key"])
st.dataframe(show, hide_index=True)
components.csv_download(show, "Metrics (CSV)", "evaluation.csv", "dl.eval")
facts = []
if ev.get("protocol"):
    facts.append(f"protocol: {components.md(model_card.protocol_text(ev['protocol']))}")
for key in ("users", "items", "seeds", "split"):
    if key in ev and not isinstance(ev[key], (dict, list)):
        facts.append(f"{key}: **{ev[key]}**")
if facts:
    st.caption(" · ".join(facts))

st.subheader("NDCG@10 per user group")
st.caption(
    "Users grouped by an attribute, or by how many training interactions their test item has "
    "(\"target item popularity\": can the model find rare items?)."
)
groups = model_card.per_group_frame(ev)
if groups.empty:
    components.empty_state(
        "No per-group results",
        "This evaluation has no per-group results: the dataset has no user attributes (e.g. gender, age, "
        "occupation) and the evaluation predates the target-popularity breakdown. "
        "`python -m recsys evaluate --data SRC --model DIR` recomputes it.",
    )
else:
    attrs = list(dict.fromkeys(groups["attribute"].tolist()))  # user attributes first, as stored
    attr = st.selectbox("Group by", attrs, key="w.eval_attr")
    st.plotly_chart(model_card.per_group_chart(groups, attr), key="eval.groups")
    sub = groups[groups["attribute"] == attr]
    st.dataframe(sub, hide_index=True)
    components.csv_download(groups, "Per-group NDCG (CSV)", "evaluation_groups.csv", "dl.eval_groups")
state.write_url()
