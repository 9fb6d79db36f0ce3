"""Fairness-lab panels (streamlit): the before/after view of one user's re-ranked list
and the population trade-offs. Charts come from :mod:`ui.lab.charts`; the engine is
:mod:`recsys.rerank`. The weight sliders are bound to the session's weights
(:mod:`ui.core.state`), so the Recommendations and Item view pages re-rank with them too.

* :func:`before_after_panel` — metric tiles with deltas, model vs re-ranked lists with
  rank-move arrows, the reason of every move, per-term contribution bars.
* :func:`population_panel` — trade-off curves (NDCG@10 vs ILD / long-tail share /
  miscalibration) with the current setting marked, coverage / Gini / NDCG deltas and
  NDCG@10 per user group. The curves are read from ``rerank_sweep.json`` beside the
  model when an earlier session stored them there; otherwise they are computed on request
  (one click) on the server's work queue (:mod:`ui.core.queued`) and stored there for
  next time. Scoring every user is a queue job too; re-ranking the scored population at
  the sliders' setting stays on the request path (numpy only).
* :func:`table_population_panel` — the same curves from the model's serving table
  (precomputed with ``python -m recsys precompute``), used whenever one matches.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from recsys.models.base import Scorer, model_key
from recsys.rerank import RerankContext, RerankResult, Weights
from recsys.rerank.population import Population
from ui.core import components, policy, queued, recs, state
from ui.lab import charts as charts_lab
from ui.serving import panel as serving_panel
from ui.serving import tables
from ui.serving.logic import TableStatus


# ---------------------------------------------------------------------------------------
# one user
# ---------------------------------------------------------------------------------------
def metric_tiles(result: RerankResult) -> None:
    """st.metric tiles of the list metrics with deltas against the model's list."""
    rows = charts_lab.metric_deltas(result.metrics, result.baseline_metrics)
    cols = st.columns(len(rows))
    for col, r in zip(cols, rows):
        col.metric(r["label"], r["value"], delta=r["delta"], delta_color=r["delta_color"],
                   help="re-ranked list; the delta is against the model's own top-k")  # fmt: skip


def moves_table(ds: Dataset, result: RerankResult) -> pd.DataFrame:
    """One row per re-ranked item (rank, move, title, reason) and per dropped item."""
    rows = []
    for r, (i, m, why) in enumerate(zip(result.items, result.moves, result.reasons)):
        arrow = f"▲ {m}" if m > 0 else (f"▼ {-m}" if m < 0 else "–")
        rows.append({"rank": r + 1, "move": arrow, "model rank": int(result.original_ranks[r]),
                     "title": ds.titles[int(i)], "why": why})  # fmt: skip
    for i, why in zip(result.dropped_items, result.dropped_reasons):
        rows.append({"rank": None, "move": "out", "model rank": int(list(result.baseline_items).index(i)) + 1,
                     "title": ds.titles[int(i)], "why": why})  # fmt: skip
    return pd.DataFrame(rows, columns=["rank", "move", "model rank", "title", "why"])


def before_after_panel(ds: Dataset, result: RerankResult, key: str = "lab.ba") -> None:
    """Metric deltas, before/after lists with arrows, reasons and contribution bars."""
    metric_tiles(result)
    if result.weights.is_zero:
        st.caption("All weights are 0: the re-ranked list is exactly the model's order.")
    st.plotly_chart(charts_lab.before_after_figure(result, ds.titles), key=f"{key}.arrows", width="stretch")
    st.markdown("**Why each item moved**")
    st.dataframe(moves_table(ds, result), hide_index=True, key=f"{key}.moves", width="stretch",
                 column_config={"why": st.column_config.TextColumn("why", width="large")})  # fmt: skip
    with st.expander("Per-term contributions (they add up to each item's combined score)"):
        st.plotly_chart(charts_lab.contributions_figure(result, ds.titles), key=f"{key}.contrib", width="stretch")


# ---------------------------------------------------------------------------------------
# population
# ---------------------------------------------------------------------------------------
def _context(ds: Dataset, model: Scorer) -> RerankContext:
    return recs.context_for(ds, model)


def _population(ds: Dataset, model: Scorer) -> Population | None:
    """Every evaluated user's candidate pool, scored once per data + model on the server's
    work queue (None while it is queued or running: the page shows its progress)."""
    from recsys.rerank import prepare_population

    ctx = _context(ds, model)

    def work(progress: Any) -> Population:
        return prepare_population(ds, model, ctx, progress=progress)

    return queued.result(f"population:{ds.content_key}:{model_key(model)}",
                         f"scoring every user of {queued.source_label(state.data_source())}", work,
                         kind="sweep", failed="Scoring every user failed")


