"""The app on big data, with AppTest on the small demo world and the first-start limit
lowered below its size (RECSYS_FIRST_START_LIMIT): no training in the session, the
exact command lines, the population pages reading a serving table (or saying how to
write one), and a table of another model or data flagged and left unused."""

from __future__ import annotations

import shutil

import pytest

from tests.app_support import assert_clean, open_page

pytest.importorskip("streamlit")

LIMIT = "1000"  # the small demo world has ~4.3k interactions
POPULATION_PAGES = ["pages/fairness_lab.py", "pages/item_view.py", "pages/evaluation.py"]
POOL = 30


@pytest.fixture(autouse=True)
def _big(monkeypatch):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    monkeypatch.setenv("RECSYS_FIRST_START_LIMIT", LIMIT)
    monkeypatch.delenv("RECSYS_MODEL", raising=False)


@pytest.fixture
def home_with_model(tmp_path, monkeypatch, tiny_model, small_ds):
    """A RECSYS_HOME of this test holding a copy of the tiny model (so a serving table
    written beside it is seen by no other test). Returns the model directory."""
    from recsys.paths import default_model_dir

    home = tmp_path / "home"
    monkeypatch.setenv("RECSYS_HOME", str(home))
    d = default_model_dir(small_ds)
    shutil.copytree(tiny_model, d)
    return d


def _no_population_work(monkeypatch):
    """Fail the test if a page scores or re-ranks every user in the session."""
    import ui.core.recs
    import ui.lab.panel

    def boom(*a, **k):
        raise AssertionError("computed the whole population in the session")

    monkeypatch.setattr(ui.core.recs, "population_lists", boom)
    monkeypatch.setattr(ui.lab.panel, "population_panel", boom)


@pytest.fixture(scope="module")
def precomputed(tiny_model, tmp_path_factory):
    """A copy of the tiny model with its serving table, written once for this module by
    the precompute command the app shows (in process: --workers 1, no Ray)."""
    from recsys.cli import main

    d = tmp_path_factory.mktemp("bigdata") / "model"
    shutil.copytree(tiny_model, d)
    assert main(["precompute", "--data", "demo-small", "--model", str(d)]) == 0
    return d


@pytest.fixture
def home_with_table(home_with_model, precomputed):
    """``home_with_model`` with the precomputed serving table beside the model."""
    shutil.copytree(precomputed / "serving", home_with_model / "serving")
    return home_with_model


def _table(model_dir):
    import pandas as pd

    return pd.read_parquet(model_dir / "serving")


def _edit_manifest(model_dir, **changes):
    """Rewrite fields of the serving table's manifest (another model or data, a rewrite)."""
    import json

    f = model_dir / "serving" / "_manifest.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), **changes}))


def _codes(at) -> list[str]:
    return [c.value for c in at.code]


# ---- no model above the limit ----------------------------------------------------------------


@pytest.mark.parametrize("page", ["pages/home.py", "pages/recommendations.py"])
def test_above_the_limit_without_a_model_the_app_shows_the_train_command_and_never_trains(
        page, tmp_path, monkeypatch, small_ds):  # fmt: skip
    import ui.core.loaders
    from recsys.paths import default_model_dir

    home = tmp_path / "empty_home"
    monkeypatch.setenv("RECSYS_HOME", str(home))

    def no_training(*a, **k):
        raise AssertionError("trained in a browser session")

    monkeypatch.setattr(ui.core.loaders, "train", no_training)
    at = open_page(page)
    assert_clean(at)
    d = default_model_dir(small_ds)
    assert _codes(at) == [f"python -m recsys train --data demo-small --out {d}\n"
                          f"python -m recsys precompute --data demo-small --model {d}"]  # fmt: skip
    warning = " ".join(w.value for w in at.warning)
    assert f"{small_ds.n_interactions:,} interactions" in warning and "1,000" in warning
    assert not [b.label for b in at.button if "train" in b.label.lower()]
    assert not d.exists() and not at.get("progress")


