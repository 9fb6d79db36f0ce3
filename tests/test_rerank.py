"""Re-ranking: properties of the greedy MMR / calibration / fairness re-ranker on a small
synthetic world with planted category structure (no encoder, no files)."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from recsys.data.types import DataError, Dataset, build_dataset
from recsys.models.base import top_k
from recsys.rerank import (
    TERMS,
    FairGroup,
    Weights,
    add_rerank_arguments,
    build_context,
    evaluate_population,
    exposure_gini,
    ild,
    list_metrics,
    list_metrics_batch,
    long_tail_mask,
    ndcg_at_k,
    rerank,
    rerank_batch,
    rerank_from_args,
    select_candidates,
    sweep,
)
from recsys.rerank.population import Population, user_groups

N_CATS = 6


def make_world(seed: int = 0, n_users: int = 60, n_items: int = 120) -> tuple[Dataset, np.ndarray]:
    """Users who prefer one or two categories, Zipf popularity, clustered embeddings."""
    rng = np.random.default_rng(seed)
    cats = [f"Cat{j}" for j in range(N_CATS)]
    primary = rng.integers(0, N_CATS, n_items)
    pop_w = 1.0 / np.arange(1, n_items + 1) ** 0.9
    rng.shuffle(pop_w)
    rows = []
    for u in range(n_users):
        liked = rng.choice(N_CATS, size=1 + u % 2, replace=False)
        w = pop_w * np.where(np.isin(primary, liked), 6.0, 1.0)
        n = int(rng.integers(8, 25))
        items = rng.choice(n_items, size=n, replace=False, p=w / w.sum())
        for t, i in enumerate(items):
            rows.append((f"u{u}", str(i), 1000 * u + t))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    item_cats = [
        (cats[primary[i]],) if i % 5 else (cats[primary[i]], cats[(primary[i] + 1) % N_CATS]) for i in range(n_items)
    ]
    items = pd.DataFrame({"item_id": [str(i) for i in range(n_items)], "title": [f"Item {i}" for i in range(n_items)]})
    items["categories"] = item_cats
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(n_users)], "group": ["A" if u % 3 else "B" for u in range(n_users)]})
    ds = build_dataset("synthetic", inter, items, users)
    centroids = rng.normal(size=(N_CATS, 16))
    emb = np.zeros((ds.n_items, 16), dtype=np.float32)
    for i in range(ds.n_items):
        emb[i] = centroids[primary[int(ds.item_ids[i])]] + 0.8 * rng.normal(size=16)
    return ds, emb


class AffinityScorer:
    """Scores items by the history's category affinity plus popularity and fixed noise."""

    name = "affinity"

    def __init__(self, ds: Dataset, seed: int = 1) -> None:
        self.n_items = ds.n_items
        self.cat = np.asarray(ds.category_matrix, dtype=np.float64)
        self.pop = np.log1p(ds.item_popularity.astype(np.float64))
        self.noise = np.random.default_rng(seed).normal(scale=0.3, size=ds.n_items)

    def score(self, histories, timestamps=None) -> np.ndarray:
        out = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for b, h in enumerate(histories):
            mix = self.cat[np.asarray(h, dtype=np.int64)].sum(axis=0)
            mix = mix / max(mix.sum(), 1e-9)
            out[b] = 3.0 * self.cat @ mix + 0.5 * self.pop + self.noise
        return out


@pytest.fixture(scope="module")
def world():
    ds, emb = make_world()
    ctx = build_context(ds, emb=emb, popularity=ds.item_popularity)
    scorer = AffinityScorer(ds)
    hists = ds.sequences()
    scores = scorer.score(hists)
    return ds, ctx, scorer, hists, scores


def _population(ctx, hists, scores, n=200) -> Population:
    cand, vals = select_candidates(scores, hists, n)
    return Population(
        users=np.arange(len(hists)),
        cand_items=cand,
        cand_scores=vals,
        hist_dist=ctx.history_distribution(hists),
        targets=cand[:, 3],
    )


