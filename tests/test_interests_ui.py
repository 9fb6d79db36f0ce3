"""Timeline chart builders (pure) and the streamlit timeline / drift panels (AppTest)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.interests import population_drift, user_timeline
from tests.test_interests import ToyScorer, make_world
from ui.core.theme import category_colors
from ui.timeline.charts import (
    drift_distribution_figure,
    forecast_figure,
    population_drift_figure,
    shown_categories,
    timeline_figure,
)


@pytest.fixture(scope="module")
def world():
    return make_world()


def _traces(fig, meta):
    return [t for t in fig.data if t.meta == meta]


def test_timeline_figure_observed_and_change_points(world):
    ds, _ = world
    tl = user_timeline(ds, "u1")
    fig = timeline_figure(tl)
    obs = _traces(fig, "observed")
    names = [t.name for t in obs]
    assert set(names) >= {"Alpha", "Beta", "Gamma", "Delta"}
    colors = category_colors(ds.categories)
    for t in obs:
        assert t.stackgroup == "observed" and t.fillcolor == colors[t.name]
        assert len(t.x) == len(tl.windows)
    # the stacked shares of every window sum to 1
    np.testing.assert_allclose(np.sum([np.asarray(t.y) for t in obs], axis=0), 1.0, atol=1e-6)
    cp = _traces(fig, "change_points")
    assert len(cp) == 1 and len(cp[0].x) == len(tl.change_points) == 1
    assert "Gamma" in cp[0].text[0] or "Delta" in cp[0].text[0]
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 1  # one vertical line
    assert _traces(fig, "predicted") == []


def test_timeline_figure_predicted_and_as_of(world):
    ds, _ = world
    tl = user_timeline(ds, "u1", scorer=ToyScorer(ds))
    fig = timeline_figure(tl, marker_ts=tl.windows[2].start)
    pred = _traces(fig, "predicted")
    assert pred and all(t.stackgroup == "predicted" and t.showlegend is False for t in pred)
    assert len(pred[0].x) == len(tl.predicted)
    # change point line in both rows + the as-of line in both rows
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 4
    assert any(a.text == "as of" for a in fig.layout.annotations)
    assert timeline_figure(tl, show_predicted=False).data and not _traces(
        timeline_figure(tl, show_predicted=False), "predicted"
    )
    fc = forecast_figure(tl)
    assert [t.meta for t in fc.data] == ["observed", "forecast", "legend", "legend"]
    # the legend keys are grey (not the first category's colour); the data bars are not in it
    assert [t.showlegend for t in fc.data] == [False, False, None, None]
    assert {t.marker.color for t in fc.data[2:]} == {"#6B6B6B"}
    assert sum(fc.data[1].x) <= 1.0 + 1e-6


def test_constant_user_figure_has_no_change_point_marks(world):
    ds, _ = world
    fig = timeline_figure(user_timeline(ds, "u0"))
    assert _traces(fig, "change_points") == [] and not fig.layout.shapes


def test_categories_folded_into_other(world):
    ds, _ = world
    tl = user_timeline(ds, "u1")
    keep = shown_categories(tl, max_categories=2)
    assert len(keep) == 2
    fig = timeline_figure(tl, max_categories=2)
    names = [t.name for t in _traces(fig, "observed")]
    assert names[:2] == keep and names[-1] == "other"


def test_population_figures(world):
    ds, _ = world
    pdr = population_drift(ds, recent=0.5)
    fig = population_drift_figure(pdr)
    bar = fig.data[0]
    assert set(bar.y) <= set(ds.categories)
    assert list(bar.x) == sorted(bar.x)
    assert max(bar.x) > 0 > min(bar.x)  # gaining and losing categories
    h = drift_distribution_figure(pdr)
    assert [t.name for t in h.data] == ["drifted", "stable"]
    assert sum(h.data[0].y) == pdr.n_drifted and sum(h.data[1].y) == pdr.n_assessed - pdr.n_drifted


# ---- streamlit panels (AppTest) -------------------------------------------------------------------
def _timeline_app():
    import streamlit as st

    from tests.test_interests import ToyScorer, make_world
    from ui.timeline.panel import timeline_panel

    ds, _ = make_world()
    with_model = st.session_state.get("with_model", True)
    tl = timeline_panel(ds, ToyScorer(ds) if with_model else None, "u1", k=5)
    st.session_state["n_cp"] = len(tl.change_points) if tl else -1


def _drift_app():
    from tests.test_interests import make_world
    from ui.timeline.panel import population_drift_panel

    ds, _ = make_world()
    population_drift_panel(ds)


def test_timeline_panel_replays_as_of_date():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_timeline_app, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["n_cp"] == 1
    assert len(at.slider) == 1
    today = at.dataframe[0].value
    assert len(today) == 5 and "still in today's list" not in today.columns
    from datetime import datetime, timezone

    ds, _ = make_world()
    _, ts = ds.sequence(ds.user_index("u1"))
    cut = int(ts[15])  # a quarter into the history
    at.slider[0].set_value(datetime.fromtimestamp(cut, tz=timezone.utc).replace(tzinfo=None)).run()
    assert not at.exception, at.exception
    then = at.dataframe[0].value
    assert "still in today's list" in then.columns
    profile = at.dataframe[1].value
    assert 0 < len(profile) <= 15
    assert len(profile) == 15 and (profile["when"].astype("int64") // 10**9 <= cut).all()
    # a quarter into the history the toy model still follows the old taste (Alpha/Beta)
    assert then["categories"].str.contains("Alpha|Beta").mean() > 0.5


def test_timeline_panel_without_model():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_timeline_app, default_timeout=60)
    at.session_state["with_model"] = False
    at.run()
    assert not at.exception, at.exception
    assert any("Train or load a model" in i.value for i in at.info)


def test_population_drift_panel():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_drift_app, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["Users assessed", "Drifted lately", "Share drifted"]
    at.radio[0].set_value("last third").run()
    assert not at.exception, at.exception


def _edited_app():
    import streamlit as st

    from recsys.data.types import History
    from tests.test_interests import ToyScorer, make_world
    from ui.timeline.panel import timeline_panel

    ds, _ = make_world()
    items, ts = ds.sequence(ds.user_index("u1"))
    a = timeline_panel(ds, ToyScorer(ds), "u1", History("u1", items[:25], ts[:25]), key="a")
    b = timeline_panel(ds, None, "", History("", items[:12], None), key="b")
    st.session_state["sizes"] = (a.n_interactions, b.n_interactions, b.user)


def test_timeline_panel_edited_and_anonymous_profiles():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_edited_app, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["sizes"] == (25, 12, "")
    assert len(at.slider) == 2


def test_timeline_panel_sensitivity_control():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_timeline_app, default_timeout=60)
    at.session_state["with_model"] = False
    at.run()
    assert at.session_state["n_cp"] == 1
    at.select_slider[0].set_value("conservative").run()
    assert not at.exception, at.exception
    assert at.session_state["n_cp"] == 1  # a full switch is clear at any sensitivity
