"""Cached loaders shared by every page and session.

Everything returned from here is shared across browser sessions, so it is never
mutated: datasets are frozen with read-only arrays, embedding matrices are made
read-only, models are only ever used for scoring, and tables come from
``st.cache_data`` (each caller gets its own copy). Per-session edits (what-if
profiles, scenarios) live in ``st.session_state`` only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.types import DataError, Dataset
from recsys.models.base import Scorer
from recsys.models.transformer import artifact
from recsys.paths import recsys_home
from recsys.updates import resolve_model_dir
from ui.core import policy, state, workqueue
from ui.serving import logic as serving_logic

#: The default first-start limit (``RECSYS_FIRST_START_LIMIT`` overrides it; see :func:`first_start_limit`).
AUTO_TRAIN_MAX_INTERACTIONS = serving_logic.DEFAULT_FIRST_START_LIMIT
UPLOAD_SUFFIXES = (".csv", ".parquet", ".data", ".item", ".user", ".genre", ".txt", ".tsv", ".dat")


# ---- datasets -------------------------------------------------------------------------
def load_dataset(src: str, min_count: int | None = None, tie_order: str = "hash") -> Dataset:
    """``recsys.data.load(src, min_count, tie_order)`` once per source, filter and tie
    order per process (raises DataError), with the source's event log (``ingest``,
    ``replay``). The N-core filter and the tie order are the CLI's ``--min-count`` and
    ``--tie-order``, so a model trained with them matches (same fingerprint).

    The cache remembers each source's log directory (its base fingerprint is known after
    the first load) and checks only that log's stamp on every call (one ``stat``): an
    ingest into another source's log reloads nothing, and a change to this one re-merges
    the log into the source as first read (no parsing of the source again)."""
    from recsys.data.events import include_log, log_stamp

    entry = _source(src, min_count, tie_order, str(recsys_home()))
    stamp = log_stamp(entry.log_dir)
    if stamp != entry.stamp:
        with entry.lock:
            if stamp != entry.stamp:  # not re-merged by another session meanwhile
                entry.ds = include_log(entry.unlogged, entry.base)
                entry.stamp = stamp  # read before the merge: a later append merges again
    return entry.ds


def source_log_dir(src: str, min_count: int | None = None, tie_order: str = "hash") -> Path:
    """The event log directory of a source (its unfiltered base's fingerprint)."""
    return _source(src, min_count, tie_order, str(recsys_home())).log_dir


@dataclass
class _Source:
    """One loaded source, shared by every session: the data without its log (as the
    N-core filter left it), the unfiltered base (the log's owner; itself when there is no
    filter), its log directory and stamp, and the data with the log (replaced, never
    changed, when the log moves)."""

    unlogged: Dataset
    base: Dataset
    log_dir: Path
    stamp: str
    ds: Dataset
    lock: threading.Lock


@st.cache_resource(max_entries=6, show_spinner="Loading data…")
def _source(src: str, min_count: int | None, tie_order: str, home: str) -> _Source:
    """``home``: ``$RECSYS_HOME``, where the log lives (part of the key)."""
    from recsys.data import load
    from recsys.data.events import include_log, log_dir, log_stamp
    from recsys.data.filtering import filter_min_count

    if src.startswith("upload:"):  # messages name "upload/<file>", never the temporary folder
        base = load(src.split(":", 1)[1].split("#", 1)[0], tie_order=tie_order, display="upload", events=False)
    else:
        base = load(src, tie_order=tie_order, events=False)
    unlogged = filter_min_count(base, min_count) if min_count else base
    d = log_dir(base.fingerprint)
    stamp = log_stamp(d)
    return _Source(unlogged, base, d, stamp, include_log(unlogged, base), threading.Lock())


def rare_items(ds: Dataset, n: int) -> int:
    """How many items have fewer than ``n`` interactions (what an ``n``-core filter
    would drop first)."""
    return int((np.bincount(ds.item, minlength=ds.n_items) < n).sum())


def featured_users(ds: Dataset, n: int = 6) -> list[str]:
    """Users worth looking at first: the demo world's featured users (planted ground
    truth), else users with a typical-to-rich history (around the 75th percentile)."""
    return list(_featured_users(ds.content_key, ds, n))


@st.cache_data(max_entries=16, show_spinner=False)
def _featured_users(_fp: str, _ds: Dataset, n: int) -> tuple[str, ...]:
    ds = _ds
    truth = getattr(ds, "truth", None)
    for attr in ("featured_users", "featured", "sample_users"):
        got = getattr(truth, attr, None) if truth is not None else None
        if callable(got):
            got = got()
        if isinstance(got, dict):
            got = list(got.values())
        if isinstance(got, (list, tuple)) and got:
            ids = [str(u) for u in got if ds.has_user(str(u))]
            if ids:
                return tuple(ids[:n])
    lengths = np.diff(ds.user_offsets)
    target = np.quantile(lengths, 0.75)
    order = np.argsort(np.abs(lengths - target), kind="stable")
    return tuple(ds.user_ids[int(u)] for u in order[:n])


def source_label(src: str, min_count: int | None = None) -> str:
    label = policy.source_display(src)
    return f"{label} ({min_count}-core)" if min_count else label


# ---- first-start limit -------------------------------------------------------------------
_log = logging.getLogger(__name__)
_warned: set[str] = set()


def first_start_limit() -> int:
    """The most interactions the app trains on (or scores every user of) in a browser
    session: ``RECSYS_FIRST_START_LIMIT``, default 200,000. An invalid value falls back
    to the default with one logged warning per value (never an error on a page)."""
    limit, warning = serving_logic.first_start_limit(os.environ)
    if warning and warning not in _warned:
        _warned.add(warning)
        _log.warning(warning)
    return limit


def too_big_for_a_session(ds: Dataset) -> bool:
    """Above the first-start limit: the app never trains here, and population pages read
    the serving table instead of scoring every user (they show the command without one)."""
    return serving_logic.above_limit(ds.n_interactions, first_start_limit())


# ---- models -----------------------------------------------------------------------------
def _has_artifact(d: Path) -> bool:
    return (d / "manifest.json").is_file() and (d / "model.safetensors").is_file()


@dataclass(frozen=True)
class ModelLocation:
    path: Path
    exists: bool
    explicit: bool  # opened from RECSYS_MODEL / --model
    note: str | None = None  # e.g. why the explicit model was not used


def locate_model(ds: Dataset) -> ModelLocation:
    """Where the model for ``ds`` lives: ``--model``/``RECSYS_MODEL`` if it was trained
    on this very dataset, else :func:`recsys.updates.resolve_model_dir` (the newest
    update on the data's event log, else ``RECSYS_HOME/models/<fingerprint[:16]>``;
    where a first-start training of ``ds`` writes when there is none)."""
    note = None
    explicit = state.startup_arg("model")
    if explicit:
        p = Path(explicit)
        man = read_manifest(str(p))
        fp = man.get("dataset_fingerprint")
        if _has_artifact(p) and (fp is None or fp == ds.fingerprint):
            return ModelLocation(p, True, True)
        if not _has_artifact(p):
            note = f"`--model {explicit}` is not a RecLens artifact (no manifest.json/model.safetensors)."
        else:
            note = f"`--model {explicit}` was trained on different data; using this dataset's own model."
    d = resolve_model_dir(ds)
    return ModelLocation(d, _has_artifact(d), False, note)


@st.cache_data(show_spinner=False, ttl=60)
def read_manifest(model_dir: str) -> dict:
    """The artifact's manifest.json with its model configuration (config.json's "model")
    under "config" — the model card shows both; {} when missing or unreadable."""
    try:
        man = artifact.read_manifest(model_dir, missing_ok=True)
        cfg = artifact.read_config(model_dir, missing_ok=True).get("model")
    except DataError:
        return {}
    return {**man, "config": cfg} if isinstance(cfg, dict) and "config" not in man else man


def needs_upgrade(model_dir: Path) -> bool:
    """True when an app-trained artifact is of an older schema that ``migrate`` reads."""
    try:
        version = artifact.read_manifest(model_dir).get("schema_version")
    except DataError:
        return False
    return isinstance(version, int) and 0 < version < artifact.SCHEMA_VERSION


def upgrade_model(model_dir: Path) -> None:
    """``on_click``: migrate an app-trained artifact to the current schema in place (the
    weights stay byte-identical), then forget what was cached about it."""
    from recsys.models.transformer.migrate import migrate_artifact

    migrate_artifact(model_dir)
    read_manifest.clear()
    read_evaluation.clear()
    load_model.clear()


@st.cache_data(show_spinner=False, ttl=60)
def read_evaluation(model_dir: str) -> dict:
    """The artifact's evaluation.json (model vs baselines), or {} when absent."""
    p = Path(model_dir) / "evaluation.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def load_model(model_dir: str, fingerprint: str, _ds: Dataset) -> Scorer:
    """The trained transformer for a dataset (shared, used read-only: scoring only)."""
    from recsys.models.transformer import TransformerRecommender

    model = TransformerRecommender.load(model_dir, _ds)
    emb = getattr(model, "text_emb", None)
    if isinstance(emb, np.ndarray):
        emb.setflags(write=False)
    return model


def train_key(out_dir: Path) -> str:
    """The work-queue key of the first-start training into ``out_dir``: one training per
    artifact directory per server, whichever sessions ask for it."""
    return "train:" + str(Path(out_dir).resolve())


def ablation_key(model_dir: Path) -> str:
    return "ablation:" + str(Path(model_dir).resolve())


def submit_training(ds: Dataset, out_dir: Path, name: str, *, epochs: int | None = None,
                    min_count: int | None = None) -> workqueue.Job:
    """Queue (or join) the first-start training of ``ds`` into ``out_dir`` on the server's
    work queue (:mod:`ui.core.workqueue`; raises QueueFull). ``name`` names the data in the
    job's label, which every session sees: no path or upload (``queued.source_label``)."""
    key = train_key(out_dir)
    old = workqueue.get(key)
    if old is not None and old.done and old.error is None and not _has_artifact(out_dir):
        workqueue.forget(key)  # trained once, but the artifact is gone (or broken: retrain)

    def work(progress: Callable[[float, str], None]) -> dict:
        return train(ds, out_dir, progress, epochs=epochs, min_count=min_count, name=name)

    return workqueue.submit(key, f"training the model for {name}", work, kind="train")


def training_job(out_dir: Path) -> workqueue.Job | None:
    """The server's training job for ``out_dir`` (waiting, running or finished), if any."""
    return workqueue.get(train_key(out_dir))


def train(ds: Dataset, out_dir: Path, progress: Callable[[float, str], None], epochs: int | None = None,
          min_count: int | None = None, name: str | None = None) -> dict:
    """Train and store the main model for ``ds`` (blocking) with the app's first-start
    schedule (:mod:`recsys.autotrain`) — the body of the queue's training job, run on its
    worker thread with the queue's thread budget. The no-text ablation is queued after it
    (:func:`start_ablation`). ``min_count``: the N-core filter ``ds`` was loaded with
    (recorded in the manifest)."""
    from recsys.autotrain import train_main

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    result = train_main(ds, out_dir, seed=0, progress=progress, epochs=epochs, min_count=min_count)
    read_manifest.clear()
    read_evaluation.clear()
    start_ablation(ds, out_dir, name)
    return result


def start_ablation(ds: Dataset, model_dir: Path, name: str | None = None) -> workqueue.Job | None:
    """Queue the no-text ablation of an app-trained artifact on the server's work queue
    (once per artifact per process; only when its evaluation lists it as pending). Returns
    the job, or None when nothing is pending and none ran (or the queue is full: the next
    visit queues it). ``name`` names the data in the job's label (no path or upload)."""
    from recsys.autotrain import pending

    key = ablation_key(model_dir)
    job = workqueue.get(key)
    if job is not None and (not job.done or job.error is not None):
        return job  # running or waiting; or failed: one try per artifact per process (the card says why)
    if not pending(model_dir):
        return job
    if job is not None:  # it finished, yet the artifact lists it again: a retrained artifact
        workqueue.forget(key)

    def work(progress: Callable[[float, str], None]) -> dict:
        from recsys.autotrain import train_ablation

        try:
            return train_ablation(ds, model_dir, progress=progress)
        finally:
            read_evaluation.clear()

    try:
        return workqueue.submit(key, f"training the no-text ablation for {name or 'a dataset'}", work, kind="ablation")
    except DataError:  # QueueFull: pending stays in evaluation.json, the next visit queues it
        return None


def ablation_job(model_dir: Path) -> workqueue.Job | None:
    """The ablation job of this artifact on the server's queue, if any."""
    return workqueue.get(ablation_key(model_dir))


# ---- embeddings -------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner="Encoding item texts…")
def item_embeddings(fingerprint: str, _ds: Dataset, _model: Scorer | None = None) -> np.ndarray:
    """(n_items, 384) read-only text embeddings: the model's own copy when it has one,
    else the cached all-MiniLM-L6-v2 encoding."""
    emb = getattr(_model, "text_emb", None) if _model is not None else None
    if not isinstance(emb, np.ndarray) or emb.shape[0] != _ds.n_items:
        from recsys.text import item_embeddings as encode

        emb = encode(_ds)
    out = np.array(emb, dtype=np.float32, copy=True)
    out.setflags(write=False)
    return out


# ---- figures ------------------------------------------------------------------------------
@st.cache_resource(max_entries=8, show_spinner=False)
def dataset_figures(fingerprint: str, _ds: Dataset) -> dict[str, Any]:
    """The Home page's dataset charts, built once per dataset (~0.2 s of pandas and
    plotly work otherwise on every visit). Shared across sessions and only read:
    ``st.plotly_chart`` serialises a copy (``Figure.to_dict``) and never changes them."""
    from ui.data import charts as charts_data

    return {
        "activity": charts_data.activity_over_time(_ds),
        "longtail": charts_data.popularity_long_tail(_ds),
        "cats": charts_data.category_mix(_ds),
        "hist": charts_data.history_length_hist(_ds),
    }


# ---- tables -------------------------------------------------------------------------------
@st.cache_data(max_entries=8, show_spinner=False)
def items_table(_fp: str, _ds: Dataset) -> pd.DataFrame:
    """One row per item: id, title, categories, popularity (for search and tables)."""
    ds = _ds
    return pd.DataFrame(
        {
            "item_id": list(ds.item_ids),
            "title": list(ds.titles),
            "categories": [", ".join(c) for c in ds.item_categories],
            "popularity": ds.item_popularity.astype(np.int64),
        }
    )


@st.cache_data(max_entries=8, show_spinner=False)
def users_table(_fp: str, _ds: Dataset) -> pd.DataFrame:
    """One row per user: id, number of interactions, first/last time, attributes."""
    ds = _ds
    off = ds.user_offsets
    n = np.diff(off)
    first = ds.timestamp[off[:-1]]
    last = ds.timestamp[np.maximum(off[1:] - 1, 0)]
    df = pd.DataFrame(
        {
            "user_id": list(ds.user_ids),
            "interactions": n.astype(np.int64),
            "first": pd.to_datetime(first, unit="s", utc=True),
            "last": pd.to_datetime(last, unit="s", utc=True),
        }
    )
    if ds.user_attrs is not None:
        for c in ds.user_attrs.columns:
            df[str(c)] = ds.user_attrs[c].astype(str).to_numpy()
    return df