# ---- weights ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"diversity": -0.1}, "between 0 and 1"),
        ({"calibration": 1.5}, "between 0 and 1"),
        ({"fairness": float("nan")}, "between 0 and 1"),
        ({"diversity": "lots"}, "must be a number"),
        ({"diversity": 0.5, "calibration": 0.4, "fairness": 0.2}, "add up to at most 1"),
    ],
)
def test_invalid_weights_raise_clear_error(kwargs, fragment):
    with pytest.raises(DataError, match=fragment):
        Weights(**kwargs)


def test_weights_summing_to_one_are_fine_and_relevance_gets_the_rest():
    w = Weights(0.1, 0.2, 0.7)
    assert w.relevance == pytest.approx(0.0)
    assert Weights(0.25, 0.25).relevance == pytest.approx(0.5)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ((0.3, 0.2, 0.1), (0.3, 0.2, 0.1)),
        ((0.123, 0.456, 0.0), (0.12, 0.46, 0.0)),  # rounded to 2 decimals
        ((-1, "x", 2), (0.0, 0.0, 1.0)),  # clamped; a non-number becomes 0
        ((float("nan"), None, 0.5), (0.0, 0.0, 0.5)),
        ((0.8, 0.8, 0.4), (0.4, 0.4, 0.2)),  # scaled down to sum 1
        ((1, 1, 1), (0.33, 0.33, 0.33)),
        ((0.5, 0.5, 0.01), (0.49, 0.5, 0.01)),  # rounding overshoot trimmed from the largest
        (("0.25", "0.25", "0.25"), (0.25, 0.25, 0.25)),
    ],
)
def test_weights_clamped_known_answers(raw, expected):
    w = Weights.clamped(*raw)
    assert (w.diversity, w.calibration, w.fairness) == pytest.approx(expected)
    assert w.diversity + w.calibration + w.fairness <= 1.0 + 1e-9


def test_weights_any_is_the_negation_of_is_zero():
    assert not Weights().any and Weights().is_zero
    assert Weights(fairness=0.01).any
    assert not Weights.clamped("nope", -3, float("nan")).any


def test_fair_group_parsing_and_unknown_category(world):
    _, ctx, *_ = world
    assert FairGroup.parse("longtail").kind == "longtail"
    g = FairGroup.parse("category=Cat2")
    assert (g.kind, g.category, g.spec) == ("category", "Cat2", "category=Cat2")
    with pytest.raises(DataError, match="longtail"):
        FairGroup.parse("popular")
    with pytest.raises(DataError, match="needs a category name"):
        FairGroup.parse("category=")
    with pytest.raises(DataError, match="unknown category 'Jazz'"):
        ctx.group_mask(FairGroup.parse("category=Jazz"))


# ---- the greedy re-ranker --------------------------------------------------------------
def test_zero_weights_reproduce_the_model_order(world):
    ds, ctx, _, hists, scores = world
    for u in range(ds.n_users):
        res = rerank(ctx, scores[u], hists[u], Weights(), k=10)
        expected = top_k(scores[u], 10, hists[u])
        np.testing.assert_array_equal(res.items, expected)
        np.testing.assert_array_equal(res.baseline_items, expected)
        np.testing.assert_array_equal(res.original_ranks, np.arange(1, 11))
        assert all(r == "same rank as the model's" for r in res.reasons)
        assert len(res.dropped_items) == 0


def test_contributions_add_up_to_the_combined_score(world):
    ds, ctx, _, hists, scores = world
    for w in (Weights(0.3, 0.2, 0.1), Weights(diversity=0.6), Weights(0.0, 0.5, 0.5)):
        for u in range(0, ds.n_users, 7):
            res = rerank(ctx, scores[u], hists[u], w, k=10)
            np.testing.assert_allclose(res.contributions.sum(axis=1), res.scores, rtol=0, atol=1e-12)
            # each contribution is its weight times a term normalised to [0, 1]
            assert np.all(res.terms >= 0) and np.all(res.terms <= 1)
            np.testing.assert_allclose(res.contributions, res.terms * w.as_array(), atol=1e-12)


def test_no_duplicates_and_history_never_recommended(world):
    ds, ctx, _, hists, scores = world
    for u in range(0, ds.n_users, 2):
        res = rerank(ctx, scores[u], hists[u], Weights(0.3, 0.3, 0.3), k=10)
        assert len(set(res.items.tolist())) == 10
        assert not set(res.items.tolist()) & set(hists[u].tolist())


