"""AppTest page tests on the small demo world with a tiny model (trained once)."""

from __future__ import annotations

import pytest

from tests.app_support import PAGES, REPO, ensure_tiny_model

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

TIMEOUT = 180


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    home = tmp_path_factory.getbasetemp() / "recsys_home"
    home.mkdir(exist_ok=True)
    return ensure_tiny_model(home, "demo-small")


@pytest.fixture(scope="session")
def small_ds(tiny_model):
    from recsys.data import load

    return load("demo-small")


@pytest.fixture(autouse=True)
def _small_world(monkeypatch, tiny_model):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    monkeypatch.delenv("RECSYS_MODEL", raising=False)


def open_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    if page != "app.py":
        at.switch_page(page)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def featured(ds) -> str:
    return ds.truth.featured_users()[0]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_a_user_from_the_url(page, small_ds):
    user = small_ds.user_ids[7]
    at = open_page(page, user=user, k="7", div="0.2")
    assert_clean(at)
    assert at.session_state["rl.user"] == user
    assert at.session_state["rl.k"] == 7
    assert at.session_state["rl.div"] == pytest.approx(0.2)
    # the view lives in the URL
    assert at.query_params["user"] in (user, [user])
    assert at.query_params["data"] in ("demo-small", ["demo-small"])


@pytest.mark.parametrize("page", ["pages/1_User_explorer.py", "pages/2_Recommendations.py"])
def test_unknown_user_falls_back_to_featured_user_and_says_so(page, small_ds):
    at = open_page(page, user="no-such-user")
    assert_clean(at)
    assert at.session_state["rl.user"] == featured(small_ds)
    notes = " ".join(i.value for i in at.info)
    assert "no-such-user" in notes and featured(small_ds) in notes


def test_missing_user_shows_featured_user(small_ds):
    at = open_page("pages/1_User_explorer.py")
    assert_clean(at)
    assert at.session_state["rl.user"] == featured(small_ds)
    assert any("No user selected" in i.value for i in at.info)


def test_home_shows_summary_and_model_card(small_ds):
    at = open_page("app.py")
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users"] == f"{small_ds.n_users:,}"
    assert metrics["Interactions"] == f"{small_ds.n_interactions:,}"
    # charts: activity, long tail, category mix, history lengths (+ model card chart when evaluated)
    assert len(at.get("plotly_chart")) >= 4
    facts = " ".join(m.value for m in at.markdown)
    assert "**Architecture:**" in facts and "**Learning rate:** 0\\.003" in facts and "**Artifact:**" in facts


def test_state_persists_across_pages(small_ds):
    user = small_ds.user_ids[3]
    at = open_page("pages/1_User_explorer.py", user=user)
    at.switch_page("pages/2_Recommendations.py").run()
    assert_clean(at)
    assert at.session_state["rl.user"] == user
    # no URL params after sidebar navigation: the state wins and is written back
    at.query_params.clear()
    at.switch_page("pages/5_Item_view.py").run()
    assert_clean(at)
    assert at.session_state["rl.user"] == user
    assert at.query_params["user"] in (user, [user])


def _table_titles(at: AppTest, index: int) -> list[str]:
    return at.dataframe[index].value["title"].tolist()


def test_lab_weight_changes_the_reranked_list(small_ds):
    at = open_page("pages/3_Fairness_lab.py", user=featured(small_ds), k="10")
    assert_clean(at)
    div = at.slider(key="w.div")
    before = at.session_state["rl.div"]
    assert before == 0.0
    div.set_value(0.9).run()
    assert_clean(at)
    assert at.session_state["rl.div"] == pytest.approx(0.9)
    assert at.query_params["div"] in ("0.9", ["0.9"])
    # weights sum ≤ 1: moving fairness up shrinks diversity, keeps fairness
    at.slider(key="w.fair").set_value(0.5).run()
    assert_clean(at)
    assert at.session_state["rl.fair"] == pytest.approx(0.5)
    assert at.session_state["rl.div"] + at.session_state["rl.cal"] + 0.5 <= 1.0 + 1e-9


