"""Model card panels (streamlit): the Home page's model card (with its freshness section,
:mod:`ui.freshness`), the background-training note and the Evaluation page's tables. Tables and charts come from :mod:`ui.model_card.logic`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from recsys.data.types import Dataset
from ui.core import components, loaders, policy, state
from ui.core.text import md
from ui.freshness import panel as fresh_panel
from ui.model_card import logic
from ui.serving import panel as serving_panel
from ui.serving.logic import TableStatus


def pending_note(model_dir: Path, ev: dict) -> None:
    """Say which comparison models are still training in the background (first start)."""
    waiting = ev.get("pending") if isinstance(ev, dict) else None
    if not waiting:
        return
    names = ", ".join(logic.MODEL_LABELS.get(str(w), str(w)) for w in waiting)
    job = loaders.ablation_job(model_dir)
    if job is not None and job.error:
        why = "" if policy.demo_mode() else f": {md(job.error)}"  # an error may name server files
        st.warning(f"Training the {md(names)} in the background failed{why}")
    elif job is not None and not job.done:
        st.info(f"Still training in the background: {md(names)} ({job.fraction:.0%} — {md(job.message)}). "
                "The table fills in when it is done; reload the page to see it.", icon=":material/hourglass_top:")
    else:
        st.info(f"Not evaluated yet: {md(names)}. It trains in the background while the app runs.",
                icon=":material/hourglass_top:")


def model_card(ds: Dataset) -> None:
    """Training facts of the stored artifact beside the model-vs-baselines table."""
    loc = loaders.locate_model(ds)
    man = loaders.read_manifest(str(loc.path))
    ev = loaders.read_evaluation(str(loc.path))
    if loc.exists:
        fresh_panel.freshness_section(ds, loc.path, loaders.load_model(str(loc.path), ds.content_key, ds))
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Training facts")
        facts = logic.manifest_facts(man)
        if not policy.demo_mode():  # the read-only demo names no server paths
            facts.append(("Artifact", str(loc.path)))
        # a list, not a table: long values (schedule, filter, paths) wrap instead of being cut
        st.markdown("\n".join(f"- **{md(f)}:** {md(v)}" for f, v in facts))
        mm = logic.manifest_metrics(man)
        if mm:
            st.caption("Recorded metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in list(mm.items())[:6]))
    with right:
        st.subheader("Model vs baselines")
        pending_note(loc.path, ev)
        df = logic.metrics_frame(ev)
        if df.empty:
            components.empty_state(
                "No evaluation table in this artifact",
                "Artifacts trained by the app or `reclens train` store evaluation.json beside "
                "the model; this one has none.",
            )
        else:
            st.plotly_chart(logic.metrics_chart(df, title=None), key="home.metrics")
            st.dataframe(df.drop(columns=["key"]), hide_index=True)
            proto = ev.get("protocol")
            if proto:
                st.caption(f"Protocol: {md(logic.protocol_text(proto))}")
    components.page_link("eval", "Full evaluation →")


def metrics_section(ev: dict) -> bool:
    """The model-vs-baselines chart, table and protocol facts; False when there is none."""
    df = logic.metrics_frame(ev)
    if df.empty:
        components.empty_state(
            "No evaluation table for this model",
            "This artifact has no evaluation.json. Run `reclens evaluate --data SRC --model DIR` or "
            "retrain from Home to produce one.",
        )
        return False
    metric_options = [c for c in df.columns if c not in ("model", "key") and not c.endswith("_std")]
    default = [m for m in ("ndcg@10", "hr@10", "mrr@10") if m in metric_options] or metric_options[:3]
    chosen = st.multiselect("Metrics", metric_options, default=default, key=state.EVAL_METRICS)
    st.plotly_chart(logic.metrics_chart(df, tuple(chosen or default)), key="eval.chart")
    show = df.drop(columns=["key"])
    st.dataframe(show, hide_index=True)
    components.csv_download(show, "Metrics (CSV)", "evaluation.csv", "dl.eval")
    facts = []
    if ev.get("protocol"):
        facts.append(f"protocol: {md(logic.protocol_text(ev['protocol']))}")
    for key in ("users", "items", "seeds", "split"):
        if key in ev and not isinstance(ev[key], (dict, list)):
            facts.append(f"{key}: **{md(ev[key])}**")
    if facts:
        st.caption(" · ".join(facts))
    return True


def per_group_section(ev: dict) -> None:
    """NDCG@10 per user group (a user attribute or the test item's popularity band)."""
    st.subheader("NDCG@10 per user group")
    st.caption(
        "Users grouped by an attribute, or by how many training interactions their test item has "
        "(\"target item popularity\": can the model find rare items?)."
    )
    groups = logic.per_group_frame(ev)
    if groups.empty:
        components.empty_state(
            "No per-group results",
            "This evaluation has no per-group results: the dataset has no user attributes (e.g. gender, age, "
            "occupation) and the evaluation predates the target-popularity breakdown. "
            "`reclens evaluate --data SRC --model DIR` recomputes it.",
        )
        return
    attrs = list(dict.fromkeys(groups["attribute"].tolist()))  # user attributes first, as stored
    attr = st.selectbox("Group by", attrs, key=state.EVAL_ATTR) or attrs[0]
    st.plotly_chart(logic.per_group_chart(groups, attr), key="eval.groups")
    st.dataframe(groups[groups["attribute"] == attr], hide_index=True)
    components.csv_download(groups, "Per-group NDCG (CSV)", "evaluation_groups.csv", "dl.eval_groups")


def table_metrics_section(result: dict, status: TableStatus) -> None:
    """The model's ranking metrics over every evaluated user, from the serving table's
    evaluation ranks (``evaluation_from_table``)."""
    st.subheader("The model over every user (serving table)")
    tiles = logic.table_metric_tiles(result)
    if not tiles:
        components.empty_state("No evaluation ranks in the serving table",
                               "No user of the table has a held-out test item.")
        return
    for col, (label, value) in zip(st.columns(len(tiles)), tiles):
        col.metric(label, value)
    users = logic.table_users(result)
    who = f"over {users:,} evaluated users" if users is not None else "over every evaluated user"
    serving_panel.table_caption(status, f"Leave-one-out test ranks {who}")
