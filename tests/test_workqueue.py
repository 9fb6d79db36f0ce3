"""The server's work queue (ui/core/workqueue.py): joining, FIFO, positions, bounds,
retries after failure, the CPU budget and progress relay. Each test builds its own
WorkQueue so the process-wide queue stays untouched."""

from __future__ import annotations

import threading

import pytest

from recsys.data.types import DataError
from ui.core import workqueue
from ui.core.workqueue import QueueFull, WorkQueue

TIMEOUT = 30


class Gate:
    """A job body that blocks until released, recording that it ran."""

    def __init__(self, result: object = None, fail: Exception | None = None) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.result = result
        self.fail = fail

    def __call__(self, progress):
        self.calls += 1
        self.entered.set()
        assert self.release.wait(TIMEOUT), "test gate never released"
        if self.fail is not None:
            raise self.fail
        return self.result


def test_same_key_joins_one_job():
    q = WorkQueue(workers=1, size=4, cores=2)
    g = Gate(result=42)
    a = q.submit("train:x", "training x", g)
    b = q.submit("train:x", "training x", Gate())
    assert a is b
    assert g.entered.wait(TIMEOUT)
    assert q.submit("train:x", "training x", Gate()) is a  # joining a running job
    g.release.set()
    assert q.wait("train:x", TIMEOUT) is a
    assert a.done and a.error is None and a.result == 42 and a.state == "done"
    assert q.submit("train:x", "training x", Gate()) is a  # a finished job serves later joins
    assert g.calls == 1 and q.started_count == 1 and q.submitted_count == 1


def test_fifo_order_and_positions():
    q = WorkQueue(workers=1, size=4, cores=2)
    order: list[str] = []
    first = Gate()

    def body(name):
        def work(progress):
            order.append(name)
        return work

    def first_work(progress):
        order.append("a")
        return first(progress)

    a = q.submit("a", "A", first_work)
    assert first.entered.wait(TIMEOUT)
    b = q.submit("b", "B", body("b"), kind="sweep")
    c = q.submit("c", "C", body("c"), kind="simulation")
    assert (a.position(), b.position(), c.position()) == (0, 1, 2)
    assert (a.state, b.state, c.state) == ("running", "waiting", "waiting")
    st = q.status()
    assert st.running == (("A", "train", 0.0),) and st.waiting == (("B", "sweep"), ("C", "simulation"))
    assert st.summary() == "A (0%), 2 waiting"
    first.release.set()
    assert q.wait("c", TIMEOUT) is c and c.done
    assert order == ["a", "b", "c"]
    assert (a.position(), b.position(), c.position()) == (0, 0, 0)
    assert q.status().idle and q.status().summary() == ""


def test_bounded_queue_raises_readable_queue_full():
    q = WorkQueue(workers=1, size=2, cores=2)
    g = Gate()
    q.submit("run", "R", g)
    assert g.entered.wait(TIMEOUT)  # running jobs do not count against the bound
    w1, w2 = Gate(), Gate()
    q.submit("w1", "W1", w1)
    q.submit("w2", "W2", w2)
    with pytest.raises(QueueFull) as err:
        q.submit("w3", "W3", Gate())
    assert isinstance(err.value, DataError)
    assert "busy" in str(err.value) and "2 jobs are already waiting" in str(err.value)
    assert q.submit("w1", "W1", Gate()).key == "w1"  # joining never counts against the bound
    assert q.get("w3") is None
    for gate in (g, w1, w2):
        gate.release.set()
    done = q.wait("w2", TIMEOUT)
    assert done is not None and done.done and done.error is None


def test_failed_job_reports_and_can_be_resubmitted():
    q = WorkQueue(workers=1, size=4, cores=2)
    bad = Gate(fail=DataError("interactions.csv:3: no timestamp"))
    bad.release.set()
    j1 = q.submit("k", "K", bad)
    q.wait("k", TIMEOUT)
    assert j1.done and j1.state == "failed" and j1.error == "interactions.csv:3: no timestamp"
    crash = Gate(fail=ZeroDivisionError("boom"))
    crash.release.set()
    j2 = q.submit("k", "K", crash)
    assert j2 is not j1  # a failed job is replaced, not joined
    q.wait("k", TIMEOUT)
    assert j2.error == "ZeroDivisionError: boom"  # the worker survives any exception
    good = Gate(result="ok")
    good.release.set()
    j3 = q.submit("k", "K", good)
    assert q.wait("k", TIMEOUT) is j3 and j3.result == "ok" and j3.error is None
    assert q.started_count == 3