def test_recommendations_follow_the_weights(small_ds):
    user = featured(small_ds)
    at0 = open_page("pages/2_Recommendations.py", user=user, k="10")
    at1 = open_page("pages/2_Recommendations.py", user=user, k="10", div="1")
    assert_clean(at0)
    assert_clean(at1)
    t0, t1 = _table_titles(at0, 0), _table_titles(at1, 0)
    assert len(t0) == len(t1) == 10
    assert t0 != t1


def test_whatif_add_remove_and_cold_start(small_ds):
    user = featured(small_ds)
    at = open_page("pages/4_What-if_studio.py", user=user)
    assert_clean(at)
    n0 = len(at.session_state["rl.whatif"]["scenario"]["history"])
    at.text_input(key="w.wi_add.q").set_value("a").run()
    at.button(key="w.wi_addgo").click().run()
    assert_clean(at)
    sc = at.session_state["rl.whatif"]["scenario"]
    assert len(sc["history"]) == n0 + 1
    assert at.session_state["rl.whatif"]["edited"] is True
    assert at.metric[0].label == "Kendall τ"
    # cold start: empty profile still gets a list
    at.button(key="w.wi_empty").click().run()
    assert_clean(at)
    assert at.session_state["rl.whatif"]["scenario"]["history"] == []
    after = at.dataframe[-1].value
    assert len(after) > 0
    # reset brings back the user's own history
    at.button(key="w.wi_reset").click().run()
    assert len(at.session_state["rl.whatif"]["scenario"]["history"]) == n0


def test_whatif_removing_history_changes_the_list(small_ds):
    user = featured(small_ds)
    at = open_page("pages/4_What-if_studio.py", user=user, k="10")
    n = len(at.session_state["rl.whatif"]["scenario"]["history"])
    # shrink the profile to its oldest item by removing the rest (pure edit, through the registry)
    from ui import whatif_logic as wl

    sc = at.session_state["rl.whatif"]["scenario"]
    at.session_state["rl.whatif"] = {"scenario": wl.remove_at(sc, range(1, n)), "edited": True}
    at.run()
    assert_clean(at)
    tau = float(at.metric[0].value)
    entering = int(at.metric[1].value)
    assert entering > 0 and tau < 1.0


def test_two_sessions_do_not_see_each_others_edits(small_ds):
    user = featured(small_ds)
    a = open_page("pages/4_What-if_studio.py", user=user)
    b = open_page("pages/4_What-if_studio.py", user=user)
    n = len(a.session_state["rl.whatif"]["scenario"]["history"])
    a.button(key="w.wi_empty").click().run()
    a.slider(key="w.k").set_value(20).run()
    assert a.session_state["rl.whatif"]["scenario"]["history"] == []
    b.run()
    assert len(b.session_state["rl.whatif"]["scenario"]["history"]) == n
    assert b.session_state["rl.k"] == 10
    # the cached dataset was not touched by A's edit
    from recsys.data import load

    assert len(load("demo-small").sequence(small_ds.user_index(user))[0]) == n


def test_counterfactual_from_recommendations_loads_in_whatif(small_ds):
    user = featured(small_ds)
    at = open_page("pages/4_What-if_studio.py", user=user)
    items, ts = small_ds.sequence(small_ds.user_index(user))
    cf = {"name": "counterfactual", "base_user": user,
          "history": [{"item_id": small_ds.item_ids[int(i)], "timestamp": int(t)} for i, t in zip(items[1:], ts[1:])]}
    at.session_state["rl.counterfactual"] = cf
    at.run()
    at.button(key="w.wi_cf").click().run()
    assert_clean(at)
    sc = at.session_state["rl.whatif"]["scenario"]
    assert len(sc["history"]) == len(items) - 1
    assert sc["base_user"] == user


def test_scenario_upload_is_validated(small_ds):
    import json

    at = open_page("pages/4_What-if_studio.py", user=featured(small_ds))
    bad = json.dumps({"history": [{"item_id": "nope", "timestamp": 5}]}).encode()
    at.file_uploader(key="w.wi_upload").upload("bad.json", bad, "application/json")
    at.run()
    at.button(key="w.wi_loadup").click().run()
    assert not at.exception
    assert any("not in this dataset" in e.value for e in at.error)
    good = {"name": "mine", "history": [{"item_id": small_ds.item_ids[0], "timestamp": 100}]}
    at.file_uploader(key="w.wi_upload").set_value(("good.json", json.dumps(good).encode(), "application/json"))
    at.run()
    at.button(key="w.wi_loadup").click().run()
    assert_clean(at)
    assert at.session_state["rl.whatif"]["scenario"]["name"] == "mine"


