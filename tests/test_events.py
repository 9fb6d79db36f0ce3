"""The event log (``ingest``): validation with the loaders' rules, atomic appends that a
refused batch or a second process cannot damage, and every command seeing the events."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.data import load
from recsys.data.events import EventLog, log_dir

SRC = "demo-small"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A RECSYS_HOME of this test's own (the session home's demo-small must stay log-free)."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("RECSYS_HOME", str(h))
    return h


def _run(capsys, argv, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _json_lines(*rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())} if d.is_dir() else {}


def _base():
    return load(SRC, events=False)


def test_ingest_stdin_appends_and_every_load_includes_the_log(home, capsys, monkeypatch):
    base = _base()
    u0, i0 = base.user_ids[0], base.item_ids[5]
    last = int(base.timestamp.max())
    rows = [{"user_id": u0, "item_id": i0, "timestamp": last + 60},
            {"user_id": "newcomer", "item_id": base.item_ids[7], "timestamp": last + 120},
            {"user_id": "newcomer", "item_id": "brand-new", "timestamp": "2030-01-01T00:00:00Z"}]
    code, out, err = _run(capsys, ["ingest", "--data", SRC, "--events", "-", "--json"], _json_lines(*rows),
                          monkeypatch)
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res == {"appended": 3, "log_events": 3, "last_timestamp": 1893456000}
    assert "brand-new" in err and err.startswith("warning:")  # an unknown item is titled by its id

    ds = load(SRC)
    assert ds.fingerprint == base.fingerprint and ds.content_key != base.content_key
    assert ds.log is not None and ds.log.events == 3 and ds.log.new_users == 1 and ds.log.new_items == 1
    assert ds.log.last_timestamp == 1893456000 and ds.log.base_events == base.n_interactions
    assert ds.n_interactions == base.n_interactions + 3
    # base users and items keep their indices; new ones come after them
    assert ds.user_ids[: base.n_users] == base.user_ids and ds.user_ids[-1] == "newcomer"
    assert ds.item_ids[: base.n_items] == base.item_ids and ds.item_ids[-1] == "brand-new"
    assert ds.titles[-1] == "brand-new"
    items, ts = ds.sequence(ds.user_index(u0))
    assert int(items[-1]) == base.item_index(i0) and int(ts[-1]) == last + 60
    assert ds.history("newcomer").items.tolist() == [base.item_index(base.item_ids[7]), ds.n_items - 1]
    assert load(SRC, events=False).n_interactions == base.n_interactions

    code, out, _ = _run(capsys, ["data", "--data", SRC, "--json"])
    d = json.loads(out.strip().splitlines()[-1])
    assert d["interactions"] == base.n_interactions + 3 and d["users"] == base.n_users + 1
    assert d["fingerprint"] == base.fingerprint and d["log"]["events"] == 3 and d["log"]["position"] == 3

    # a second batch grows the log and changes the content key again
    code, out, _ = _run(capsys, ["ingest", "--data", SRC, "--events", "-", "--json"],
                        _json_lines({"user_id": u0, "item_id": i0, "timestamp": last + 180}), monkeypatch)
    assert json.loads(out.strip().splitlines()[-1])["log_events"] == 4
    ds2 = load(SRC)
    assert ds2.content_key not in (ds.content_key, base.content_key) and ds2.fingerprint == base.fingerprint

    code, out, _ = _run(capsys, ["ingest", "--data", SRC, "--reset", "--json"])
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["log_events"] == 0
    again = load(SRC)
    assert again.log is None and again.n_interactions == base.n_interactions
    assert again.content_key == base.content_key


def test_ingest_items_file_titles_new_items(home, capsys, tmp_path):
    base = _base()
    ev = tmp_path / "events.csv"
    ev.write_text(f"user_id,item_id,timestamp\n{base.user_ids[1]},n1,{int(base.timestamp.max()) + 5}\n")
    items = tmp_path / "items.csv"
    items.write_text('item_id,title,categories,text\nn1,"A New Book, Vol. 1",Fantasy|Poetry,fresh\n')
    code, _, err = _run(capsys, ["ingest", "--data", SRC, "--events", str(ev), "--items", str(items)])
    assert code == 0 and "warning" not in err
    ds = load(SRC)
    k = ds.item_index("n1")
    assert ds.titles[k] == "A New Book, Vol. 1" and ds.item_categories[k] == ("Fantasy", "Poetry")
    assert ds.item_text[k] == "fresh" and not any("event log" in w for w in ds.warnings)


def test_ingest_users_file_gives_new_users_their_attributes(home, capsys, tmp_path, ml100k_path):
    src = str(ml100k_path)
    ev = tmp_path / "events.csv"
    ev.write_text("user_id,item_id,timestamp\n5000,50,893286638\n196,50,893286639\n")
    users = tmp_path / "users.csv"
    users.write_text("user_id,gender,age_band,occupation\n5000,F,25-34,writer\n196,X,0,none\n")
    code, _, err = _run(capsys, ["ingest", "--data", src, "--events", str(ev), "--users", str(users)])
    assert code == 0, err
    ds = load(src)
    assert ds.user_attrs is not None
    assert ds.user_attrs.loc[ds.user_index("5000")].tolist() == ["F", "25-34", "writer"]
    assert ds.user_attrs.loc[ds.user_index("196")].tolist()[0] == "M"  # a base user keeps the base's attributes


BAD_CSV = [
    ("user_id,item_id,timestamp\nu1,i1,abc\n", "2: invalid timestamp 'abc' (expected integer seconds or an ISO-8601 date-time)"),
    ("user_id,item_id,timestamp\nu1,i1,5\n,i2,6\n", "3: empty user_id"),
    ("user_id,item_id,timestamp\nu1,,5\n", "2: empty item_id"),
    ("user_id,item_id,timestamp\n" + "u" * 257 + ",i1,5\n", "2: user_id longer than 256 characters (257)"),
    ("user_id,item_id,timestamp,rating\nu1,i1,5,4\nu1,i2,6,x\n", "3: rating 'x' is not a finite number"),
    ("user_id,item_id,timestamp,rating\nu1,i1,5,inf\n", "2: rating 'inf' is not a finite number"),
    ("user_id,item_id\nu1,i1\n", "1: missing required column(s) timestamp (interactions needs user_id, item_id, "
                                 "timestamp; found user_id, item_id)"),
    ("user_id,item_id,timestamp\nu1,i1,5,9\n", "2: line has 4 fields, expected 3 (comma-separated: user_id, item_id, "
                                              "timestamp)"),
    ("user_id,item_id,timestamp\nu1,i1,5\n\nu2,i2,6\n", "3: blank line, expected 3 (comma-separated: user_id, "
                                                       "item_id, timestamp)"),
    ("user_id,item_id,timestamp\n", "1: no data rows (only a header)"),
    ('user_id,item_id,timestamp\n"u1,i1,5\n', "2: malformed CSV: unterminated quoted field"),
]


@pytest.mark.parametrize("text,problem", BAD_CSV, ids=[p.split(": ", 1)[1][:24] for _, p in BAD_CSV])
def test_bad_csv_batch_is_refused_whole_and_the_log_is_unchanged(home, capsys, tmp_path, text, problem):
    base = _base()
    good = tmp_path / "good.csv"
    good.write_text(f"user_id,item_id,timestamp\n{base.user_ids[0]},{base.item_ids[0]},{int(base.timestamp.max())}\n")
    assert _run(capsys, ["ingest", "--data", SRC, "--events", str(good)])[0] == 0
    before = _snapshot(log_dir(base.fingerprint))
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    code, out, err = _run(capsys, ["ingest", "--data", SRC, "--events", str(bad), "--json"])
    assert code == 2 and out == ""
    assert err == f"error: {bad}:{problem}\n"  # exactly one line on stderr
    assert _snapshot(log_dir(base.fingerprint)) == before
    assert load(SRC).log.events == 1  # type: ignore[union-attr]


BAD_JSON = [
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": 5}\n{"user_id": "u1", "item_id": "i2"\n',
     "2: not valid JSON: Expecting ',' delimiter"),
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": 5}\n\n["u1", "i1", 5]\n', "3: expected a JSON object, got list"),
    (b'{"user_id": ["u1"], "item_id": "i1", "timestamp": 5}\n', "1: user_id must be a string or a number, got list"),
    (b'{"user_id": true, "item_id": "i1", "timestamp": 5}\n', "1: user_id must be a string or a number, got bool"),
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": 5}\n{"user_id": null, "item_id": "i1", "timestamp": 5}\n',
     "2: empty user_id"),
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": 1.5}\n',
     "1: invalid timestamp '1.5' (expected integer seconds or an ISO-8601 date-time)"),
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": "yesterday"}\n',
     "1: invalid timestamp 'yesterday' (expected integer seconds or an ISO-8601 date-time)"),
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": 5, "rating": "NaN"}\n', "1: rating 'NaN' is not a finite number"),
    (b'{"user_id": "u1", "item_id": "i1", "timestamp": 5, "rating": 3}\n{"user_id": "u1", "item_id": "i1", '
     b'"timestamp": 6}\n', "2: empty rating"),
    (b'{"user_id": "u1", "item_id": "i1"}\n', "1: missing required column(s) timestamp (interactions needs user_id, "
                                                "item_id, timestamp; found user_id, item_id)"),
    (b'{"user_id": "u1", "item_id": "i\xff", "timestamp": 5}\n', "1: not valid UTF-8: byte 0xff"),
]


@pytest.mark.parametrize("data,problem", BAD_JSON, ids=[p.split(": ", 1)[1][:24] for _, p in BAD_JSON])
def test_bad_stdin_batch_names_the_stdin_line(home, capsys, monkeypatch, data, problem):
    code, out, err = _run(capsys, ["ingest", "--data", SRC, "--events", "-", "--json"], data, monkeypatch)
    assert code == 2 and out == "" and err == f"error: <stdin>:{problem}\n"
    assert not log_dir(_base().fingerprint).exists()  # nothing was created


def test_empty_stdin_and_bad_arguments(home, capsys, monkeypatch, tmp_path):
    code, _, err = _run(capsys, ["ingest", "--data", SRC, "--events", "-"], b"\n\n", monkeypatch)
    assert code == 2 and err == "error: <stdin>: no events (expected one JSON object per line)\n"
    code, _, err = _run(capsys, ["ingest", "--data", SRC])
    assert code == 2 and err == "error: give either --events FILE|- or --reset\n"
    f = tmp_path / "e.txt"
    f.write_text("x")
    code, _, err = _run(capsys, ["ingest", "--data", SRC, "--events", str(f)])
    assert code == 2 and err.count("\n") == 1 and "expected an interactions .csv or .parquet" in err


def test_parquet_batch_uses_row_numbers(home, capsys, tmp_path):
    f = tmp_path / "ev.parquet"
    pd.DataFrame({"user_id": ["u1", None], "item_id": ["a", "b"], "timestamp": [1, 2]}).to_parquet(f)
    code, _, err = _run(capsys, ["ingest", "--data", SRC, "--events", str(f)])
    assert code == 2 and err == f"error: {f}:row 2: missing user_id (null)\n"
    ok = tmp_path / "ok.parquet"
    base = _base()
    pd.DataFrame({"user_id": [base.user_ids[2]], "item_id": [base.item_ids[3]],
                  "timestamp": pd.to_datetime(["2031-05-01T10:00:00Z"])}).to_parquet(ok)
    code, out, _ = _run(capsys, ["ingest", "--data", SRC, "--events", str(ok), "--json"])
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["last_timestamp"] == 1935655200 - 3 * 86400


_WRITER = """
import sys
import pandas as pd
from recsys.data.events import Batch, EventLog
d, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = EventLog(d, "f" * 64)
for k in range(n):
    ev = pd.DataFrame({"user_id": [who], "item_id": [f"{who}-{k}"], "timestamp": [k], "rating": [float("nan")]})
    log.append(Batch(ev))
