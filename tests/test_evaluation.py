"""Split, ranking metrics, beyond-accuracy metrics and evaluate_scorer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys.data.types import DataError, build_dataset
from recsys.evaluation import (
    PROTOCOL,
    accuracy_metrics,
    average_popularity,
    coverage,
    evaluate_scorer,
    exposure_gini,
    gini,
    intra_list_diversity,
    leave_one_out,
    long_tail_items,
    long_tail_share,
    miscalibration,
    rank_of_targets,
    ranking_metrics,
    target_popularity_ndcg,
    top_k_lists,
)


def tiny_dataset(with_attrs: bool = True):
    """4 users: 'a' 5 interactions, 'b' 2 (not evaluated), 'c' 3 with a timestamp tie,
    'd' 4. Items 1..6 with categories."""
    rows = [
        ("a", "1", 10), ("a", "2", 20), ("a", "3", 30), ("a", "4", 40), ("a", "5", 50),
        ("b", "1", 5), ("b", "6", 6),
        ("c", "4", 100), ("c", "3", 200), ("c", "2", 200),  # tie at t=200: item 2 before 3
        ("d", "6", 1), ("d", "5", 2), ("d", "1", 3), ("d", "2", 4),
    ]  # fmt: skip
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame(
        {
            "item_id": [str(i) for i in range(1, 7)],
            "title": [f"T{i}" for i in range(1, 7)],
            "categories": [("x",), ("x", "y"), ("y",), ("z",), ("x",), ("z",)],
        }
    )
    users = None
    if with_attrs:
        users = pd.DataFrame({"user_id": ["a", "b", "c", "d"], "gender": ["F", "M", "M", "F"]})
    return build_dataset("tiny", inter, items, users)


class FixedScorer:
    """Scores = a fixed per-item vector, identical for every history."""

    name = "fixed"

    def __init__(self, scores: np.ndarray):
        self.s = np.asarray(scores, dtype=np.float32)
        self.n_items = self.s.shape[0]

    def score(self, histories, timestamps=None):
        return np.tile(self.s, (len(histories), 1))


# ---- split ---------------------------------------------------------------------------


def test_split_targets_and_training_inputs():
    ds = tiny_dataset()
    sp = leave_one_out(ds)
    ix = ds.item_index
    a, b, c, d = (ds.user_index(u) for u in "abcd")
    assert sp.eval_users.tolist() == [a, c, d]  # b has only 2 interactions
    assert sp.valid_target.tolist() == [ix("4"), ix("2"), ix("1")]
    assert sp.test_target.tolist() == [ix("5"), ix("3"), ix("2")]  # tie broken by item id
    assert sp.train[a].tolist() == [ix("1"), ix("2"), ix("3")]
    assert sp.train[b].tolist() == [ix("1"), ix("6")]  # non-evaluated user keeps everything
    assert sp.train[c].tolist() == [ix("4")]
    assert sp.train_ts[a].tolist() == [10, 20, 30]


def test_split_inputs_valid_and_test():
    ds = tiny_dataset()
    sp = leave_one_out(ds)
    ix = ds.item_index
    h, ts, t = sp.inputs("valid")
    assert [x.tolist() for x in h] == [[ix("1"), ix("2"), ix("3")], [ix("4")], [ix("6"), ix("5")]]
    assert t.tolist() == sp.valid_target.tolist()
    h, ts, t = sp.inputs("test")
    assert h[0].tolist() == [ix("1"), ix("2"), ix("3"), ix("4")]
    assert ts[0].tolist() == [10, 20, 30, 40]
    assert h[1].tolist() == [ix("4"), ix("2")] and ts[1].tolist() == [100, 200]
    assert t.tolist() == sp.test_target.tolist()
    with pytest.raises(DataError):
        sp.inputs("train")  # type: ignore[arg-type]


def test_no_leakage_test_target_never_in_inputs_or_fit_matrix():
    ds = tiny_dataset()
    sp = leave_one_out(ds)
    for which, targets in (("valid", sp.valid_target), ("test", sp.test_target)):
        hist, _, _ = sp.inputs(which)
        m = sp.train_matrix(which)
        for j, u in enumerate(sp.eval_users):
            assert targets[j] not in hist[j].tolist()
            assert m[u, targets[j]] == 0
    # the test-stage input includes the validation item, the valid-stage one does not
    mv, mt = sp.train_matrix("valid"), sp.train_matrix("test")
    for j, u in enumerate(sp.eval_users):
        assert mv[u, sp.valid_target[j]] == 0 and mt[u, sp.valid_target[j]] == 1
    assert mt.sum() == ds.n_interactions - sp.n_eval
    assert mv.sum() == ds.n_interactions - 2 * sp.n_eval


# ---- ranks and accuracy -----------------------------------------------------------------


def test_rank_of_targets_full_ranking_with_exclusion():
    s = np.array([[0.1, 0.5, 0.3, 0.9], [0.1, 0.5, 0.3, 0.9]])
    assert rank_of_targets(s, np.array([2, 2]), [np.array([3]), np.array([], dtype=int)]).tolist() == [2, 3]
    # the target is never excluded, even when it is in the history
    assert rank_of_targets(s[:1], np.array([1]), [np.array([1, 3])]).tolist() == [1]


def test_rank_ties_pessimistic_by_default():
    s = np.array([[1.0, 1.0, 1.0, 0.0]])
    assert rank_of_targets(s, np.array([0])).tolist() == [3]
    assert rank_of_targets(s, np.array([0]), ties="optimistic").tolist() == [1]
    # a constant scorer cannot look good
    assert accuracy_metrics(rank_of_targets(np.zeros((1, 50)), np.array([7])), ks=(10,))["hr@10"] == 0.0
    # NaN target ranks last
    assert rank_of_targets(np.array([[np.nan, 0.0, 1.0]]), np.array([0])).tolist() == [3]


def test_accuracy_metrics_hand_computed():
    m = accuracy_metrics(np.array([1, 3, 11]), ks=(5, 10))
    assert m["hr@10"] == pytest.approx(2 / 3)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 3)
    assert accuracy_metrics(np.array([1]))["ndcg@5"] == 1.0
    assert accuracy_metrics(np.array([6]))["ndcg@5"] == 0.0
    assert accuracy_metrics(np.array([6]))["ndcg@10"] == pytest.approx(1 / math.log2(7))
    assert set(m) == {"hr@5", "ndcg@5", "mrr@5", "hr@10", "ndcg@10", "mrr@10"}
    with pytest.raises(DataError):
        accuracy_metrics(np.array([]))


def test_top_k_lists_excludes_and_pads():
    s = np.array([[0.1, 0.5, 0.5, 0.9], [1.0, 2.0, 3.0, 4.0]])
    lists = top_k_lists(s, 3, [np.array([3]), np.array([0, 1, 2])])
    assert lists[0].tolist() == [1, 2, 0]  # tie 0.5 -> smaller index first
    assert lists[1].tolist() == [3, -1, -1]


def test_top_k_lists_breaks_ties_at_the_kth_place_by_item_index():
    # four items tie for the last two places: the two smaller indices win, in every row
    s = np.array([[5.0, 1.0, 1.0, 3.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 9.0, 1.0]])
    assert top_k_lists(s, 3).tolist() == [[0, 3, 1], [4, 0, 1]]
    assert top_k_lists(s, 3, [np.array([1]), None]).tolist() == [[0, 3, 2], [4, 0, 1]]
    # NaN ranks last; skip_unscored leaves NaN and -inf out (padding instead)
    t = np.array([[np.nan, 2.0, -np.inf, 1.0]])
    assert top_k_lists(t, 4).tolist() == [[1, 3, 0, 2]]
    assert top_k_lists(t, 4, skip_unscored=True).tolist() == [[1, 3, -1, -1]]
    assert top_k_lists(t, 0).shape == (1, 0)


def test_one_top_k_for_models_and_metrics():
    from recsys.evaluation.metrics import top_k_mask
    from recsys.models.base import top_k

    s = np.array([0.2, 0.7, 0.7, np.nan, 0.7, -np.inf, 0.1])
    assert top_k(s, 2).tolist() == [1, 2]  # tie at 0.7: smaller indices
    assert top_k(s, 10, np.array([2])).tolist() == [1, 4, 0, 6]  # NaN / -inf never recommended
    assert top_k(s, 0).tolist() == []
    m = top_k_mask(np.array([[3.0, 1.0, 1.0, 1.0]]), 2)
    assert m.tolist() == [[True, True, False, False]]


def test_calibration_kl_known_answers():
    from recsys.evaluation.metrics import calibration_kl

    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(calibration_kl(p, q), [0.0, math.log(100)])  # q~ = 0.01 p for the 2nd
    # p broadcasts against a batch of candidate mixes (the re-ranker's use)
    np.testing.assert_allclose(calibration_kl(p[1], q, alpha=0.5), [math.log(1 / 0.75), math.log(2)])


# ---- beyond accuracy -------------------------------------------------------------------


def test_beyond_accuracy_hand_computed():
    lists = np.array([[0, 1], [0, 2]])
    assert coverage(lists, 4) == 0.75
    pop = np.array([10, 5, 1, 0])
    assert average_popularity(lists, pop) == pytest.approx((10 + 5 + 10 + 1) / 4)
    assert long_tail_items(pop).tolist() == [False, True, True, True]  # head = ceil(0.2*4) = 1 item
    assert long_tail_share(lists, pop) == pytest.approx(0.5)
    assert gini(np.ones(5)) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n-1)/n for one holder
    assert exposure_gini(lists, 4) == pytest.approx(gini(np.array([2, 1, 1, 0])))
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert intra_list_diversity(lists, emb) == pytest.approx((1.0 + 0.0) / 2)


def test_miscalibration_steck():
    cm = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    # history all category 0, list all category 0 -> perfectly calibrated
    assert miscalibration([np.array([0])], np.array([[0, 0]]), cm) == pytest.approx(0.0)
    # history all category 0, list all category 1 -> q~ = 0.01 p -> KL = log(1/0.01)
    assert miscalibration([np.array([0])], np.array([[1, -1]]), cm) == pytest.approx(math.log(100))
    # p = (0.5, 0.5), q = (1, 0): q~ = (0.995, 0.005)
    expect = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)
    assert miscalibration([np.array([2])], np.array([[0]]), cm) == pytest.approx(expect)
    assert miscalibration([np.array([0])], np.array([[0]]), np.zeros((3, 0))) is None


# ---- evaluate_scorer ----------------------------------------------------------------------


def test_evaluate_scorer_metrics_and_groups():
    ds = tiny_dataset()
    sp = leave_one_out(ds)
    ix = ds.item_index
    # item "5" best, then "3", "2", ...: user a's test target 5 is rank 1; c's target 3 is
    # rank 2 (behind 5; 2 and 4 are seen); d's target 2 is rank 2 (5 seen, 3 ahead)
    order = ["5", "3", "2", "4", "1", "6"]
    s = np.zeros(ds.n_items)
    for r, iid in enumerate(order):
        s[ix(iid)] = 10 - r
    res = evaluate_scorer(FixedScorer(s), ds, sp, "test", text_emb=np.eye(ds.n_items))
    assert res["users"] == 3
    assert res["hr@10"] == 1.0
    assert res["ndcg@10"] == pytest.approx((1 + 2 / math.log2(3)) / 3)
    assert res["mrr@5"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert res["coverage@10"] == 1.0  # lists hold every item between them
    assert res["ild@10"] == pytest.approx(1.0)  # orthogonal embeddings
    assert 0 <= res["long_tail_share"] <= 1 and res["gini"] >= 0
    assert "miscalibration" in res
    by = res["ndcg@10_by"]["gender"]
    assert by["F"] == pytest.approx((1 + 1 / math.log2(3)) / 2)  # users a, d
    assert by["M"] == pytest.approx(1 / math.log2(3))  # user c
    assert res["users_by"]["gender"] == {"F": 2, "M": 1}
    assert ranking_metrics(FixedScorer(s), sp, "test")["ndcg@10"] == pytest.approx(res["ndcg@10"])
    assert "summary" in PROTOCOL


def test_target_popularity_ndcg_buckets_known_answer():
    # targets 0..4 with training counts 0, 9, 10, 60, 500: buckets 0-9, 0-9, 10-49, 50-199, 200+
    pop = np.array([0, 9, 10, 60, 500])
    ranks = np.array([1, 3, 11, 1, 2])
    by, sizes = target_popularity_ndcg(ranks, np.arange(5), pop)
    assert list(by) == ["0-9", "10-49", "50-199", "200+"]
    assert by["0-9"] == pytest.approx((1 + 1 / math.log2(4)) / 2)
    assert by["10-49"] == 0.0  # rank 11 is outside the top 10
    assert by["50-199"] == 1.0 and by["200+"] == pytest.approx(1 / math.log2(3))
    assert sizes == {"0-9": 2, "10-49": 1, "50-199": 1, "200+": 1}
    # empty buckets are left out; custom edges
    by2, sizes2 = target_popularity_ndcg(np.array([1]), np.array([4]), pop, edges=(5,))
    assert by2 == {"5+": 1.0} and sizes2 == {"5+": 1}


def test_evaluate_scorer_reports_ndcg_by_target_popularity():
    ds = tiny_dataset()
    sp = leave_one_out(ds)
    s = np.arange(ds.n_items, dtype=float)
    res = evaluate_scorer(FixedScorer(s), ds, sp, "test")
    sizes = res["users_by_target_pop"]
    assert sum(sizes.values()) == res["users"]  # every evaluated user in exactly one bucket
    weighted = sum(res["ndcg@10_by_target_pop"][b] * n for b, n in sizes.items()) / res["users"]
    assert weighted == pytest.approx(res["ndcg@10"])
    # not computed without groups
    assert "ndcg@10_by_target_pop" not in evaluate_scorer(FixedScorer(s), ds, sp, "test", groups=False)


def test_evaluate_scorer_without_attrs_or_text_and_bad_scorer():
    ds = tiny_dataset(with_attrs=False)
    sp = leave_one_out(ds)
    res = evaluate_scorer(FixedScorer(np.arange(ds.n_items, dtype=float)), ds, sp, "valid")
    assert "ndcg@10_by" not in res and "ild@10" not in res
    assert "ndcg@10_by_target_pop" in res  # needs no user attributes
    with pytest.raises(ValueError, match="shape"):
        evaluate_scorer(FixedScorer(np.zeros(ds.n_items + 1)), ds, sp)


def test_batching_does_not_change_results():
    ds = tiny_dataset()
    sp = leave_one_out(ds)
    rng = np.random.default_rng(0)
    s = rng.normal(size=ds.n_items)
    a = evaluate_scorer(FixedScorer(s), ds, sp, batch_size=1)
    b = evaluate_scorer(FixedScorer(s), ds, sp, batch_size=256)
    assert a == b


def test_split_partitions_demo_world_by_time():
    """On the demo world: train + valid + test is exactly each user's log, in time order,
    and the targets are the user's two latest interactions."""
    from recsys.data import load

    ds = load("demo-small")
    sp = leave_one_out(ds)
    total = sum(len(t) for t in sp.train) + 2 * sp.n_eval
    assert total == ds.n_interactions
    counts = np.diff(ds.user_offsets)
    assert sp.n_eval == int((counts >= 3).sum())
    for j, u in enumerate(sp.eval_users):
        items, ts = ds.sequence(u)
        assert np.array_equal(sp.train[u], items[:-2])
        assert sp.valid_target[j] == items[-2] and sp.test_target[j] == items[-1]
        assert (len(sp.train_ts[u]) == 0 or sp.train_ts[u].max() <= sp.valid_ts[j]) and sp.valid_ts[j] <= sp.test_ts[j]
    for u in np.flatnonzero(counts < 3):
        assert np.array_equal(sp.train[u], ds.sequence(u)[0])


