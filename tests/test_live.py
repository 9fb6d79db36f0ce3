"""The live view (issue 21): the log's tail read incrementally, a followed user's list
re-scored on a new event with rank moves and the event's leave-one-out effect, the app's
dataset cache keyed on the source's own log, and the Live page and User explorer panel
(off by default; after an ``ingest`` the next run shows the changed list)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.cli import main
from recsys.data import load
from recsys.data.events import EventLog, log_dir
from tests.app_support import assert_clean, featured, open_page

SRC = "demo-small"


@pytest.fixture()
def home(tmp_path, monkeypatch, tiny_model):
    """A RECSYS_HOME of this test's own (the session home's demo-small stays log-free)
    that sees the session's tiny model and embedding cache."""
    h = tmp_path / "home"
    h.mkdir()
    session_home = Path(tiny_model).parents[1]
    (h / "models").symlink_to(session_home / "models")
    if (session_home / "cache").is_dir():
        (h / "cache").symlink_to(session_home / "cache")
    monkeypatch.setenv("RECSYS_HOME", str(h))
    return h


def _ingest(rows, monkeypatch, capsys) -> None:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(["ingest", "--data", SRC, "--events", "-"])
    _, err = capsys.readouterr()
    assert code == 0, err


def _model(ds, tiny_model):
    from recsys.models.transformer import TransformerRecommender

    return TransformerRecommender.load(tiny_model, ds)


def test_tail_is_read_incrementally_and_a_new_event_moves_the_list(home, tiny_model, small_ds, monkeypatch, capsys):
    from explain.masked import MaskedScorer
    from ui.live import logic

    ds = load(SRC)
    model = _model(ds, tiny_model)
    user = featured(small_ds)
    d = log_dir(ds.fingerprint)
    tail = logic.poll(ds, d)
    assert tail.end == 0 and len(tail.events) == 0 and not tail.stale
    assert logic.poll(ds, d, tail) is tail  # nothing appended: nothing read
    f = logic.start(model, ds, tail, user, 10)
    assert not logic.advance(f, model, ds, tail) and f.last is None

    top = f.items[0]
    last = int(ds.sequence(ds.user_index(user))[1][-1])
    _ingest([{"user_id": "someone-else", "item_id": ds.item_ids[0], "timestamp": last + 10}], monkeypatch, capsys)
    tail = logic.poll(ds, d, tail)
    assert tail.end == 1 and tail.events["position"].tolist() == [1]
    assert not logic.advance(f, model, ds, tail)  # another user's event does not re-score this one

    _ingest([{"user_id": user, "item_id": top, "timestamp": last + 60}], monkeypatch, capsys)
    tail2 = logic.poll(ds, d, tail)
    assert tail2.end == 2 and tail2.events["position"].tolist() == [1, 2]
    assert logic.advance(f, model, ds, tail2)
    ch = f.changes[-1]
    assert ch.events == ((top, last + 60),)
    assert top not in f.items and ch.previous[0] == top
    kinds = {m.item_id: m.kind for m in ch.moves}
    assert kinds[top] == "out" and "new" in kinds.values()
    # the effect is the leave-one-out change of each moved item's log-probability
    h, _ = logic.live_history(ds, tail2, user)
    attributed = [m for m in ch.moves if m.effect]
    assert attributed
    for m in attributed:
        ms = MaskedScorer(model, h, ds.item_index(m.item_id))
        full = np.ones(ms.n_features)
        without = full.copy()
        without[-1] = 0
        assert m.effect[0] == pytest.approx(float(ms(full[None])[0] - ms(without[None])[0]), abs=1e-4)
    table = logic.moves_table(f, ch)
    assert set(table["move"]) >= {"out", "new"}

    # a full reload includes the events: the same history, no change; the tail is empty
    ds2 = load(SRC)
    tail3 = logic.poll(ds2, d, tail2)
    assert tail3.start == 2 and len(tail3.events) == 0
    assert not logic.advance(f, _model(ds2, tiny_model), ds2, tail3)
    # the log emptied under a dataset that included it: stale, the page reloads
    EventLog(d).reset()
    assert logic.poll(ds2, d, tail3).stale


def test_the_app_reloads_only_when_its_own_log_moves(home, tmp_path, monkeypatch, capsys):
    from ui.core import loaders

    other = tmp_path / "other.csv"
    other.write_text("user_id,item_id,timestamp\na,x,1\na,y,2\nb,x,3\nb,z,4\n", encoding="utf-8")
    ds0 = loaders.load_dataset(SRC)
    assert loaders.source_log_dir(SRC) == log_dir(ds0.fingerprint)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"user_id": "a", "item_id": "z", "timestamp": 9}\n'),
                                                       encoding="utf-8"))
    assert main(["ingest", "--data", str(other), "--events", "-"]) == 0
    capsys.readouterr()
    assert loaders.load_dataset(SRC) is ds0  # another source's log: nothing reloaded
    assert loaders.load_dataset(str(other)).n_interactions == 5
    _ingest([{"user_id": "walk-in", "item_id": ds0.item_ids[1], "timestamp": int(ds0.timestamp.max()) + 1}],
            monkeypatch, capsys)
    ds1 = loaders.load_dataset(SRC)
    assert ds1 is not ds0 and ds1.n_interactions == ds0.n_interactions + 1 and ds1.has_user("walk-in")
    assert loaders.load_dataset(SRC, 3).n_interactions <= ds1.n_interactions  # the filter keeps its own entry


