"""Freshness: staleness after an ingest, models keyed on the log prefix they were trained
on (``train --init-from`` on base + log, ``ingest --reset``), ``evaluate --prequential``
on the log, the update job on the work queue and the model card's section in the app."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.cli import main
from recsys.data import load
from recsys.paths import default_model_dir
from recsys.updates import model_out_dir, resolve_model_dir, staleness, trained_position

SRC = "demo-small"


@pytest.fixture()
def home(tmp_path, monkeypatch, tiny_model):
    """A RECSYS_HOME of this test's own holding a copy of the tiny base model (the session
    home's demo-small must stay log-free); the text-embedding cache is the session's."""
    h = tmp_path / "home"
    (h / "models").mkdir(parents=True)
    shutil.copytree(tiny_model, h / "models" / Path(tiny_model).name)
    session_cache = Path(tiny_model).parents[1] / "cache"
    if session_cache.is_dir():
        (h / "cache").symlink_to(session_cache, target_is_directory=True)
    monkeypatch.setenv("RECSYS_HOME", str(h))
    return h


def _run(capsys, argv, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _events(n: int, offset: int = 0) -> bytes:
    """``n`` new events of existing users on items they have not seen, after the data."""
    base = load(SRC, events=False)
    last = int(base.timestamp.max())
    rows = []
    for k in range(n):
        u = (7 * (k + offset)) % base.n_users
        seen = set(base.sequence(u)[0].tolist())
        item = next(i for i in range((13 * (k + offset)) % base.n_items, base.n_items) if i not in seen)
        rows.append({"user_id": base.user_ids[u], "item_id": base.item_ids[item], "timestamp": last + 60 * (k + offset + 1)})
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _ingest(capsys, monkeypatch, n: int, offset: int = 0) -> dict:
    code, out, err = _run(capsys, ["ingest", "--data", SRC, "--events", "-", "--json"], _events(n, offset), monkeypatch)
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_staleness_counts_the_events_after_the_model(home, capsys, monkeypatch):
    _ingest(capsys, monkeypatch, 3)
    ds = load(SRC)
    assert ds.log is not None and ds.log.generation
    base_model = staleness(ds, {})
    assert base_model.since_training == 3 and base_model.log_events == 3
    assert base_model.newest_event == ds.log.last_timestamp == int(ds.timestamp.max())
    rec = {"event_log": {"generation": ds.log.generation, "events": 2, "last_timestamp": 0},
           "trained_newest_event": 5}
    assert staleness(ds, rec).since_training == 1 and staleness(ds, rec).trained_newest == 5
    _ingest(capsys, monkeypatch, 2, offset=3)
    assert staleness(load(SRC), rec).since_training == 3
    assert _run(capsys, ["ingest", "--data", SRC, "--reset"])[0] == 0
    _ingest(capsys, monkeypatch, 1, offset=5)
    after_reset = staleness(load(SRC), rec)  # trained on a log that is gone: every event is new
    assert after_reset.since_training == 1 and after_reset.trained_events == 0 and after_reset.trained_newest is None


def test_update_is_keyed_on_the_log_prefix_and_reset_falls_back(home, capsys, monkeypatch):
    from recsys.models.transformer import TransformerRecommender

    base = load(SRC, events=False)
    base_dir = default_model_dir(base)
    _ingest(capsys, monkeypatch, 12)
    ds = load(SRC)
    assert resolve_model_dir(ds) == base_dir  # no update yet: the base model, all 12 events unseen
    code, out, err = _run(capsys, ["evaluate", "--data", SRC, "--prequential", "--window", "5", "--json"])
    assert code == 0, err
    pre = json.loads(out.strip().splitlines()[-1])
    assert pre["events"] == 12 and pre["window_events"] == 5 and pre["skipped_trained"] == 0
    assert [b["events"] for b in pre["blocks"]] == [5, 5, 2] and pre["staleness"]["events_since_training"] == 12

    code, out, err = _run(capsys, ["train", "--data", SRC, "--init-from", str(base_dir), "--epochs", "1",
                                   "--no-ablation", "--no-progress", "--json"])
    assert code == 0, err
    upd = Path(json.loads(out.strip().splitlines()[-1])["model_dir"])
    assert upd == model_out_dir(ds) != base_dir and (base_dir / "model.safetensors").is_file()
    assert resolve_model_dir(ds) == upd
    man = json.loads((upd / "manifest.json").read_text())
    assert man["event_log"]["events"] == 12 and trained_position(man, ds) == 12
    assert TransformerRecommender.load(upd, ds).n_items == ds.n_items
    code, _, err = _run(capsys, ["evaluate", "--data", SRC, "--prequential"])
    assert code == 2 and "trained on all 12 logged events" in err

    _ingest(capsys, monkeypatch, 3, offset=12)
    ds2 = load(SRC)
    assert resolve_model_dir(ds2) == upd and staleness(ds2, man).since_training == 3
    code, out, err = _run(capsys, ["recommend", "--data", SRC, "--user", base.user_ids[0], "--json"])
    assert code == 0, err
    stale = json.loads(out.strip().splitlines()[-1])["staleness"]
    assert stale["events_since_training"] == 3 and stale["trained_log_events"] == 12 and stale["log_events"] == 15
    code, out, err = _run(capsys, ["evaluate", "--data", SRC, "--prequential", "--json"])
    assert code == 0, err
    again = json.loads(out.strip().splitlines()[-1])
    assert again["events"] == 3 and again["skipped_trained"] == 12 and again["blocks"][0]["first"] == 13

    assert _run(capsys, ["ingest", "--data", SRC, "--reset"])[0] == 0
    empty = load(SRC)
    assert resolve_model_dir(empty) == base_dir  # the update's events are gone: the base model again
    TransformerRecommender.load(base_dir, empty)
    code, _, err = _run(capsys, ["recommend", "--data", SRC, "--user", base.user_ids[0], "--json"])
    assert code == 0, err


def test_update_job_on_the_queue_gives_a_loadable_artifact(home, capsys, monkeypatch):
    from recsys.models.transformer import TransformerRecommender
    from recsys.updates import unseen_quality
    from ui.core import workqueue
    from ui.freshness import logic

    _ingest(capsys, monkeypatch, 20)
    ds = load(SRC)
    cur = resolve_model_dir(ds)
    before = staleness(ds, json.loads((cur / "manifest.json").read_text()))
    cleared = []
    key = logic.update_key(ds)
    job = workqueue.submit(key, "updating the model for demo-small",
                           logic.update_work(ds, cur, None, lambda: cleared.append(1)), kind="train", threads=1)
    done = workqueue.wait(key, timeout=600)
    assert done is job and job.done and job.error is None, job.error
    assert cleared == [1]
    new = resolve_model_dir(load(SRC))
    assert new == Path(job.result["model_dir"]) == model_out_dir(ds) != cur
    man = json.loads((new / "manifest.json").read_text())
    model = TransformerRecommender.load(new, ds)
    assert before.since_training == 20 and staleness(ds, man).since_training == 0
    rec = man["update"]
    assert rec["events"] == 20 and rec["from_events"] == 0 and rec["before"]["events"] == 20
    assert 0.0 <= rec["before"]["ndcg@10"] <= rec["before"]["hr@10"] <= 1.0
    assert unseen_quality(model, ds, man) is None  # every logged event was training data: nothing unseen
    _ingest(capsys, monkeypatch, 4, offset=20)
    grown = load(SRC)
    q = unseen_quality(model, grown, man)
    assert q is not None and q["events"] == 4 and q["first_position"] == 21 and np.isfinite(q["ndcg@10"])


def test_model_card_shows_staleness_and_updates_in_the_background(home, capsys, monkeypatch):
    from tests.app_support import assert_clean, open_page
    from ui.core import workqueue
    from ui.freshness import logic, panel

    monkeypatch.setenv("RECSYS_DATA", SRC)
    at = open_page("pages/home.py")
    assert_clean(at)
    assert not [b for b in at.button if b.key == panel.UPDATE_BUTTON]  # no log: nothing to update
    _ingest(capsys, monkeypatch, 15)
    at = open_page("pages/home.py")
    assert_clean(at)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Events since training"] == "15" and tiles["Event log"] == "15 events"
    assert tiles["Events scored"] == "15" and tiles["Rolling NDCG@10"] != "—"
    at.button(key=panel.UPDATE_BUTTON).click().run(timeout=120)
    assert not at.exception
    job = workqueue.wait(logic.update_key(load(SRC)), timeout=600)
    assert job is not None and job.error is None, job and job.error
    at = open_page("pages/home.py")
    assert_clean(at)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Events since training"] == "0" and tiles["Rolling NDCG@10"] == "—"
    captions = " ".join(c.value for c in at.caption)
    assert "Updated after 15 logged events" in captions and "Before the update the previous model scored" in captions
    assert not [b for b in at.button if b.key == panel.UPDATE_BUTTON]


def test_card_texts_say_what_the_figures_are():
    from recsys.updates import Staleness
    from ui.freshness import logic

    s = Staleness(log_events=1200, trained_events=200, newest_event=893286638, trained_newest=None,
                  new_users=3, new_items=0)
    tiles = logic.staleness_tiles(s)
    assert [t[:2] for t in tiles] == [("Events since training", "1,000"), ("Newest event", "1998-04-22 23:10 UTC"),
                                      ("Event log", "1,200 events")]
    assert "200 of the 1,200" in tiles[0][2] and "3 new users" in tiles[2][2]
    assert logic.delta({"ndcg@10": 0.12}, {"ndcg@10": 0.1}, "ndcg@10") == "+0.0200"
    assert logic.delta(None, {"ndcg@10": 0.1}, "ndcg@10") is None and logic.figure(None, "ndcg@10") == "—"
    rec = {"events": 2000, "epochs": 3, "before": {"events": 500, "ndcg@10": 0.1, "hr@10": 0.2}}
    assert logic.before_text(rec) == ("Updated after 2,000 logged events (3 epochs of continued training). Before "
                                      "the update the previous model scored NDCG@10 0.1000 · HR@10 0.2000 on the "
                                      "500 newest events it had not seen.")
    assert logic.cli_line("ml-100k", "/m") == "python -m recsys train --data ml-100k --init-from /m --epochs 3 --no-ablation"


def test_prune_keeps_the_newest_updates_and_the_protected_ones(home):
    import os

    from recsys.updates import prune, updates_root

    ds = load(SRC)
    root = updates_root(ds)
    dirs = []
    for k in range(5):
        d = root / f"gen-{k:010d}"
        d.mkdir(parents=True)
        os.utime(d, (1_000_000 + k, 1_000_000 + k))
        dirs.append(d)
    removed = prune(ds, keep={dirs[0]}, limit=2)
    assert sorted(removed) == dirs[1:3]
    assert [d.is_dir() for d in dirs] == [True, False, False, True, True]
