"""The Long-term lab's job registry: simulations run in background threads, one at a
time per server process, and their results are kept per (data, model, settings).

Module-level state (not per session): every session that asks for the same settings on
the same data and model joins the same job and reads the same (deterministic) result; a
session never sees another's settings, it only finds a job by its own key. At most
:data:`MAX_KEPT` finished jobs are kept (oldest dropped first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recsys.data.types import DataError
from recsys.simulate import SimulationResult, simulate
from ui.simulate.logic import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset
    from recsys.models.base import Scorer
    from recsys.rerank import RerankContext

MAX_KEPT = 6


@dataclass
class SimJob:
    """Status of one run (written by its thread only; read by pages)."""

    spec: RunSpec
    fraction: float = 0.0
    message: str = "queued"
    done: bool = False
    error: str | None = None
    results: dict[str, SimulationResult] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    finished: threading.Event = field(default_factory=threading.Event)


_RUN_LOCK = threading.Lock()  # one simulation at a time per server
_GUARD = threading.Lock()  # guards _JOBS
_JOBS: OrderedDict[str, SimJob] = OrderedDict()


def get(spec: RunSpec) -> SimJob | None:
    with _GUARD:
        return _JOBS.get(spec.key())


def busy() -> bool:
    """True while some simulation (of any session) is running."""
    return _RUN_LOCK.locked()


def _evict() -> None:
    done = [k for k, j in _JOBS.items() if j.done]
    while len(_JOBS) > MAX_KEPT and done:
        _JOBS.pop(done.pop(0), None)


def start(spec: RunSpec, ds: Dataset, model: Scorer, ctx: RerankContext) -> SimJob:
    """The job of ``spec``: the existing one (running or finished without error), else a
    new one started in a background thread."""
    with _GUARD:
        job = _JOBS.get(spec.key())
        if job is not None and job.error is None:
            return job
        job = _JOBS[spec.key()] = SimJob(spec)
        _evict()

    def work() -> None:
        try:
            if _RUN_LOCK.locked():
                job.message = "waiting for another simulation on this server to finish"
            with _RUN_LOCK:
                configs = spec.configs()
                n = len(configs)
                for j, (label, cfg) in enumerate(configs.items()):
                    def progress(f: float, msg: str, j: int = j, label: str = label) -> None:
                        job.fraction = (j + min(max(f, 0.0), 1.0)) / n
                        job.message = f"{label}: {msg}" if n > 1 else msg

                    job.results[label] = simulate(ds, model, cfg, ctx=ctx, progress=progress)
                job.fraction, job.message = 1.0, "done"
        except (DataError, ValueError, RuntimeError, MemoryError) as e:
            job.error = str(e) or type(e).__name__
        finally:
            job.done = True
            job.finished.set()

    threading.Thread(target=work, name="reclens-simulate", daemon=True).start()
    return job


def wait(spec: RunSpec, timeout: float | None = None) -> SimJob | None:
    """Block until the job of ``spec`` is finished (tests, scripts); None when unknown."""
    job = get(spec)
    if job is not None:
        job.finished.wait(timeout)
    return job
