"""AppTest page tests on the small demo world with a tiny model (trained once)."""

from __future__ import annotations

import pytest

from tests.app_support import PAGES, REPO, assert_clean, ensure_tiny_model, featured, open_page

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui.core import state  # noqa: E402

TIMEOUT = 180


@pytest.fixture(autouse=True)
def _small_world(monkeypatch, tiny_model):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    monkeypatch.delenv("RECSYS_MODEL", raising=False)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_a_user_from_the_url(page, small_ds):
    user = small_ds.user_ids[7]
    at = open_page(page, user=user, k="7", div="0.2")
    assert_clean(at)
    assert at.session_state[state.USER] == user
    assert at.session_state[state.K] == 7
    assert at.session_state[state.DIV] == pytest.approx(0.2)
    # the view lives in the URL
    assert at.query_params["user"] in (user, [user])
    assert at.query_params["data"] in ("demo-small", ["demo-small"])


@pytest.mark.parametrize("page", ["pages/user_explorer.py", "pages/recommendations.py"])
def test_unknown_user_falls_back_to_featured_user_and_says_so(page, small_ds):
    at = open_page(page, user="no-such-user")
    assert_clean(at)
    assert at.session_state[state.USER] == featured(small_ds)
    notes = " ".join(i.value for i in at.info)
    assert "no-such-user" in notes and featured(small_ds) in notes


def test_missing_user_shows_featured_user(small_ds):
    at = open_page("pages/user_explorer.py")
    assert_clean(at)
    assert at.session_state[state.USER] == featured(small_ds)
    assert any("No user selected" in i.value for i in at.info)


def test_without_importable_explainers_the_recommendations_page_says_so(monkeypatch, small_ds):
    import sys

    import ui.explain

    monkeypatch.setitem(sys.modules, "ui.explain.panel", None)  # importing it raises ImportError
    monkeypatch.delattr(ui.explain, "panel", raising=False)  # even if an earlier test imported it
    at = open_page("pages/recommendations.py", user=featured(small_ds), k="10")
    assert_clean(at)
    assert len(at.dataframe[0].value) == 10  # lists and re-ranking still work
    assert any("Explanations are not available" in m.value for m in at.markdown)


def test_old_page_paths_redirect_to_the_new_pages(small_ds):
    user = small_ds.user_ids[4]
    at = open_page("pages/home.py", user=user, k="8")
    hashes = {info.get("url_pathname"): h for h, info in at._registered_pages.items()}
    for old in ("User_explorer", "Recommendations", "Fairness_lab", "What-if_studio", "Item_view", "Evaluation"):
        assert old in hashes, old
    at._page_hash = hashes["Recommendations"]  # a shared link to the old /Recommendations path
    at.run()
    assert_clean(at)
    assert at.session_state[state.USER] == user and at.session_state[state.K] == 8
    assert any(s.value.startswith("Top 8 for user") for s in at.subheader)


def test_every_page_is_registered_under_its_file_name(small_ds):
    at = open_page("pages/home.py")
    by_file = {str(info.get("script_path", "")).rsplit("/", 1)[-1]: info for info in at._registered_pages.values()}
    assert by_file["home.py"]["url_pathname"] == ""  # the default page lives at /
    for page in PAGES[1:]:
        name = page.rsplit("/", 1)[-1]
        assert by_file[name]["url_pathname"] == name.removesuffix(".py")
    assert "recommend" in by_file["recommendations.py"]["url_pathname"]


def test_a_page_streamlit_runs_without_the_frame_runs_the_frame_around_itself(small_ds):
    """Before the first st.navigation call of a server process, Streamlit runs a page of
    pages/ directly (AppTest does so on every first run): the page still gets the frame."""
    user = small_ds.user_ids[5]
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.query_params["user"] = user
    at.query_params["k"] = "6"
    at.switch_page("pages/recommendations.py").run()  # no first run: the legacy page lookup
    assert_clean(at)
    assert any(s.value.startswith("Top 6 for user") for s in at.subheader)
    assert len(at.sidebar.slider) == 1 and at.session_state[state.USER] == user
    assert at.query_params["user"] in (user, [user])

def test_home_shows_summary_and_model_card(small_ds):
    at = open_page("pages/home.py")
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users"] == f"{small_ds.n_users:,}"
    assert metrics["Interactions"] == f"{small_ds.n_interactions:,}"
    # charts: activity, long tail, category mix, history lengths (+ model card chart when evaluated)
    assert len(at.get("plotly_chart")) >= 4
    facts = " ".join(m.value for m in at.markdown)
    from recsys.models.transformer import TransformerConfig

    lr = f"{TransformerConfig().lr:g}".replace(".", "\\.")  # the tiny model trains at the default rate
    assert "**Architecture:**" in facts and f"**Learning rate:** {lr}" in facts and "**Artifact:**" in facts