"""


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    d = tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    n = 45  # 90 appends: past the compaction threshold, so a compaction races the other writer too
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(d), who, str(n)], env=env) for who in ("a", "b")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    got = EventLog(d).read()
    assert got.state.events == 2 * n == len(got.events)
    assert sorted(got.events["item_id"]) == sorted([f"{w}-{k}" for w in "ab" for k in range(n)])
    for w in "ab":  # each writer's events in its own order
        mine = got.events[got.events["user_id"] == w]
        assert mine["timestamp"].tolist() == list(range(n))
    listed = {s["file"] for s in got.state.segments}
    assert {p.name for p in d.glob("*.parquet")} == listed  # compaction left no stray segment


def test_recommend_explain_timeline_see_logged_events(home, capsys, monkeypatch, tiny_model):
    base = _base()
    u = base.user_ids[3]
    argv = ["recommend", "--data", SRC, "--model", str(tiny_model), "--user", u, "--json"]
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    before = json.loads(out.strip().splitlines()[-1])
    top = [it["item_id"] for it in before["items"]]
    last = int(base.sequence(base.user_index(u))[1][-1])
    rows = [{"user_id": u, "item_id": top[0], "timestamp": last + 3600},
            {"user_id": u, "item_id": "never-seen-item", "timestamp": last + 3700},
            {"user_id": "walk-in", "item_id": top[1], "timestamp": last + 3800}]
    assert _run(capsys, ["ingest", "--data", SRC, "--events", "-"], _json_lines(*rows), monkeypatch)[0] == 0
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    after = json.loads(out.strip().splitlines()[-1])
    assert after["history_length"] == before["history_length"] + 2
    got = [it["item_id"] for it in after["items"]]
    assert top[0] not in got and "never-seen-item" not in got and got != top  # the logged event moved the list
    # a new user and an item the model never saw: scored, never recommended, nothing crashes
    code, out, err = _run(capsys, ["recommend", "--data", SRC, "--model", str(tiny_model), "--user", "walk-in",
                                   "--json"])
    assert code == 0, err
    new = json.loads(out.strip().splitlines()[-1])
    assert new["history_length"] == 1 and len(new["items"]) == 10 and top[1] not in [i["item_id"] for i in new["items"]]
    code, out, err = _run(capsys, ["explain", "--data", SRC, "--model", str(tiny_model), "--user", u,
                                   "--item", got[0], "--json"])
    assert code == 0, err
    feats = [a["item_id"] for a in json.loads(out.strip().splitlines()[-1])["attributions"]]
    assert top[0] in feats
    code, out, err = _run(capsys, ["timeline", "--data", SRC, "--model", str(tiny_model), "--user", u, "--json"])
    assert code == 0, err
    tl = json.loads(out.strip().splitlines()[-1])
    assert sum(w["n"] for w in tl["windows"]) == after["history_length"]


def test_model_covers_new_items_with_minus_infinity(home, capsys, monkeypatch, tiny_model):
    from recsys.models.transformer import TransformerRecommender

    base = _base()
    rows = [{"user_id": base.user_ids[0], "item_id": "z-new", "timestamp": int(base.timestamp.max()) + 1}]
    assert _run(capsys, ["ingest", "--data", SRC, "--events", "-"], _json_lines(*rows), monkeypatch)[0] == 0
    ds = load(SRC)
    model = TransformerRecommender.load(tiny_model, ds)
    assert model.n_items == ds.n_items == base.n_items + 1 and model.n_known == base.n_items
    h = ds.history(base.user_ids[0])
    assert h.timestamps is not None
    s = model.score([h.items], [h.timestamps])[0]
    assert s.shape == (ds.n_items,) and np.isneginf(s[-1]) and np.isfinite(s[:-1]).all()
    # the unknown item is left out of the history: same scores as without it
    s0 = model.score([h.items[:-1]], [h.timestamps[:-1]])[0]
    assert np.array_equal(s[:-1], s0[:-1])
    emb = model.text_emb
    assert emb is not None and emb.shape[0] == ds.n_items


def test_serving_table_is_stale_once_the_log_moves(home):
    from recsys import serving

    info = serving.ServingInfo(path=home, users=1, rows=1, pool=1, explain_top=0, workers=1,
                               model_fingerprint="m" * 64, data_fingerprint="d" * 64, log_position=3,
                               created=serving.now_utc())
    assert serving.mismatch(info, "m" * 64, "d" * 64, 3) is None
    msg = serving.mismatch(info, "m" * 64, "d" * 64, 5)
    assert msg is not None and "event log position 3 (current 5)" in msg
    old = serving.ServingInfo(**{**info.__dict__, "log_position": None})
    assert serving.mismatch(old, "m" * 64, "d" * 64, 0) is None


def test_empty_log_directory_is_no_log(home):
    base = _base()
    EventLog.of(base).reset()  # nothing to reset: no directory is created
    assert not log_dir(base.fingerprint).exists()
    assert load(SRC).log is None


def test_a_gap_training_never_saw_reads_as_unknown_gap(tiny_model, small_ds):
    """Seconds-apart events (never seen in the demo world's training histories) are fed
    to the network as the "unknown gap" bucket, not as an untrained embedding."""
    import torch

    from recsys.models.transformer import TransformerRecommender
    from recsys.models.transformer.net import N_GAP_BUCKETS, encode_batch, gap_buckets
    from recsys.models.transformer.recommender import MIN_GAP_COUNT, training_gap_counts

    c = training_gap_counts([np.array([0, 30, 30 + 7200])])
    assert c is not None and c.tolist()[:8] == [0, 1, 0, 0, 0, 0, 0, 1]
    model = TransformerRecommender.load(tiny_model, small_ds)
    counts = model.gap_counts
    assert counts is not None and len(counts) == N_GAP_BUCKETS
    assert model.manifest["gap_bucket_counts"] == counts.tolist()
    gap_map = model.gap_map
    assert gap_map is not None
    seen = counts >= MIN_GAP_COUNT
    assert (gap_map[seen] == np.flatnonzero(seen)).all() and (gap_map[~seen] == 0).all()

    h = small_ds.history(small_ds.user_ids[0])
    assert h.timestamps is not None
    ts = h.timestamps.copy()
    ts[-1] = ts[-2] + 30  # 30 seconds after the previous event
    bucket = int(gap_buckets(ts)[-1])
    assert not seen[bucket], "the demo world has no sub-minute gaps; pick another gap"
    got = model.score([h.items], [ts])[0]

    tok, gaps = encode_batch([h.items], [ts], model.config.max_len, model.config.use_time)
    unknown = torch.from_numpy(gap_map)[gaps]
    assert int(unknown[0, -1]) == 0 and int(gaps[0, -1]) == bucket
    with torch.inference_mode():
        em = model.net.item_matrix()
        want = model.net.logits(model.net.hidden(tok, unknown, em)[:, -1], em)[0].numpy()
        raw = model.net.logits(model.net.hidden(tok, gaps, em)[:, -1], em)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, raw, atol=1e-6)  # without the fallback the untrained row is read


# ---- replay -------------------------------------------------------------------------------------


def _triples(ds) -> list[tuple[str, str, int]]:
    return sorted(zip((ds.user_ids[u] for u in ds.user), (ds.item_ids[i] for i in ds.item), ds.timestamp.tolist()))


def test_replay_is_deterministic_and_base_plus_log_is_the_source(home, capsys):
    full = _base()
    split = int(np.sort(full.timestamp)[int(0.9 * full.n_interactions)])
    argv = ["replay", "--data", SRC, "--split", str(split), "--speed", "max", "--no-train", "--json"]
    outs, logs = [], []
    for _ in range(2):
        code, out, err = _run(capsys, argv)
        assert code == 0, err
        res = json.loads(out.strip().splitlines()[-1])
        outs.append(res)
        base = load(res["base_source"], events=False)
        logs.append(EventLog.of(base).read().events)
    a, b = outs
    assert list(a)[:3] == ["base_fingerprint", "replayed", "elapsed_s"]
    assert a["base_fingerprint"] == b["base_fingerprint"] and a["base_source"] == b["base_source"]
    assert a["replayed"] == b["replayed"] == int((full.timestamp >= split).sum())
    pd.testing.assert_frame_equal(logs[0], logs[1])  # a second replay starts from an empty log
    assert logs[0]["timestamp"].is_monotonic_increasing
    base = load(a["base_source"], events=False)
    assert base.fingerprint == a["base_fingerprint"] and int(base.timestamp.max()) < split
    assert base.n_items == full.n_items and base.titles == full.titles  # the whole catalogue
    merged = load(a["base_source"])
    assert merged.fingerprint == base.fingerprint and merged.log is not None
    assert merged.log.events == a["replayed"] and merged.log.new_items == 0
    assert _triples(merged) == _triples(full)


def test_replay_feeds_events_at_the_chosen_speed():
    from recsys.commands.replay import feed

    class Log:
        def __init__(self):
            self.batches: list[list[int]] = []

        def append(self, batch):
            self.batches.append(batch.events["timestamp"].tolist())

    now = [0.0]
    ev = pd.DataFrame({"user_id": ["u"] * 4, "item_id": list("abcd"), "timestamp": [1000, 1000, 1060, 1300],
                       "rating": [np.nan] * 4})
    log = Log()
    n = feed(log, ev, 60.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert n == 4 and log.batches == [[1000, 1000], [1060], [1300]]  # a minute of history per second
    assert now[0] == pytest.approx(5.0)
    fast = Log()
    feed(fast, ev, float("inf"), clock=lambda: 0.0, sleep=lambda s: pytest.fail("--speed max never waits"))
    assert fast.batches == [[1000, 1000, 1060, 1300]]


@pytest.mark.parametrize("argv,problem", [
    (["--speed", "fast"], "--speed: expected a factor like 60x or max, not 'fast'"),
    (["--speed", "0x"], "--speed must be a positive factor or max, not '0x'"),
    (["--split", "1990-01-01"], "--split 631152000: no interaction before it"),
    (["--split", "2099-01-01"], "--split 4070908800: no interaction from it on"),
])
def test_replay_bad_arguments(home, capsys, argv, problem):
    args = ["replay", "--data", SRC, "--split", "2024-06-01", "--no-train", *argv]
    code, out, err = _run(capsys, args)
    assert code == 2 and out == "" and err.startswith(f"error: {problem}") and err.count("\n") == 1


def test_the_app_reloads_a_source_whose_log_changed(home, capsys, monkeypatch, tiny_model):
    from ui.core import loaders

    ds0 = loaders.load_dataset(SRC)
    assert loaders.load_dataset(SRC) is ds0  # cached while the log is unchanged
    rows = [{"user_id": "app-walk-in", "item_id": ds0.item_ids[0], "timestamp": int(ds0.timestamp.max()) + 1},
            {"user_id": "app-walk-in", "item_id": "app-new-item", "timestamp": int(ds0.timestamp.max()) + 2}]
    assert _run(capsys, ["ingest", "--data", SRC, "--events", "-"], _json_lines(*rows), monkeypatch)[0] == 0
    ds1 = loaders.load_dataset(SRC)
    assert ds1 is not ds0 and ds1.n_interactions == ds0.n_interactions + 2 and ds1.has_user("app-walk-in")
    assert ds1.fingerprint == ds0.fingerprint and ds1.content_key != ds0.content_key
    m0 = loaders.load_model(str(tiny_model), ds0.content_key, ds0)
    m1 = loaders.load_model(str(tiny_model), ds1.content_key, ds1)
    assert m0.n_items == ds0.n_items and m1.n_items == ds1.n_items == ds0.n_items + 1


def test_replay_ml100k_last_tenth_rebuilds_the_source(home, capsys, ml100k_path):
    full = load(str(ml100k_path), events=False)
    split = int(np.sort(full.timestamp)[int(0.9 * full.n_interactions)])
    code, out, err = _run(capsys, ["replay", "--data", str(ml100k_path), "--split", str(split), "--speed", "max",
                                   "--no-train", "--json"])
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["replayed"] == int((full.timestamp >= split).sum()) and res["base_events"] + res["replayed"] == 100_000
    code, out, err = _run(capsys, ["data", "--data", res["base_source"], "--json"])
    d = json.loads(out.strip().splitlines()[-1])
    assert d["interactions"] == 100_000 and d["users"] == full.n_users and d["items"] == full.n_items
    assert d["fingerprint"] == res["base_fingerprint"] != full.fingerprint
    assert d["log"]["events"] == res["replayed"] and d["log"]["last_timestamp"] == int(full.timestamp.max())
    merged = load(res["base_source"])
    assert _triples(merged) == _triples(full)
    assert merged.user_attrs is not None and full.user_attrs is not None
    base = load(res["base_source"], events=False)
    new = [u for u in merged.user_ids if not base.has_user(u)]
    assert len(new) == merged.log.new_users > 0  # type: ignore[union-attr]
    for u in ["196", *new]:  # users first seen after the split keep their attributes too
        assert merged.user_attrs.loc[merged.user_index(u)].tolist() == full.user_attrs.loc[full.user_index(u)].tolist()


def test_precompute_shards_record_the_log_position():
    from recsys.precompute.plan import Job, shard_done

    job = Job(source=SRC, model_dir="m", n_users=10, model_fingerprint="a" * 64, data_fingerprint="b" * 64)
    key = job.shard_key(0)
    assert key["log_position"] == 0
    older = {k: v for k, v in key.items() if k != "log_position"}  # written before event logs existed
    assert shard_done(older, key)
    grown = Job(**{**job.loader_args(), "log_position": 3}).shard_key(0)
    assert not shard_done(older, grown) and not shard_done(key, grown) and shard_done(grown, grown)
