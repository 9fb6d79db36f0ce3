"""The Long-term lab's simulations on the server's work queue (:mod:`ui.core.workqueue`):
one queue per server process, so a simulation waits its turn behind a training or
another session's simulation (with a visible position) instead of competing for the
cores, and its result is kept per (data, model, settings).

Every session that asks for the same settings on the same data and model joins the same
job and reads the same (deterministic) result; a session never sees another's
settings, it only finds a job by its own key. Finished runs are kept as long as the
queue keeps finished jobs (``workqueue.KEEP_DONE``, oldest dropped first).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recsys.simulate import SimulationResult, simulate
from ui.core import workqueue
from ui.simulate.logic import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset
    from recsys.models.base import Scorer
    from recsys.rerank import RerankContext

KIND = "simulation"


@dataclass(eq=False)
class SimJob:
    """A run's view of its queue job (status written by the queue's worker only)."""

    spec: RunSpec
    job: workqueue.Job

    @property
    def fraction(self) -> float:
        return self.job.fraction

    @property
    def message(self) -> str:
        return self.job.message

    @property
    def done(self) -> bool:
        return self.job.done

    @property
    def error(self) -> str | None:
        return self.job.error

    @property
    def results(self) -> dict[str, SimulationResult]:
        got = self.job.result
        return got if isinstance(got, dict) else {}

    @property
    def finished(self) -> threading.Event:
        return self.job.finished

    @property
    def started(self) -> float:
        return self.job.started or self.job.submitted

    def position(self) -> int:
        return self.job.position()


_GUARD = threading.Lock()  # guards _VIEWS
_VIEWS: dict[str, SimJob] = {}


def queue_key(spec: RunSpec) -> str:
    return "simulate:" + spec.key()


def _view(spec: RunSpec, job: workqueue.Job | None) -> SimJob | None:
    if job is None:
        return None
    key = queue_key(spec)
    with _GUARD:
        view = _VIEWS.get(key)
        if view is None or view.job is not job:
            view = _VIEWS[key] = SimJob(spec, job)
        for k in [k for k, v in _VIEWS.items() if workqueue.get(k) is not v.job]:
            _VIEWS.pop(k, None)  # the queue dropped that run
        return view


def get(spec: RunSpec) -> SimJob | None:
    return _view(spec, workqueue.get(queue_key(spec)))


def busy() -> bool:
    """True while some simulation (of any session) is running or waiting on the queue."""
    return any(kind == KIND for _, kind, _ in workqueue.status().running) or any(
        kind == KIND for _, kind in workqueue.status().waiting)


def label(spec: RunSpec, source: str) -> str:
    """The job's label in the queue's status (every session sees it): no user, no path."""
    return f"simulating {spec.users} users × {spec.rounds} rounds on {source}"


def start(spec: RunSpec, ds: Dataset, model: Scorer, ctx: RerankContext, source: str = "this dataset") -> SimJob:
    """The job of ``spec``: the existing one (waiting, running or finished without error),
    else a new one queued on the server's work queue (raises QueueFull when it is full).
    ``source`` names the data in the job's label (no path or upload)."""

    def work(progress: workqueue.Progress) -> dict[str, SimulationResult]:
        configs = spec.configs()
        n = len(configs)
        results: dict[str, SimulationResult] = {}
        for j, (name, cfg) in enumerate(configs.items()):
            def step(f: float, msg: str, j: int = j, name: str = name) -> None:
                progress((j + min(max(f, 0.0), 1.0)) / n, f"{name}: {msg}" if n > 1 else msg)

            results[name] = simulate(ds, model, cfg, ctx=ctx, progress=step)
        progress(1.0, "done")
        return results

    job = workqueue.submit(queue_key(spec), label(spec, source), work, kind=KIND)
    view = _view(spec, job)
    assert view is not None
    return view


def wait(spec: RunSpec, timeout: float | None = None) -> SimJob | None:
    """Block until the job of ``spec`` is finished (tests, scripts); None when unknown."""
    return _view(spec, workqueue.wait(queue_key(spec), timeout))
