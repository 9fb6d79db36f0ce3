"""Per-user model comparison: ``recommend --compare`` (JSON shape, model names, skipped
ablation, held-out rank against an independent computation), the pure logic of
``recsys.evaluation.compare`` and ``ui.compare``, and the Recommendations page section
(AppTest, demo world and MovieLens-100K)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recsys.data.types import History
from recsys.evaluation.compare import (
    COMPARE_ORDER,
    NO_ABLATION,
    Comparison,
    HeldOut,
    collect_models,
    compare_user,
    fit_baselines,
    full_positions,
    held_out,
    jaccard,
    overlap_matrix,
    union_items,
)
from tests.app_support import REPO, ensure_tiny_model, featured

TIMEOUT = 180


# ---- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fitted(small_ds):
    return fit_baselines(small_ds)


@pytest.fixture(scope="module")
def with_ablation(tiny_model, tmp_path_factory):
    """A copy of the tiny artifact with a ``no_text/`` sub-artifact (the same weights:
    enough to check that the comparison finds and lists it)."""
    d = tmp_path_factory.mktemp("cmp") / "model"
    shutil.copytree(tiny_model, d)
    shutil.copytree(tiny_model, d / "no_text")
    return d


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "recsys", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=600)


def last_json(p: subprocess.CompletedProcess) -> dict:
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- the command line -------------------------------------------------------------------
def test_compare_json_shape_and_names(small_ds, tiny_model):
    user = featured(small_ds)
    r = last_json(cli("recommend", "--data", "demo-small", "--model", str(tiny_model), "--user", user, "-k", "6",
                      "--compare", "--json"))
    # the recommend keys are unchanged
    assert {"user", "items", "history_length", "edited", "as_of", "weights", "metrics", "elapsed_ms"} <= set(r)
    assert list(r["compare"]) == ["transformer", "ease", "itemknn", "popularity"]
    assert r["compare_skipped"] == {"transformer_no_text": NO_ABLATION}
    seen = {small_ds.item_ids[i] for i in small_ds.history(user).items}
    for name, rows in r["compare"].items():
        assert [x["rank"] for x in rows] == [1, 2, 3, 4, 5, 6], name
        assert all(set(x) == {"item_id", "rank", "score"} for x in rows)
        assert not seen & {x["item_id"] for x in rows}, name  # the same seen-item exclusion
        scores = [x["score"] for x in rows]
        assert scores == sorted(scores, reverse=True)
    # the transformer's list is the main list (all re-ranking weights 0)
    assert [x["item_id"] for x in r["compare"]["transformer"]] == [x["item_id"] for x in r["items"]]
    assert [x["score"] for x in r["compare"]["transformer"]] == [x["score"] for x in r["items"]]
    ov = r["compare_overlap"]
    assert set(ov) == set(r["compare"]) and all(ov[n][n] == 1.0 for n in ov)
    assert all(ov[a][b] == ov[b][a] and 0.0 <= ov[a][b] <= 1.0 for a in ov for b in ov)
    ids = {n: {x["item_id"] for x in rows} for n, rows in r["compare"].items()}
    assert ov["ease"]["popularity"] == pytest.approx(
        len(ids["ease"] & ids["popularity"]) / len(ids["ease"] | ids["popularity"]), abs=1e-4)
    ho = r["held_out"]
    assert ho["item_id"] == small_ds.item_ids[small_ds.history(user).items[-1]]
    assert list(ho["rank_in"]) == ["transformer", "transformer_no_text", "ease", "itemknn", "popularity"]
    assert ho["rank_in"]["transformer_no_text"] is None
    assert all(isinstance(ho["rank_in"][n], int) and ho["rank_in"][n] >= 1 for n in r["compare"])
    assert ho["history_length"] == len(small_ds.history(user)) - 1
    assert "compare_fit" in r


def test_compare_lists_the_ablation_when_the_artifact_has_one(small_ds, with_ablation):
    user = featured(small_ds)
    r = last_json(cli("recommend", "--data", "demo-small", "--model", str(with_ablation), "--user", user, "-k", "5",
                      "--compare", "--json"))
    assert list(r["compare"]) == list(COMPARE_ORDER)
    assert r["compare_skipped"] == {}
    assert r["compare_overlap"]["transformer"]["transformer_no_text"] == 1.0  # a copy of the same weights
    assert r["held_out"]["rank_in"]["transformer_no_text"] == r["held_out"]["rank_in"]["transformer"]


def test_compare_without_json_prints_a_side_by_side_table(small_ds, tiny_model):
    user = featured(small_ds)
    p = cli("recommend", "--data", "demo-small", "--model", str(tiny_model), "--user", user, "-k", "3", "--compare")
    assert p.returncode == 0, p.stderr
    head = next(line for line in p.stdout.splitlines() if line.startswith("rank "))
    assert all(name in head for name in ("Transformer", "EASE", "ItemKNN", "MostPopular"))
    assert "overlap (Jaccard of the top-k)" in p.stdout and "held-out item" in p.stdout
    assert "Transformer, no text skipped" in p.stdout


def test_compare_with_bad_input_is_one_error_line(tiny_model):
    p = cli("recommend", "--data", "demo-small", "--model", str(tiny_model), "--user", "nobody", "--compare", "--json")
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1


# ---- the logic ----------------------------------------------------------------------------
def test_held_out_rank_agrees_with_the_evaluation_protocol(small_ds, tiny_model, fitted):
    from recsys.evaluation import EASE, score_ranks
    from recsys.models.transformer import TransformerRecommender

    model = TransformerRecommender.load(tiny_model, small_ds)
    split = fitted.split
    users = [int(u) for u in split.eval_users[:: max(1, split.n_eval // 5)][:5]]
    models, skipped = collect_models(model, None, fitted)
    ease = EASE(lam=100.0).fit(split, "test")  # fitted independently of fit_baselines
    ranks_ease, _ = score_ranks(ease, split, "test")
    ranks_tf, _ = score_ranks(model, split, "test")
    for u in users:
        j = int(np.searchsorted(split.eval_users, u))
        ho = held_out(models, split, u, list(skipped))
        assert ho is not None and ho.item == int(split.test_target[j])
        assert ho.ranks["ease"] == int(ranks_ease[j])
        assert ho.ranks["transformer"] == int(ranks_tf[j])
        assert ho.ranks["transformer_no_text"] is None
        # by hand: 1 + the number of unseen items scoring at least the target's
        hist = np.append(split.train[u], split.valid_target[j])
        s = ease.score([hist])[0]
        mask = np.ones(small_ds.n_items, dtype=bool)
        mask[hist] = False
        mask[ho.item] = False
        assert ho.ranks["ease"] == 1 + int((s[mask] >= s[ho.item]).sum())


def test_baselines_are_fitted_on_the_evaluation_input(small_ds, fitted):
    from recsys.evaluation import MostPopular

    assert set(fitted.scorers) == {"ease", "itemknn", "popularity"} and fitted.skipped == {}
    assert fitted.fingerprint == small_ds.fingerprint
    pop = MostPopular().fit(fitted.split.train_matrix("test"))
    np.testing.assert_array_equal(fitted.scorers["popularity"].score([np.array([0])])[0], pop.popularity)


class Fixed:
    """A scorer with one fixed score vector, whatever the history."""

    def __init__(self, name: str, scores) -> None:
        self.name = name
        self.s = np.asarray(scores, dtype=np.float32)
        self.n_items = self.s.shape[0]

    def score(self, histories, timestamps=None):
        return np.tile(self.s, (len(histories), 1))


def test_compare_user_lists_positions_and_overlap_on_fixed_scores():
    a = Fixed("transformer", [5, 4, 3, 2, 1, 0])
    b = Fixed("ease", [0, 1, 2, 3, 4, 5])
    c = Fixed("popularity", [1, 1, 1, 1, 1, 1])  # all tied: the smaller item index wins
    h = History("u", np.array([0, 5]), np.array([10, 20]))
    comp = compare_user({"transformer": a, "ease": b, "popularity": c}, h, 2,
                        skipped={"itemknn": "could not be fitted: x"})
    assert {n: v.tolist() for n, v in comp.lists.items()} == {"transformer": [1, 2], "ease": [4, 3],
                                                               "popularity": [1, 2]}
    assert comp.scores["ease"].tolist() == [4.0, 3.0]
    assert comp.union() == [1, 4, 2, 3]  # best place first, then in more lists
    assert comp.positions["transformer"] == {1: 1, 4: 4, 2: 2, 3: 3}
    assert comp.positions["popularity"] == {1: 1, 4: 4, 2: 2, 3: 3}
    assert comp.positions["ease"] == {1: 4, 4: 1, 2: 3, 3: 2}
    ov = comp.overlap()
    assert ov["transformer"]["popularity"] == 1.0 and ov["transformer"]["ease"] == 0.0
    assert comp.held_out is None and comp.skipped == {"itemknn": "could not be fitted: x"}


def test_user_outside_the_split_has_no_held_out_item(small_ds, fitted):
    from recsys.data.filtering import subset_interactions

    u0 = small_ds.user_ids[0]
    keep = np.ones(small_ds.n_interactions, dtype=bool)
    a, b = small_ds.user_offsets[0], small_ds.user_offsets[1]
    keep[a + 2 : b] = False  # user 0 keeps two interactions: not evaluated
    ds = subset_interactions(small_ds, keep)
    base = fit_baselines(ds)
    models, skipped = collect_models(Fixed("transformer", np.arange(ds.n_items)), None, base)
    comp = compare_user(models, ds.history(u0), 5, skipped=skipped, split=base.split,
                        user_index=ds.user_index(u0))
    assert comp.held_out is None and len(comp.lists["ease"]) == 5


def test_small_helpers():
    assert jaccard([1, 2, 3], [2, 3, 4]) == 0.5 and jaccard([], []) == 1.0
    m = overlap_matrix({"a": [1, 2], "b": [2, 3], "c": []})
    assert m["a"]["b"] == m["b"]["a"] == pytest.approx(1 / 3, abs=1e-4) and m["c"]["a"] == 0.0
    s = np.array([1.0, np.nan, 3.0, 3.0, -np.inf])
    assert full_positions(s, [0, 1, 2, 3, 4], np.array([], dtype=np.int64)) == [3, None, 1, 2, None]
    assert full_positions(s, [3], np.array([2])) == [1]
    assert union_items({"x": [3, 1], "y": [1, 2]}) == [1, 3, 2]
    models, skipped = collect_models(Fixed("transformer", [1, 2]), "why", _FakeFitted())  # type: ignore[arg-type]
    assert list(models) == ["transformer", "popularity"] and skipped == {"transformer_no_text": "why",
                                                                          "ease": "too big"}


class _FakeFitted:
    scorers = {"popularity": Fixed("popularity", [1, 2])}
    skipped = {"ease": "too big"}


# ---- ui.compare: logic and chart ----------------------------------------------------------
def _comparison() -> Comparison:
    lists = {"transformer": np.array([1, 2]), "ease": np.array([2, 3])}
    return Comparison("u", 2, lists, {n: np.array([2.0, 1.0]) for n in lists},
                      {"transformer": {1: 1, 2: 2, 3: 7}, "ease": {1: None, 2: 1, 3: 2}},
                      {"transformer_no_text": NO_ABLATION, "itemknn": "could not be fitted: x"},
                      HeldOut(4, {"transformer": 1, "transformer_no_text": None, "ease": 30}, 9))


def test_ui_logic_tables(small_ds):
    from ui.compare import logic

    comp = _comparison()
    sbs = logic.side_by_side(small_ds, comp)
    assert list(sbs.columns) == ["rank", "Transformer", "EASE"]
    assert sbs["EASE"].tolist() == [small_ds.titles[2], small_ds.titles[3]]
    rf = logic.rank_frame(small_ds, comp)
    # item 2 is first in EASE's list and in both lists, item 1 first in one list only
    assert rf["item_id"].tolist() == [small_ds.item_ids[i] for i in (2, 1, 3)]
    assert rf["Transformer"].tolist() == [2, 1, 7] and pd.isna(rf["EASE"].iloc[1])
    assert rf["in lists"].tolist() == [2, 1, 1]
    ov = logic.overlap_frame(comp)
    assert ov.loc["Transformer", "EASE"] == pytest.approx(1 / 3, abs=1e-4)
    ho = logic.held_out_frame(comp)
    assert ho is not None and ho["rank"].tolist()[0] == 1 and ho["in top 2"].tolist() == [True, None, False]
    notes = logic.skipped_notes(comp)
    assert "No no-text ablation" in notes[0] and "ItemKNN is not compared" in notes[1]
    assert logic.held_out_frame(Comparison("u", 2, {}, {}, {}, {}, None)) is None


def test_ui_overlap_heatmap_escapes_labels():
    from ui.compare import charts

    df = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["<b>A</b>", "B"], columns=["<b>A</b>", "B"])
    fig = charts.overlap_heatmap(df, 10)
    assert fig.data[0].type == "heatmap" and list(fig.data[0].x) == ["&lt;b&gt;A&lt;/b&gt;", "B"]
    assert "top-10" in fig.layout.title.text


# ---- the page (AppTest) ---------------------------------------------------------------------
def _open_recommendations(**params: str):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/recommendations.py").run()
    return at


def _assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _turn_on_comparison(at):
    from ui.core import state

    assert any(t.label == "Show the comparison" for t in at.toggle)
    at.toggle(key=state.COMPARE_ON).set_value(True).run()
    _assert_clean(at)


def test_page_compares_models_on_demand(monkeypatch, small_ds, tiny_model):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    monkeypatch.delenv("RECSYS_MODEL", raising=False)
    user = featured(small_ds)
    at = _open_recommendations(user=user, k="7")
    _assert_clean(at)
    before = [d.value for d in at.dataframe]
    assert not any("EASE" in d.columns for d in before)  # nothing computed before the toggle
    assert not any(c.proto.spec and "Jaccard" in c.proto.spec for c in at.get("plotly_chart"))
    _turn_on_comparison(at)
    frames = [d.value for d in at.dataframe]
    sbs = next(d for d in frames if "EASE" in d.columns and "rank" in d.columns)
    assert {"Transformer", "EASE", "ItemKNN", "MostPopular"} <= set(sbs.columns) and len(sbs) == 7
    assert sbs["Transformer"].tolist()[0] == small_ds.titles[small_ds.item_index(frames[0]["item_id"].iloc[0])]
    assert any("in lists" in d.columns for d in frames)
    assert any("Jaccard" in c.proto.spec for c in at.get("plotly_chart"))  # the overlap heatmap
    assert any("Held-out test item" in m.value for m in at.markdown)
    assert any(set(d.columns) >= {"model", "rank"} for d in frames)
    assert any("no-text ablation" in i.value for i in at.info)  # the tiny model has none


@pytest.mark.usefixtures("ml100k_path")
def test_page_compares_models_on_ml100k(monkeypatch, ml100k_path, tmp_path_factory):
    home = tmp_path_factory.getbasetemp() / "recsys_home"
    home.mkdir(exist_ok=True)
    ensure_tiny_model(home, str(ml100k_path))
    monkeypatch.setenv("RECSYS_DATA", str(ml100k_path))
    monkeypatch.delenv("RECSYS_MODEL", raising=False)
    at = _open_recommendations(user="196", k="10")
    _assert_clean(at)
    _turn_on_comparison(at)
    frames = [d.value for d in at.dataframe]
    assert any({"Transformer", "EASE", "ItemKNN", "MostPopular"} <= set(d.columns) for d in frames)
    assert any("Jaccard" in c.proto.spec for c in at.get("plotly_chart"))
    assert any("Held-out test item" in m.value for m in at.markdown)
