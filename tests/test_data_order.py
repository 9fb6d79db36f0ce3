"""The tie order: same-second interactions ordered by a blake2b key of (user id, item id)
(``"hash"``, the default) or by item id (``"id"``, the order before tie keys)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.data import DataError, filter_min_count, load, sample_users
from recsys.data import order as order_mod
from recsys.data.order import protocol_order, tie_key, tie_keys
from recsys.evaluation.split import leave_one_out, tied_test_share

REPO = Path(__file__).resolve().parents[1]

# fingerprints before tie keys existed (commit 3e0b308): the "id" order must reproduce them
DEMO_SMALL_ID_FINGERPRINT = "230f8203f76b193c88c14041eb09d4c8e0660ab9f602edd562c520b5a97dbd2a"
ML100K_ID_FINGERPRINT = "c085d0c110d14ee0cfc7bec576118714b8029e8bb9075cd8ccd11b6523d61dfa"
ML100K_TIED_USERS = 415  # of 943 evaluated users, the test item shares its second with the one before


def seqs(ds) -> dict[str, list[str]]:
    return {ds.user_ids[u]: [ds.item_ids[i] for i in ds.sequence(u)[0]] for u in range(ds.n_users)}


def _csv(path: Path, rows: list[str]) -> str:
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


# ---- the key ---------------------------------------------------------------------------


def test_tie_key_known_answers():
    # first 8 bytes of blake2b (64-byte digest) of "user\x1fitem", big-endian
    assert tie_key("196", "242") == 0x92ADED843BF2089D == 10569365052705605789
    assert tie_key("1", "10") == 0x5B9E8057CB6429BB
    assert tie_key("1", "20") == 0xD5B05EC7CE8BC406
    assert tie_key("2", "3") == 0x571F18848F24CFA5
    for u, i in (("u", "a"), ("Zoë", "livre-7"), ("", "x")):
        digest = hashlib.blake2b(f"{u}\x1f{i}".encode()).digest()
        assert tie_key(u, i) == int.from_bytes(digest[:8], "big")
    assert tie_key("1", "10") != tie_key("11", "0")  # the separator keeps the pairs apart


def test_tie_keys_vectorised_equal_the_scalar_key(monkeypatch):
    monkeypatch.setattr(order_mod, "CHUNK", 7)  # several chunks, a partial last one
    users = ("1", "2", "Zoë", "x" * 40)
    items = ("10", "9", "é", "a|b", "0")
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 4, 50), rng.integers(0, 5, 50)
    keys = tie_keys(users, items, u, i)
    assert keys.dtype == np.uint64
    assert [int(k) for k in keys] == [tie_key(users[a], items[b]) for a, b in zip(u, i)]
    assert tie_keys(users, items, np.zeros(0, int), np.zeros(0, int)).shape == (0,)


def test_tie_key_is_the_same_in_every_process(tmp_path):
    src = _csv(tmp_path / "i.csv", [f"u{k % 3},item{k},100" for k in range(12)] + ["u0,first,50"])
    code = (
        "import json, sys; from recsys.data import load; from recsys.data.order import tie_key\n"
        "ds = load(sys.argv[1])\n"
        "print(json.dumps([tie_key('196', '242'), tie_key('u1', 'item4'), ds.fingerprint,"
        " [ds.item_ids[i] for i in ds.item]]))"
    )
    outs = []
    for seed in ("1", "2"):  # different str hash seeds: Python's hash() would differ
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}
        p = subprocess.run([sys.executable, "-c", code, src], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout))
    ds = load(src)
    here = [tie_key("196", "242"), tie_key("u1", "item4"), ds.fingerprint, [ds.item_ids[i] for i in ds.item]]
    assert outs[0] == outs[1] == here


# ---- the order -----------------------------------------------------------------------


def test_order_within_a_tie_group_follows_the_key_not_the_id(tmp_path):
    burst = [f"u,{k},100" for k in range(1, 8)]  # seven items in one second
    src = _csv(tmp_path / "i.csv", ["u,0,50", *burst, "u,99,200", "v,3,100", "v,4,100"])
    ds = load(src)
    assert ds.tie_order == "hash"
    by_key = sorted((str(k) for k in range(1, 8)), key=lambda iid: tie_key("u", iid))
    assert by_key == ["7", "4", "5", "1", "2", "6", "3"]  # so the test tells the orders apart
    assert seqs(ds)["u"] == ["0", *by_key, "99"]
    assert seqs(ds)["v"] == sorted(["3", "4"], key=lambda iid: tie_key("v", iid))
    by_id = load(src, tie_order="id")
    assert by_id.tie_order == "id"
    assert seqs(by_id)["u"] == ["0", *(str(k) for k in range(1, 8)), "99"]
    # the held-out item is the burst's last by key (3), no longer its largest id (7)
    for order, held_out in (("hash", "3"), ("id", "7")):
        burst_last = load(_csv(tmp_path / "j.csv", ["u,0,50", *burst]), tie_order=order)
        assert burst_last.item_ids[int(leave_one_out(burst_last).test_target[0])] == held_out


def test_duplicates_and_rows_outside_ties_keep_their_order(tmp_path):
    rows = ["u,b,5", "u,a,5", "u,b,5", "u,c,1", "w,z,7"]
    ds = load(_csv(tmp_path / "i.csv", rows))
    first_tied = sorted(["a", "b"], key=lambda iid: tie_key("u", iid))
    expect = ["c", *(["a", "b", "b"] if first_tied[0] == "a" else ["b", "b", "a"])]
    assert seqs(ds) == {"u": expect, "w": ["z"]}


def test_protocol_order_is_a_stable_sort_by_user_time_key():
    rng = np.random.default_rng(1)
    n = 4000
    u = rng.integers(0, 30, n).astype(np.int32)
    i = rng.integers(0, 200, n).astype(np.int32)
    t = rng.integers(0, 40, n).astype(np.int64)  # many ties
    ids = [f"id{k}" for k in range(200)]
    got = protocol_order(u, t, i, ids, ids, "hash")
    keys = tie_keys(ids, ids, u, i)
    assert np.array_equal(got, np.lexsort((np.arange(n), i, keys, t, u)))
    with pytest.raises(DataError, match="tie order must be one of hash, id"):
        protocol_order(u, t, i, ids, ids, "random")


def test_id_order_reproduces_the_previous_behaviour():
    pytest.importorskip("recsys.data.demo")
    old = load("demo-small", tie_order="id")
    assert old.fingerprint == DEMO_SMALL_ID_FINGERPRINT  # byte-identical to the data before tie keys
    new = load("demo-small")
    # the demo world has no same-second ties: the same order, so the same data and fingerprint
    # (a model trained before tie keys is found again)
    assert np.array_equal(old.item, new.item) and old.fingerprint == new.fingerprint


def test_real_ml100k_id_order_is_the_old_one_and_hash_differs(ml100k_path):
    old = load(str(ml100k_path), tie_order="id")
    assert old.fingerprint == ML100K_ID_FINGERPRINT
    assert np.array_equal(np.lexsort((old.item, old.timestamp, old.user)), np.arange(old.n_interactions))
    new = load(str(ml100k_path))
    assert new.fingerprint != old.fingerprint
    assert np.array_equal(new.user, old.user) and np.array_equal(new.timestamp, old.timestamp)
    moved = int((new.item != old.item).sum())
    assert 0 < moved < new.n_interactions


def test_tie_order_is_recorded_kept_and_part_of_the_fingerprint(tmp_path):
    from recsys.paths import default_model_dir

    rows = [f"u{k % 4},i{k % 7},{k // 8}" for k in range(40)]  # each user: pairs of same-second items
    src = _csv(tmp_path / "i.csv", rows)
    a, b = load(src, tie_order="hash"), load(src, tie_order="id")
    assert (a.tie_order, b.tie_order) == ("hash", "id")
    assert a.fingerprint != b.fingerprint and default_model_dir(a) != default_model_dir(b)
    for ds in (a, b):
        assert filter_min_count(ds, 2).tie_order == ds.tie_order
        assert sample_users(ds, 0.5).tie_order == ds.tie_order
        assert load(src, min_count=2, tie_order=ds.tie_order).fingerprint == filter_min_count(ds, 2).fingerprint
    with pytest.raises(DataError, match="tie order must be one of hash, id, not 'bad'"):
        load(src, tie_order="bad")


# ---- tied_test_share -----------------------------------------------------------------


def test_tied_test_share_known_answer(tmp_path):
    rows = [
        "a,1,1", "a,2,2", "a,3,2",  # test item tied with the one before -> tied
        "b,1,1", "b,2,2", "b,3,3", "b,4,4",  # no tie
        "c,1,5", "c,2,5",  # tied, but 2 interactions: not evaluated
        "d,1,7", "d,2,7", "d,3,7",  # tied
        "e,1,5", "e,2,5", "e,3,6",  # a tie, but not at the test item
    ]  # fmt: skip
    src = _csv(tmp_path / "i.csv", rows)
    for order in ("hash", "id"):  # which item is held out changes, whether it is tied does not
        assert tied_test_share(load(src, tie_order=order)) == 0.5
    assert tied_test_share(load(_csv(tmp_path / "j.csv", ["a,1,1", "a,2,1"]))) == 0.0  # nobody evaluated


def test_real_ml100k_tied_test_share(ml100k_path):
    for order in ("hash", "id"):
        ds = load(str(ml100k_path), tie_order=order)
        assert tied_test_share(ds) == ML100K_TIED_USERS / 943 == pytest.approx(0.4401, abs=1e-4)


def test_every_data_loading_command_takes_tie_order():
    import argparse

    from recsys.cli import COMMANDS, build_parser

    for name in COMMANDS:
        parser = build_parser(name)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        options = sub.choices[name]._option_string_actions
        assert ("--tie-order" in options) == ("--data" in options), name
        if "--tie-order" in options:
            assert options["--tie-order"].choices == ("hash", "id") and options["--tie-order"].default is None
