"""The server's work queue in the app (AppTest): two sessions asking for the same
first-start training join one job, a different job waits with its position shown, and
the sidebar names the queue's work by label only."""

from __future__ import annotations

import threading

import pytest

from tests.app_support import assert_clean, open_page
from ui.core import loaders, workqueue

WORLD = "demo:users=104,items=208"  # no model anywhere: the app trains it on first start
TIMEOUT = 600


@pytest.fixture()
def gate():
    """A job that holds the queue's worker until released (so other jobs wait in line)."""
    release, entered = threading.Event(), threading.Event()

    def hold(progress):
        entered.set()
        release.wait(TIMEOUT)

    key = f"test:gate:{id(release)}"
    workqueue.submit(key, "test gate", hold, kind="test", threads=1)
    assert entered.wait(60)
    yield release
    release.set()
    workqueue.wait(key, 60)


def _texts(at) -> str:
    parts = [p.text for p in at.get("progress")]
    parts += [e.value for kind in ("caption", "info", "markdown") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def test_two_sessions_join_one_training_and_other_work_shows_its_position(gate, tiny_model, monkeypatch):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    from recsys.data import load
    from recsys.paths import default_model_dir

    out = default_model_dir(load(WORLD))
    assert not (out / "manifest.json").exists()
    q = workqueue.default_queue()
    key = loaders.train_key(out)

    a = open_page("pages/home.py", data=WORLD)  # session A asks for the training
    assert_clean(a)
    job = workqueue.get(key)
    assert job is not None and job.kind == "train" and job.state == "waiting" and job.position() == 1
    assert job.label == f"training the model for {WORLD}"  # a label names no path, user or upload
    assert "position 1, 1 job ahead" in _texts(a)
    assert "Another session" not in _texts(a)
    submitted = q.submitted_count

    b = open_page("pages/home.py", data=WORLD)  # session B asks for the same training: it joins
    assert_clean(b)
    assert workqueue.get(key) is job and q.submitted_count == submitted  # no second training queued
    assert "Another session started training the model for this dataset" in _texts(b)
    assert "position 1, 1 job ahead" in _texts(b)
    assert any("Server work: test gate" in c.value and "1 waiting" in c.value for c in b.sidebar.caption), [c.value for c in b.sidebar.caption]

    # earlier tests of this process may have scored demo-small's population already (a
    # finished job is served at once): drop those results so C's scoring is new work
    for k in list(q._jobs):
        if k.startswith("pools:"):
            q.forget(k)
    c = open_page("pages/item_view.py")  # session C, other work (scoring every user): behind both
    assert_clean(c)
    assert "position 2, 2 jobs ahead" in _texts(c)
    assert any("Shown once every user has been scored" in x.value for x in c.caption)
    assert q.submitted_count == submitted + 1

    started = q.started_count
    gate.set()
    assert workqueue.wait(key, TIMEOUT) is job and job.error is None, job.error
    for at in (a, b):
        at.run()
        assert_clean(at)
        assert "position" not in _texts(at)
        assert any(s.value == "Training facts" for s in at.subheader)  # the model card: trained
    assert (out / "manifest.json").is_file()
    pools = [j for j in (workqueue.get(k) for k in list(q._jobs)) if j is not None and j.label.startswith("scoring")]
    assert pools and workqueue.wait(pools[-1].key, TIMEOUT) is not None
    c.run()
    assert_clean(c)
    assert c.get("plotly_chart")  # the exposure charts, from the queue's finished job
    ablation = workqueue.wait(loaders.ablation_key(out), TIMEOUT)
    assert ablation is not None and ablation.done
    # one training ran for both sessions: training, then the pools and the ablation
    assert q.started_count - started == 3


def test_a_failed_training_is_shown_once_and_tried_again_only_on_the_next_run(tmp_path, monkeypatch):
    rows = ["user_id,item_id,timestamp"]
    for u in range(30):  # two interactions per user: nothing to validate or test on
        rows += [f"u{u},i{u % 7},{100 + u}", f"u{u},i{(u + 1) % 7},{200 + u}"]
    data = tmp_path / "two_each"
    data.mkdir()
    (data / "interactions.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("RECSYS_DATA", str(data))
    q = workqueue.default_queue()
    started = q.started_count
    at = open_page("pages/home.py")
    assert not at.exception
    assert any("Training failed: no user has 3 or more interactions" in e.value for e in at.error)
    assert q.started_count == started + 1  # the failure did not start another training by itself
    at.run()  # the analyst's next action: one more try, shown again
    assert any("Training failed" in e.value for e in at.error)
    assert q.started_count == started + 2