def _mean_metric(ctx, hists, scores, w, metric, group=None):
    """Population mean of a list metric (batch mode; batch = per-user is tested below)."""
    cand, vals = select_candidates(scores, hists, 200)
    p = ctx.history_distribution(hists)
    lists = rerank_batch(ctx, cand, vals, p, w, 10, group).items
    if metric == "group_share":
        mask, _ = ctx.group_mask(group or FairGroup())
        return float(mask[lists].mean())
    return float(list_metrics_batch(ctx, lists, p)[metric].mean())


def test_raising_diversity_raises_ild_on_average(world):
    _, ctx, _, hists, scores = world
    vals = [_mean_metric(ctx, hists, scores, Weights(diversity=w), "ild") for w in (0.0, 0.25, 0.5, 0.75)]
    assert vals[1] > vals[0] and vals[2] > vals[1] and vals[3] > vals[2]


def test_raising_calibration_lowers_miscalibration_on_average(world):
    _, ctx, _, hists, scores = world
    vals = [_mean_metric(ctx, hists, scores, Weights(calibration=w), "miscalibration") for w in (0.0, 0.25, 0.5, 0.75)]
    assert vals[1] < vals[0] and vals[2] < vals[1] and vals[3] <= vals[2]


@pytest.mark.parametrize("group", [FairGroup(), FairGroup("category", "Cat4"), FairGroup("category", "Cat4", 0.6)])
def test_raising_fairness_raises_the_group_share(world, group):
    _, ctx, _, hists, scores = world
    g = group
    vals = [_mean_metric(ctx, hists, scores, Weights(fairness=w), "group_share", g) for w in (0.0, 0.25, 0.75)]
    assert vals[1] > vals[0] and vals[2] >= vals[1]
    _, target = ctx.group_mask(g)
    assert vals[2] >= min(target, 1.0) - 0.1  # a strong weight reaches (about) the target


def test_population_batch_equals_per_user(world):
    ds, ctx, _, hists, scores = world
    cand, vals = select_candidates(scores, hists, 200)
    p = ctx.history_distribution(hists)
    for w, g in ((Weights(0.3, 0.3, 0.3), FairGroup()), (Weights(0.5, 0.0, 0.2), FairGroup.parse("category=Cat1"))):
        batch = rerank_batch(ctx, cand, vals, p, w, 10, g)
        for u in range(0, ds.n_users, 2):
            one = rerank(ctx, scores[u], hists[u], w, k=10, group=g)
            np.testing.assert_array_equal(batch.items[u], one.items)
            np.testing.assert_allclose(batch.contributions[u], one.contributions, atol=1e-12)
            np.testing.assert_array_equal(batch.original_ranks[u], one.original_ranks)


def test_small_pool_pads_and_k_larger_than_pool(world):
    ds, ctx, _, hists, scores = world
    excl = np.arange(ds.n_items - 5)  # only 5 items left to recommend
    res = rerank(ctx, scores[0], hists[0], Weights(0.5), k=10, exclude=excl)
    assert len(res.items) == len(set(res.items.tolist())) <= 5
    assert set(res.items.tolist()) <= set(range(ds.n_items - 5, ds.n_items)) - set(hists[0].tolist())


def test_select_candidates_breaks_ties_by_item_index_and_excludes():
    s = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 0.5]])
    items, vals = select_candidates(s, [np.array([2])], 3)
    np.testing.assert_array_equal(items[0], [1, 4, 3])
    np.testing.assert_array_equal(vals[0], [3.0, 3.0, 2.0])
    items, _ = select_candidates(s, [np.array([0, 1, 2, 3])], 4)
    np.testing.assert_array_equal(items[0], [4, 5, -1, -1])


