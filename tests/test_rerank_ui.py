"""Fairness-lab chart builders (pure plotly) and panels (streamlit AppTest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.rerank import Weights, build_context, evaluate_population, rerank, save_sweep, sweep
from recsys.rerank.core import select_candidates
from recsys.rerank.population import Population, user_groups
from tests.test_rerank import AffinityScorer, make_world
from ui.core import theme
from ui.lab import charts as charts_lab


class LabScorer(AffinityScorer):
    """The synthetic scorer plus what a trained model carries: text embeddings, a manifest."""

    def __init__(self, ds, emb):
        super().__init__(ds)
        self.text_emb = emb
        self.manifest = {"model_fingerprint": "lab-test"}  # what model_key reads


@pytest.fixture(scope="module")
def world():
    ds, emb = make_world()
    ctx = build_context(ds, emb=emb, popularity=ds.item_popularity)
    scorer = AffinityScorer(ds)
    hists = ds.sequences()
    return ds, ctx, scorer, hists, scorer.score(hists)


def _moved_result(world, w=Weights(0.3, 0.2, 0.3)):
    ds, ctx, _, hists, scores = world
    for u in range(ds.n_users):
        res = rerank(ctx, scores[u], hists[u], w, k=8)
        if len(res.dropped_items) and (res.moves > 0).any() and (res.moves < 0).any():
            return res
    raise AssertionError("no user with moves both ways")


def test_before_after_figure_has_one_arrow_per_move_and_reasons_on_hover(world):
    ds = world[0]
    res = _moved_result(world)
    fig = charts_lab.before_after_figure(res, ds.titles)
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == len(res.items) + len(res.dropped_items)
    before, after = fig.data
    assert list(before.y) == list(range(1, len(res.baseline_items) + 1))
    colors = list(after.marker.color)
    for m, c in zip(res.moves, colors):
        assert c == (theme.POSITIVE if m > 0 else theme.NEGATIVE if m < 0 else theme.NEUTRAL)
    for reason, hover in zip(res.reasons, after.hovertext):
        assert reason in hover
    for i, why in zip(res.dropped_items, res.dropped_reasons):
        o = list(res.baseline_items).index(i)
        assert why in before.hovertext[o]
    # an item entering from beyond the top-k is drawn from the "beyond" row
    k = len(res.baseline_items)
    up_from_out = [a for a, o in zip(arrows, res.original_ranks) if o > k]
    assert all(a.ay > k for a in up_from_out)


def test_contributions_figure_stacks_to_the_combined_score(world):
    ds = world[0]
    res = _moved_result(world)
    fig = charts_lab.contributions_figure(res, ds.titles)
    names = [t.name for t in fig.data]
    assert names == ["Relevance", "Diversity (MMR)", "Calibration", "Fairness"]
    totals = np.sum([np.asarray(t.x, dtype=float) for t in fig.data], axis=0)
    np.testing.assert_allclose(totals, res.scores, atol=1e-12)
    only_rel = charts_lab.contributions_figure(rerank(world[1], world[4][0], world[3][0], Weights()), ds.titles)
    assert [t.name for t in only_rel.data] == ["Relevance"]


def _population(world):
    ds, ctx, _, hists, scores = world
    cand, vals = select_candidates(scores, hists, 100)
    users = np.arange(ds.n_users)
    return Population(users, cand, vals, ctx.history_distribution(hists), cand[:, 2], user_groups(ds, users))


def test_tradeoff_figure_marks_the_current_setting(world):
    ctx = world[1]
    pop = _population(world)
    df = sweep(ctx, pop)
    cur = evaluate_population(ctx, pop, Weights(0.2, 0.2, 0.2))
    fig = charts_lab.tradeoff_figure(df, cur)
    stars = [t for t in fig.data if t.marker.symbol == "star"]
    assert len(stars) == 3
    for t, m in zip(stars, ("ild", "long_tail_share", "miscalibration")):
        assert t.x[0] == pytest.approx(cur[m]) and t.y[0] == pytest.approx(cur["ndcg@10"])
    curves = [t for t in fig.data if t.mode == "lines+markers+text"]
    assert len(curves) == 9 and all(len(t.x) == 4 for t in curves)
    assert list(curves[0].customdata) == [0.0, 0.25, 0.5, 0.75]


def test_group_ndcg_figure_and_metric_deltas():
    fig = charts_lab.group_ndcg_figure({"A": 0.1, "B": 0.2}, {"A": 0.15, "B": 0.1}, attribute="group")
    assert [t.name for t in fig.data] == ["Model order", "Re-ranked"]
    assert list(fig.data[1].y) == [0.15, 0.1]
    rows = charts_lab.metric_deltas(
        {"ild": 0.7, "long_tail_share": 0.5, "miscalibration": 0.2, "avg_popularity": 80.0},
        {"ild": 0.6, "long_tail_share": 0.1, "miscalibration": 0.5, "avg_popularity": 120.0},
    )
    by = {r["metric"]: r for r in rows}
    assert by["ild"]["delta"] == "+0.100" and by["ild"]["delta_color"] == "normal"
    assert by["miscalibration"]["delta"] == "-0.300" and by["miscalibration"]["delta_color"] == "inverse"
    assert by["avg_popularity"]["delta"] == "-40.0" and by["avg_popularity"]["delta_color"] == "off"
    # no change (all weights 0, or a change below the shown precision): no arrow at all
    same = {r["metric"]: r["delta"] for r in charts_lab.metric_deltas({"ild": 0.7, "avg_popularity": 80.0},
                                                                       {"ild": 0.70004, "avg_popularity": 80.01})}
    assert same == {"ild": None, "avg_popularity": None}
    assert charts_lab.signed_delta(-0.0004, "{:.3f}") is None
    assert charts_lab.signed_delta(-0.0006, "{:.3f}") == "-0.001"


# ---- streamlit panels ------------------------------------------------------------------------
def _before_after_app():
    import streamlit as st

    from recsys.rerank import Weights, build_context, rerank
    from tests.test_rerank import AffinityScorer, make_world
    from ui.lab.panel import before_after_panel

    ds, emb = make_world()
    ctx = build_context(ds, emb=emb, popularity=ds.item_popularity)
    h = ds.sequences()[3]
    w = Weights(*st.session_state.get("w", (0.3, 0.2, 0.3)))
    res = rerank(ctx, AffinityScorer(ds).score([h])[0], h, w, k=8)
    st.session_state["n_rows"] = len(res.items) + len(res.dropped_items)
    before_after_panel(ds, res, key="t")


def test_before_after_panel_renders_deltas_lists_and_reasons():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_before_after_app, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["ILD (diversity)", "Long-tail share", "Miscalibration (KL)", "Avg. popularity"]
    table = at.dataframe[0].value
    assert len(table) == at.session_state["n_rows"]
    assert set(table.columns) == {"rank", "move", "model rank", "title", "why"}
    at.session_state["w"] = (0.0, 0.0, 0.0)
    at.run()
    assert not at.exception, at.exception
    assert (at.dataframe[0].value["move"] == "–").all()
    assert any("exactly the model's order" in c.value for c in at.caption)


def _population_app():
    import streamlit as st

    from recsys.rerank import Weights
    from tests.test_rerank import make_world
    from tests.test_rerank_ui import LabScorer
    from ui.lab.panel import population_panel

    ds, emb = make_world()
    population_panel(ds, LabScorer(ds, emb), 10, Weights(*st.session_state.get("w", (0.25, 0.0, 0.25))), key="p")


def test_population_panel_computes_on_request_then_marks_the_setting():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_population_app, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert len(at.button) == 1 and not at.metric  # nothing computed on first view
    at.button[0].click().run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["NDCG@10", "Coverage", "Gini of exposure"]
    assert at.selectbox[0].options == ["group"]
    table = at.dataframe[0].value
    assert len(table) == 12 and set(table["term"]) == {"diversity", "calibration", "fairness"}
    lt_before = at.metric[4].value
    at.session_state["w"] = (0.0, 0.0, 0.75)  # a new setting: the same curves, a new star
    at.run()
    assert not at.exception, at.exception
    assert len(at.button) == 0 and at.metric[4].value != lt_before


def test_population_panel_reads_a_sweep_stored_beside_the_model(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from recsys.paths import default_model_dir

    monkeypatch.setenv("RECSYS_HOME", str(tmp_path))
    ds, _ = make_world()
    d = default_model_dir(ds)
    d.mkdir(parents=True)
    (d / "manifest.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"")
    stored = pd.DataFrame(
        [{"term": t, "weight": w, "ndcg@10": 0.5 - w / 10, "ild": 0.1 + w, "long_tail_share": 0.2, "miscalibration": 0.3,
          "avg_popularity": 9.0, "coverage": 0.4, "gini": 0.5} for t in ("diversity", "fairness") for w in (0.0, 0.5)]
    )  # fmt: skip
    save_sweep(stored, d, {"model_key": "lab-test", "fingerprint": ds.fingerprint})
    at = AppTest.from_function(_population_app, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert len(at.button) == 0  # no click needed: the curves come from the model directory
    table = at.dataframe[0].value
    assert len(table) == 4 and table["ndcg@10"].tolist() == stored["ndcg@10"].tolist()