def test_item_view_from_url(small_ds):
    item = small_ds.item_ids[int(small_ds.item_popularity.argmax())]
    at = open_page("pages/5_Item_view.py", user=featured(small_ds), item=item)
    assert_clean(at)
    assert at.session_state["rl.item"] == item
    from ui.components import md

    assert any(s.value == md(small_ds.titles[small_ds.item_index(item)]) for s in at.subheader)


def test_upload_of_several_files_switches_the_dataset(tmp_path, small_ds, tiny_model):
    inter = "user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u * 3 + j) % 12},{1000 + 10 * j}\n" for u in range(8) for j in range(6)
    )
    items = "item_id,title,categories\n" + "".join(f"i{j},Title {j},Cat{j % 3}\n" for j in range(12))
    # the same data on disk gets a tiny model first (same fingerprint), so the app finds it
    d = tmp_path / "up"
    d.mkdir()
    (d / "interactions.csv").write_text(inter)
    (d / "items.csv").write_text(items)
    ensure_tiny_model(tiny_model.parents[1], str(d))
    at = open_page("app.py")
    at.file_uploader(key="w.upload").set_value(
        [("interactions.csv", inter.encode(), "text/csv"), ("items.csv", items.encode(), "text/csv")]
    )
    at.run()
    at.button(key="w.upload_go").click().run()
    assert not at.exception
    assert at.session_state["rl.data"].startswith("upload:")
    assert {m.label: m.value for m in at.metric}["Users"] == "8"


def test_bad_upload_shows_a_readable_error(small_ds):
    at = open_page("app.py")
    at.file_uploader(key="w.upload").set_value(("interactions.csv", b"user_id,item_id\nu1\n", "text/csv"))
    at.run()
    at.button(key="w.upload_go").click().run()
    assert not at.exception
    assert any("Upload refused" in e.value for e in at.error)
    assert at.session_state["rl.data"] == "demo-small"


def test_bad_data_source_in_url_is_a_message_not_a_traceback():
    at = open_page("app.py", data="/definitely/not/here")
    assert not at.exception
    assert any("Could not load" in e.value for e in at.error)


def test_case_file_of_a_user_view(small_ds, tiny_model):
    from recsys.models.transformer import TransformerRecommender
    from ui import recs, report
    from ui.state import Weights

    model = TransformerRecommender.load(tiny_model, small_ds)
    user = featured(small_ds)
    items, ts = recs.user_history(small_ds, user)
    res = recs.recommend(small_ds, model, items, ts, 10, Weights(0.3, 0.0, 0.0), user=user)
    top = small_ds.item_ids[int(res.items[0])]
    html = report.case_file_html(small_ds, model, user, res, item=top,
                                 timeline_fig=report.timeline_figure(small_ds, model, user))
    assert f"user {user}" in html
    assert "Interest timeline" in html and "Recommendations (top 10)" in html
    assert "diversity 0.3" in html
    assert report.esc(small_ds.titles[int(res.items[0])]) in html
    assert html.count("Plotly.newPlot") >= 3


def test_model_dir_opens_directly_with_the_data_it_was_trained_on(monkeypatch, tiny_model):
    monkeypatch.delenv("RECSYS_DATA", raising=False)
    monkeypatch.setenv("RECSYS_MODEL", str(tiny_model))
    at = open_page("pages/2_Recommendations.py", k="10")
    assert_clean(at)
    assert at.session_state["rl.data"] == "demo-small"
    assert len(at.dataframe[0].value) == 10


def test_user_explorer_group_finder_and_population_drift(small_ds):
    at = open_page("pages/1_User_explorer.py", user=featured(small_ds))
    at.selectbox(key="w.group_attr").set_value("activity").run()
    assert_clean(at)
    at.toggle(key="w.ue_drift").set_value(True).run()
    assert_clean(at)
    at.button(key="w.user_random").click().run()
    assert_clean(at)
    assert small_ds.has_user(at.session_state["rl.user"])