def test_threads_never_exceed_the_cores(monkeypatch):
    import torch

    monkeypatch.delenv("RECSYS_TRAIN_THREADS", raising=False)

    q = WorkQueue(workers=2, size=8, cores=2)
    assert q.max_threads() == 1
    lock = threading.Lock()
    live = {"now": 0, "max": 0}
    seen: list[int] = []
    release = threading.Event()

    def work(progress):
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
            seen.append(torch.get_num_threads())
        release.wait(0.2)
        with lock:
            live["now"] -= 1

    jobs = [q.submit(f"j{i}", f"J{i}", work, threads=8) for i in range(5)]
    assert all(j.threads == 1 for j in jobs)  # 8 asked, 2 cores / 2 workers allowed
    release.set()
    for j in jobs:
        q.wait(j.key, TIMEOUT)
    assert live["max"] <= 2 and seen == [1] * 5
    one = WorkQueue(workers=1, size=8, cores=4)
    assert one.max_threads() == 4
    assert one.submit("t", "T", lambda p: None, threads=None).threads == 2  # training_threads(): half


def test_default_threads_follow_training_threads(monkeypatch):
    monkeypatch.setenv("RECSYS_TRAIN_THREADS", "3")
    q = WorkQueue(workers=1, size=2, cores=2)
    assert q.submit("t", "T", lambda p: None).threads == 2  # capped at the cores


def test_workers_and_size_from_env_are_validated():
    assert workqueue.configured_workers({}, cores=2) == 1
    assert workqueue.configured_workers({"RECSYS_QUEUE_WORKERS": "2"}, cores=2) == 2
    for bad in ("0", "3", "two", "-1"):
        with pytest.raises(DataError, match="RECSYS_QUEUE_WORKERS must be a whole number between 1 and 2"):
            workqueue.configured_workers({"RECSYS_QUEUE_WORKERS": bad}, cores=2)
    assert workqueue.configured_size({}) == workqueue.DEFAULT_SIZE
    assert workqueue.configured_size({"RECSYS_QUEUE_SIZE": "3"}) == 3
    with pytest.raises(DataError, match="RECSYS_QUEUE_SIZE"):
        workqueue.configured_size({"RECSYS_QUEUE_SIZE": "none"})


def test_progress_is_relayed_and_clamped():
    q = WorkQueue(workers=1, size=2, cores=2)
    step = threading.Event()
    go = threading.Event()

    def work(progress):
        progress(0.42, "epoch 2/5")
        step.set()
        assert go.wait(TIMEOUT)
        progress(7.0, "almost")
        return "r"

    job = q.submit("p", "P", work)
    assert step.wait(TIMEOUT)
    assert (job.fraction, job.message) == (0.42, "epoch 2/5")
    assert q.status().summary() == "P (42%)"
    go.set()
    q.wait("p", TIMEOUT)
    assert job.fraction == 1.0 and job.message == "almost" and job.result == "r"


def test_finished_jobs_are_kept_up_to_a_bound(monkeypatch):
    monkeypatch.setattr(workqueue, "KEEP_DONE", 2)
    q = WorkQueue(workers=1, size=8, cores=2)
    for i in range(4):
        q.submit(f"d{i}", "D", lambda p: None)
        q.wait(f"d{i}", TIMEOUT)
    q.submit("last", "D", lambda p: None)
    q.wait("last", TIMEOUT)
    kept = [k for k in ("d0", "d1", "d2", "d3", "last") if q.get(k) is not None]
    assert kept == ["d3", "last"]


def test_module_level_queue_is_one_per_process():
    assert workqueue.default_queue() is workqueue.default_queue()
    key = "test_workqueue:module-level"
    job = workqueue.submit(key, "module-level", lambda p: "hello", kind="test", threads=1)
    assert workqueue.wait(key, TIMEOUT) is job and workqueue.get(key) is job
    assert job.result == "hello" and job.kind == "test"
    assert workqueue.wait("test_workqueue:unknown") is None