# ---- explanations of moves -----------------------------------------------------------------
def test_moves_are_explained_by_the_active_term(world):
    ds, ctx, _, hists, scores = world
    seen_up = {"fairness": 0, "calibration": 0, "diversity": 0}
    for term, word in (("fairness", "long-tail item"), ("calibration", "categor"), ("diversity", "variety")):
        for u in range(0, ds.n_users, 2):
            res = rerank(ctx, scores[u], hists[u], Weights(**{term: 0.6}), k=10)
            assert len(res.reasons) == len(res.items)
            for move, reason in zip(res.moves, res.reasons):
                if move > 0:
                    assert reason.startswith(f"moved up {move}") and word in reason, reason
                    seen_up[term] += 1
                elif move < 0:
                    assert reason.startswith(f"moved down {-move}"), reason
                else:
                    assert reason == "same rank as the model's"
            out = set(res.baseline_items.tolist()) - set(res.items.tolist())
            assert set(res.dropped_items.tolist()) == out
            assert all(r.startswith("dropped out: ") for r in res.dropped_reasons)
    assert all(n > 0 for n in seen_up.values())


def test_fairness_moves_name_popular_items_that_were_passed(world):
    ds, ctx, _, hists, scores = world
    texts = []
    for u in range(0, ds.n_users, 2):
        res = rerank(ctx, scores[u], hists[u], Weights(fairness=0.7), k=10)
        texts += [r for r in res.dropped_reasons if "long-tail items raising their exposure" in r]
    assert texts and all("popular item" in t for t in texts)


# ---- metrics -------------------------------------------------------------------------------
def test_list_metrics_known_answers():
    emb = np.array([[1, 0], [0, 1], [1, 0], [-1, 0]], dtype=np.float32)
    ds = build_dataset(
        "tiny",
        pd.DataFrame({"user_id": ["a"] * 3 + ["b"] * 2, "item_id": ["0", "1", "0", "2", "3"], "timestamp": range(5)}),
        pd.DataFrame({"item_id": ["0", "1", "2", "3"], "title": list("wxyz"), "categories": [("A",), ("B",), ("A",), ("A", "B")]}),
    )
    ctx = build_context(ds, emb=emb, popularity=np.array([10, 5, 1, 0]))
    # pairs (0,1): 1, (0,2): 0, (1,2): 1 -> mean 2/3
    assert ild(ctx, np.array([[0, 1, 2]]))[0] == pytest.approx(2 / 3)
    assert ild(ctx, np.array([[0, 3, -1]]))[0] == pytest.approx(2.0)  # opposite vectors, padding ignored
    m = list_metrics(ctx, [1, 2], history=[0, 0, 1])
    assert m["avg_popularity"] == pytest.approx(3.0)
    assert m["long_tail_share"] == pytest.approx(1.0)  # head = the single most popular item (ceil 20% of 4)
    # p = (2/3, 1/3), q = (1/2, 1/2): KL(p || 0.99 q + 0.01 p)
    p, q = np.array([2 / 3, 1 / 3]), np.array([0.5, 0.5])
    qt = 0.99 * q + 0.01 * p
    assert m["miscalibration"] == pytest.approx(float((p * np.log(p / qt)).sum()))
    assert exposure_gini(np.array([[0, 0], [0, 0]]), 4) == pytest.approx(0.75)
    np.testing.assert_allclose(ndcg_at_k(np.array([[5, 6, 7], [1, 2, 3]]), np.array([6, 9]), 10), [1 / np.log2(3), 0])


def test_metrics_agree_with_the_evaluation_package(world):
    ev = pytest.importorskip("recsys.evaluation")
    ds, ctx, _, hists, scores = world
    cand, _ = select_candidates(scores, hists, 10)
    np.testing.assert_array_equal(long_tail_mask(ds.item_popularity), ev.long_tail_items(ds.item_popularity))
    from recsys.rerank import miscalibration

    ours = miscalibration(ctx, cand, ctx.history_distribution(hists)).mean()
    assert ours == pytest.approx(ev.miscalibration(hists, cand, ds.category_matrix))
    assert ild(ctx, cand).mean() == pytest.approx(ev.intra_list_diversity(cand, ctx.emb), rel=1e-5)