def _sweep(ds: Dataset, model: Scorer, pop: Population, model_dir: str | None) -> pd.DataFrame | None:
    """The λ-sweep on the server's work queue, stored beside the model for next time."""
    from recsys.rerank import save_sweep, sweep

    ctx, mkey, fp = _context(ds, model), model_key(model), ds.content_key

    def work(progress: Any) -> pd.DataFrame:
        df = sweep(ctx, pop, progress=progress)
        if model_dir:
            try:
                save_sweep(df, model_dir, {"model_key": mkey, "fingerprint": fp})
            except OSError:
                pass  # read-only model directory: the queue's finished job still holds it
        return df

    return queued.result(f"sweep:{fp}:{mkey}", f"trade-off curves for {queued.source_label(state.data_source())}",
                         work, kind="sweep", failed="The trade-off curves failed")


@st.cache_data(max_entries=8, ttl=300, show_spinner=False)
def _stored_sweep(model_dir: str | None, mkey: str, fingerprint: str) -> pd.DataFrame | None:
    """The sweep stored beside the model, if it belongs to this very model and data."""
    import json
    from pathlib import Path

    from recsys.rerank import load_sweep
    from recsys.rerank.population import SWEEP_FILE

    if not model_dir:
        return None
    try:
        meta = json.loads((Path(model_dir) / SWEEP_FILE).read_text()).get("meta", {})
    except (OSError, ValueError, AttributeError):
        return None
    if meta.get("fingerprint") not in (None, fingerprint) or meta.get("model_key") not in (None, mkey):
        return None
    return load_sweep(model_dir)


@st.cache_data(max_entries=32, show_spinner="Re-ranking every user…")
def _evaluate(fingerprint: str, mkey: str, div: float, cal: float, fair: float, _ds: Dataset,
              _model: Scorer, _pop: Population) -> dict:
    """One weight setting over the scored population: vectorised re-ranking (numpy, no
    model calls), the interactive answer to a slider — so it stays on the request path."""
    from recsys.rerank import evaluate_population

    return evaluate_population(_context(_ds, _model), _pop, Weights(div, cal, fair), 10)


def _model_dir(ds: Dataset) -> str | None:
    try:
        from ui.core import loaders

        loc = loaders.locate_model(ds)
        return str(loc.path) if loc.exists else None
    except Exception:  # no model location known (e.g. a baseline scorer)
        return None


def _set_flag(name: str) -> None:
    st.session_state[name] = True


_TILES = (("ndcg@10", 1, "{:.4f}"), ("coverage", 1, "{:.3f}"), ("gini", -1, "{:.3f}"), ("ild", 1, "{:.3f}"),
          ("long_tail_share", 1, "{:.3f}"), ("miscalibration", -1, "{:.3f}"))  # fmt: skip


def _population_tiles(cur: Mapping[str, Any], base: Mapping[str, Any]) -> None:
    """Population metric tiles at the current setting with deltas against the model's order."""
    tiles = [t for t in _TILES if t[0] in cur and t[0] in base]
    for col, (m, d, fmt) in zip(st.columns(len(tiles) or 1), tiles):
        delta = cur[m] - base[m]
        col.metric(charts_lab.METRIC_LABELS.get(m, m), fmt.format(cur[m]), delta=charts_lab.signed_delta(delta, fmt),
                   delta_color="normal" if d > 0 else "inverse")  # fmt: skip


def population_panel(ds: Dataset, model: Scorer, k: int = 10, weights: Weights = Weights(),
                     key: str = "lab.pop") -> None:
    """Trade-off curves with the current setting marked, population metric deltas and
    NDCG@10 per user group (leave-one-out test split, every evaluated user)."""
    w = weights
    mkey, fp = model_key(model), ds.content_key
    mdir = _model_dir(ds)
    sweep_df = _stored_sweep(mdir, mkey, fp)
    go_key = f"{key}.go"
    if sweep_df is None and policy.demo_mode():  # read-only demo: no sweeps started from a browser
        st.info("The population trade-off curves have not been computed for this model on this server, and "
                "this read-only demo does not start them.", icon=":material/info:")
        return
    if sweep_df is None and not st.session_state.get(go_key):
        st.info(
            "The trade-off curves re-rank every evaluated user at w = 0, 0.25, 0.5, 0.75 for each term "
            "(a few seconds, once per model; the result is stored beside the model)."
        )
        st.button("Compute population trade-offs", key=f"{key}.btn", type="primary", on_click=_set_flag, args=(go_key,))
        return
    pop = _population(ds, model)
    if pop is None:
        return  # queued or running: its progress is shown, the page reruns when it is done
    if sweep_df is None:
        sweep_df = _sweep(ds, model, pop, mdir)
        if sweep_df is None:
            return
    base = _evaluate(fp, mkey, 0.0, 0.0, 0.0, ds, model, pop)
    cur = _evaluate(fp, mkey, w.diversity, w.calibration, w.fairness, ds, model, pop)
    st.caption(
        f"NDCG@10 on the leave-one-out test split over every evaluated user; the star is the current "
        f"setting (diversity {w.diversity:g}, calibration {w.calibration:g}, fairness {w.fairness:g})."
    )
    if _curves_and_groups(sweep_df, base, cur, key):
        _sweep_table(sweep_df, key)


