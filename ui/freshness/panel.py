"""The model card's freshness section (streamlit): staleness, the rolling prequential
quality, and *Update the model* on the server's work queue (:mod:`ui.core.workqueue`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from recsys.data.types import DataError, Dataset
from recsys.evaluation.prequential import K
from recsys.models.base import Scorer, model_key
from recsys.updates import staleness, trained_position, unseen_quality
from ui.core import loaders, policy, queued, state, workqueue
from ui.core.text import md
from ui.freshness import logic

UPDATE_BUTTON = "rl.fresh.update"


@st.cache_data(max_entries=32, show_spinner="Scoring the newest events before they were seen…")
def _rolling(model: str, content_key: str, start: int | None, window: int, _ds: Dataset, _scorer: Scorer,
             _man: dict[str, Any]) -> dict[str, Any] | None:
    """Prequential HR/NDCG@10 of a model over the last ``window`` logged events from
    ``start`` (default: its first unseen one); keyed by the model and the log's content."""
    return unseen_quality(_scorer, _ds, _man, window, start=start)


def rolling(ds: Dataset, scorer: Scorer, man: dict[str, Any], start: int | None = None) -> dict[str, Any] | None:
    try:
        return _rolling(model_key(scorer), ds.content_key, start, logic.WINDOW, ds, scorer, man)
    except DataError as e:  # e.g. the log was reset while the page ran
        st.caption(f"Rolling quality not available: {md(e)}")
        return None


def _previous(ds: Dataset, rec: dict[str, Any]) -> Scorer | None:
    """The model an update started from, when it is still stored and loads on ``ds``."""
    d = rec.get("from")
    if not isinstance(d, str) or not (Path(d) / "manifest.json").is_file():
        return None
    try:
        prev = loaders.load_model(d, ds.content_key, ds)
    except (DataError, ImportError):
        return None
    return prev if model_key(prev) == rec.get("from_model") else None


def freshness_section(ds: Dataset, model_dir: Path, scorer: Scorer) -> None:
    """Staleness, rolling quality (before/after an update) and the update button."""
    st.subheader("Freshness")
    man = loaders.read_manifest(str(model_dir))
    if ds.log is None or ds.log.events == 0:
        st.caption("No logged events beside this data: the model is as fresh as the data. New events "
                   "(`reclens ingest`, `reclens replay`) show here as staleness and a rolling quality figure.")
        return
    stl = staleness(ds, man)
    for col, (label, value, why) in zip(st.columns(3), logic.staleness_tiles(stl)):
        col.metric(label, value, help=why)
    rec = logic.update_record(man)
    before = rec.get("before") if rec else None
    now = rolling(ds, scorer, man) if stl.since_training else None
    hr, nd = f"hr@{K}", f"ndcg@{K}"
    c1, c2, c3 = st.columns(3)
    c1.metric(f"Rolling NDCG@{K}", logic.figure(now, nd), logic.delta(now, before, nd),
              help="prequential: each of the newest events the model was not trained on, predicted before it was "
                   "seen from its user's history up to it (full ranking, seen items excluded)")
    c2.metric(f"Rolling HR@{K}", logic.figure(now, hr), logic.delta(now, before, hr))
    c3.metric("Events scored", f"{now['events']:,}" if now else "0",
              help=f"the newest {logic.WINDOW:,} unseen events at most")
    if now is None:
        st.caption("No event since the model's training data yet: the rolling figure appears with the next events.")
    if rec:
        st.caption(md(logic.before_text(rec)))
        prev = _previous(ds, rec) if now else None
        if prev is not None:
            old = rolling(ds, prev, loaders.read_manifest(str(rec["from"])), start=trained_position(man, ds))
            st.caption(f"On the same {now['events'] if now else 0:,} events since the update: updated model "  # type: ignore[index]
                       f"NDCG@{K} {logic.figure(now, nd)}, the model before it {logic.figure(old, nd)}.")
    update_controls(ds, model_dir, stl.since_training)


def update_controls(ds: Dataset, model_dir: Path, since: int) -> None:
    """*Update the model* (small data), the command line (large data), or the job's progress."""
    key = logic.update_key(ds)
    job = workqueue.get(key)
    if job is not None and not job.done:
        queued.progress(key)  # redrawn every second; reruns the page when the update is done
        return
    if job is not None and job.error is not None:
        why = "the reason is in the server's log" if policy.demo_mode() else md(job.error)
        st.error(f"The update failed: {why}")
    if since == 0:
        return
    if loaders.too_big_for_a_session(ds):
        st.markdown(f"Update the model from the command line (this data is above the app's "
                    f"{loaders.first_start_limit():,}-interaction limit):")
        st.code(logic.cli_line(policy.source_display(state.data_source()),
                               "<model dir>" if policy.demo_mode() else str(model_dir)), language="bash")
        return
    if policy.demo_mode():
        st.caption("This read-only demo does not update models.")
        return
    if st.button("Update the model", key=UPDATE_BUTTON, icon=":material/update:",
                 help=f"continue training the current model on the base data and the {since:,} new events "
                      "(a few epochs, in the background on the server's work queue)"):
        def after() -> None:
            loaders.read_manifest.clear()
            loaders.read_evaluation.clear()

        work = logic.update_work(ds, model_dir, state.min_count() or None, after)
        if queued.submit(key, f"updating the model for {queued.source_label(state.data_source())}", work,
                         kind="train") is not None:
            st.rerun()

