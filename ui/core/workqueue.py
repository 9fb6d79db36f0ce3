"""One bounded work queue per server process for the heavy work of every session.

Training, the background ablation, simulations and population sweeps are submitted
here instead of running on a page's request path or in ad-hoc threads. Pure Python
(no streamlit): module-level state is the server process's single queue, and its
daemon worker threads live as long as the process.

Guarantees:

- **Fixed CPU budget.** ``RECSYS_QUEUE_WORKERS`` worker threads (default 1: one heavy
  job at a time) run the jobs; each job runs with ``threads`` torch threads (default
  :func:`recsys.runtime.training_threads`, half the cores), capped so that
  ``workers × threads`` never exceeds the cores. The rest of the machine serves pages.
- **Joining.** Submitting a key that is waiting, running or finished without error
  returns the existing :class:`Job`: a second session asking for the same training
  follows the same progress and reads the same result instead of starting another.
  A failed job is replaced by a fresh one when its key is submitted again.
- **FIFO.** Different work waits its turn in submission order; :meth:`Job.position`
  is how many jobs are ahead of it (0 = running or finished).
- **Bounded.** At most ``RECSYS_QUEUE_SIZE`` jobs (default 8) wait; one more raises
  :class:`QueueFull` (a DataError with a readable message). Finished jobs are kept
  (their results serve later joins) up to :data:`KEEP_DONE`, oldest dropped first.

Labels are shown to every session (the status view), so callers must build them from
what any visitor may see — a data source's display name, never a file path or a
user id.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from recsys.data.types import DataError

Progress = Callable[[float, str], None]
Work = Callable[[Progress], Any]

WORKERS_ENV = "RECSYS_QUEUE_WORKERS"
SIZE_ENV = "RECSYS_QUEUE_SIZE"
DEFAULT_WORKERS = 1
DEFAULT_SIZE = 8
KEEP_DONE = 32

_log = logging.getLogger(__name__)


class QueueFull(DataError):
    """The queue already holds its maximum of waiting jobs."""


def _cores() -> int:
    return max(1, int(os.cpu_count() or 1))


def _positive_int(env: Mapping[str, str], name: str, default: int, upper: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1 or (upper is not None and n > upper):
        bound = f" between 1 and {upper} (the cores)" if upper is not None else " (at least 1)"
        raise DataError(f"{name} must be a whole number{bound}, not {raw!r}")
    return n


def configured_workers(env: Mapping[str, str] | None = None, cores: int | None = None) -> int:
    """``$RECSYS_QUEUE_WORKERS`` (1..cores), default 1; DataError when invalid."""
    return _positive_int(os.environ if env is None else env, WORKERS_ENV, DEFAULT_WORKERS, cores or _cores())


def configured_size(env: Mapping[str, str] | None = None) -> int:
    """``$RECSYS_QUEUE_SIZE`` (waiting jobs, at least 1), default 8; DataError when invalid."""
    return _positive_int(os.environ if env is None else env, SIZE_ENV, DEFAULT_SIZE)


@dataclass(eq=False)
class Job:
    """One unit of heavy work. Written by its worker thread only; read by pages."""

    key: str
    label: str
    kind: str
    work: Work = field(repr=False)
    threads: int = 1
    fraction: float = 0.0
    message: str = "waiting"
    done: bool = False
    error: str | None = None
    result: Any = field(default=None, repr=False)
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished_at: float | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _queue: "WorkQueue | None" = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.started is not None and not self.done

    @property
    def state(self) -> str:
        """``"waiting"``, ``"running"``, ``"done"`` or ``"failed"``."""
        if self.done:
            return "failed" if self.error is not None else "done"
        return "running" if self.started is not None else "waiting"

    def position(self) -> int:
        """How many jobs are ahead of this one: 0 when running or finished, else the
        running jobs plus the waiting jobs submitted before it."""
        q = self._queue
        if q is None or self.done or self.started is not None:
            return 0
        return q._position(self)

    def progress(self, fraction: float, message: str) -> None:
        """The ``progress`` callback handed to ``work`` (clamped to [0, 1])."""
        try:
            f = float(fraction)
        except (TypeError, ValueError):
            f = self.fraction
        self.fraction = min(max(f, 0.0), 1.0) if f == f else self.fraction
        self.message = str(message)


@dataclass(frozen=True)
class Status:
    """What any session may see of the queue (labels only)."""

    running: tuple[tuple[str, str, float], ...]  # (label, kind, fraction)
    waiting: tuple[tuple[str, str], ...]  # (label, kind), in order

    @property
    def idle(self) -> bool:
        return not self.running and not self.waiting

    def summary(self) -> str:
        """E.g. "training demo (42%), 1 waiting"; "" when idle."""
        parts = [f"{label} ({round(f * 100)}%)" for label, _, f in self.running]
        if self.waiting:
            parts.append(f"{len(self.waiting)} waiting")
        return ", ".join(parts)


class WorkQueue:
    """A bounded FIFO of :class:`Job` run by ``workers`` daemon threads."""

    def __init__(self, workers: int | None = None, size: int | None = None, cores: int | None = None,
                 name: str = "reclens-queue") -> None:
        self.cores = int(cores or _cores())
        self.workers = int(workers if workers is not None else configured_workers(cores=self.cores))
        if not 1 <= self.workers <= self.cores:
            raise DataError(f"{WORKERS_ENV} must be between 1 and {self.cores} (the cores), not {self.workers}")
        self.size = int(size if size is not None else configured_size())
        if self.size < 1:
            raise DataError(f"{SIZE_ENV} must be at least 1, not {self.size}")
        self.name = name
        self._cv = threading.Condition()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._threads: list[threading.Thread] = []
        self.started_count = 0  # jobs whose work has begun (tests: one training, not two)
        self.submitted_count = 0  # new jobs created (joins excluded)

    # ---- budget ---------------------------------------------------------------------
    def max_threads(self) -> int:
        """Torch threads one job may use so that all workers together fit the cores."""
        return max(1, self.cores // self.workers)

    def _threads_for(self, threads: int | None) -> int:
        if threads is None:
            from recsys.runtime import training_threads

            threads = training_threads(cores=self.cores)
        return max(1, min(int(threads), self.max_threads()))

    # ---- public API -------------------------------------------------------------------
    def submit(self, key: str, label: str, work: Work, *, kind: str = "train", threads: int | None = None) -> Job:
        """The job of ``key``: the existing one unless it failed, else a new one queued
        behind the waiting ones. Raises :class:`QueueFull` when the queue is full."""
        n_threads = self._threads_for(threads)
        with self._cv:
            job = self._jobs.get(key)
            if job is not None and job.error is None:
                return job
            if len(self._waiting) >= self.size:
                raise QueueFull(
                    f"the server is busy: {len(self._waiting)} jobs are already waiting in its work queue "
                    f"(at most {self.size}); try again when one has finished"
                )
            job = Job(key=key, label=str(label), kind=str(kind), work=work, threads=n_threads, _queue=self)
            self._jobs.pop(key, None)
            self._jobs[key] = job
            self._waiting.append(job)
            self.submitted_count += 1
            self._evict()
            self._ensure_workers()
            self._cv.notify()
            return job

    def get(self, key: str) -> Job | None:
        with self._cv:
            return self._jobs.get(key)

    def wait(self, key: str, timeout: float | None = None) -> Job | None:
        """Block until the job of ``key`` has finished (or ``timeout``); None when unknown."""
        job = self.get(key)
        if job is not None:
            job.finished.wait(timeout)
        return job

    def forget(self, key: str) -> bool:
        """Drop the finished job of ``key`` (a waiting or running one is kept)."""
        with self._cv:
            job = self._jobs.get(key)
            if job is None or not job.done:
                return False
            del self._jobs[key]
            return True

    def status(self) -> Status:
        with self._cv:
            running = tuple((j.label, j.kind, j.fraction) for j in self._running)
            waiting = tuple((j.label, j.kind) for j in self._waiting)
        return Status(running, waiting)

    def _position(self, job: Job) -> int:
        with self._cv:
            try:
                idx = self._waiting.index(job)
            except ValueError:
                return 0
            return len(self._running) + idx

    # ---- internals --------------------------------------------------------------------
    def _evict(self) -> None:
        done = [k for k, j in self._jobs.items() if j.done]
        while done and len(done) > KEEP_DONE:
            self._jobs.pop(done.pop(0), None)

    def _ensure_workers(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._loop, name=f"{self.name}-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._waiting:
                    self._cv.wait()
                job = self._waiting.popleft()
                job.started = time.time()
                job.message = "starting"
                self._running.append(job)
                self.started_count += 1
            try:
                self._run(job)
            finally:
                with self._cv:
                    if job in self._running:
                        self._running.remove(job)
                    job.finished_at = time.time()
                    job.done = True
                    self._evict()
                job.finished.set()

    def _run(self, job: Job) -> None:
        from recsys.runtime import set_threads

        try:
            set_threads(job.threads)  # per OS thread: this worker's torch threads
            job.result = job.work(job.progress)
            job.fraction = 1.0
            if job.message in ("starting", "waiting"):
                job.message = "done"
        except DataError as e:
            job.error = str(e) or type(e).__name__
        except Exception as e:  # noqa: BLE001 - a worker must survive any job; the page shows the message
            _log.exception("work queue job %r failed", job.label)
            job.error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        finally:
            job.work = _done_work  # drop the closure (datasets, models) once finished


def _done_work(progress: Progress) -> None:  # pragma: no cover - never run
    return None


# ---- the server process's queue -----------------------------------------------------------
_DEFAULT: WorkQueue | None = None
_DEFAULT_GUARD = threading.Lock()


def default_queue() -> WorkQueue:
    """This process's queue (created on first use from the environment)."""
    global _DEFAULT
    with _DEFAULT_GUARD:
        if _DEFAULT is None:
            _DEFAULT = WorkQueue()
        return _DEFAULT


def submit(key: str, label: str, work: Work, *, kind: str = "train", threads: int | None = None) -> Job:
    """Queue ``work(progress)`` under ``key`` on this server's queue (or join the existing
    job of ``key`` unless it failed). Raises :class:`QueueFull` when the queue is full."""
    return default_queue().submit(key, label, work, kind=kind, threads=threads)


def get(key: str) -> Job | None:
    """The job of ``key`` (waiting, running or finished), or None."""
    return default_queue().get(key)


def wait(key: str, timeout: float | None = None) -> Job | None:
    """Block until the job of ``key`` has finished; None when there is no such job."""
    return default_queue().wait(key, timeout)


def status() -> Status:
    """Labels and progress of the running and waiting jobs (for the status view)."""
    return default_queue().status()


def forget(key: str) -> bool:
    """Drop the *finished* job of ``key`` so the next submit starts afresh (e.g. its
    artifact was removed); a waiting or running job is kept. True when one was dropped."""
    return default_queue().forget(key)
