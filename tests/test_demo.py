"""The demo world: determinism, shape, readable catalogue, planted ground truth."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.data import demo
from recsys.data.types import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    return demo.generate_small(0)


@pytest.fixture(scope="module")
def full():
    return demo.generate(0)


def _seqs(ds):
    return [ds.sequence(u) for u in range(ds.n_users)]


# ---- determinism and sizes -----------------------------------------------------------


def test_same_seed_same_world_different_seed_different(small):
    again = demo.generate_small(0)
    assert again.fingerprint == small.fingerprint
    assert again.truth.change_points == small.truth.change_points
    assert again.truth.followups == small.truth.followups
    assert again.truth.featured == small.truth.featured
    other = demo.generate_small(1)
    assert other.fingerprint != small.fingerprint
    assert other.truth.followups != small.truth.followups


def test_deterministic_across_processes(small):
    """No dependence on Python's per-process string hashing (set/dict order)."""
    code = "from recsys.data import demo; print(demo.generate_small(0).fingerprint)"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == small.fingerprint


def test_load_dispatches_to_the_demo_world(small):
    from recsys.data import load

    ds = load("demo-small")
    assert ds.fingerprint == small.fingerprint and ds.truth is not None


def test_sizes_and_sources(small, full):
    assert (small.n_users, small.n_items, small.source) == (150, 400, "demo-small")
    assert (full.n_users, full.n_items, full.source) == (600, 1500, "demo")
    assert 20_000 <= full.n_interactions <= 60_000
    assert 2_000 <= small.n_interactions <= 10_000
    assert full.rating is None


def test_timestamps_realistic(full):
    ts = full.timestamp
    assert ts.min() >= demo.WORLD_START and ts.max() <= demo.WORLD_START + demo.WORLD_SECONDS
    spans = []
    for items, t in _seqs(full):
        assert np.all(np.diff(t) > 0), "per-user timestamps strictly increase (no ties)"
        assert len(np.unique(items)) == len(items), "no repeated items per user"
        spans.append((t[-1] - t[0]) / 86_400)
        gaps = np.diff(t)
        # sessions: many gaps of minutes, some of days
        assert (gaps < 3600).any() or len(gaps) < 6
    assert 90 <= np.median(spans) <= 600


def test_bad_arguments_raise_dataerror():
    with pytest.raises(DataError):
        demo.generate(0, n_users=3)
    with pytest.raises(DataError):
        demo.generate(0, n_users=50, n_items=200, n_followups=100)
    with pytest.raises(DataError):
        demo.generate(0, n_users=50, n_items=200, followup_prob=1.5)
    with pytest.raises(DataError):
        demo.generate(0, n_users=50, n_items=200, pending_fraction=-0.1)


# ---- catalogue ------------------------------------------------------------------------


def test_categories(small, full):
    for ds in (small, full):
        assert len(ds.categories) == 15
        assert set(ds.categories) == set(ds.truth.categories)
        assert all(1 <= len(c) <= 2 and len(set(c)) == len(c) for c in ds.item_categories)
        counts = ds.category_matrix.sum(axis=0)
        assert counts.min() > 0.02 * ds.n_items / 15  # every shelf stocked


def test_titles_unique_and_readable(full):
    assert len(set(full.titles)) == full.n_items
    pat = re.compile(r"^[A-Z][^\W_]*( [^\W_]+|[',:?&]| -)*$")
    for t in full.titles:
        assert pat.match(t), t
        assert 2 <= len(t.split()) <= 9, t
    for text in full.item_text:
        assert text.endswith(".") and text[0].isupper() and 8 <= len(text.split()) <= 45, text


def test_descriptions_identify_the_category(full):
    """A bag-of-words nearest-centroid classifier, fitted on 1,000 books, recovers the
    primary category of the other 500 from the description alone."""
    tokens = [re.findall(r"[a-z]+", t.lower()) for t in full.item_text]
    vocab = {w: k for k, w in enumerate(sorted({w for ts in tokens for w in ts}))}
    x = np.zeros((full.n_items, len(vocab)))
    for i, ts in enumerate(tokens):
        for w in ts:
            x[i, vocab[w]] = 1.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cats = sorted(set(c[0] for c in full.item_categories))
    y = np.array([cats.index(c[0]) for c in full.item_categories])
    idx = np.random.default_rng(0).permutation(full.n_items)
    tr, te = idx[:1000], idx[1000:]
    centroids = np.stack([x[tr][y[tr] == c].mean(axis=0) for c in range(len(cats))])
    acc = ((x[te] @ centroids.T).argmax(axis=1) == y[te]).mean()
    assert acc > 0.9


