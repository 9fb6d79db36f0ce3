"""The app on big data, with AppTest on the small demo world and the first-start limit
lowered below its size (RECSYS_FIRST_START_LIMIT): no training in the session, the
exact command lines, the population pages reading a serving table (or saying how to
write one), and a table of another model or data flagged and left unused."""

from __future__ import annotations

import shutil

import numpy as np
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


def write_table(model_dir, ds, *, data_fp=None, model_fp=None, created="2026-01-01T00:00:00+00:00"):
    """A serving table beside ``model_dir`` written with recsys.serving's writer helpers
    from the model's scores: every user's top POOL (seen items excluded, as recommend)
    and the evaluation protocol's test ranks. Returns the rows as one DataFrame."""
    import pandas as pd

    from recsys import serving
    from recsys.evaluation.metrics import rank_of_targets
    from recsys.evaluation.split import leave_one_out
    from recsys.models.transformer import TransformerRecommender
    from recsys.rerank import select_candidates

    model = TransformerRecommender.load(model_dir, ds)
    seqs = ds.sequences()
    off = ds.user_offsets
    scores = np.asarray(model.score(seqs, [ds.timestamp[off[u]:off[u + 1]] for u in range(ds.n_users)]))
    cand, vals = select_candidates(scores, seqs, POOL)
    split = leave_one_out(ds)
    hist, ts, targets = split.inputs("test")
    ranks = rank_of_targets(np.asarray(model.score(hist, ts)), targets, hist)
    test_of = {int(u): (ds.item_ids[int(t)], int(r)) for u, t, r in zip(split.eval_users, targets, ranks)}
    cols: dict[str, list] = {c: [] for c in ("user_id", "rank", "item_id", "score", "test_item_id", "test_rank")}
    for u in range(ds.n_users):
        t_item, t_rank = test_of.get(u, (None, None))
        for r, (i, s) in enumerate(zip(cand[u], vals[u]), start=1):
            if i < 0:
                break
            for c, v in zip(cols, (ds.user_ids[u], r, ds.item_ids[int(i)], float(s), t_item, t_rank)):
                cols[c].append(v)
    path = serving.serving_path(model_dir)
    serving.start_run(path)
    serving.write_shard(path, 0, serving.shard_table(cols, {"shard": 0}))
    info = serving.ServingInfo(
        path=path, users=ds.n_users, rows=len(cols["user_id"]), pool=POOL, explain_top=0, workers=1,
        model_fingerprint=model_fp or serving.model_fingerprint(model_dir), data_fingerprint=data_fp or ds.fingerprint,
        log_position=None, created=created,
    )
    serving.write_manifest(path, info, {"shards": 1})
    return pd.DataFrame(cols)


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


def test_home_says_how_to_write_the_table_then_that_the_pages_read_it(home_with_model, small_ds):
    at = open_page("pages/home.py")
    assert_clean(at)
    assert _codes(at) == [f"python -m recsys precompute --data demo-small --model {home_with_model}"]
    write_table(home_with_model, small_ds)
    at = open_page("pages/home.py")
    assert_clean(at)
    assert not _codes(at)
    assert any(c.value.startswith("The population pages (Fairness lab curves, Item view exposure, Evaluation) read "
                                  f"from the precomputed serving table: {small_ds.n_users:,} users, top {POOL} per user")
               for c in at.caption)  # fmt: skip


# ---- a matching serving table ----------------------------------------------------------------


def test_item_view_exposure_reads_the_table(monkeypatch, home_with_model, small_ds):
    rows = write_table(home_with_model, small_ds)
    _no_population_work(monkeypatch)
    top = rows[rows["rank"] <= 10]
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


def test_lab_curves_and_evaluation_read_the_table(monkeypatch, home_with_model, small_ds):
    write_table(home_with_model, small_ds)
    _no_population_work(monkeypatch)
    at = open_page("pages/fairness_lab.py", fair="0.5")
    assert_clean(at)
    assert not _codes(at)
    assert any("Trade-off curves from the precomputed serving table" in c.value for c in at.caption)
    sweep = at.dataframe[-1].value  # the λ-sweep table
    assert set(sweep["term"]) == {"diversity", "calibration", "fairness"}
    at = open_page("pages/evaluation.py")
    assert_clean(at)
    assert any(m.label == "NDCG@10" for m in at.metric)


def test_a_second_session_reads_the_table_from_the_cache(monkeypatch, home_with_model, small_ds):
    write_table(home_with_model, small_ds, created="2026-02-01T00:00:00+00:00")
    first = open_page("pages/item_view.py", k="10")
    assert_clean(first)
    import ui.serving.tables

    def no_reads(name):
        raise AssertionError(f"read the table again ({name})")

    monkeypatch.setattr(ui.serving.tables, "_reader", no_reads)
    second = open_page("pages/item_view.py", k="10")  # a new session, same table and item
    assert_clean(second)
    assert [m.value for m in second.metric] == [m.value for m in first.metric]


# ---- a table of another model or data ----------------------------------------------------------


def test_a_mismatched_table_is_flagged_and_not_used(monkeypatch, home_with_model, small_ds):
    write_table(home_with_model, small_ds, data_fp="0" * 64)
    _no_population_work(monkeypatch)
    at = open_page("pages/item_view.py")
    assert_clean(at)
    warning = " ".join(w.value for w in at.warning)
    assert "The serving table beside this model is not used" in warning and "different data 000000000000" in warning
    assert f"python -m recsys precompute --data demo-small --model {home_with_model}" in _codes(at)
    assert "Users with it in their top-10" not in [m.label for m in at.metric]


def test_a_mismatched_table_on_small_data_keeps_todays_page(monkeypatch, home_with_model, small_ds):
    monkeypatch.delenv("RECSYS_FIRST_START_LIMIT")
    write_table(home_with_model, small_ds, model_fp="f" * 64)
    at = open_page("pages/item_view.py")
    assert_clean(at)
    assert any("different model ffffffffffff" in w.value for w in at.warning)
    assert "After re-ranking" in [m.label for m in at.metric]  # computed in the session, as before
