"""Explanations over a real (if simple) scorer with known answers.

Scorers used here are legitimate :class:`recsys.models.base.Scorer` implementations:

- ``LinearScorer``: score[j] = bias[j] + sum over history items i of W[i, j]. With the
  "margin" value, the exact Shapley value of item i is W[i, t] - W[i, y] (a known
  answer for both SHAP explainers).
- ``MarkovScorer``: a decayed first-order Markov chain fitted on the demo world's
  transitions; on planted follow-ups (A is followed by B) removing A must matter most.
"""

from __future__ import annotations

import numpy as np
import pytest

from explain import (
    MaskedScorer,
    agreement,
    compare_methods,
    explain_item,
    explain_lime,
    explain_shap,
    stability,
)
from explain.cache import LRUCache
from recsys.data.types import DataError, Dataset, History
from recsys.models.base import model_key, recommend


def hist_of(items) -> History:
    """An anonymous history without timestamps."""
    return History("", np.asarray(items), None)


class LinearScorer:
    """score[j] = bias[j] + sum_{i in history} W[i, j] (order-free, additive)."""

    name = "linear"

    def __init__(self, n_items: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.n_items = n_items
        self.W = rng.normal(size=(n_items, n_items)).astype(np.float32)
        self.bias = rng.normal(size=n_items).astype(np.float32)
        self.calls = 0

    def score(self, histories, timestamps=None):
        self.calls += 1
        out = np.tile(self.bias, (len(histories), 1))
        for b, h in enumerate(histories):
            h = np.asarray(h, dtype=np.int64)
            if h.size:
                out[b] += self.W[h].sum(0)
        return out


class MarkovScorer:
    """Decayed first-order Markov chain: score[j] = sum_t decay^age_t log(1 + C[h_t, j])
    + 0.01 log(1 + popularity[j]), C counting transitions up to ``window`` steps ahead."""

    name = "markov"

    def __init__(self, ds: Dataset, decay: float = 0.3, window: int = 2):
        self.n_items = ds.n_items
        c = np.zeros((ds.n_items, ds.n_items), dtype=np.float64)
        for seq in ds.sequences():
            for d in range(1, window + 1):
                np.add.at(c, (seq[:-d], seq[d:]), 1.0)
        self.T = np.log1p(c).astype(np.float32)
        self.pop = (0.01 * np.log1p(ds.item_popularity)).astype(np.float32)
        self.decay = decay

    def score(self, histories, timestamps=None):
        out = np.tile(self.pop, (len(histories), 1))
        for b, h in enumerate(histories):
            h = np.asarray(h, dtype=np.int64)
            if h.size:
                w = self.decay ** np.arange(h.size - 1, -1, -1)
                out[b] += (w[:, None] * self.T[h]).sum(0)
        return out


@pytest.fixture(scope="module")
def demo():
    from recsys.data import load

    return load("demo-small")


@pytest.fixture(scope="module")
def markov(demo):
    return MarkovScorer(demo)


def planted_cases(ds: Dataset, scorer, k: int = 10, near_end: int = 2, limit: int | None = None):
    """(user, history, timestamps, A, B) where A is among the last ``near_end`` items, B
    not in the history, and B is in the scorer's top-k."""
    out = []
    for a_id, b_id in ds.truth.followups:
        a, b = ds.item_index(a_id), ds.item_index(b_id)
        for u in range(ds.n_users):
            h, ts = ds.sequence(u)
            if a in h[-near_end:] and b not in h and b in recommend(scorer, h, k, ts).items:
                out.append((ds.user_ids[u], h, ts, a, b))
    return out[:limit] if limit else out


# ---- masked scorer ------------------------------------------------------------------------
def test_masked_scorer_removes_masked_items_and_keeps_context():
    sc = LinearScorer(12)
    hist = np.arange(8)
    f = MaskedScorer(sc, hist_of(hist), target=10, value="margin", contrast=11, max_features=5)
    assert f.n_context == 3 and f.n_features == 5
    assert list(f.features) == [3, 4, 5, 6, 7]
    assert "3 older items are kept as fixed context" in f.note()
    mask = np.array([[1, 0, 1, 0, 0]])
    kept = [0, 1, 2, 3, 5]
    expect = sc.bias[10] - sc.bias[11] + (sc.W[kept, 10] - sc.W[kept, 11]).sum()
    assert f(mask)[0] == pytest.approx(expect, rel=1e-5)


def test_masked_scorer_batches_in_chunks():
    import itertools

    sc = LinearScorer(12)
    f = MaskedScorer(sc, hist_of(np.arange(6)), target=10, chunk=4)
    masks = np.zeros((10, 6))
    for r, keep in enumerate(itertools.islice(itertools.combinations(range(6), 3), 10)):
        masks[r, list(keep)] = 1
    f(masks)  # ten distinct rows of one length: one group, cut into chunks of <= 4
    assert sc.calls == 3 and f.evaluations == 10


def test_masked_scorer_scores_identical_rows_once():
    sc = LinearScorer(12)
    f = MaskedScorer(sc, hist_of(np.arange(6)), target=10)
    masks = np.vstack([np.ones((5, 6)), np.zeros((3, 6)), np.ones((2, 6))])
    v = f(masks)
    assert f.evaluations == 10 and f.calls == 1
    assert np.all(v[:5] == v[0]) and np.all(v[5:8] == v[5]) and np.all(v[8:] == v[0])


def test_length_groups_trade_padding_against_calls():
    from explain.masked import length_groups

    lengths = np.sort(np.repeat(np.arange(51), 10))  # 510 rows, lengths 0..50
    groups = length_groups(lengths, chunk=1024, overhead=280.0)
    assert 3 <= len(groups) <= 12
    assert groups[0].start == 0 and groups[-1].stop == 510
    assert all(a.stop == b.start for a, b in zip(groups[:-1], groups[1:]))
    assert len(length_groups(lengths, chunk=1024, overhead=1e9)) == 1  # calls are dear: one group
    assert all(g.stop - g.start <= 100 for g in length_groups(lengths, chunk=100))
    assert length_groups(np.zeros(0, dtype=np.int64), chunk=8) == []


def test_length_grouped_scoring_keeps_row_order():
    sc = LinearScorer(30, seed=2)
    hist = np.arange(20)
    f = MaskedScorer(sc, hist_of(hist), target=25)
    masks = (np.random.default_rng(0).random((100, 20)) < np.linspace(0, 1, 100)[:, None]).astype(float)
    got = f.scores(masks)
    assert sc.calls >= 2  # rows ranging from empty to full: several length groups
    want = np.stack([sc.score([hist[m > 0]])[0] for m in masks])
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_shap_prefetch_predicts_every_mask_and_changes_nothing(monkeypatch):
    from explain.shap_explain import shap_values

    sc = LinearScorer(40, seed=3)
    hist = np.arange(15)
    f = MaskedScorer(sc, hist_of(hist), target=30, value="margin", contrast=31)
    v1, b1, val1, p1 = shap_values(f, budget=200, seed=4)
    assert f.memo_hits == p1["evaluations"] == (200 // 31) * 31  # every mask shap asked for was prefetched
    assert f._memo is None  # cleared after the run
    monkeypatch.setattr(MaskedScorer, "prefetch", lambda self, masks: None)
    g = MaskedScorer(sc, hist_of(hist), target=30, value="margin", contrast=31)
    v2, b2, val2, p2 = shap_values(g, budget=200, seed=4)
    assert g.memo_hits == 0 and p2["evaluations"] == p1["evaluations"]
    np.testing.assert_allclose(v1, v2, atol=1e-5)
    assert b1 == pytest.approx(b2, abs=1e-5) and val1 == pytest.approx(val2, abs=1e-5)


def test_prefetched_values_equal_values_on_demand():
    sc = LinearScorer(30, seed=5)
    f = MaskedScorer(sc, hist_of(np.arange(12)), target=20)
    masks = (np.random.default_rng(1).random((40, 12)) < 0.5).astype(float)
    want = f(masks)
    f.prefetch(masks[:25])
    got = f(masks)
    assert f.memo_hits == 25 and f.evaluations == 80
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_logprob_is_over_items_outside_the_full_history():
    sc = LinearScorer(12)
    hist = np.array([0, 1, 2])
    f = MaskedScorer(sc, hist_of(hist), target=5)
    s = sc.score([hist])[0].astype(np.float64)
    cand = np.setdiff1d(np.arange(12), hist)
    expect = s[5] - np.log(np.exp(s[cand]).sum())
    assert f(np.ones((1, 3)))[0] == pytest.approx(expect, rel=1e-6)
    rr = MaskedScorer(sc, hist_of(hist), target=5, value="rr")(np.ones((1, 3)))[0]
    assert rr == pytest.approx(1.0 / (1 + (s[cand] > s[5]).sum()))


def test_bad_inputs_raise_data_error():
    sc = LinearScorer(5)
    with pytest.raises(DataError):
        MaskedScorer(sc, hist_of([0, 9]), target=1)
    with pytest.raises(DataError):
        MaskedScorer(sc, hist_of([0, 1]), target=7)
    with pytest.raises(DataError):
        MaskedScorer(sc, hist_of([0, 1]), target=2, value="nope")
    with pytest.raises(DataError):
        History("", np.array([0, 1]), np.array([5]))  # the History refuses it


# ---- SHAP ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [6, 24])  # exact explainer, permutation explainer
def test_shap_recovers_known_shapley_values_of_an_additive_margin(n):
    sc = LinearScorer(40, seed=n)
    hist = np.arange(n)
    f = MaskedScorer(sc, hist_of(hist), target=35, value="margin", contrast=36)
    a = explain_shap(f, budget=500, seed=0)
    truth = sc.W[hist, 35] - sc.W[hist, 36]
    np.testing.assert_allclose(a.values, truth, rtol=1e-4, atol=1e-4)
    assert a.params["explainer"].endswith("Exact" if n <= 10 else "Permutation")


@pytest.mark.parametrize("n", [7, 40])
def test_shap_additivity_sums_to_full_minus_empty(demo, markov, n):
    u = int(np.argmax(np.diff(demo.user_offsets)))  # the longest history
    h, ts = demo.sequence(u)
    h, ts = h[-n:], ts[-n:]
    target = int(recommend(markov, h, 1, ts).items[0])
    f = MaskedScorer(markov, History("", h, ts), target)
    a = explain_shap(f, budget=1000, seed=3)
    full, empty = f(np.ones((1, n)))[0], f(np.zeros((1, n)))[0]
    assert a.value == pytest.approx(full, abs=1e-6)
    assert a.base_value == pytest.approx(empty, abs=1e-6)
    assert a.values.sum() == pytest.approx(full - empty, abs=1e-6)


def test_shap_is_seeded_and_leaves_global_rng_alone(demo, markov):
    h, ts = demo.sequence(3)
    target = int(recommend(markov, h, 1, ts).items[0])
    f = MaskedScorer(markov, History("", h, ts), target)
    np.random.seed(123)
    before = np.random.get_state(legacy=False)["state"]["key"].copy()
    a1 = explain_shap(f, budget=300, seed=7)
    assert np.array_equal(np.random.get_state(legacy=False)["state"]["key"], before)
    a2 = explain_shap(f, budget=300, seed=7)
    np.testing.assert_array_equal(a1.values, a2.values)


# ---- LIME --------------------------------------------------------------------------------
def test_lime_repeatable_with_a_seed_and_varies_across_seeds(demo, markov):
    h, ts = demo.sequence(5)
    target = int(recommend(markov, h, 1, ts).items[0])
    f = MaskedScorer(markov, History("", h, ts), target)
    a1 = explain_lime(f, samples=300, seed=11)
    a2 = explain_lime(f, samples=300, seed=11)
    a3 = explain_lime(f, samples=300, seed=12)
    np.testing.assert_array_equal(a1.values, a2.values)
    assert not np.array_equal(a1.values, a3.values)
    n = min(len(h), 50)
    assert a1.n_features == n and np.count_nonzero(a1.values) == n  # every feature weighted


def test_lime_recovers_an_additive_model_and_agrees_with_shap():
    sc = LinearScorer(60, seed=4)
    hist = np.arange(30)
    f = MaskedScorer(sc, hist_of(hist), target=50, value="margin", contrast=51)
    lime_a = explain_lime(f, samples=800, seed=0)
    shap_a = explain_shap(f, budget=1000, seed=0)
    truth = sc.W[hist, 50] - sc.W[hist, 51]
    assert np.corrcoef(lime_a.values, truth)[0, 1] > 0.95
    assert agreement(shap_a, lime_a) > 0.8
    stab = stability([explain_lime(f, samples=500, seed=s) for s in (0, 1, 2)])
    assert 0.6 <= stab <= 1.0


# ---- planted cause, faithfulness, counterfactual ---------------------------------------------
def test_planted_cause_is_the_top_attribution_and_in_the_counterfactual(demo, markov):
    cases = planted_cases(demo, markov, limit=8)
    assert len(cases) >= 4
    for user, h, ts, a, b in cases:
        for method in ("shap", "lime"):
            e = explain_item(demo, markov, h, ts, b, method=method, k=10, user=user, cache=None)
            assert int(e.attribution.top(1)[0]) == a, (user, method)
        assert e.counterfactual is not None and a in e.counterfactual.removed
        assert e.summary is not None and demo.titles[a] in e.summary.sentence


def test_counterfactual_is_verified_by_reranking_and_irreducible(demo, markov):
    checked = 0
    for u in range(0, demo.n_users, 15):
        h, ts = demo.sequence(u)
        for target in recommend(markov, h, 3, ts).items:
            e = explain_item(demo, markov, h, ts, int(target), method="shap", k=5, budget=400, cache=None)
            cf = e.counterfactual
            assert cf is not None and cf.rank_before <= 5
            if not cf.found:
                continue
            keep = np.setdiff1d(np.arange(len(h)), cf.positions)
            assert int(target) in recommend(markov, h, 5, ts).items
            assert int(target) not in recommend(markov, h[keep], 5, ts[keep]).items
            for p in cf.positions:  # putting back any one item brings the target back
                keep1 = np.sort(np.append(keep, p))
                assert int(target) in recommend(markov, h[keep1], 5, ts[keep1]).items
            checked += 1
    assert checked >= 10


def test_shap_deletion_beats_random_on_average(demo, markov):
    gaps = []
    for u in range(0, demo.n_users, 10):
        h, ts = demo.sequence(u)
        target = int(recommend(markov, h, 1, ts).items[0])
        e = explain_item(demo, markov, h, ts, target, method="shap", budget=500, cache=None)
        fa = e.faithfulness
        assert fa is not None
        for auc in (fa.deletion_auc, fa.insertion_auc, fa.random_deletion_auc, fa.random_insertion_auc):
            assert 0.0 <= auc <= 1.0
        assert fa.deletion_curve[0] == pytest.approx(fa.random_deletion_curve[0])
        gaps.append(fa.random_deletion_auc - fa.deletion_auc)
    assert np.mean(gaps) > 0.05
    assert np.mean(np.array(gaps) > 0) >= 0.8


# ---- why-not, summary, long histories, provenance, cache --------------------------------------
def test_why_not_attributes_the_score_difference(demo, markov):
    h, ts = demo.sequence(7)
    top = recommend(markov, h, 20, ts).items
    e = explain_item(demo, markov, h, ts, int(top[0]), why_not=int(top[-1]), cache=None)
    wn = e.why_not
    assert wn is not None
    s_full = markov.score([h], [ts])[0]
    s_empty = markov.score([h[:0]], [ts[:0]])[0]
    assert wn.value_kind == "margin"
    assert wn.value == pytest.approx(s_full[top[0]] - s_full[top[-1]], abs=1e-4)
    assert wn.values.sum() == pytest.approx(wn.value - (s_empty[top[0]] - s_empty[top[-1]]), abs=1e-4)


def test_summary_groups_add_up(demo, markov):
    h, ts = demo.sequence(11)
    target = int(recommend(markov, h, 1, ts).items[0])
    e = explain_item(demo, markov, h, ts, target, cache=None)
    total, summary = e.attribution.values.sum(), e.summary
    assert summary is not None
    assert sum(w for _, w in summary.by_category) == pytest.approx(total, abs=1e-6)
    assert sum(w["weight"] for w in summary.by_window) == pytest.approx(total, abs=1e-6)
    assert sum(w["n"] for w in summary.by_window) == e.attribution.n_features == min(len(h), 50)
    assert summary.sentence.startswith(("Recommended mainly because of", "No item"))


def test_long_history_keeps_older_items_as_context(demo, markov):
    u = int(np.argmax(np.diff(demo.user_offsets)))
    h, ts = demo.sequence(u)
    assert len(h) > 50
    e = explain_item(demo, markov, h, ts, int(recommend(markov, h, 1, ts).items[0]), budget=400, cache=None)
    assert e.attribution.n_features == 50 and e.n_context == len(h) - 50
    assert list(e.attribution.positions) == list(range(len(h) - 50, len(h)))
    assert "older items are kept as fixed context" in e.note
    assert e.provenance["n_context"] == len(h) - 50


def test_provenance_and_cache(demo, markov):
    cache = LRUCache(maxsize=2)
    hist = demo.history(demo.user_ids[2])
    target = int(recommend(markov, hist.items, 1, hist.timestamps).items[0])
    e1 = explain_item(demo, markov, hist, target, method="lime", seed=4, cache=cache)
    p = e1.provenance
    assert p["method"] == "lime" and p["seed"] == 4 and p["budget"] == 500
    assert p["data_fingerprint"] == demo.fingerprint and p["model"] == "markov"
    assert p["elapsed_ms"] > 0 and p["cache_hit"] is False
    e2 = explain_item(demo, markov, hist, target, method="lime", seed=4, cache=cache)
    assert e2.provenance["cache_hit"] is True and e2.attribution is e1.attribution
    e3 = explain_item(demo, markov, hist, target, method="lime", seed=5, cache=cache)
    assert e3.provenance["cache_hit"] is False
    explain_item(demo, markov, hist, target, method="shap", cache=cache)
    assert len(cache) == 2  # bounded: the oldest entry was evicted
    assert p["model_fingerprint"] == model_key(markov) and p["model_fingerprint"].startswith("unsaved:markov@")


def test_explain_item_takes_a_history_or_items_and_timestamps(demo, markov):
    hist = demo.history(demo.user_ids[4])
    target = int(recommend(markov, hist.items, 1, hist.timestamps).items[0])
    cache = LRUCache()
    e1 = explain_item(demo, markov, hist, target, method="lime", cache=cache)
    assert e1.user == hist.user  # the History names the user
    e2 = explain_item(demo, markov, hist.items, hist.timestamps, target, method="lime", user="x", cache=cache)
    assert e2.provenance["cache_hit"] is True and e2.user == "x"  # one cache key for both forms
    with pytest.raises(TypeError, match="History"):
        explain_item(demo, markov, hist, hist.timestamps, target)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="items, timestamps, target"):
        explain_item(demo, markov, hist.items, target)  # type: ignore[call-overload]


def test_compare_methods(demo, markov):
    hist = demo.history(demo.user_ids[9])
    target = int(recommend(markov, hist.items, 1, hist.timestamps).items[0])
    c = compare_methods(demo, markov, hist, target, cache=LRUCache())
    assert c.shap.method == "shap" and c.lime.method == "lime"
    assert c.shap.user == c.lime.user == hist.user
    assert -1.0 <= c.agreement <= 1.0 and 0.0 <= c.stability <= 1.0
    assert c.stability_seeds == (0, 1, 2)
    c2 = compare_methods(demo, markov, hist.items, hist.timestamps, target, cache=LRUCache())
    np.testing.assert_array_equal(c2.lime.attribution.values, c.lime.attribution.values)


def test_explain_item_rejects_bad_requests(demo, markov):
    hist = demo.history(demo.user_ids[0])
    with pytest.raises(DataError, match="method"):
        explain_item(demo, markov, hist, 1, method="anchor")
    with pytest.raises(DataError, match="outside"):
        explain_item(demo, markov, hist, demo.n_items + 3)
    with pytest.raises(DataError, match="empty history"):
        explain_item(demo, markov, History("", hist.items[:0], None), 1)
    with pytest.raises(DataError, match="timestamps"):
        explain_item(demo, markov, hist.items, hist.timestamps[:-1], 1)


def test_concurrent_shap_runs_stay_reproducible():
    """shap draws permutations from numpy's global generator; runs from several
    threads (several app sessions) must not disturb each other."""
    from concurrent.futures import ThreadPoolExecutor

    sc = LinearScorer(80, seed=9)
    f = MaskedScorer(sc, hist_of(np.arange(30)), target=70)  # logprob: not additive, so permutations matter
    ref = explain_shap(f, budget=305, seed=1).values
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda s: explain_shap(f, budget=305, seed=s).values, [1, 2, 1, 2, 1, 2]))
    for r in runs[0::2]:
        np.testing.assert_array_equal(r, ref)
    assert not np.array_equal(runs[0], runs[1])