def _toggle(at, label: str):
    return next(t for t in at.toggle if t.label.startswith(label))


def _text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [c.value for c in at.code]
    parts += [str(t.value) for t in at.table]
    return "\n".join(parts)


def test_live_page_is_off_by_default_then_follows_the_user(home, tiny_model, small_ds, monkeypatch, capsys):
    user = featured(small_ds)
    at = open_page("pages/live.py", user=user, data=SRC)
    assert_clean(at)
    assert _toggle(at, "Live mode").value is False
    assert any("Live mode is off" in i.value for i in at.info)
    assert f"reclens ingest --data {SRC} --events -" in _text(at)  # how to feed it, with this source
    assert at.table == [] and not at.metric  # nothing live yet

    _toggle(at, "Live mode").set_value(True).run()
    assert_clean(at)
    assert "No events yet" in _text(at) + "".join(str(m.value) for m in at.markdown)
    assert f"reclens replay --data {SRC} --split" in _text(at)

    ds = load(SRC)
    last = int(ds.timestamp.max())
    _ingest([{"user_id": "someone-else", "item_id": ds.item_ids[3], "timestamp": last + 5}], monkeypatch, capsys)
    at.run()
    assert_clean(at)
    assert f"Top 10 for user {user}" in _text(at) and "Waiting for a new event of this user" in _text(at)
    before = at.table[0].value
    top = before["title"].iloc[0]
    top_id = ds.item_ids[ds.titles.index(top)]
    _ingest([{"user_id": user, "item_id": top_id, "timestamp": last + 60}], monkeypatch, capsys)
    at.run()
    assert_clean(at)
    moves = at.table[0].value
    assert "move" in moves.columns and "out" in set(moves["move"]) and top not in moves["title"].iloc[:10].tolist()
    assert "caused by 1 new event(s)" in _text(at)
    assert [m.value for m in at.metric][:1] == ["2"]  # events in the log

    # the whole stream follows the newest event's user
    at.radio(key="w.live_mode").set_value("Whole stream").run()
    _ingest([{"user_id": "streamwalkin", "item_id": top_id, "timestamp": last + 90}], monkeypatch, capsys)
    at.run()
    assert_clean(at)
    assert "Top 10 for user streamwalkin" in _text(at)


def test_user_explorer_live_panel(home, tiny_model, small_ds, monkeypatch, capsys):
    user = featured(small_ds)
    at = open_page("pages/user_explorer.py", user=user, data=SRC)
    assert_clean(at)
    panel = _toggle(at, "Follow this user's new events live")
    assert panel.value is False and "list #" not in _text(at)
    panel.set_value(True).run()
    assert_clean(at)
    assert "No events yet" in _text(at)
    ds = load(SRC)
    last = int(ds.timestamp.max())
    _ingest([{"user_id": user, "item_id": ds.item_ids[2], "timestamp": last + 60}], monkeypatch, capsys)
    at.run()
    assert_clean(at)
    assert f"Top 10 for user {user}" in _text(at)
    top = next(t for t in at.table if "title" in t.value.columns).value["title"].iloc[0]
    top_id = ds.item_ids[ds.titles.index(top)]
    _ingest([{"user_id": user, "item_id": top_id, "timestamp": last + 120}], monkeypatch, capsys)
    at.run()
    assert_clean(at)
    assert "caused by 1 new event(s)" in _text(at)
    assert "This user's newest events" in _text(at)


def test_a_replay_base_opens_exactly_when_its_origin_may(home, tmp_path):
    from recsys.data.replays import replay_root, replays_of, write_mark
    from ui.core.access import REFUSED, check_source

    ok, secret = replay_root() / "aaaa", replay_root() / "bbbb"
    for d in (ok, secret):
        d.mkdir(parents=True)
    write_mark(ok, SRC, 1_700_000_000, 900, 100)
    write_mark(secret, str(tmp_path), 1_700_000_000, 900, 100)  # a folder outside every allowlist

    def check(src, roots=()):
        return check_source(str(src), startup="demo", roots=roots, upload_dir=None, max_interactions=200_000)

    assert check(ok) is None
    assert check(secret) == REFUSED
    assert check(tmp_path) == REFUSED
    assert check(secret, roots=(tmp_path.resolve(),)) is None
    (tmp_path / "x").mkdir()
    write_mark(tmp_path / "x", SRC, 1, 1, 1)  # a mark outside $RECSYS_HOME/replay counts for nothing
    assert check(tmp_path / "x") == REFUSED
    assert [r.path for r in replays_of(SRC)] == [str(ok)]
