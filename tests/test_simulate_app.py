"""The Long-term lab page (AppTest): settings default to the Lab's weights, a run in the
background, curves, small multiples, the user panel and export."""

from __future__ import annotations

import pytest

from tests.app_support import assert_clean, open_page
from ui.core import state
from ui.simulate import jobs, panel

PAGE = "pages/long_term_lab.py"


@pytest.fixture(autouse=True)
def _small_world(monkeypatch, tiny_model):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    monkeypatch.delenv("RECSYS_MODEL", raising=False)


def test_page_starts_with_an_empty_state_and_names_the_preference_model(small_ds):
    at = open_page(PAGE, user=small_ds.user_ids[3], div="0.3")
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "No simulation yet" in text and "planted reader model" in text
    assert at.slider(key=state.DIV).value == pytest.approx(0.3)  # the Lab's weights, from the URL
    assert not at.get("plotly_chart")


def test_a_run_shows_curves_multiples_user_panel_and_exports(small_ds):
    user = small_ds.user_ids[3]
    at = open_page(PAGE, user=user, div="0.3")
    at.number_input(key=panel.W_USERS).set_value(30)
    at.number_input(key=panel.W_ROUNDS).set_value(4)
    at.button(key="w.sim_run").click().run()
    assert_clean(at)
    spec = at.session_state[panel.LAST_SPEC]
    assert spec.weights.diversity == pytest.approx(0.3) and spec.users == 30 and spec.rounds == 4
    job = jobs.wait(spec, timeout=300)
    assert job is not None and job.done and job.error is None
    at.run()
    assert_clean(at)
    assert any("Simulated in" in s.value and "diversity 0.3" in s.value for s in at.success)
    charts = at.get("plotly_chart")
    assert len(charts) >= 4  # curves, small multiples, timeline, category shift
    labels = {m.label for m in at.metric}
    assert {"Homogenization", "Utility"} <= labels
    assert set(job.results) == {"diversity 0.3", "diversity 0.5", "calibration 0.5", "fairness 0.5"}
    main = job.results["diversity 0.3"]
    assert set(main.policies) == {"model", "random", "popular", "oracle"} and len(main.users) == 30
    # same settings again: the cached job is reused, not a new simulation
    at.button(key="w.sim_run").click().run()
    assert jobs.get(spec) is job
    # another metric
    at.selectbox(key=panel.W_METRIC).set_value("gini_consumption").run()
    assert_clean(at)
    # export: the case file is self-contained HTML, the CSV has every round of every setting
    html = panel.case_file(small_ds, user, job)
    assert html.startswith("<!DOCTYPE html>") and "plotly" in html and "Final values" in html
    from ui.simulate import logic

    df = logic.long_table(job.results)
    assert set(df["round"]) == {0, 1, 2, 3, 4} and set(df["setting"]) == set(job.results)


def test_charts_show_data_text_literally():
    import pandas as pd

    from ui.simulate import charts

    evil = "<img src=x onerror=alert(1)>"
    tl = pd.DataFrame({"step": [0, 1], "source": ["real history", "Model"], "item_id": ["a", "b"],
                       "title": [evil, "<b>x</b>"], "category": [evil, "Plain"]})
    traces = charts.timeline_figure(tl).to_dict()["data"]
    ys = [y for tr in traces for y in tr["y"]]
    assert evil not in ys and "&lt;img src=x onerror=alert(1)&gt;" in ys
    assert all("<b>" not in t for tr in traces for t in tr["text"])
    shift = pd.DataFrame({"source": ["real history"], "category": [evil], "share": [1.0]})
    assert all("<img" not in tr["name"] for tr in charts.category_shift_figure(shift).to_dict()["data"])