def test_long_tail_popularity(small, full):
    for ds, bar in ((full, 0.5), (small, 0.4)):
        pop = np.sort(ds.item_popularity)[::-1]
        assert pop[: ds.n_items // 5].sum() / pop.sum() > bar
        assert pop[0] > 5 * np.median(pop)


# ---- users ----------------------------------------------------------------------------


def test_user_attributes_and_segment_activity(small, full):
    for ds in (small, full):
        attrs = ds.user_attrs
        assert list(attrs.columns) == ["segment", "age_band", "region"]
        assert set(attrs["segment"]) == set(demo.SEGMENTS)
        assert set(attrs["age_band"]) == set(demo.AGE_BANDS)
        assert set(attrs["region"]) == set(demo.REGIONS)
        lens = np.diff(ds.user_offsets)
        mean = {s: lens[(attrs["segment"] == s).to_numpy()].mean() for s in demo.SEGMENTS}
        assert 1.8 * mean["casual"] < mean["regular"] and 1.8 * mean["regular"] < mean["power"]


# ---- planted interest phases -----------------------------------------------------------


def test_phases_and_change_points(full):
    tr = full.truth
    assert set(tr.switch_users).isdisjoint(tr.stable_users)
    assert set(tr.switch_users) | set(tr.stable_users) == set(full.user_ids)
    assert 0.4 < len(tr.switch_users) / full.n_users < 0.6
    for uid in full.user_ids:
        _, ts = full.sequence(full.user_index(uid))
        ph, cps = tr.phases[uid], tr.change_points[uid]
        assert ph[0].start == ts[0] and ph[-1].end == ts[-1]
        if uid in tr.stable_users:
            assert cps == [] and len(ph) == 1
            continue
        assert len(cps) == 1 and len(ph) == 2
        cp = cps[0]
        assert ts[0] < cp < ts[-1] and cp in ts
        assert ph[0].end == cp == ph[1].start
        assert set(ph[0].categories).isdisjoint(ph[1].categories)
        assert 0.2 <= (cp - ts[0]) / (ts[-1] - ts[0]) <= 0.8


def test_category_mix_differs_before_and_after_switch(full):
    tr, cm = full.truth, full.category_matrix
    col = {c: j for j, c in enumerate(full.categories)}
    in_before, in_after, dominant_ok = [], [], 0
    for uid in tr.switch_users:
        items, ts = full.sequence(full.user_index(uid))
        before, after = tr.phases[uid]
        b = [col[c] for c in before.categories]
        a = [col[c] for c in after.categories]
        pre, post = cm[items[ts < after.start]], cm[items[ts >= after.start]]
        share = lambda m, js: m[:, js].sum() / len(m)  # noqa: E731
        in_before.append((share(pre, b), share(post, b)))
        in_after.append((share(pre, a), share(post, a)))
        dominant_ok += (pre.sum(0).argmax() in b) and (post.sum(0).argmax() in a)
    in_before, in_after = np.array(in_before), np.array(in_after)
    assert in_before[:, 0].mean() > 0.6 and in_before[:, 1].mean() < 0.12
    assert in_after[:, 1].mean() > 0.6 and in_after[:, 0].mean() < 0.12
    assert dominant_ok / len(tr.switch_users) > 0.95


def test_stable_users_keep_their_taste(full):
    tr, cm = full.truth, full.category_matrix
    col = {c: j for j, c in enumerate(full.categories)}
    shares = []
    for uid in tr.stable_users:
        items, _ = full.sequence(full.user_index(uid))
        js = [col[c] for c in tr.phases[uid][0].categories]
        half = len(items) // 2
        shares.append((cm[items[:half]][:, js].sum() / half, cm[items[half:]][:, js].sum() / (len(items) - half)))
    shares = np.array(shares)
    assert shares.mean(axis=0).min() > 0.6
    assert np.abs(shares[:, 0] - shares[:, 1]).mean() < 0.15


# ---- planted follow-ups ----------------------------------------------------------------


def test_followup_pairs_shape(small, full):
    for ds, n in ((small, 20), (full, 60)):
        tr = ds.truth
        assert len(tr.followups) == n
        flat = [x for p in tr.followups for x in p]
        # 2n distinct ids: each trigger has one follow-up and each follow-up one trigger
        assert len(set(flat)) == 2 * n and all(ds.has_item(x) for x in flat)
        for a, b in tr.followups:
            assert ds.item_categories[ds.item_index(a)][0] == ds.item_categories[ds.item_index(b)][0]


def test_followups_at_planted_rate_and_only_after_trigger(small, full):
    for ds in (small, full):
        tr = ds.truth
        pairs = {ds.item_index(a): ds.item_index(b) for a, b in tr.followups}
        triggers = {b: a for a, b in pairs.items()}
        n_a = n_ab = 0
        followers: dict[tuple[str, str], set[str]] = {p: set() for p in tr.followups}
        for u, (items, _) in enumerate(_seqs(ds)):
            pos = {int(i): k for k, i in enumerate(items)}
            for k, i in enumerate(items):
                i = int(i)
                if i in triggers:  # B only ever appears one or two steps after its A
                    a = triggers[i]
                    assert a in pos and 1 <= k - pos[a] <= 2
                if i in pairs:
                    if k == len(items) - 1 and ds.user_ids[u] in tr.pending_followups:
                        continue  # a planted pending end: B lies beyond the log
                    n_a += 1
                    b = pairs[i]
                    if b in pos and 1 <= pos[b] - k <= 2:
                        n_ab += 1
                        followers[(ds.item_ids[i], ds.item_ids[b])].add(ds.user_ids[u])
        assert abs(n_ab / n_a - tr.followup_prob) < 0.08
        assert {p: set(v) for p, v in tr.followup_users.items()} == followers
        for p in tr.followups:
            assert set(tr.followup_users[p]) <= set(tr.trigger_users[p])


def test_followups_learnable_and_triggers_moderately_popular(full):
    tr = full.truth
    pop = full.item_popularity
    for a, b in tr.followups:
        pa = pop[full.item_index(a)]
        assert np.mean(pop < pa) > 0.6, "A is moderately popular"
        # enough A->B occurrences outside each user's last two interactions (the
        # validation and test items of leave-one-out) for a model to learn the pair
        n_train = 0
        for uid in tr.followup_users[(a, b)]:
            items, _ = full.sequence(full.user_index(uid))
            n_train += int(np.flatnonzero(items == full.item_index(b))[0]) < len(items) - 2
        assert n_train >= 15


def test_pending_followups(small, full):
    """Some logs end with a trigger A whose B is not (yet) in the log."""
    for ds in (small, full):
        tr = ds.truth
        assert len(tr.pending_followups) >= 0.05 * ds.n_users
        for uid, pairs in tr.pending_followups.items():
            items, _ = ds.sequence(ds.user_index(uid))
            assert len(pairs) == 1
            a, b = pairs[0]
            assert ds.item_ids[items[-1]] == a and (a, b) in tr.followups
            assert ds.item_index(b) not in items
            assert uid in tr.trigger_users[(a, b)] and uid not in tr.followup_users[(a, b)]


def test_featured_users(small, full):
    for ds in (small, full):
        tr = ds.truth
        assert set(tr.featured) == {"switcher", "followup", "stable"}
        assert tr.featured["switcher"] in tr.switch_users
        assert tr.featured["stable"] in tr.stable_users
        f = tr.featured["followup"]
        assert f in tr.pending_followups or any(f in v for v in tr.followup_users.values())
        assert len(tr.featured_users()) == len(set(tr.featured.values())) >= 2
        n = np.diff(ds.user_offsets)[ds.user_index(tr.featured["switcher"])]
        assert n >= 50