# ---- population ------------------------------------------------------------------------------
def test_population_metrics_and_sweep(world):
    ds, ctx, _, hists, scores = world
    pop = _population(ctx, hists, scores)
    pop = Population(**{**pop.__dict__, "user_groups": user_groups(ds, pop.users)})
    base = evaluate_population(ctx, pop, Weights())
    assert set(base["ndcg_by_group"]) == {"group"} and set(base["ndcg_by_group"]["group"]) == {"A", "B"}
    # target = the model's 4th item for everyone: NDCG = 1/log2(5) without re-ranking
    assert base["ndcg@10"] == pytest.approx(1 / np.log2(5))
    fair = evaluate_population(ctx, pop, Weights(fairness=0.75))
    assert fair["long_tail_share"] > base["long_tail_share"] and fair["gini"] < base["gini"]
    df = sweep(ctx, pop, weights=(0.0, 0.5))
    assert list(df["term"]) == ["diversity", "diversity", "calibration", "calibration", "fairness", "fairness"]
    assert {"ndcg@10", "ild", "long_tail_share", "miscalibration", "avg_popularity", "coverage", "gini"} <= set(df.columns)
    d = df.set_index(["term", "weight"])
    assert d.loc[("diversity", 0.5), "ild"] > d.loc[("diversity", 0.0), "ild"]
    assert d.loc[("calibration", 0.5), "miscalibration"] < d.loc[("calibration", 0.0), "miscalibration"]


def test_user_groups_bin_numeric_ages():
    ds, _ = make_world(n_users=30)
    attrs = pd.DataFrame({"age": [str(15 + 2 * u) for u in range(30)], "zip": [f"z{u}" for u in range(30)]})
    object.__setattr__(ds, "user_attrs", attrs)
    groups = user_groups(ds, np.arange(30))
    assert set(groups) == {"age"}  # 30 distinct zips: not a group attribute
    assert groups["age"][0] == "<18" and groups["age"][29] == "56+"


# ---- command-line helpers ---------------------------------------------------------------------
def test_rerank_from_args_reports_metrics_and_contributions(world):
    ds, ctx, _, hists, scores = world
    p = argparse.ArgumentParser()
    add_rerank_arguments(p)
    args = p.parse_args(["--diversity", "0.3", "--fairness", "0.2", "--fair-group", "category=Cat0"])
    out = rerank_from_args(ds, scores[0], hists[0], args, k=5, ctx=ctx)
    assert set(out["metrics"]) == {"ild", "long_tail_share", "miscalibration", "avg_popularity"}
    assert len(out["items"]) == 5 and out["fair_group"] == "category=Cat0"
    for row in out["items"]:
        assert set(row["contributions"]) == set(TERMS)
        assert sum(row["contributions"].values()) == pytest.approx(row["rerank_score"])
        assert row["item_id"] in ds.item_ids and row["title"].startswith("Item")
        assert ds.item_index(row["item_id"]) not in set(hists[0].tolist())
    bad = p.parse_args(["--diversity", "0.8", "--calibration", "0.8"])
    with pytest.raises(DataError, match="add up to at most 1"):
        rerank_from_args(ds, scores[0], hists[0], bad, ctx=ctx)
    with pytest.raises(SystemExit):
        p.parse_args(["--diversity", "2"])


def test_sweep_table_is_stored_beside_the_model(tmp_path):
    import json

    from recsys.rerank import load_sweep, prepare_population, save_sweep
    from recsys.rerank.population import SWEEP_FILE

    ds, emb = make_world()
    ctx = build_context(ds, emb=emb)
    df = sweep(ctx, prepare_population(ds, AffinityScorer(ds), ctx))
    assert len(df) == 12 and df["ndcg@10"].between(0, 1).all()
    assert load_sweep(tmp_path) is None  # nothing stored yet
    save_sweep(df, tmp_path, {"model_key": "k", "fingerprint": ds.fingerprint})
    pd.testing.assert_frame_equal(load_sweep(tmp_path), df, check_dtype=False)
    meta = json.loads((tmp_path / SWEEP_FILE).read_text())["meta"]
    assert meta == {"model_key": "k", "fingerprint": ds.fingerprint}
    (tmp_path / SWEEP_FILE).write_text("{not json")
    assert load_sweep(tmp_path) is None  # a damaged file is ignored, not a crash