def _curves_and_groups(sweep_df: pd.DataFrame, base: dict, cur: dict, key: str) -> bool:
    """Metric tiles, trade-off curves and NDCG@10 per user group (False: no user groups)."""
    _population_tiles(cur, base)
    st.plotly_chart(charts_lab.tradeoff_figure(sweep_df, cur), key=f"{key}.tradeoff", width="stretch")
    groups = cur.get("ndcg_by_group", {})
    if not groups:
        st.caption("This dataset has no user attributes, so there is no per-group NDCG.")
        return False
    attrs = list(groups)
    attr = st.selectbox("User group", attrs, key=f"{key}.attr") or attrs[0]
    gap_b, gap_c = base["ndcg_gap"][attr], cur["ndcg_gap"][attr]
    st.plotly_chart(
        charts_lab.group_ndcg_figure(base["ndcg_by_group"][attr], groups[attr], attribute=attr),
        key=f"{key}.groups",
        width="stretch",
    )
    st.caption(f"Gap between the best and worst {attr} group: {gap_b:.4f} (model) → {gap_c:.4f} (re-ranked).")
    return True


def _sweep_table(sweep_df: pd.DataFrame, key: str) -> None:
    with st.expander("λ-sweep table"):
        st.dataframe(sweep_df.drop(columns=[c for c in ("seconds",) if c in sweep_df]), hide_index=True,
                     key=f"{key}.table")  # fmt: skip


def table_population_panel(ds: Dataset, model: Scorer, status: TableStatus, weights: Weights = Weights(),
                           key: str = "lab.pop") -> None:
    """The same view from the model's serving table: the λ-sweep (``sweep_from_table``,
    one chunked pass at every point; a work-queue job per table) and the current setting
    against the model's order (``evaluate_population_from_table``, cached per table and
    setting: the slider's answer stays on the request path)."""
    w = weights
    ctx = _context(ds, model)
    path = status.key[0]

    def work(progress: Any) -> pd.DataFrame:
        from recsys.rerank.table import sweep_from_table

        return sweep_from_table(path, ds, ctx, progress=progress)

    # stored by precompute beside the table; else the λ-sweep reads and re-ranks every
    # user of the table: a job on the server's queue
    sweep_df = tables.stored_sweep(status.key)
    if sweep_df is None:
        sweep_df = queued.result(f"table-sweep:{status.key}", f"trade-off curves for "
                                 f"{queued.source_label(state.data_source())} (serving table)", work,
                                 kind="sweep", failed="The trade-off curves failed")
    if sweep_df is None:
        return
    base = tables.evaluate(status.key, 0.0, 0.0, 0.0, ds, ctx)
    cur = base if w.is_zero else tables.evaluate(status.key, w.diversity, w.calibration, w.fairness, ds, ctx)
    serving_panel.table_caption(status, "Trade-off curves")
    st.caption(
        f"NDCG@10 on the leave-one-out test split over every evaluated user of the table; the star is the current "
        f"setting (diversity {w.diversity:g}, calibration {w.calibration:g}, fairness {w.fairness:g})."
    )
    _curves_and_groups(sweep_df, base, cur, key)
    _sweep_table(sweep_df, key)


# ---------------------------------------------------------------------------------------
# the page's sections
_SLIDERS = (
    ("div", "Diversity (MMR novelty)"),
    ("cal", "Calibration (match the history's category mix)"),
    ("fair", "Fairness (long-tail exposure)"),
)


def weight_sliders() -> Weights:
    """Three sliders bound to the session's weights (their sum is kept ≤ 1)."""
    for col, (name, label) in zip(st.columns(3), _SLIDERS):
        col.slider(label, 0.0, 1.0, step=0.05, key=state.WEIGHT_KEYS[name], on_change=state.set_weight,
                   args=(name,), persist_state="session")
    w = state.weights()
    st.caption(f"Relevance keeps {w.relevance:.2f} of the weight. All 0 = the model's own order.")
    return w


@st.fragment
def live_section(ds: Dataset, model: Scorer, user: str, k: int) -> None:
    st.subheader(f"Live re-ranking for user {components.md(user)}")
    w = weight_sliders()
    res = recs.recommend(ds, model, ds.history(user), k, w)
    before_after_panel(ds, res, key="lab.ba")
    components.csv_download(recs.rec_frame(ds, res), "Re-ranked list (CSV)", f"reranked_{user}.csv", "dl.lab")
    state.write_url()  # a fragment rerun does not reach the frame's write


def population_section(ds: Dataset, model: Scorer, k: int) -> None:
    """Population trade-offs: from a matching serving table when there is one; computed
    in this session on data within the first-start limit; else the precompute command."""
    st.subheader("Population trade-offs")
    mode, status = serving_panel.population_mode(ds, model, "The population trade-off curves")
    if mode == "table":
        table_population_panel(ds, model, status, weights=state.weights(), key="lab.pop")
    elif mode == "live":
        population_panel(ds, model, k=k, weights=state.weights(), key="lab.pop")