def test_state_persists_across_pages(small_ds):
    user = small_ds.user_ids[3]
    at = open_page("pages/user_explorer.py", user=user)
    at.switch_page("pages/recommendations.py").run()
    assert_clean(at)
    assert at.session_state[state.USER] == user
    # no URL params after sidebar navigation: the state wins and is written back
    at.query_params.clear()
    at.switch_page("pages/item_view.py").run()
    assert_clean(at)
    assert at.session_state[state.USER] == user
    assert at.query_params["user"] in (user, [user])


def _table_titles(at: AppTest, index: int) -> list[str]:
    return at.dataframe[index].value["title"].tolist()


def test_lab_weight_changes_the_reranked_list(small_ds):
    at = open_page("pages/fairness_lab.py", user=featured(small_ds), k="10")
    assert_clean(at)
    div = at.slider(key=state.DIV)
    before = at.session_state[state.DIV]
    assert before == 0.0
    div.set_value(0.9).run()
    assert_clean(at)
    assert at.session_state[state.DIV] == pytest.approx(0.9)
    assert at.query_params["div"] in ("0.9", ["0.9"])
    # weights sum ≤ 1: moving fairness up shrinks diversity, keeps fairness
    at.slider(key=state.FAIR).set_value(0.5).run()
    assert_clean(at)
    assert at.session_state[state.FAIR] == pytest.approx(0.5)
    assert at.session_state[state.DIV] + at.session_state[state.CAL] + 0.5 <= 1.0 + 1e-9


def test_recommendations_follow_the_weights(small_ds):
    user = featured(small_ds)
    at0 = open_page("pages/recommendations.py", user=user, k="10")
    at1 = open_page("pages/recommendations.py", user=user, k="10", div="1")
    assert_clean(at0)
    assert_clean(at1)
    t0, t1 = _table_titles(at0, 0), _table_titles(at1, 0)
    assert len(t0) == len(t1) == 10
    assert t0 != t1


def test_item_view_from_url(small_ds):
    item = small_ds.item_ids[int(small_ds.item_popularity.argmax())]
    at = open_page("pages/item_view.py", user=featured(small_ds), item=item)
    assert_clean(at)
    assert at.session_state[state.ITEM] == item
    from ui.core.components import md

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
    at = open_page("pages/home.py")
    at.file_uploader(key=state.UPLOAD).set_value(
        [("interactions.csv", inter.encode(), "text/csv"), ("items.csv", items.encode(), "text/csv")]
    )
    at.run()
    at.button(key=state.UPLOAD_GO).click().run()
    assert not at.exception
    assert at.session_state[state.DATA].startswith("upload:")
    assert {m.label: m.value for m in at.metric}["Users"] == "8"


def test_bad_upload_shows_a_readable_error(small_ds):
    at = open_page("pages/home.py")
    at.file_uploader(key=state.UPLOAD).set_value(("interactions.csv", b"user_id,item_id\nu1\n", "text/csv"))
    at.run()
    at.button(key=state.UPLOAD_GO).click().run()
    assert not at.exception
    assert any("Upload refused" in e.value for e in at.error)
    assert at.session_state[state.DATA] == "demo-small"


def test_bad_data_source_in_url_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA_ROOTS", str(tmp_path))  # a path the server opens, but no data there
    at = open_page("pages/home.py", data=str(tmp_path / "not" / "here"))
    assert not at.exception
    assert any("Could not load" in e.value for e in at.error)


def test_case_file_of_a_user_view(small_ds, tiny_model):
    from recsys.models.transformer import TransformerRecommender
    from recsys.rerank import Weights
    from ui.core import recs
    from ui.core.text import esc
    from ui.report import logic as report

    model = TransformerRecommender.load(tiny_model, small_ds)
    user = featured(small_ds)
    res = recs.recommend(small_ds, model, small_ds.history(user), 10, Weights(0.3, 0.0, 0.0))
    top = small_ds.item_ids[int(res.items[0])]
    html = report.case_file_html(small_ds, model, user, res, item=top,
                                 timeline_fig=report.timeline_figure(small_ds, model, user))
    assert f"user {user}" in html
    assert "Interest timeline" in html and "Recommendations (top 10)" in html
    assert "diversity 0.3" in html
    assert esc(small_ds.titles[int(res.items[0])]) in html
    assert html.count("Plotly.newPlot") >= 3


def test_model_dir_opens_directly_with_the_data_it_was_trained_on(monkeypatch, tiny_model):
    monkeypatch.delenv("RECSYS_DATA", raising=False)
    monkeypatch.setenv("RECSYS_MODEL", str(tiny_model))
    at = open_page("pages/recommendations.py", k="10")
    assert_clean(at)
    assert at.session_state[state.DATA] == "demo-small"
    assert len(at.dataframe[0].value) == 10


