"""The model gate: the trained model for the open dataset, or training it right here
with a progress bar on first start — only up to the first-start limit
(``RECSYS_FIRST_START_LIMIT``, default 200,000 interactions). Above it the app never
trains in a browser session: it shows the exact command lines instead."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from recsys.data.types import DataError, Dataset
from recsys.models.base import Scorer
from ui.core import loaders, policy, queued, state, workqueue
from ui.core.components import empty_state, header
from ui.core.sidebar import PageContext, context
from ui.core.text import esc
from ui.serving import panel as serving_panel


def model_gate(ds: Dataset, *, train_if_missing: bool = True) -> Scorer | None:
    """The trained model for ``ds``. Without an artifact it trains one right here with a
    progress bar when the data is within the first-start limit; above it, it shows the
    ``train`` and ``precompute`` command lines and returns None (no button, no training).
    In the read-only demo mode: no paths, no upgrade or retrain buttons, and first-start
    training only for the sources of :func:`_demo_may_train`."""
    loc = loaders.locate_model(ds)
    big = loaders.too_big_for_a_session(ds)
    demo = policy.demo_mode()
    if loc.note and not demo:  # the note names the --model path
        st.caption(loc.note)
    running = loaders.training_job(loc.path)
    if running is not None and not running.done and not loc.explicit:  # e.g. a retraining: follow it
        return _train_here(ds, loc.path, state.min_count())
    if loc.exists:
        model, retrain = _stored_model(ds, loc, big, demo)
        if model is not None or not retrain:
            return model
    if demo and not _demo_may_train(big):
        empty_state("No model for this dataset on this server",
                    "This read-only demo shows the models prepared on the server: the demo worlds and the data "
                    "it was started with. Pick one of those under Data source.")
        return None
    if big:
        _rare_items_hint(ds, command=True)
        serving_panel.train_command_notice(ds, str(loc.path), loaders.first_start_limit())
        return None
    if not train_if_missing:
        empty_state("No model yet", "No trained model for this dataset yet — open Home to train one.", "home")
        return None
    _rare_items_hint(ds)
    return _train_here(ds, loc.path, state.min_count())


def _stored_model(ds: Dataset, loc: loaders.ModelLocation, big: bool, demo: bool) -> tuple[Scorer | None, bool]:
    """(the stored model, whether the analyst asked to train a fresh one instead)."""
    try:
        model = loaders.load_model(str(loc.path), ds.content_key, ds)
    except DataError as e:
        if demo:  # read-only: no paths, no upgrade, no retraining
            st.error("The stored model for this dataset cannot be used on this server.")
            return None, False
        st.error(f"The stored model at `{esc(loc.path)}` cannot be used: {esc(e)}")
        if not loc.explicit and loaders.needs_upgrade(loc.path):
            st.button("Upgrade the stored model (keeps its weights)", key=state.UPGRADE_MODEL, type="primary",
                      on_click=loaders.upgrade_model, args=(loc.path,))
        if big and not loc.explicit:
            serving_panel.train_command_notice(ds, str(loc.path), loaders.first_start_limit())
            return None, False
        return None, not loc.explicit and st.button("Train a fresh model", key=state.RETRAIN)
    except ImportError as e:
        st.warning(f"The recommender is not available in this build ({esc(e)}).")
        return None, False
    # resumes an app-trained artifact's pending ablation
    loaders.start_ablation(ds, loc.path, queued.source_label(state.data_source()))
    return model, False


def _why(e: Exception) -> str:
    """An error's text, escaped; in the read-only demo mode it goes to the server's log
    only (it may name server files)."""
    if not policy.demo_mode():
        return esc(e)
    logging.getLogger(__name__).warning("%s", e)
    return "the reason is in the server's log."


def _demo_may_train(big: bool) -> bool:
    """In the read-only demo mode the first-start training runs only for a fixed set of
    sources — the start-up source and the two built-in demo worlds — so links cannot make
    the server train (and store) a model per scale world or seed they name."""
    src = state.data_source()
    return not big and (src in ("demo", "demo-small") or src == state.default_source())


def _rare_items_hint(ds: Dataset, n: int = 5, *, command: bool = False) -> None:
    """Before training on a large catalogue that is mostly rarely rated items, point at
    the N-core filter (every such item widens the softmax and slows each epoch)."""
    rare = loaders.rare_items(ds, n)
    if ds.n_items >= 2000 and rare >= 0.3 * ds.n_items:
        st.info(
            f"{rare:,} of the {ds.n_items:,} items have fewer than {n} interactions. To train on the {n}-core "
            f"instead (fewer items, much faster; what the benchmarks use), set **Minimum interactions per user "
            f"and item** to {n} in the sidebar's *Data source* panel — "
            + ("the command below then trains on it." if command else "changing it stops this run.")
        )


MINE = "rl.queue_trainings"  # the training keys this session submitted (not joined)


def _train_here(ds: Dataset, out_dir: Path, min_count: int = 0) -> Scorer | None:
    """First-start training on the server's work queue: this session submits it — or
    joins the one another session started for the same data — and follows its progress
    (:func:`ui.core.queued.await_job`; behind other work it shows its position and the page
    reruns with the model when the job has finished)."""
    key = loaders.train_key(out_dir)
    before = workqueue.get(key)
    try:
        job = loaders.submit_training(ds, out_dir, queued.source_label(state.data_source()),
                                      min_count=min_count or None)
    except DataError as e:  # the queue is full (or misconfigured)
        st.warning(f"Training not started: {esc(e)}", icon=":material/hourglass_top:")
        return None
    mine: set = st.session_state.setdefault(MINE, set())
    if before is None or before.done:
        mine.add(key)
    if job.done:
        return _trained(ds, out_dir, job)
    box = st.empty()
    with box.container():
        st.caption(
            "First start on this dataset: training the recommender (once; the model is stored and found again "
            "next time). The app opens as soon as the model is stored; the no-text ablation shown on the "
            "Evaluation page trains in the background afterwards."
        )
        if key not in mine:
            st.info("Another session started training the model for this dataset — following its progress; "
                    "this page continues when it is done.", icon=":material/group:")
        if not queued.await_job(job):
            return None  # waiting behind other work: the position shows; the page reruns when done
    box.empty()
    return _trained(ds, out_dir, job)


def _trained(ds: Dataset, out_dir: Path, job: workqueue.Job) -> Scorer | None:
    if job.error is not None:
        if job.error.startswith(("ImportError", "ModuleNotFoundError")):
            st.warning(f"Training is not available in this build ({esc(job.error)}).")
        else:
            st.error(f"Training failed: {_why(DataError(job.error))}")
        return None
    try:
        return loaders.load_model(str(out_dir), ds.content_key, ds)
    except DataError as e:
        st.error(f"The freshly trained model cannot be loaded: {_why(e)}")
        return None


@dataclass(frozen=True)
class ModelPage:
    ctx: PageContext
    ds: Dataset
    model: Scorer
    user: str
    k: int


def model_page(title: str) -> ModelPage:
    """The common start of a page that needs the trained model: the frame's context, the
    header and the model gate. Stops the page (the frame still writes the URL) when there
    is no model yet."""
    ctx = context()
    header(title, ctx)
    model = model_gate(ctx.ds)
    if model is None:
        st.stop()
    return ModelPage(ctx, ctx.ds, model, ctx.user, ctx.k)