def test_within_the_limit_an_invalid_limit_falls_back_to_the_default(monkeypatch, home_with_model):
    monkeypatch.setenv("RECSYS_FIRST_START_LIMIT", "not-a-number")
    at = open_page("pages/item_view.py")
    assert_clean(at)
    assert not _codes(at)  # 4.3k interactions are within the default 200,000: today's page
    labels = [m.label for m in at.metric]
    assert "After re-ranking" in labels


# ---- a model, no serving table ---------------------------------------------------------------


@pytest.mark.parametrize("page", POPULATION_PAGES)
def test_population_pages_show_the_precompute_command_without_a_table(page, monkeypatch, home_with_model):
    _no_population_work(monkeypatch)
    at = open_page(page)
    assert_clean(at)
    assert f"python -m recsys precompute --data demo-small --model {home_with_model}" in _codes(at)
    assert any("above the first-start limit (1,000 interactions)" in i.value for i in at.info)


def test_single_user_pages_score_live_above_the_limit(monkeypatch, home_with_model, small_ds):
    _no_population_work(monkeypatch)
    at = open_page("pages/recommendations.py", user=small_ds.user_ids[3], k="8")
    assert_clean(at)
    assert not _codes(at)
    assert len(at.dataframe[0].value) == 8


def test_the_shown_precompute_command_writes_the_table_the_pages_then_read(monkeypatch, home_with_model, small_ds):
    """Run the exact line Home shows (python -m recsys precompute …), then Home says the
    population pages read the table and no longer shows a command."""
    import shlex

    from recsys.cli import main

    at = open_page("pages/home.py")
    assert_clean(at)
    assert _codes(at) == [f"python -m recsys precompute --data demo-small --model {home_with_model}"]
    argv = shlex.split(_codes(at)[0])
    assert argv[:3] == ["python", "-m", "recsys"]
    assert main(argv[3:]) == 0
    at = open_page("pages/home.py")
    assert_clean(at)
    assert not _codes(at)
    assert any(c.value.startswith("The population pages (Fairness lab curves, Item view exposure, Evaluation) read "
                                  f"from the precomputed serving table: {small_ds.n_users:,} users, top 200 per user")
               for c in at.caption)  # fmt: skip


# ---- a matching serving table ----------------------------------------------------------------


