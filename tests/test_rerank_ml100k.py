"""Re-ranking on real data (MovieLens-100K, EASE scorer, all-MiniLM text embeddings) and the
``bench`` command. Skips without ../shared/data/ml-100k unless RECSYS_REQUIRE_REAL_DATA=1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.models.base import top_k
from recsys.rerank import (
    FairGroup,
    Weights,
    build_context,
    evaluate_population,
    prepare_population,
    rerank,
    rerank_batch,
)


@pytest.fixture(scope="module")
def real(ml100k_path):
    from recsys.data import load
    from recsys.evaluation import EASE, leave_one_out
    from recsys.text import item_embeddings

    ds = load(str(ml100k_path))
    split = leave_one_out(ds)
    ease = EASE().fit(split, "test")
    ctx = build_context(ds, emb=item_embeddings(ds))
    pop = prepare_population(ds, ease, ctx, split=split)
    return ds, split, ease, ctx, pop


def test_zero_weights_keep_the_model_order_on_real_data(real):
    ds, split, ease, ctx, pop = real
    hist, _, _ = split.inputs("test")
    for j in range(0, 900, 150):
        s = ease.score([hist[j]])[0]
        res = rerank(ctx, s, hist[j], Weights(), k=10)
        np.testing.assert_array_equal(res.items, top_k(s, 10, hist[j]))
    base = rerank_batch(ctx, pop.cand_items, pop.cand_scores, pop.hist_dist, Weights(), 10).items
    np.testing.assert_array_equal(base, pop.cand_items[:, :10])


def test_population_trade_offs_move_the_right_way(real):
    ds, split, ease, ctx, pop = real
    base = evaluate_population(ctx, pop, Weights())
    div = evaluate_population(ctx, pop, Weights(diversity=0.5))
    cal = evaluate_population(ctx, pop, Weights(calibration=0.5))
    fair = evaluate_population(ctx, pop, Weights(fairness=0.25))
    assert div["ild"] > base["ild"]
    assert cal["miscalibration"] < base["miscalibration"]
    assert fair["long_tail_share"] > base["long_tail_share"] and fair["avg_popularity"] < base["avg_popularity"]
    assert 0.0 < base["ndcg@10"] < 1.0 and 0.0 < base["coverage"] <= 1.0
    assert {"gender", "occupation"} <= set(base["ndcg_by_group"])
    assert any(a.startswith("age") for a in base["ndcg_by_group"])
    assert set(base["ndcg_by_group"]["gender"]) == {"F", "M"}


def test_batch_equals_per_user_on_real_data(real):
    ds, split, ease, ctx, pop = real
    hist, _, _ = split.inputs("test")
    w, g = Weights(0.25, 0.25, 0.25), FairGroup.parse("category=Documentary")
    batch = rerank_batch(ctx, pop.cand_items, pop.cand_scores, pop.hist_dist, w, 10, g)
    for j in range(0, pop.n_users, 97):
        one = rerank(ctx, ease.score([hist[j]])[0], hist[j], w, k=10, group=g)
        np.testing.assert_array_equal(batch.items[j], one.items)


def test_bench_command_reports_every_figure(ml100k_path, real, capsys):
    from recsys.cli import main

    # ``real`` first: the item text embeddings are then cached for the command

    code = main(["bench", "--data", str(ml100k_path), "--users", "3", "--explain-users", "0", "--json"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0
    res = json.loads(out)
    for key in ("recommend_ms_p50", "rerank_ms_p50", "population_score_s", "population_rerank_s", "rss_mb"):
        assert isinstance(res[key], float) and res[key] > 0, key
    assert res["shap_ms_p50"] is None and res["lime_ms_p50"] is None  # --explain-users 0
    assert res["population_users"] == 943 and res["users_timed"] == 3


def test_bench_command_rejects_a_missing_model_dir(ml100k_path, tmp_path, capsys):
    from recsys.cli import main

    code = main(["bench", "--data", str(ml100k_path), "--model", str(tmp_path / "nope")])
    assert code == 2
    assert "error: --model: no such directory" in capsys.readouterr().err