def test_cold_item_world_keeps_cold_items_out_of_training():
    """The new-item world: cold items keep only users' last interactions, so they are test
    targets that no training input or validation target ever holds; everything else
    is untouched."""
    from recsys.data import load
    from recsys.evaluation import cold_item_world

    ds = load("demo-small")
    for seed in range(3):
        w, cold = cold_item_world(ds, 0.2, seed=seed)
        assert cold.dtype == bool and cold.shape == (w.n_items,) and cold.any()
        sp = leave_one_out(w)
        assert not any(cold[t].any() for t in sp.train)
        assert not cold[sp.valid_target].any()
        assert set(np.flatnonzero(cold)) <= set(sp.test_target.tolist())  # each is someone's test item
        # warm interactions are all kept, cold ones only as a user's last
        # cold = still in the catalogue as someone's last item, or gone from it
        cold_ids = {w.item_ids[k] for k in np.flatnonzero(cold)} | (set(ds.item_ids) - set(w.item_ids))
        assert len(cold_ids) >= round(0.2 * ds.n_items)
        last = {ds.user_ids[u]: ds.item_ids[ds.sequence(u)[0][-1]] for u in range(ds.n_users)}
        expect = sorted(
            (ds.user_ids[u], ds.item_ids[i], int(t))
            for u, i, t in zip(ds.user, ds.item, ds.timestamp)
            if ds.item_ids[i] not in cold_ids or last[ds.user_ids[u]] == ds.item_ids[i]
        )
        got = sorted((w.user_ids[u], w.item_ids[i], int(t)) for u, i, t in zip(w.user, w.item, w.timestamp))
        assert got == expect
    a, _ = cold_item_world(ds, 0.2, seed=1)
    b, _ = cold_item_world(ds, 0.2, seed=1)
    assert a.fingerprint == b.fingerprint  # seeded
    for bad in (0, 1, -0.1, True, "0.2"):
        with pytest.raises(DataError):
            cold_item_world(ds, bad)  # type: ignore[arg-type]