def test_item_view_exposure_reads_the_table(monkeypatch, home_with_table, small_ds):
    _no_population_work(monkeypatch)
    df = _table(home_with_table)
    top = df[df["rank"] <= 10]
    iid = top["item_id"].value_counts().index[0]  # the item in the most top-10 lists
    at = open_page("pages/item_view.py", item=iid, k="10")
    assert_clean(at)
    assert not _codes(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users with it in their top-10"] == f"{int((top['item_id'] == iid).sum()):,}"
    assert metrics["Exposure rank"].startswith("1 / ")
    who = at.dataframe[0].value
    assert sorted(who["user_id"]) == sorted(top.loc[top["item_id"] == iid, "user_id"])
    assert any("from the precomputed serving table" in c.value for c in at.caption)


def test_lab_curves_read_the_table(monkeypatch, home_with_table):
    _no_population_work(monkeypatch)
    at = open_page("pages/fairness_lab.py", fair="0.5")
    assert_clean(at)
    assert not _codes(at)
    assert any("Trade-off curves from the precomputed serving table" in c.value for c in at.caption)
    assert at.get("plotly_chart")
    sweep = at.dataframe[-1].value  # the λ-sweep table
    assert set(sweep["term"]) == {"diversity", "calibration", "fairness"} and len(sweep) == 12
    ndcg = {m.label: m.value for m in at.metric}["NDCG@10"]
    fair = sweep[(sweep["term"] == "fairness") & (sweep["weight"] == 0.5)]["ndcg@10"].iloc[0]
    assert ndcg == f"{fair:.4f}"  # the current setting is a point of the sweep: the same number


def test_lab_reads_the_stored_trade_offs_and_computes_them_when_absent(monkeypatch, home_with_table):
    import pandas as pd

    import recsys.rerank.table
    from recsys.precompute import population

    _no_population_work(monkeypatch)
    stored = population.read(home_with_table / "serving")
    assert stored is not None  # written by the precompute command
    _edit_manifest(home_with_table, created="2026-03-01T00:00:00+00:00")  # a table no other test cached
    live = {"sweep": recsys.rerank.table.sweep_from_table,
            "evaluate": recsys.rerank.table.evaluate_population_from_table}

    def no_rerank(*a, **k):
        raise AssertionError("re-ranked the table")

    monkeypatch.setattr(recsys.rerank.table, "sweep_from_table", no_rerank)
    monkeypatch.setattr(recsys.rerank.table, "evaluate_population_from_table", no_rerank)
    at = open_page("pages/fairness_lab.py", fair="0.25")
    assert_clean(at)
    shown = at.dataframe[-1].value
    pd.testing.assert_frame_equal(shown, population.sweep(stored).drop(columns="seconds"))
    tiles = {m.label: m.value for m in at.metric}
    # without the stored file the page computes the same numbers from the table
    population.population_path(home_with_table / "serving").unlink()
    _edit_manifest(home_with_table, created="2026-03-02T00:00:00+00:00")
    monkeypatch.setattr(recsys.rerank.table, "sweep_from_table", live["sweep"])
    monkeypatch.setattr(recsys.rerank.table, "evaluate_population_from_table", live["evaluate"])
    again = open_page("pages/fairness_lab.py", fair="0.25")
    assert_clean(again)
    pd.testing.assert_frame_equal(again.dataframe[-1].value, shown)
    assert {m.label: m.value for m in again.metric} == tiles


def test_evaluation_reads_the_table(monkeypatch, home_with_table):
    from recsys.evaluation.metrics import accuracy_metrics

    _no_population_work(monkeypatch)
    at = open_page("pages/evaluation.py")
    assert_clean(at)
    assert not _codes(at)
    df = _table(home_with_table)
    ranks = df.loc[(df["rank"] == 1) & df["test_rank"].notna(), "test_rank"].to_numpy()
    want = accuracy_metrics(ranks, (10, 20))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["NDCG@10"] == f"{want['ndcg@10']:.4f}" and metrics["HR@20"] == f"{want['hr@20']:.4f}"
    assert any(f"over {len(ranks):,} evaluated users" in c.value for c in at.caption)


def test_a_second_session_reads_the_table_from_the_cache(monkeypatch, home_with_table):
    import recsys.rerank.table
    import ui.item.logic

    _edit_manifest(home_with_table, created="2026-02-01T00:00:00+00:00")  # a table no other test cached
    first = open_page("pages/item_view.py", k="10")
    assert_clean(first)

    def no_reads(*a, **k):
        raise AssertionError("read the table again")

    monkeypatch.setattr(recsys.rerank.table, "exposure_from_table", no_reads)
    monkeypatch.setattr(ui.item.logic, "table_audience", no_reads)
    second = open_page("pages/item_view.py", k="10")  # a new session, the same table and item
    assert_clean(second)
    assert [m.value for m in second.metric] == [m.value for m in first.metric]
    _edit_manifest(home_with_table, created="2026-02-02T00:00:00+00:00")  # rewritten: read again
    third = open_page("pages/item_view.py", k="10")
    assert third.exception and "read the table again" in third.exception[0].value


# ---- a table of another model or data ----------------------------------------------------------


def test_a_mismatched_table_is_flagged_and_not_used(monkeypatch, home_with_table):
    _edit_manifest(home_with_table, data_fingerprint="0" * 64)
    _no_population_work(monkeypatch)
    at = open_page("pages/item_view.py")
    assert_clean(at)
    warning = " ".join(w.value for w in at.warning)
    assert warning.startswith("**Serving table not used.**") and "different data 000000000000" in warning
    assert str(home_with_table) not in warning
    assert f"python -m recsys precompute --data demo-small --model {home_with_table}" in _codes(at)
    assert "Users with it in their top-10" not in [m.label for m in at.metric]


def test_a_mismatched_table_on_small_data_keeps_todays_page(monkeypatch, home_with_table):
    monkeypatch.delenv("RECSYS_FIRST_START_LIMIT")
    _edit_manifest(home_with_table, model_fingerprint="f" * 64)
    at = open_page("pages/item_view.py")
    assert_clean(at)
    assert any("different model ffffffffffff" in w.value for w in at.warning)
    assert "After re-ranking" in [m.label for m in at.metric]  # computed in the session, as before
