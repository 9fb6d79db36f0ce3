"""Known answers for the baselines on a tiny matrix, and their use as Scorers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data.types import DataError
from recsys.evaluation import EASE, ItemKNN, MostPopular, TextSimilarity, evaluate_scorer, leave_one_out
from recsys.models.base import Scorer, recommend
from tests.test_evaluation import tiny_dataset

# users x items:  u0 = {0, 1}, u1 = {0, 2}, u2 = {0, 1, 2}
X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=np.float32))


def test_most_popular_counts_users():
    m = MostPopular().fit(X)
    assert m.score([np.array([1]), np.array([], dtype=int)]).tolist() == [[3, 2, 2], [3, 2, 2]]
    assert isinstance(m, Scorer)


def test_ease_known_answer():
    # G + I = [[4,2,2],[2,3,1],[2,1,3]] -> P = [[.5,-.25,-.25],[-.25,.5,0],[-.25,0,.5]]
    # B_ij = -P_ij / P_jj -> [[0,.5,.5],[.5,0,0],[.5,0,0]]
    m = EASE(lam=1.0).fit(X)
    np.testing.assert_allclose(m.weights, [[0, 0.5, 0.5], [0.5, 0, 0], [0.5, 0, 0]], atol=1e-6)
    s = m.score([np.array([1]), np.array([0]), np.array([1, 2, 1])])
    np.testing.assert_allclose(s, [[0.5, 0, 0], [0, 0.5, 0.5], [1.0, 0, 0]], atol=1e-6)
    assert s.dtype == np.float32


def test_itemknn_known_answer():
    c = 2 / math.sqrt(6)  # cos(item0, item1) = cos(item0, item2); cos(item1, item2) = 1/2
    full = ItemKNN(k=2).fit(X)
    np.testing.assert_allclose(full.similarity.toarray(), [[0, c, c], [c, 0, 0.5], [c, 0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(full.score([np.array([1])]), [[c, 0, 0.5]], atol=1e-6)
    # k = 1: item0 keeps item1 (tie with item2 -> smaller index), items 1 and 2 keep item0
    one = ItemKNN(k=1, neighbourhood="history").fit(X)
    np.testing.assert_allclose(one.similarity.toarray(), [[0, c, 0], [c, 0, 0], [c, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(one.score([np.array([1, 2]), np.array([0])]), [[2 * c, 0, 0], [0, c, 0]], atol=1e-6)
    # candidate neighbourhood (default): candidate j sums only over its own k neighbours
    cand = ItemKNN(k=1).fit(X)
    np.testing.assert_allclose(cand.score([np.array([1, 2]), np.array([0])]), [[c, 0, 0], [0, c, c]], atol=1e-6)


def _brute_force_neighbours(x: np.ndarray, k: int) -> sp.csr_matrix:
    """Reference: every cosine from the dense product, row i sorted by (-value, index),
    the first k positive ones kept."""
    co = x.T @ x
    norm = np.sqrt(np.diag(co))
    inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    s = co * inv[:, None] * inv[None, :]
    np.fill_diagonal(s, 0.0)
    out = np.zeros_like(s)
    for i in range(s.shape[0]):
        order = sorted((j for j in range(s.shape[1]) if s[i, j] > 0), key=lambda j: (-s[i, j], j))[:k]
        out[i, order] = s[i, order]
    return sp.csr_matrix(out.astype(np.float32))


def _tied_world(seed: int = 0) -> np.ndarray:
    """80 items, 120 users; items 0..3 duplicate 4..7 (tied cosines everywhere), and
    item 8 co-occurs once with each of items 9..38, which have one user each (a 30-way tie)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((120, 80)) < 0.06).astype(np.float64)
    x[:, 4:8] = x[:, 0:4]
    x[:, 8:39] = 0.0
    x[:30] = 0.0  # users 0..29 hold item 8 and one of items 9..38 each, nothing else
    x[np.arange(30), 8] = 1.0
    x[np.arange(30), 9 + np.arange(30)] = 1.0
    return x


@pytest.mark.parametrize("k", [1, 2, 5, 15, 60])
def test_itemknn_keeps_the_brute_force_neighbours(k, monkeypatch):
    import recsys.evaluation.neighbours as nb

    calls, exact = [], []
    real, real_exact = nb._library_candidates, nb._exact_rows
    monkeypatch.setattr(nb, "_library_candidates", lambda *a: calls.append(a[2]) or real(*a))
    monkeypatch.setattr(nb, "_exact_rows", lambda x, rows, *a: exact.extend(rows.tolist()) or real_exact(x, rows, *a))
    x = _tied_world()
    got = ItemKNN(k=k).fit(sp.csr_matrix(x)).similarity
    want = _brute_force_neighbours(x, k)
    assert (got != want).nnz == 0  # same neighbours, same values
    assert calls == ([2 * k + 1] if 2 * (2 * k + 1) <= 80 else [])  # the library searched (small k)
    if calls:  # item 8's 30-way tie is longer than the library's list: recomputed exactly
        assert 8 in exact
    if k == 2:  # ... and goes to the smallest indices
        assert got[8].indices.tolist() == [9, 10]


