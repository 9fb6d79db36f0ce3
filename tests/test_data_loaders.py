"""Loaders for every layout, ordering, fingerprint and N-core filtering."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import DataError, filter_min_count, load, sample_users
from recsys.data.loaders import age_band
from recsys.data.order import tie_key

FIX = Path(__file__).resolve().parent / "fixtures" / "data"


def seqs(ds) -> dict[str, list[str]]:
    """user id -> item ids in protocol order."""
    return {ds.user_ids[u]: [ds.item_ids[i] for i in ds.sequence(u)[0]] for u in range(ds.n_users)}


# ---- layouts -------------------------------------------------------------------------


def test_ml100k_layout_fixture():
    ds = load(str(FIX / "ml100k"))
    assert ds.user_ids == ("1", "2", "3")
    assert ds.item_ids == ("2", "3", "10", "20", "30")  # numeric order, includes never-rated 30
    assert ds.titles[1] == "Amélie (2001)"  # Latin-1 decoded
    assert ds.item_categories[2] == ("Animation", "Children's", "Comedy")
    assert ds.item_categories[3] == ()  # the "unknown" genre flag means no category
    assert ds.item_popularity.tolist() == [2, 1, 3, 2, 0]
    # user 1: 10 and 20 share a timestamp -> by tie key (0x5b9e… for (1, 10) < 0xd5b0… for
    # (1, 20)), then 2; item-id order happens to agree here
    assert seqs(ds) == {"1": ["10", "20", "2"], "2": ["10", "3"], "3": ["20", "2", "10"]}
    assert seqs(load(str(FIX / "ml100k"), tie_order="id")) == seqs(ds)
    assert ds.rating is not None and ds.rating[:3].tolist() == [4.0, 3.0, 5.0]
    assert ds.user_attrs is not None
    assert ds.user_attrs.to_dict("records") == [
        {"gender": "M", "age_band": "<18", "occupation": "student"},
        {"gender": "F", "age_band": "18-24", "occupation": "writer"},
        {"gender": "M", "age_band": "56+", "occupation": "retired"},
    ]
    assert ds.warnings == ()


def test_latest_layout_with_tags():
    ds = load(str(FIX / "latest"))
    assert ds.item_ids == ("1", "3", "6", "9")
    assert ds.titles[1] == "American President, The (1995)"  # quoted field with a comma
    assert ds.item_categories[0] == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    assert ds.item_categories[2] == ()  # "(no genres listed)"
    assert "(no genres listed)" not in ds.categories
    # tags become item text: distinct (case-insensitive), most used first
    assert ds.item_text[0] == "pixar, fun"
    assert ds.item_text[2] == "heist, crime"
    assert ds.item_text[1] == ""
    # user 2 rated 1, 6, 3 at the same second -> by tie key: (2, 3) 0x571f… < (2, 1) 0x6881…
    # < (2, 6) 0x7d10…; under item-id order numerically 1, 3, 6
    assert seqs(ds) == {"1": ["3", "6", "1"], "2": ["3", "1", "6"]}
    assert seqs(load(str(FIX / "latest"), tie_order="id")) == {"1": ["3", "6", "1"], "2": ["1", "3", "6"]}
    assert ds.rating is not None and sorted(ds.rating.tolist()) == [2.5, 3.0, 4.0, 4.0, 4.5, 5.0]


def test_generic_directory_csv():
    ds = load(str(FIX / "generic"))
    assert ds.user_ids == ("alice", "bob", "carol")
    assert ds.item_ids == ("a-1", "b-2", "c-3", "ghost", "z-9")  # string order; z-9 never interacted
    # 12:00+02:00 is 10:00Z: same instant as b-2 -> ties broken by item id (strings)
    assert seqs(ds) == {"alice": ["a-1", "b-2", "c-3"], "bob": ["a-1", "ghost"], "carol": ["c-3"]}
    a = ds.user_index("alice")
    assert ds.sequence(a)[1].tolist() == [1577872800, 1577872800, 1577880000]
    b = ds.user_index("bob")
    assert ds.sequence(b)[1].tolist() == [1577923200, 1578009600]  # date only / naive -> UTC
    assert ds.titles == ("Alpha", "Beta", "Gamma", "ghost", "Zeta (never seen)")
    assert ds.item_categories[0] == ("news", "sports") and ds.item_categories[2] == ()
    assert ds.item_text[0] == "An alpha story"
    assert len(ds.warnings) == 1 and "ghost" in ds.warnings[0] and "items.csv" in ds.warnings[0]
    # users.csv: dave (no interactions) ignored, carol (absent) gets empty attributes
    assert ds.user_attrs is not None
    assert list(ds.user_attrs.columns) == ["country", "plan"]
    assert ds.user_attrs["country"].tolist() == ["FR", "DE", ""]


def test_interactions_file_itself_uses_neighbours():
    direct = load(str(FIX / "generic" / "interactions.csv"))
    via_dir = load(str(FIX / "generic"))
    assert direct.fingerprint == via_dir.fingerprint
    assert direct.titles[0] == "Alpha"


def test_bare_file_crlf_and_no_neighbours():
    ds = load(str(FIX / "bare" / "events.csv"))
    assert ds.n_users == 2 and ds.n_items == 2 and ds.n_interactions == 3
    assert ds.titles == ("i1", "i2") and ds.rating is None and ds.user_attrs is None
    assert ds.warnings == ()


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(path, index=False)


def test_generic_parquet(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    _write_parquet(
        d / "interactions.parquet",
        pd.DataFrame(
            {
                "user_id": [7, 7, 8],
                "item_id": ["x", "y", "x"],
                "timestamp": pd.to_datetime(
                    ["2020-01-01T00:00:01", "2020-01-01T00:00:00", "2020-01-02T00:00:00"]
                ),
                "rating": [1.0, 2.0, 3.0],
                "extra": [True, False, True],
            }
        ),
    )
    shutil.copy(FIX / "generic" / "users.csv", d / "users.csv")
    (d / "items.csv").write_text("item_id,title\nx,Ex\ny,Why\n", encoding="utf-8")
    ds = load(str(d))
    assert ds.user_ids == ("7", "8")
    assert seqs(ds) == {"7": ["y", "x"], "8": ["x"]}
    assert ds.timestamp.tolist() == [1577836800, 1577836801, 1577923200]
    assert ds.titles == ("Ex", "Why")
    assert ds.rating is not None and ds.rating.tolist() == [2.0, 1.0, 3.0]
    # the parquet file itself as the source
    assert load(str(d / "interactions.parquet")).fingerprint == ds.fingerprint


def test_parquet_integer_and_tz_timestamps(tmp_path):
    p = tmp_path / "interactions.parquet"
    ts = pd.to_datetime(["2020-01-01T02:00:00+02:00", "2020-01-01T00:00:05Z"], utc=True)
    _write_parquet(p, pd.DataFrame({"user_id": ["a", "a"], "item_id": ["1", "2"], "timestamp": ts}))
    assert load(str(p)).timestamp.tolist() == [1577836800, 1577836805]


# ---- real MovieLens-100K --------------------------------------------------------------


def test_real_ml100k_counts_and_order(ml100k_path):
    ds = load(str(ml100k_path))
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1682, 100000)
    assert ds.user_ids[:3] == ("1", "2", "3") and ds.item_ids[-1] == "1682"
    assert ds.titles[0] == "Toy Story (1995)"
    assert ds.titles[ds.item_index("1682")] == "Scream of Stone (Schrei aus Stein) (1991)"
    assert len(ds.categories) == 18 and "unknown" not in ds.categories
    assert ds.user_attrs is not None and set(ds.user_attrs.columns) == {"gender", "age_band", "occupation"}
    assert ds.rating is not None and set(np.unique(ds.rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    raw = pd.read_csv(ml100k_path / "u.data", sep="\t", header=None, names=["u", "i", "r", "t"])
    raw1 = raw.loc[raw["u"] == 1].copy()
    # protocol order: per user by timestamp, then the tie key of (user id, item id)
    items, ts = ds.sequence(ds.user_index("1"))
    assert len(items) == 272
    keys = np.array([tie_key("1", ds.item_ids[i]) for i in items], dtype=np.uint64)
    assert np.all((np.diff(ts) > 0) | ((np.diff(ts) == 0) & (keys[1:] > keys[:-1])))
    raw1["key"] = [tie_key("1", str(i)) for i in raw1.i]
    assert [ds.item_ids[i] for i in items] == raw1.sort_values(by=["t", "key"]).i.astype(str).tolist()
    # tie order "id": per user by (timestamp, numeric item id), the order before tie keys
    by_id = load(str(ml100k_path), tie_order="id")
    items, ts = by_id.sequence(by_id.user_index("1"))
    ids = np.array([int(by_id.item_ids[i]) for i in items])
    assert np.all((np.diff(ts) > 0) | ((np.diff(ts) == 0) & (np.diff(ids) > 0)))
    assert ids.tolist() == raw1.sort_values(by=["t", "i"], kind="stable").i.tolist()
    assert ds.warnings == ()


def test_real_ml100k_fingerprint_stable(ml100k_path):
    assert load(str(ml100k_path)).fingerprint == load(str(ml100k_path)).fingerprint


# ---- ordering, fingerprint ------------------------------------------------------------


def _csv(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_tie_break_numeric_ids(tmp_path):
    src = _csv(tmp_path / "i.csv", "user_id,item_id,timestamp\nu,10,5\nu,9,5\nu,100,5\nu,1,4\n")
    ds = load(src, tie_order="id")  # item-id order in ties (the default hash order: tests/test_data_order.py)
    assert ds.item_ids == ("1", "9", "10", "100")
    assert seqs(ds)["u"] == ["1", "9", "10", "100"]


def test_tie_break_string_ids_when_any_id_is_not_an_integer(tmp_path):
    src = _csv(tmp_path / "i.csv", "user_id,item_id,timestamp\nu,10,5\nu,9,5\nu,100,5\nu,x,5\n")
    ds = load(src, tie_order="id")  # about item-id order, so ties in item-id order
    assert ds.item_ids == ("10", "100", "9", "x")
    assert seqs(ds)["u"] == ["10", "100", "9", "x"]


def test_numeric_user_order(tmp_path):
    src = _csv(tmp_path / "i.csv", "user_id,item_id,timestamp\n10,a,1\n2,a,1\n1,a,1\n")
    assert load(src).user_ids == ("1", "2", "10")


def test_fingerprint_stable_and_sensitive(tmp_path):
    base = "user_id,item_id,timestamp\nu1,a,1\nu1,b,2\nu2,a,3\n"
    a = load(_csv(tmp_path / "a.csv", base))
    b = load(_csv(tmp_path / "b.csv", base))
    assert a.fingerprint == b.fingerprint  # same content, different file
    # row order in the file does not matter (data is ordered by the protocol)
    shuffled = "user_id,item_id,timestamp\nu2,a,3\nu1,b,2\nu1,a,1\n"
    assert load(_csv(tmp_path / "s.csv", shuffled)).fingerprint == a.fingerprint
    changed = base.replace("u2,a,3", "u2,a,4")
    assert load(_csv(tmp_path / "c.csv", changed)).fingerprint != a.fingerprint
    # metadata counts too
    d = tmp_path / "d"
    d.mkdir()
    _csv(d / "interactions.csv", base)
    fp1 = load(str(d)).fingerprint
    _csv(d / "items.csv", "item_id,title\na,A\nb,B\n")
    fp2 = load(str(d)).fingerprint
    _csv(d / "items.csv", "item_id,title\na,A\nb,Bee\n")
    fp3 = load(str(d)).fingerprint
    assert len({fp1, fp2, fp3}) == 3 and len(fp1) == 64


# ---- N-core filtering -----------------------------------------------------------------


def test_n_core_is_iterative(tmp_path):
    # u3 has 2 interactions; removing u3 drops item c to 1, which then drops u2 to 1 ... etc.
    rows = ["u1,a,1", "u1,b,2", "u2,a,3", "u2,b,4", "u2,c,5", "u3,c,6", "u3,d,7", "u4,a,8"]
    ds = load(_csv(tmp_path / "i.csv", "user_id,item_id,timestamp\n" + "\n".join(rows) + "\n"))
    f = filter_min_count(ds, 2)
    # first pass: u4 (1) and item d (1) go; then u3 has 1 (c) -> goes; c has 1 -> goes
    assert f.user_ids == ("u1", "u2") and f.item_ids == ("a", "b")
    assert f.n_interactions == 4
    counts_u = np.bincount(f.user)
    counts_i = np.bincount(f.item)
    assert counts_u.min() >= 2 and counts_i.min() >= 2
    assert f.fingerprint != ds.fingerprint
    assert filter_min_count(ds, 1).n_interactions == ds.n_interactions
    assert load(str(tmp_path / "i.csv"), min_count=2).fingerprint == f.fingerprint


def test_n_core_keeps_metadata_and_refuses_empty():
    ds = load(str(FIX / "generic"))
    f = filter_min_count(ds, 1)  # only the never-interacted catalogue item z-9 goes
    assert f.item_ids == ("a-1", "b-2", "c-3", "ghost") and f.n_interactions == ds.n_interactions
    assert f.fingerprint != ds.fingerprint
    for i, iid in enumerate(f.item_ids):
        j = ds.item_index(iid)
        assert (f.titles[i], f.item_categories[i], f.item_text[i]) == (
            ds.titles[j],
            ds.item_categories[j],
            ds.item_text[j],
        )
    assert f.user_attrs is not None and f.user_attrs.equals(ds.user_attrs)
    assert f.warnings == ds.warnings
    # 2-core unravels completely here: carol, b-2, ghost go; then bob and c-3; then alice
    with pytest.raises(DataError, match="--min-count 2 leaves no interactions"):
        filter_min_count(ds, 2)
    with pytest.raises(DataError, match="positive integer"):
        filter_min_count(ds, 0)


def test_sample_users_keeps_whole_histories_and_is_seeded(tmp_path):
    rows = [f"u{u},{it},{u * 10 + k}" for u in range(10) for k, it in enumerate("abc"[: 1 + u % 3])]
    ds = load(_csv(tmp_path / "i.csv", "user_id,item_id,timestamp\n" + "\n".join(rows) + "\n"))
    s = sample_users(ds, 0.5, seed=3)
    assert s.n_users == 5
    for k, uid in enumerate(s.user_ids):  # every kept user keeps all their interactions
        j = ds.user_ids.index(uid)
        assert [s.item_ids[i] for i in s.sequence(k)[0]] == [ds.item_ids[i] for i in ds.sequence(j)[0]]
    assert set(s.item_ids) == {s.item_ids[i] for i in s.item}  # unused items dropped
    assert sample_users(ds, 0.5, seed=3).fingerprint == s.fingerprint
    assert sample_users(ds, 0.5, seed=4).user_ids != s.user_ids
    assert sample_users(ds, 1.0).n_interactions == ds.n_interactions
    for bad in (0, 1.5, True):
        with pytest.raises(DataError, match="user fraction"):
            sample_users(ds, bad)


def test_real_ml100k_five_core(ml100k_path):
    f = load(str(ml100k_path), min_count=5)
    assert np.bincount(f.user).min() >= 5 and np.bincount(f.item).min() >= 5
    assert f.n_users == 943 and f.n_items < 1682
    assert f.fingerprint != load(str(ml100k_path)).fingerprint


def test_age_bands():
    assert [age_band(a) for a in (7, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73)] == [
        "<18", "<18", "18-24", "18-24", "25-34", "25-34", "35-44", "35-44", "45-49", "45-49",
        "50-55", "50-55", "56+", "56+",
    ]  # fmt: skip


def test_demo_sources_dispatch():
    pytest.importorskip("recsys.data.demo")
    ds = load("demo-small")
    assert ds.n_interactions > 0 and ds.truth is not None
    assert load("demo-small").fingerprint == ds.fingerprint


def test_nonexistent_and_unknown_layout(tmp_path):
    with pytest.raises(DataError, match=r"no such file or directory: .*nope"):
        load(str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as e:
        load(str(tmp_path))
    msg = str(e.value)
    assert "unrecognised data directory" in msg and "notes.txt" in msg
    assert "MovieLens-100K" in msg and "latest" in msg and "interactions.csv" in msg
    with pytest.raises(DataError, match="unrecognised data file"):
        load(str(tmp_path / "notes.txt"))


def test_integer_looking_ids_keep_their_written_form(tmp_path):
    src = _csv(tmp_path / "i.csv", "user_id,item_id,timestamp\n1,007,1\n1,7,2\n1,+7,3\n01,7,4\n")
    ds = load(src)
    assert ds.item_ids == ("+7", "007", "7")  # numeric order, equal numbers tie-broken as strings
    assert ds.user_ids == ("01", "1")
    assert seqs(ds) == {"1": ["007", "7", "+7"], "01": ["7"]}


def test_protocol_order_matches_lexsort():
    from recsys.data.order import _id_order, protocol_order

    rng = np.random.default_rng(0)
    for span in (10, 10**9, 2**62):  # last one forces the fallback paths
        u = rng.integers(0, 50, 5000).astype(np.int32)
        i = rng.integers(0, 300, 5000).astype(np.int32)
        t = rng.integers(-span // 2, span // 2, 5000, dtype=np.int64)
        t[::7] = t[0]  # many ties
        assert np.array_equal(_id_order(u, t, i), np.lexsort((i, t, u)))
        ids = [str(k) for k in range(300)]
        assert np.array_equal(protocol_order(u, t, i, ids, ids, "id"), np.lexsort((i, t, u)))