def test_scenarios_save_and_load_within_the_session(small_ds):
    at = open_page("pages/4_What-if_studio.py", user=featured(small_ds))
    n = len(at.session_state["rl.whatif"]["scenario"]["history"])
    at.text_input(key="w.wi_name").set_value("baseline copy").run()
    at.button(key="w.wi_save").click().run()
    assert_clean(at)
    assert "baseline copy" in at.session_state["rl.scenarios"]
    at.button(key="w.wi_empty").click().run()
    at.selectbox(key="w.wi_saved").set_value("baseline copy").run()
    at.button(key="w.wi_loadsaved").click().run()
    assert_clean(at)
    assert len(at.session_state["rl.whatif"]["scenario"]["history"]) == n


def test_evaluation_page_groups_users_by_target_popularity(small_ds):
    at = open_page("pages/6_Evaluation.py", user=featured(small_ds))
    assert_clean(at)
    box = at.selectbox(key="w.eval_attr")
    assert "target item popularity" in box.options
    at = box.select("target item popularity").run()
    assert_clean(at)
    shown = at.dataframe[-1].value
    assert set(shown["attribute"]) == {"target item popularity"}
    assert set(shown["group"]) <= {"0-9", "10-49", "50-199", "200+"} and len(shown) > 0


def test_min_count_parsing():
    from ui.state import MIN_COUNT_MAX, parse_min_count

    assert [parse_min_count(v) for v in ("5", 5, "5.0", 12.7)] == [5, 5, 5, 12]
    assert [parse_min_count(v) for v in (None, "", "abc", "0", "1", "-3", "nan", "1e400")] == [None] * 8
    assert parse_min_count("99999") == MIN_COUNT_MAX


def test_min_count_filter_from_the_sidebar_reaches_the_data_the_header_and_the_url(small_ds, tiny_model):
    ensure_tiny_model(tiny_model.parents[1], "demo-small", min_count=5)  # the filtered data's own model
    at = open_page("app.py")
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Items"] == str(small_ds.n_items)
    at.number_input(key="w.min_count").set_value(5).run()
    assert_clean(at)
    assert at.session_state["rl.min_count"] == 5
    assert {m.label: m.value for m in at.metric}["Items"] == "297"  # 103 items with < 5 interactions dropped
    assert "demo-small (5-core)" in "".join(m.value for m in at.markdown)
    assert at.query_params["min_count"] in ("5", ["5"])
    at.number_input(key="w.min_count").set_value(0).run()
    assert at.session_state["rl.min_count"] is None
    assert "min_count" not in at.query_params
    assert {m.label: m.value for m in at.metric}["Items"] == str(small_ds.n_items)


def test_min_count_that_leaves_nothing_is_a_message_with_a_way_back(small_ds):
    at = open_page("app.py", data="demo-small", min_count="500")
    assert not at.exception
    assert any("leaves no interactions" in e.value for e in at.error)
    at.button(key="w.drop_min_count").click().run()
    assert_clean(at)
    assert at.session_state["rl.min_count"] is None
    assert {m.label: m.value for m in at.metric}["Items"] == str(small_ds.n_items)


def test_model_trained_with_min_count_opens_on_the_same_filtered_data(monkeypatch, tmp_path, small_ds):
    """`python -m recsys train --min-count 5` then `RECSYS_MODEL=DIR`: the app loads the
    data as the model saw it (5-core) and opens that model, instead of training anew."""
    import torch

    from recsys.data import load
    from recsys.train import train_model

    torch.set_num_threads(1)
    out = tmp_path / "cli_model"
    train_model(load("demo-small"), out, seed=0, epochs=1, ablation=False, baselines=False, d_model=32,
                n_layers=1, n_heads=1, max_len=50, min_epochs=1, min_count=5)
    monkeypatch.delenv("RECSYS_DATA", raising=False)
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "empty_home"))  # nothing to fall back on
    monkeypatch.setenv("RECSYS_MODEL", str(out))
    at = open_page("pages/2_Recommendations.py", k="10")
    assert_clean(at)
    assert at.session_state["rl.data"] == "demo-small" and at.session_state["rl.min_count"] == 5
    assert not any("different data" in c.value for c in at.caption)
    assert len(at.dataframe[0].value) == 10
    assert not (tmp_path / "empty_home").exists() or not any((tmp_path / "empty_home").rglob("manifest.json"))