# ---- paired bootstrap ---------------------------------------------------------------------


def test_paired_bootstrap_known_answers():
    from recsys.evaluation.stats import paired_bootstrap_ci

    # a constant difference has a zero-width interval at that difference
    e = paired_bootstrap_ci(np.full(50, 0.3), np.full(50, 0.1))
    assert (e.mean, e.low, e.high) == pytest.approx((0.2, 0.2, 0.2))
    # runs are strata: the effect is the mean of the runs' means (0.1 and 0.3), not of the pooled users
    a = [np.r_[np.full(10, 0.1), np.zeros(10)], np.full(100, 0.3)]
    b = [np.zeros(20), np.zeros(100)]
    e = paired_bootstrap_ci(a, b, n_resamples=500)
    assert e.mean == pytest.approx((0.05 + 0.3) / 2)
    assert e.low < e.mean < e.high and e.high - e.low < 0.1
    with pytest.raises(DataError):
        paired_bootstrap_ci(np.zeros(5), np.zeros(6))


def test_paired_bootstrap_matches_a_resampling_loop():
    """The interval agrees with the plain loop (resample users within each run, mean of
    the runs' means, 2.5% / 97.5% quantiles) up to Monte-Carlo error."""
    from recsys.evaluation.stats import paired_bootstrap_ci

    rng = np.random.default_rng(1)
    diffs = [rng.normal(0.01, 0.2, size=n) for n in (300, 400, 500)]
    boots = [np.mean([d[rng.integers(0, d.size, d.size)].mean() for d in diffs]) for _ in range(4000)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    e = paired_bootstrap_ci(diffs, [np.zeros_like(d) for d in diffs], n_resamples=4000)
    assert e.low == pytest.approx(lo, abs=0.003) and e.high == pytest.approx(hi, abs=0.003)
