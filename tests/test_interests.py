"""Interest timeline (recsys.interests): windows, change points, predictions, replay, topics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.types import DataError, Dataset, build_dataset
from recsys.interests import (
    category_assignment,
    detect_change_points,
    history_as_of,
    js_divergence,
    population_drift,
    replay,
    topic_assignment,
    user_timeline,
)
from recsys.interests.prediction import prefix_steps
from recsys.interests.windows import MIN_PER_WINDOW, calendar_edges, count_bounds

CATS = ("Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta")
PER_CAT = 60
DAY = 86400
T0 = 1_600_000_000


def _items() -> pd.DataFrame:
    rows = []
    for c, cat in enumerate(CATS):
        for j in range(PER_CAT):
            cats = [cat] if j % 10 else [cat, CATS[(c + 1) % len(CATS)]]  # some multi-category items
            rows.append({"item_id": f"i{c * PER_CAT + j}", "title": f"{cat} book {j}", "categories": cats})
    return pd.DataFrame(rows)


def _pick(rng: np.random.Generator, cats: tuple[int, ...], n: int, used: set[int]) -> list[int]:
    out = []
    while len(out) < n:
        c = int(rng.choice(cats))
        i = c * PER_CAT + int(rng.integers(PER_CAT))
        if i not in used:
            used.add(i)
            out.append(i)
    return out


def make_world(n_users: int = 12, n: int = 60, seed: int = 0) -> tuple[Dataset, dict[str, int | None]]:
    """Even users keep one taste ({0,1}); odd users switch from {0,1} to {2,3} halfway.

    Returns the dataset and {user id: switch timestamp or None}.
    """
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for u in range(n_users):
        used: set[int] = set()
        switch = u % 2 == 1
        half = n // 2
        items = _pick(rng, (0, 1), half, used) + _pick(rng, (2, 3) if switch else (0, 1), n - half, used)
        ts = T0 + np.sort(rng.integers(0, 200 * DAY, size=n))
        truth[f"u{u}"] = int(ts[half]) if switch else None
        rows += [{"user_id": f"u{u}", "item_id": f"i{i}", "timestamp": int(t)} for i, t in zip(items, ts)]
    return build_dataset("test", pd.DataFrame(rows), _items()), truth


@pytest.fixture(scope="module")
def world() -> tuple[Dataset, dict[str, int | None]]:
    return make_world()


class ToyScorer:
    """A Scorer that prefers items of the category of the last history item, recording inputs."""

    name = "toy"

    def __init__(self, ds: Dataset):
        self.n_items = ds.n_items
        self.cm = np.asarray(ds.category_matrix, dtype=np.float32)
        self.calls: list[tuple[list[np.ndarray], list[np.ndarray] | None]] = []

    def score(self, histories, timestamps=None):
        self.calls.append(([np.asarray(h) for h in histories], None if timestamps is None else list(timestamps)))
        out = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for b, h in enumerate(histories):
            if len(h):
                out[b] = 3.0 * (self.cm @ self.cm[int(h[-1])])
        return out


# ---- observed windows ------------------------------------------------------------------------
def test_shares_sum_to_one_and_windows_chronological(world):
    ds, _ = world
    for mode in ("auto", "time", "count"):
        for uid in ("u0", "u1"):
            tl = user_timeline(ds, uid, windowing=mode)
            assert tl.windows, mode
            for w in tl.windows:
                assert sum(w.shares.values()) == pytest.approx(1.0, abs=1e-9)
                assert set(w.shares) == set(tl.categories)
                assert all(v >= 0 for v in w.shares.values())
                assert w.start < w.end and w.n > 0
            starts = [w.start for w in tl.windows]
            assert starts == sorted(starts)
            assert sum(w.n for w in tl.windows) == tl.n_interactions == 60
            assert 1 <= len(tl.windows) <= 12


def test_multi_category_items_split_their_weight():
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "categories": [["X", "Y"], ["X"]]})
    inter = pd.DataFrame({"user_id": ["u"] * 2, "item_id": ["a", "b"], "timestamp": [T0, T0 + 10]})
    ds = build_dataset("t", inter, items)
    tl = user_timeline(ds, "u", windowing="count", smooth=0.0)
    assert tl.windows[0].shares == {"X": 0.75, "Y": 0.25}


def test_items_without_category_go_to_other():
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "categories": [["X"], []]})
    inter = pd.DataFrame({"user_id": ["u"] * 2, "item_id": ["a", "b"], "timestamp": [T0, T0 + 10]})
    ds = build_dataset("t", inter, items)
    asg = category_assignment(ds)
    assert asg.categories == ("X", "other")
    np.testing.assert_allclose(asg.category_matrix.sum(1), 1.0)
    tl = user_timeline(ds, "u", windowing="count", smooth=0.0)
    assert tl.windows[0].shares == {"X": 0.5, "other": 0.5}


def test_calendar_windows_are_readable_units():
    t0 = 1_700_000_000
    unit, edges = calendar_edges(t0, t0 + 30 * DAY)
    assert unit == "week" and len(edges) - 1 <= 12
    assert edges[0] <= t0 and edges[-1] > t0 + 30 * DAY
    assert (edges[0] - 4 * DAY) % (7 * DAY) == 0  # weeks start on Monday
    unit, edges = calendar_edges(t0, t0 + 300 * DAY)
    assert unit == "month"
    import datetime as dt

    assert all(dt.datetime.fromtimestamp(int(e), dt.timezone.utc).day == 1 for e in edges)
    b = count_bounds(23)
    assert b[0] == 0 and b[-1] == 23 and np.all(np.diff(b) >= MIN_PER_WINDOW)


def test_smoothing_does_not_cross_a_change_point(world):
    ds, truth = world
    tl = user_timeline(ds, "u1", windowing="count", smooth=1.0)
    assert len(tl.change_points) == 1
    cp = tl.change_points[0]
    for w in tl.windows:
        after = w.start >= cp
        new = w.shares["Gamma"] + w.shares["Delta"]
        if w.end <= cp:
            assert new < 0.2  # only multi-category spill-over, no smoothing from after the switch
        elif after:
            assert new > 0.8


# ---- change points ---------------------------------------------------------------------------
def test_constant_taste_gets_no_change_point(world):
    ds, truth = world
    for uid, t in truth.items():
        if t is None:
            assert user_timeline(ds, uid).change_points == (), uid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constant_taste_no_change_point_various_lengths(seed):
    rng = np.random.default_rng(seed)
    for n in (10, 40, 150):
        x = np.eye(6)[rng.choice(6, size=n, p=[0.4, 0.3, 0.1, 0.1, 0.05, 0.05])]
        ts = T0 + np.arange(n) * 3600
        assert detect_change_points(x, ts, seed=seed) == []


def test_planted_switch_found(world):
    ds, truth = world
    for uid, t in truth.items():
        if t is None:
            continue
        tl = user_timeline(ds, uid)
        _, ts = ds.sequence(ds.user_index(uid))
        span = int(ts[-1] - ts[0])
        assert len(tl.change_points) == 1, uid
        assert abs(tl.change_points[0] - t) <= 0.05 * span, uid
        d = tl.change_point_details[0]
        assert d.js > 0.5 and d.p_value <= 0.01
        first = max(tl.windows[0].shares, key=tl.windows[0].shares.get)
        last = max(tl.windows[-1].shares, key=tl.windows[-1].shares.get)
        assert first in ("Alpha", "Beta") and last in ("Gamma", "Delta")


def test_two_switches_give_two_change_points_not_a_dozen():
    x = np.eye(4)[[0] * 40 + [1] * 40 + [2] * 40]
    rng = np.random.default_rng(0)
    x = np.where(rng.random((120, 1)) < 0.15, np.eye(4)[rng.integers(0, 4, 120)], x)  # 15% noise
    ts = T0 + np.arange(120) * DAY
    cps = detect_change_points(x, ts)
    assert [c.index for c in cps] == pytest.approx([40, 80], abs=4)


def test_change_points_deterministic_given_seed(world):
    ds, _ = world
    a = user_timeline(ds, "u3", seed=5)
    b = user_timeline(ds, "u3", seed=5)
    assert a.change_points == b.change_points and a.windows == b.windows


def test_js_divergence_bounds():
    assert js_divergence([1, 0], [1, 0]) == pytest.approx(0.0)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert 0 < js_divergence([0.6, 0.4], [0.4, 0.6]) < 0.1


# ---- predicted interest and replay ----------------------------------------------------------
def test_predicted_interest_and_forecast(world):
    ds, _ = world
    sc = ToyScorer(ds)
    tl = user_timeline(ds, "u1", scorer=sc, max_steps=16)
    assert len(tl.predicted) == 16 and len(sc.calls) == 1  # one batched call
    assert [p.ts for p in tl.predicted] == sorted(p.ts for p in tl.predicted)
    for p in tl.predicted:
        assert sum(p.shares.values()) == pytest.approx(1.0, abs=1e-9)
    assert tl.forecast == tl.predicted[-1].shares
    # the toy model follows the last item's category: early on the old taste, at the end the new
    early, late = tl.predicted[0].shares, tl.forecast
    assert early["Alpha"] + early["Beta"] > 0.5
    assert late["Gamma"] + late["Delta"] > 0.5
    assert user_timeline(ds, "u1").predicted == () and user_timeline(ds, "u1").forecast == {}


def test_prefix_steps_subsample_and_end_with_full_history():
    assert list(prefix_steps(5, 10)) == [1, 2, 3, 4, 5]
    s = prefix_steps(500, 32)
    assert len(s) <= 32 and s[0] == 1 and s[-1] == 500


def test_replay_never_uses_interactions_after_t(world):
    ds, _ = world
    u = ds.user_index("u1")
    items, ts = ds.sequence(u)
    t = int(ts[20])  # keep 21 interactions (timestamps are distinct in this world)
    sc = ToyScorer(ds)
    rec = replay(sc, ds, "u1", t, k=5)
    hist, hts = sc.calls[-1][0][0], sc.calls[-1][1][0]
    assert (np.asarray(hts) <= t).all()
    np.testing.assert_array_equal(hist, items[ts <= t])
    assert not set(rec.items.tolist()) & set(items[ts <= t].tolist())
    tl = user_timeline(ds, "u1", scorer=sc, as_of=t)
    assert tl.n_interactions == int((ts <= t).sum()) and tl.as_of == t
    assert all(w.start <= t for w in tl.windows) and all(p.ts <= t for p in tl.predicted)
    for hist_list, ts_list in sc.calls[1:]:
        for h, hts in zip(hist_list, ts_list):
            assert len(h) <= 21 and (np.asarray(hts) <= t).all()
    # a later interaction changes the full timeline but not the one as of t
    assert user_timeline(ds, "u1").n_interactions == 60
    items2, ts2 = history_as_of(items, ts, t)
    assert (ts2 <= t).all() and len(items2) == 21


def test_edited_history_and_bad_input(world):
    ds, _ = world
    items, _ = ds.sequence(0)
    tl = user_timeline(ds, 0, history=items[:10])
    assert tl.n_interactions == 10 and tl.user == ds.user_ids[0]
    with pytest.raises(DataError):
        user_timeline(ds, "nobody")
    with pytest.raises(DataError):
        user_timeline(ds, 10_000)
    with pytest.raises(DataError):
        user_timeline(ds, 0, history=np.array([ds.n_items + 5]))
    with pytest.raises(DataError):
        user_timeline(ds, 0, windowing="weekly")


def test_timeline_json_form(world):
    ds, _ = world
    j = user_timeline(ds, "u1").to_json()
    assert set(j) >= {"user", "windows", "change_points", "predicted", "forecast"}
    assert j["user"] == "u1" and j["predicted"] == [] and j["forecast"] == {}
    assert set(j["windows"][0]) == {"start", "end", "n", "shares"}
    assert all(isinstance(t, int) for t in j["change_points"])


# ---- population ----------------------------------------------------------------------------
def test_population_drift_finds_the_switchers():
    ds, truth = make_world(n_users=16, n=50, seed=3)
    # recent = the second half of each user's history: exactly where the switch is planted
    pdr = population_drift(ds, recent=0.5)
    assert pdr.n_assessed == 16
    drifted = {ds.user_ids[int(u)] for u, d in zip(pdr.users, pdr.drifted) if d}
    assert drifted == {u for u, t in truth.items() if t is not None}
    assert pdr.share_drifted == pytest.approx(0.5)
    for s in pdr.shifts:
        assert s.delta == pytest.approx(s.after - s.before, abs=1e-5)
    j = pdr.to_json(ds)
    assert j["n_drifted"] == 8 and j["top_drifters"][0]["drifted"]


def test_population_category_shifts_follow_time():
    # everyone reads Alpha in the first 80% of the span and Gamma in the last 20%
    rows = []
    for u in range(5):
        for k in range(20):
            cat = 0 if k < 16 else 2
            rows.append({"user_id": f"u{u}", "item_id": f"i{cat * PER_CAT + u * 20 + k}",
                         "timestamp": T0 + k * DAY + u})
    ds = build_dataset("t", pd.DataFrame(rows), _items())
    pdr = population_drift(ds, recent=0.2)
    assert pdr.gaining[0].category == "Gamma" and pdr.losing[0].category == "Alpha"
    with pytest.raises(DataError):
        population_drift(ds, recent=1.5)


# ---- topics -------------------------------------------------------------------------------------
def test_topics_for_a_dataset_without_categories():
    words = (("space", "rocket", "planet"), ("bread", "oven", "flour"), ("castle", "knight", "sword"))
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 16))
    rows, emb = [], []
    for t, ws in enumerate(words):
        for j in range(10):
            rows.append({"item_id": f"i{t * 10 + j}", "title": f"The {ws[j % 3]} {ws[(j + 1) % 3]}",
                         "text": f"a story about the {ws[0]} and the {ws[1]}"})
            emb.append(centers[t] + 0.05 * rng.normal(size=16))
    items = pd.DataFrame(rows)
    inter = pd.DataFrame({"user_id": ["u"] * 30, "item_id": [f"i{k}" for k in range(30)],
                          "timestamp": T0 + np.arange(30) * DAY})
    ds = build_dataset("t", inter, items)
    assert ds.categories == ()
    order = [ds.item_index(f"i{k}") for k in range(30)]
    emb = np.asarray(emb, dtype=np.float32)[np.argsort(order)]  # rows by item index
    asg = topic_assignment(ds, embeddings=emb, n_topics=3, seed=0)
    assert asg.source == "topics" and len(asg.categories) == 3
    np.testing.assert_allclose(asg.category_matrix.sum(1), 1.0)
    labels = asg.category_matrix.argmax(1)
    for t, ws in enumerate(words):
        group = labels[order[t * 10 : (t + 1) * 10]]
        assert len(set(group.tolist())) == 1  # each planted cluster is one topic
        name = asg.categories[int(group[0])]
        assert any(w in name for w in ws), name
    assert category_assignment(ds, embeddings=emb, n_topics=3).categories == asg.categories
    tl = user_timeline(ds, "u", assignment=asg)
    assert set(tl.windows[0].shares) == set(asg.categories)
    assert tl.change_points  # the user walks through the three topics in order
    with pytest.raises(DataError):
        topic_assignment(ds, embeddings=emb[:5])


def test_kmeans_known_answers():
    from recsys.interests.categories import kmeans

    x = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0], [9.0, 0.2]])
    labels = kmeans(x, 3, seed=0)
    groups = {tuple(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)}
    assert groups == {(0, 1, 2), (3, 4), (5, 6)}
    np.testing.assert_array_equal(kmeans(x, 3, seed=0), labels)  # deterministic given the seed
    # more clusters asked than distinct rows: capped; a single distinct row is one cluster
    dup = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    assert sorted(np.unique(kmeans(dup, 5)).tolist()) == [0, 1]
    assert kmeans(np.ones((4, 2)), 3).tolist() == [0, 0, 0, 0]


def test_anonymous_edited_profile(world):
    ds, _ = world
    items, _ = ds.sequence(ds.user_index("u1"))
    tl = user_timeline(ds, None, history=items[:30])
    assert tl.user == "" and tl.n_interactions == 30
    assert tl.last_ts == int(ds.timestamp.max())  # synthetic times end at the log's last one
    rec = replay(ToyScorer(ds), ds, "", None, k=3, history=items[:30])
    assert rec.user == "" and len(rec.items) == 3
    with pytest.raises(DataError):
        user_timeline(ds, None)


def test_strict_alpha_is_reachable():
    """A stricter level gets enough permutations for its p-value to be attainable."""
    x = np.eye(3)[[0] * 30 + [1] * 30]
    ts = T0 + np.arange(60) * DAY
    cps = detect_change_points(x, ts, alpha=0.002)
    assert [c.index for c in cps] == [30] and cps[0].p_value <= 0.002
    with pytest.raises(ValueError):
        detect_change_points(x, ts, alpha=0.0)
