"""Scale demo worlds (``demo:users=N,items=N``): spec syntax, determinism, independence
of the block size, planted structure matching the ground truth, and ``generate``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.commands.data import sample_users
from recsys.data import load
from recsys.data.demo_scale import iter_blocks, make_catalog, parse_spec
from recsys.data.demo_scale_readers import BLOCK_USERS, make_block
from recsys.data.demo_scale_truth import ScaleTruth
from recsys.data.types import DataError

REPO = Path(__file__).resolve().parents[1]
SPEC = "demo:users=3000,items=1500"


@pytest.fixture(scope="module")
def world():
    return load(SPEC)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "world"
    assert main(["generate", "--size", SPEC, "--out", str(out), "--json"]) == 0
    return out


def _user_seq(ds, uid):
    items, ts = ds.sequence(ds.user_index(uid))
    return items, ts


# ---- the spec ---------------------------------------------------------------------------------


def test_spec_defaults_and_canonical_form():
    s = parse_spec("demo:")
    assert (s.users, s.items, s.seed, s.events, s.followups) == (10_000, 5_000, 0, 55, 200)
    s = parse_spec(" demo: users = 200_000 , items=40000,seed=7 ")
    assert s.canonical == "demo:users=200000,items=40000,seed=7,events=55,followups=500"
    assert parse_spec("users=3000,items=1500") == parse_spec(SPEC)  # the prefix is optional for --size


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("demo:users=abc", "is not a whole number"),
        ("demo:users=1e5", "is not a whole number"),
        ("demo:users=-5", "is not a whole number"),
        ("demo:users=3000,items=1500.5", "is not a whole number"),
        ("demo:user=3000", "unknown key 'user'"),
        ("demo:users=3000,users=4000", "users given twice"),
        ("demo:users=3000,", "expected KEY=N"),
        ("demo:users", "expected KEY=N"),
        ("demo:users=99", "users=99 out of range 100"),
        ("demo:users=3000,items=10", "too small"),
        ("demo:users=3000,events=0", "events=0 out of range"),
        ("demo:users=3000,items=1500,followups=76", "followups=76 out of range 0 … 75"),
        ("demo:users=50000000,events=1000", "exceeds"),
    ],
)
def test_bad_specs_raise_one_clear_dataerror(spec, message):
    with pytest.raises(DataError, match="demo spec") as e:
        load(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


# ---- determinism and block independence --------------------------------------------------------


def test_same_spec_same_world_other_seed_other_world(world):
    again = load(SPEC)
    assert again.fingerprint == world.fingerprint
    assert again.truth.featured == world.truth.featured
    assert load(SPEC + ",seed=1").fingerprint != world.fingerprint
    assert isinstance(world.truth, ScaleTruth) and world.source == SPEC


def test_deterministic_across_processes(world):
    code = f"from recsys.data import load; print(load({SPEC!r}).fingerprint)"
    env = {**os.environ, "PYTHONHASHSEED": "777", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == world.fingerprint


def test_a_block_does_not_depend_on_the_blocks_before_it():
    spec = parse_spec(SPEC)
    cat = make_catalog(spec)
    every = list(iter_blocks(spec, cat))
    assert len(every) == 3 and every[-1].n_users == 3000 - 2 * BLOCK_USERS
    alone = make_block(spec, cat, 2)  # generated on its own, e.g. by another worker
    for name in ("user", "item", "ts", "change_ts", "pending", "occ_pair"):
        assert np.array_equal(getattr(alone, name), getattr(every[2], name)), name
    assert [b.first_user for b in iter_blocks(spec, cat, 1, 3)] == [BLOCK_USERS, 2 * BLOCK_USERS]


def test_written_files_do_not_depend_on_the_block_size(written, tmp_path):
    out = tmp_path / "small-blocks"
    assert main(["generate", "--size", SPEC, "--out", str(out), "--block-users", "1000"]) == 0
    for name in ("interactions.parquet", "truth_users.parquet"):
        a, b = pd.read_parquet(written / name), pd.read_parquet(out / name)
        pd.testing.assert_frame_equal(a, b)
    for name in ("items.csv", "users.csv", "world.json"):
        assert (written / name).read_bytes() == (out / name).read_bytes(), name
    assert pd.read_parquet(out / "interactions.parquet").shape[0] == load(SPEC).n_interactions


# ---- the world and its planted structure -------------------------------------------------------


def test_sizes_catalogue_and_users(world):
    assert (world.n_users, world.n_items) == (3000, 1500)
    assert 40 <= world.n_interactions / world.n_users <= 70  # events=55 organic picks, plus follow-ups
    assert len(world.categories) == 15 and len(set(world.titles)) == world.n_items
    assert all(t and t[0].isupper() for t in world.titles)
    assert all(x.endswith(".") and len(x.split()) >= 8 for x in world.item_text)
    assert list(world.user_attrs.columns) == ["segment", "age_band", "region"]
    lens = np.diff(world.user_offsets)
    seg = world.user_attrs["segment"].to_numpy()
    assert lens[seg == "casual"].mean() < lens[seg == "regular"].mean() < lens[seg == "power"].mean()
    pop = np.sort(world.item_popularity)[::-1]
    assert pop[: world.n_items // 5].sum() > 0.45 * pop.sum()  # long tail


def test_timestamps_strictly_increase_and_items_never_repeat(world):
    off, ts, it = world.user_offsets, world.timestamp, world.item
    same_user = np.repeat(np.arange(world.n_users), np.diff(off))
    inner = same_user[1:] == same_user[:-1]
    assert (np.diff(ts)[inner] > 0).all()
    assert len(np.unique(same_user.astype(np.int64) * world.n_items + it)) == world.n_interactions
    gaps = np.diff(ts)[inner]
    assert (gaps < 3600).mean() > 0.3 and (gaps > 86_400).mean() > 0.05  # sessions


def _shares(ds, items, names):
    """Share of ``items`` shelved (primary or secondary) on one of the shelves ``names``."""
    on = {i for i, cats in enumerate(ds.item_categories) if set(cats) & set(names)}
    return sum(int(i) in on for i in items) / max(len(items), 1)


def test_switchers_change_shelves_at_the_change_point(world):
    tr = world.truth
    assert 0.4 < len(tr.switch_users) / world.n_users < 0.6
    before = after = old_after = 0.0
    users = list(tr.switch_users)[::10]
    for uid in users:
        items, ts = _user_seq(world, uid)
        (p1, p2) = tr.phases[uid]
        cp = tr.change_points[uid][0]
        assert p1.end == p2.start == cp and p1.start == ts[0] and p2.end == ts[-1] and cp in ts
        assert not set(p1.categories) & set(p2.categories)
        before += _shares(world, items[ts < cp], p1.categories)
        after += _shares(world, items[ts >= cp], p2.categories)
        old_after += _shares(world, items[ts >= cp], p1.categories)
    n = len(users)
    assert before / n > 0.8 and after / n > 0.8 and old_after / n < 0.12  # 10 % noise


def test_stable_readers_keep_their_shelves(world):
    tr = world.truth
    share = []
    for uid in list(tr.stable_users)[::10]:
        items, ts = _user_seq(world, uid)
        (p,) = tr.phases[uid]
        assert tr.change_points[uid] == [] and (p.start, p.end) == (ts[0], ts[-1])
        share.append(_shares(world, items, p.categories))
    assert np.mean(share) > 0.8


def test_followups_b_follows_a_and_never_comes_alone(world):
    tr = world.truth
    assert len(tr.followups) == 60
    n_a = n_ab = 0
    for a, b in tr.followups:
        ai, bi = world.item_index(a), world.item_index(b)
        takers = set(tr.trigger_users[(a, b)])
        followers = set(tr.followup_users[(a, b)])
        assert followers <= takers
        has_b = np.unique(world.user[world.item == bi])
        assert {world.user_ids[u] for u in has_b} <= takers  # B only after A
        assert {world.user_ids[u] for u in np.unique(world.user[world.item == ai])} == takers
        for uid in followers:
            items, _ = _user_seq(world, uid)
            k = int(np.flatnonzero(items == ai)[0])
            assert bi in items[k + 1 : k + 3]
        for uid in takers - followers:
            items, _ = _user_seq(world, uid)
            k = int(np.flatnonzero(items == ai)[0])
            assert bi not in items[k + 1 : k + 3]
            assert bi not in items[:k]
        n_a += len(takers)
        n_ab += len(followers)
    assert 0.78 < n_ab / n_a < 0.9  # planted with probability 0.85 (pending triggers never followed)


def test_pending_followups_end_the_logs(world):
    pend = world.truth.pending_followups
    assert 0.03 < len(pend) / world.n_users < 0.09
    for uid, pairs in list(pend.items())[:100]:
        items, _ = _user_seq(world, uid)
        ((a, b),) = pairs
        assert world.item_ids[items[-1]] == a and world.item_index(b) not in items
    assert "u0001" not in pend or pend["u0001"]
    with pytest.raises(KeyError):
        pend["nobody"]


def test_truth_consumers_work(world):
    tr = world.truth
    featured = tr.featured_users()
    assert featured and all(world.has_user(u) for u in featured)
    assert set(tr.featured) == {"switcher", "followup", "stable"}
    assert tr.featured["followup"] in tr.pending_followups
    assert sample_users(world)[: len(featured)] == list(featured)
    assert len(tr.phases) == world.n_users and "u3000" in tr.phases and "u3001" not in tr.phases
    assert tr.switch_users[0] in tr.switch_users and tr.switch_users[0] not in tr.stable_users


# ---- generate ----------------------------------------------------------------------------------


def test_generate_round_trip_same_world(written, world, capsys):
    ds = load(str(written))
    assert ds.fingerprint == world.fingerprint and ds.truth is None
    assert np.array_equal(ds.item, world.item) and np.array_equal(ds.timestamp, world.timestamp)
    t = pd.read_parquet(written / "truth_users.parquet")
    cps = {u: c for u, c in zip(t["user_id"], t["change_point"]) if not pd.isna(c)}
    assert set(cps) == set(world.truth.switch_users)
    assert all(world.truth.change_points[u] == [int(c)] for u, c in list(cps.items())[:50])
    meta = json.loads((written / "world.json").read_text())
    assert meta["spec"] == parse_spec(SPEC).canonical and meta["interactions"] == world.n_interactions
    assert [tuple(p) for p in meta["followups"]] == list(world.truth.followups)


def test_generate_json_contract(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["generate", "--size", "users=300,items=400,seed=3", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(res)[-5:] == ["users", "items", "interactions", "path", "seconds"]
    assert (res["users"], res["items"], res["path"]) == (300, 400, str(out))
    assert res["interactions"] == load(str(out)).n_interactions
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_generate_refuses_an_existing_directory_unless_forced(tmp_path, capsys):
    out = tmp_path / "w"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["generate", "--size", "users=300,items=400", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--force" in err and "\n" not in err
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["generate", "--size", "users=300,items=400", "--out", str(out), "--force"]) == 0
    assert not (out / "keep.txt").exists() and (out / "interactions.parquet").is_file()


@pytest.mark.parametrize("size", ["users=abc", "users=3000,color=3", "users=10"])
def test_generate_bad_spec_exits_2_with_one_error_line(size, tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "recsys", "generate", "--size", size, "--out", str(tmp_path / "w")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: demo spec")
    assert not (tmp_path / "w").exists()


def test_data_command_accepts_a_spec(capsys):
    assert main(["data", "--data", "demo:users=300,items=400", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (res["users"], res["items"]) == (300, 400)
    assert main(["data", "--data", "demo:users=x"]) == 2
    assert capsys.readouterr().err.startswith("error: demo spec")