def test_bad_parameters_and_unfitted():
    with pytest.raises(DataError):
        EASE(lam=0)
    with pytest.raises(DataError):
        ItemKNN(k=0)
    with pytest.raises(DataError):
        ItemKNN(neighbourhood="users")
    with pytest.raises(RuntimeError):
        EASE().score([np.array([0])])
    with pytest.raises(DataError):
        EASE(lam=1.0).fit(X).score([np.array([5])])


def test_fit_from_split_uses_stage_inputs_only():
    ds = tiny_dataset()
    split = leave_one_out(ds)
    mp_valid = MostPopular().fit(split, "valid")
    mp_test = MostPopular().fit(split, "test")
    assert mp_valid.popularity.sum() == ds.n_interactions - 2 * split.n_eval
    assert mp_test.popularity.sum() == ds.n_interactions - split.n_eval
    for model in (MostPopular(), ItemKNN(k=3), EASE(lam=10.0)):
        res = evaluate_scorer(model.fit(split, "test"), ds, split, "test")
        assert 0.0 <= res["ndcg@10"] <= 1.0 and res["users"] == split.n_eval
        rec = recommend(model, split.train[0], k=3)
        assert not set(rec.items.tolist()) & set(split.train[0].tolist())


@pytest.mark.parametrize(
    ("tie_order", "ease_ndcg", "ease_hr", "pop_hr", "knn_ndcg"),
    [
        # the team's reference figures were measured with same-second ties in item-id order
        # (the test item was the largest id of its burst); --tie-order id reproduces them
        ("id", 0.0417, 0.0912, 0.0498, 0.0281),
        # the default tie key (no signal) holds out a different item for the 44% of users
        # whose test item is tied: every baseline scores higher (measured, not a reference)
        ("hash", 0.0758, 0.1495, 0.0817, 0.0668),
    ],
)
def test_ml100k_baselines_match_team_reference(ml100k_path, tie_order, ease_ndcg, ease_hr, pop_hr, knn_ndcg):
    """The protocol reproduces the team's reference figures on real data (quality, not speed)."""
    from recsys.data import load

    ds = load(str(ml100k_path), tie_order=tie_order)
    split = leave_one_out(ds)
    assert split.n_eval == 943
    ease = evaluate_scorer(EASE(lam=100.0).fit(split, "test"), ds, split, "test", groups=False)
    assert ease["ndcg@10"] == pytest.approx(ease_ndcg, abs=0.001)
    assert ease["hr@10"] == pytest.approx(ease_hr, abs=0.002)
    pop = evaluate_scorer(MostPopular().fit(split, "test"), ds, split, "test", groups=False)
    assert pop["hr@10"] == pytest.approx(pop_hr, abs=0.002)
    # plain (untruncated) cosine ItemKNN is the team's ItemKNN figure
    knn = evaluate_scorer(ItemKNN(k=ds.n_items).fit(split, "test"), ds, split, "test", groups=False)
    assert knn["ndcg@10"] == pytest.approx(knn_ndcg, abs=0.001)


def test_text_similarity_known_answer():
    emb = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # rows are normalised by fit
    m = TextSimilarity(window=2).fit(emb)
    r = 1 / math.sqrt(2)
    s = m.score([np.array([0]), np.array([0, 1]), np.array([2, 0, 1]), np.array([], dtype=int)])
    np.testing.assert_allclose(s[0], [1, 0, r], atol=1e-6)
    np.testing.assert_allclose(s[1], [r, r, 1], atol=1e-6)  # profile = mean of both, renormalised
    np.testing.assert_allclose(s[2], [r, r, 1], atol=1e-6)  # window 2: only the last two items
    np.testing.assert_allclose(s[3], [0, 0, 0], atol=1e-6)  # no history: no preference
    assert isinstance(m, Scorer)


def test_text_similarity_rejects_bad_input():
    with pytest.raises(DataError):
        TextSimilarity(window=0)
    with pytest.raises(DataError):
        TextSimilarity().fit(np.zeros(3))
    with pytest.raises(RuntimeError):
        TextSimilarity().score([np.array([0])])