def test_summary_sentence_names_the_dominant_drivers(demo):
    from explain.explanation import Attribution
    from explain.summary import drivers, sentence

    def attr(values):
        n = len(values)
        return Attribution(method="shap", target=0, value_kind="logprob", features=np.arange(1, n + 1),
                           positions=np.arange(n), timestamps=None, values=np.asarray(values, dtype=float),
                           value=0.0, base_value=0.0)

    one = attr([0.1, 0.26, 0.29, 1.0])  # one dominant item
    assert list(drivers(one)) == [3]
    s = sentence(demo, one, history_len=4)
    assert s.startswith("Recommended mainly because of 1 recent ") and demo.titles[4] in s
    two = attr([0.05, 0.4, 0.45, 0.5])  # two items reach 60% of the positive evidence
    assert list(drivers(two)) == [3, 2]
    assert "2 " in sentence(demo, two, history_len=40) and "recent" not in sentence(demo, two, history_len=40)
    assert sentence(demo, attr([-0.2, -0.1]), history_len=2).startswith("No item")


class WindowedLinearScorer(LinearScorer):
    """A LinearScorer that reads only the most recent ``context_length`` history items."""

    context_length = 4

    def score(self, histories, timestamps=None):
        return super().score([np.asarray(h)[-self.context_length:] for h in histories])


def test_explained_features_stop_at_the_models_window():
    s = WindowedLinearScorer(30, seed=2)
    hist = np.arange(10)
    f = MaskedScorer(s, hist_of(hist), 20, max_features=50)
    assert f.n_features == 4 and f.n_context == 6
    assert "the model reads the most recent 4" in f.note()
    # a scorer without a window explains everything it is asked to
    g = MaskedScorer(LinearScorer(30, seed=2), hist_of(hist), 20, max_features=50)
    assert g.n_features == 10 and g.n_context == 0
