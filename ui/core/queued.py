"""Pages and the server's work queue (:mod:`ui.core.workqueue`): run heavy work there
and show its progress — or its place in the line — on the page that asked for it.

:func:`result` is the entry point for population work (:func:`await_job` for a job the
caller submitted itself, e.g. training). A job that has already finished is served at
once. Otherwise the page submits it — or joins the job another session started under
the same key — and then:

- **its turn has come** (running, or first in line): the page follows it right there,
  a progress bar updated from the job while the queue's worker computes. The script
  thread only sleeps and redraws; any click interrupts the wait (Streamlit stops a run
  at its next element call when a rerun is requested) and the job keeps running.
- **it waits behind other work**: the page shows its position in a fragment that
  redraws every second (``st.fragment(run_every=…)``) and reruns the page when the job
  has finished; the script run ends at once, so a wait behind another session's training
  never holds the page.

Labels are shown to every session (:func:`status_caption`): build them with
:func:`source_label`, which never names a path or an upload.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import streamlit as st

from recsys.data.types import DataError
from ui.core import access, policy, workqueue
from ui.core.text import md

POLL_S = 0.25


def source_label(src: str) -> str:
    """A data source as queue labels name it: uploads as "uploaded files", paths by
    their last part only — never a server path (labels are visible to every session)."""
    return access.display_source(src, hide_paths=True)


def _why(error: str) -> str:
    """A job's error for the page; in the read-only demo mode it goes to the log only."""
    if not policy.demo_mode():
        return md(error)
    logging.getLogger(__name__).warning("%s", error)
    return "the reason is in the server's log."


def waiting_text(job: workqueue.Job) -> str:
    """The progress text of a job: its own message while it runs, else its place in line."""
    if job.running or job.done:
        return f"{job.label} — {job.message}"[:200]
    ahead = job.position()
    if ahead == 0:
        return f"{job.label} — starting"[:200]
    st_ = workqueue.status()
    now = f" (now: {st_.summary()})" if st_.running else ""
    jobs = "job" if ahead == 1 else "jobs"
    return f"Waiting for the server's work queue — position {ahead}, {ahead} {jobs} ahead{now}"[:200]


@st.fragment(run_every=1.0)
def progress(key: str) -> None:
    """The progress bar (or queue position) of the job of ``key``, re-drawn every second;
    reruns the page once the job has finished so it shows the result."""
    job = workqueue.get(key)
    if job is None or job.done:
        st.rerun()
    st.progress(job.fraction, text=waiting_text(job))


def follow(job: workqueue.Job) -> None:
    """A progress bar following ``job`` until it has finished, then removed (the wait
    sleeps on the job's event; redrawn at least every second so a click interrupts it)."""
    box = st.empty()
    last, drawn = None, 0.0
    while not job.done:
        shown = (round(job.fraction, 3), waiting_text(job))
        now = time.monotonic()
        if shown != last or now - drawn >= 1.0:
            box.progress(shown[0], text=shown[1])
            last, drawn = shown, now
        job.finished.wait(POLL_S)
    box.empty()


def await_job(job: workqueue.Job) -> bool:
    """True when ``job`` has finished (followed inline when its turn has come); False
    when it waits behind other work (its position is shown; the page reruns when done)."""
    if not job.done and job.position() > 0:
        progress(job.key)
        return False
    follow(job)
    return True


def submit(key: str, label: str, work: workqueue.Work, *, kind: str, threads: int | None = None) -> workqueue.Job | None:
    """Submit (or join) a job; a full queue is a readable warning and None."""
    try:
        return workqueue.submit(key, label, work, kind=kind, threads=threads)
    except workqueue.QueueFull as e:
        st.warning(f"Not started: {md(e)}", icon=":material/hourglass_top:")
        return None
    except DataError as e:  # e.g. an invalid RECSYS_QUEUE_WORKERS
        st.error(f"The server's work queue is not available: {md(e)}")
        return None


def result(key: str, label: str, work: Callable[[workqueue.Progress], Any], *, kind: str = "sweep",
           threads: int | None = None, failed: str = "The computation failed") -> Any:
    """``work``'s result from the server's queue: at once when its job has finished,
    else after submitting (or joining) it and :func:`await_job`. None when it waits
    behind other work (the page reruns when it is done), when the queue is full, or when
    it failed — the failure is shown once and submitted again on the next call."""
    job = workqueue.get(key)
    if job is not None and job.done:
        if job.error is None:
            return job.result
        if not st.session_state.get(_seen_key(key)):  # show the failure once, then retry
            st.session_state[_seen_key(key)] = True
            st.error(f"{failed}: {_why(job.error)}")
            return None
    st.session_state.pop(_seen_key(key), None)
    job = submit(key, label, work, kind=kind, threads=threads)
    if job is None or not await_job(job):
        return None
    if job.error is not None:
        st.session_state[_seen_key(key)] = True
        st.error(f"{failed}: {_why(job.error)}")
        return None
    return job.result


def _seen_key(key: str) -> str:
    return "rl.queue_failed." + key


def status_caption() -> None:
    """"Server work: training ml-100k (42%), 1 waiting" in the sidebar while the queue is
    busy (labels and progress only: nothing about other sessions' users or uploads)."""
    s = workqueue.status()
    if not s.idle:
        st.sidebar.caption(f":material/hourglass_top: Server work: {md(s.summary())}")
