"""Chart builders (pure) and the streamlit explanation panel (AppTest)."""

from __future__ import annotations

import numpy as np
import pytest

from explain import explain_item
from explain.explanation import Attribution
from recsys.models.base import recommend
from tests.test_explain import MarkovScorer
from ui.core import state
from ui.core.theme import NEGATIVE, POSITIVE
from ui.explain import charts


@pytest.fixture(scope="module")
def demo():
    from recsys.data import load

    return load("demo-small")


@pytest.fixture(scope="module")
def expl(demo):
    sc = MarkovScorer(demo)
    u = int(np.argmax(np.diff(demo.user_offsets)))
    h, ts = demo.sequence(u)
    target = int(recommend(sc, h, 1, ts).items[0])
    return explain_item(demo, sc, h, ts, target, method="shap", budget=400, cache=None)


def _attr(values, positions=None):
    n = len(values)
    return Attribution(method="shap", target=0, value_kind="logprob", features=np.arange(1, n + 1),
                       positions=np.arange(n) if positions is None else np.asarray(positions),
                       timestamps=np.arange(n) * 86400, values=np.asarray(values, dtype=float),
                       value=0.0, base_value=0.0)


def test_attribution_bars_colour_by_sign_and_put_the_largest_on_top(demo):
    a = _attr([0.5, -2.0, 1.5, 0.0, -0.1])
    fig = charts.attribution_bars(demo, a, top=None)
    bar = fig.data[0]
    assert list(bar.x) == sorted(a.values)  # ascending: plotly draws the last bar on top
    colors = dict(zip(bar.x, bar.marker.color))
    assert colors[1.5] == POSITIVE and colors[-2.0] == NEGATIVE
    assert demo.titles[3] in bar.y[-1]  # feature 2 (item 3) has the largest weight
    assert "1970-01-03" in bar.y[-1]  # its date


def test_attribution_bars_top_keeps_the_largest_magnitudes(demo):
    a = _attr([0.5, -2.0, 1.5, 0.01, -0.1])
    fig = charts.attribution_bars(demo, a, top=3)
    assert sorted(fig.data[0].x) == [-2.0, 0.5, 1.5]
    assert any("2 smaller weights" in ann.text for ann in fig.layout.annotations)


def test_pair_aligns_rows_and_other_charts_build(demo, expl):
    a = expl.attribution
    b = _attr(list(-a.values), positions=a.positions)
    b = Attribution(**{**b.__dict__, "features": a.features, "timestamps": a.timestamps, "method": "lime"})
    fig = charts.attribution_pair(demo, a, b, top=8)
    assert len(fig.data) == 2 and list(fig.data[0].y) == list(fig.data[1].y)
    np.testing.assert_allclose(fig.data[1].x, -np.asarray(fig.data[0].x))
    curves = charts.faithfulness_curves(expl.faithfulness)
    assert len(curves.data) == 4 and len(curves.data[0].y) == a.n_features + 1
    assert len(charts.category_bars(expl.summary).data[0].y) >= 1
    assert len(charts.window_bars(expl.summary).data[0].x) == len(expl.summary.by_window)
    text, colour = charts.badge(expl.faithfulness)
    assert ("faithful" in text) and colour in (POSITIVE, NEGATIVE, charts.ACCENT)


def _panel_script():
    from recsys.data import load
    from recsys.models.base import recommend
    from tests.test_explain import MarkovScorer
    from ui.explain.panel import explanation_panel

    ds = load("demo-small")
    sc = MarkovScorer(ds)
    user = ds.user_ids[5]
    history = ds.history(user)
    target = int(recommend(sc, history.items, 1, history.timestamps).items[0])
    explanation_panel(ds, sc, history, target, 10, key="t")


def test_panel_renders_and_stores_the_counterfactual():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_panel_script, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    assert any("Recommended mainly because of" in m.value or "No item" in m.value for m in at.markdown)
    labels = [m.label for m in at.metric]
    assert "SHAP–LIME agreement" in labels and "LIME stability" in labels
    assert at.radio(key="t.method").value == "shap"
    at.radio(key="t.method").set_value("lime").run()
    assert not at.exception
    buttons = [b for b in at.button if b.key == "t.cf"]
    if buttons:  # the counterfactual was found: hand it over to the What-if studio
        buttons[0].click().run()
        prof = at.session_state[state.COUNTERFACTUAL]
        assert prof.base_user and len(prof.history) >= 1
    at.selectbox(key="t.whynot").select_index(1).run()
    assert not at.exception


def _missing_explainers_script():
    import streamlit as st

    from ui.explain import warmup

    warmup.start()
    warmup.wait()
    st.write("warm-up finished")


def test_without_importable_explainers_the_warm_up_stays_silent(monkeypatch):
    import sys

    from streamlit.testing.v1 import AppTest

    monkeypatch.setitem(sys.modules, "explain", None)  # importing it raises ImportError
    from ui.explain import warmup

    warmup._warm_up_thread.clear()  # a fresh server process
    at = AppTest.from_function(_missing_explainers_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    assert any("warm-up finished" in m.value for m in at.markdown)
    warmup._warm_up_thread.clear()