def test_user_explorer_group_finder_and_population_drift(small_ds):
    at = open_page("pages/user_explorer.py", user=featured(small_ds))
    at.selectbox(key=state.GROUP_ATTR).set_value("activity").run()
    assert_clean(at)
    at.toggle(key=state.DRIFT_TOGGLE).set_value(True).run()
    assert_clean(at)
    at.button(key=state.USER_RANDOM).click().run()
    assert_clean(at)
    assert small_ds.has_user(at.session_state[state.USER])


def test_evaluation_page_groups_users_by_target_popularity(small_ds):
    at = open_page("pages/evaluation.py", user=featured(small_ds))
    assert_clean(at)
    box = at.selectbox(key=state.EVAL_ATTR)
    assert "target item popularity" in box.options
    at = box.select("target item popularity").run()
    assert_clean(at)
    shown = at.dataframe[-1].value
    assert set(shown["attribute"]) == {"target item popularity"}
    assert set(shown["group"]) <= {"0-9", "10-49", "50-199", "200+"} and len(shown) > 0


def test_min_count_parsing():
    from ui.core.state import MIN_COUNT_MAX, parse_min_count

    assert [parse_min_count(v) for v in ("5", 5, "5.0", 12.7)] == [5, 5, 5, 12]
    assert [parse_min_count(v) for v in (None, "", "abc", "0", "1", "-3", "nan", "1e400")] == [0] * 8
    assert parse_min_count("99999") == MIN_COUNT_MAX


def test_min_count_filter_from_the_sidebar_reaches_the_data_the_header_and_the_url(small_ds, tiny_model):
    ensure_tiny_model(tiny_model.parents[1], "demo-small", min_count=5)  # the filtered data's own model
    at = open_page("pages/home.py")
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Items"] == str(small_ds.n_items)
    at.number_input(key=state.MIN_COUNT).set_value(5).run()
    assert_clean(at)
    assert at.session_state[state.MIN_COUNT] == 5
    assert {m.label: m.value for m in at.metric}["Items"] == "297"  # 103 items with < 5 interactions dropped
    assert "demo-small (5-core)" in "".join(m.value for m in at.markdown)
    assert at.query_params["min_count"] in ("5", ["5"])
    at.number_input(key=state.MIN_COUNT).set_value(0).run()
    assert at.session_state[state.MIN_COUNT] == 0
    assert "min_count" not in at.query_params
    assert {m.label: m.value for m in at.metric}["Items"] == str(small_ds.n_items)


def test_min_count_that_leaves_nothing_is_a_message_with_a_way_back(small_ds):
    at = open_page("pages/home.py", data="demo-small", min_count="500")
    assert not at.exception
    assert any("leaves no interactions" in e.value for e in at.error)
    at.button(key=state.DROP_MIN_COUNT).click().run()
    assert_clean(at)
    assert at.session_state[state.MIN_COUNT] == 0
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
    at = open_page("pages/recommendations.py", k="10")
    assert_clean(at)
    assert at.session_state[state.DATA] == "demo-small" and at.session_state[state.MIN_COUNT] == 5
    assert not any("different data" in c.value for c in at.caption)
    assert len(at.dataframe[0].value) == 10
    assert not (tmp_path / "empty_home").exists() or not any((tmp_path / "empty_home").rglob("manifest.json"))


def test_an_app_model_of_an_older_schema_is_upgraded_with_one_click(monkeypatch, tmp_path, small_ds):
    """A model the app trained before the schema change: the gate says so and the
    button migrates it in place (weights kept), after which the page opens normally."""
    from recsys.models.transformer import TransformerConfig, TransformerRecommender
    from recsys.paths import default_model_dir
    from recsys.text import item_embeddings
    from tests.test_transformer_artifact import to_schema_1

    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "home"))
    # what a schema-1 artifact of that time was: full text vector, no prior, constant rate
    cfg = TransformerConfig(d_model=16, n_layers=1, n_heads=1, max_len=20, use_text=True, text_rank=0,
                            text_prior_count=0.0, lr_decay="none")
    old = TransformerRecommender(small_ds.item_ids, cfg, item_embeddings(small_ds), seed=0).save(
        default_model_dir(small_ds), small_ds)
    to_schema_1(old)
    weights = (old / "model.safetensors").read_bytes()
    at = open_page("pages/recommendations.py", user=featured(small_ds), k="10")
    assert not at.exception
    assert any("older than this RecLens reads" in e.value for e in at.error)
    at.button(key=state.UPGRADE_MODEL).click().run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == 10
    assert (old / "model.safetensors").read_bytes() == weights
