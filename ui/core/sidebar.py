"""The frame's shared sidebar, drawn once per run by ``app.py``: the data source (named
sources, a path, an upload), the minimum-count filter, the user and the list length.
Widgets bind directly to the canonical keys of :mod:`ui.core.state`."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from recsys.data.types import DataError, Dataset
from ui.core import loaders, policy, queued, state, uploads
from ui.core.text import esc, md

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
ML100K = ROOT.parent / "shared" / "data" / "ml-100k"  # the development copy of MovieLens-100K, if present
_SELECT_ALL_MAX = 5000  # up to this many users the user box is a searchable list


@dataclass(frozen=True)
class PageContext:
    """What every page of this run works on (the frame stores it in the session)."""

    ds: Dataset
    source: str
    min_count: int = 0  # the N-core filter applied to the source (0 = none)
    user: str = ""  # the validated selected user
    k: int = state.K_DEFAULT


def setup() -> None:
    """House style, logo and one torch thread for serving (first thing of every run)."""
    try:
        css = (ASSETS / "style.css").read_text(encoding="utf-8")
    except OSError:
        css = ""
    if css:
        st.markdown(f"<style>{css}</style>", unsafe_allow_html=True)
    if (ASSETS / "logo.svg").is_file():
        st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "icon.svg"))
    try:
        from recsys.runtime import serving_threads, set_threads

        set_threads(serving_threads())  # small scoring batches: one thread is fastest
    except ImportError:  # no torch in this build: nothing to tune
        pass


# ---- data source -------------------------------------------------------------------------
SOURCE_LABELS = {"demo": "Demo world", "demo-small": "Demo world (small)", str(ML100K): "MovieLens-100K (shared)"}


def _named_sources() -> list[str]:
    names = ["demo", "demo-small"]
    start = state.default_source()
    if start not in names:
        names.insert(0, start)
    if str(ML100K) not in names and policy.source_problem(str(ML100K)) is None and (ML100K / "u.data").is_file():
        names.append(str(ML100K))  # the development copy, when the server opens it (start-up source or a root)
    cur = state.data_source()
    if cur not in names:
        names.append(cur)
    return names


def _source_label(src: str) -> str:
    if src.startswith("upload:"):
        return "Uploaded files"
    if src in SOURCE_LABELS:
        return SOURCE_LABELS[src]
    shown = policy.source_display(src)
    return f"Start-up data ({shown})" if shown != src and src == state.default_source() else shown


def _on_path() -> None:
    p = (st.session_state.get(state.SOURCE_PATH) or "").strip()
    if p:
        state.set_data_source(p)


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _session_alive(session_id: str) -> bool:
    from streamlit import runtime

    return not runtime.exists() or runtime.get_instance().is_active_session(session_id)


def upload_folder() -> uploads.SessionFolder:
    """This session's upload folder (created on first use; swept once the session is gone)."""
    ss = st.session_state
    folder = ss.get(state.UPLOAD_FOLDER)
    if not isinstance(folder, uploads.SessionFolder) or not folder.usable:
        folder = ss[state.UPLOAD_FOLDER] = uploads.SessionFolder(_session_id())
        ss[state.UPLOAD_DIR] = str(folder.path)
    return folder


_SWEEP_EVERY = 60.0  # seconds between sweeps of upload folders


@st.cache_resource(show_spinner=False)
def _upload_sweeper() -> threading.Thread:
    """One daemon thread per server process that removes, every minute, the upload
    folders of sessions that are gone (:func:`uploads.sweep_orphans`) — also when no
    other session runs."""

    def loop() -> None:
        while True:
            try:
                uploads.sweep_orphans(_session_alive)
            except OSError:
                pass
            time.sleep(_SWEEP_EVERY)

    t = threading.Thread(target=loop, name="reclens-upload-sweeper", daemon=True)
    t.start()
    return t


def _upload_housekeeping() -> None:
    """Every run: mark this session's upload folder as in use (its age is the session's
    idle time) and make sure the sweeper runs. A session whose uploaded files were swept
    (it was away too long) falls back to the start-up data with a note."""
    ss = st.session_state
    folder = ss.get(state.UPLOAD_FOLDER)
    if isinstance(folder, uploads.SessionFolder) and folder.usable:
        folder.touch()
    elif isinstance(folder, uploads.SessionFolder) and state.data_source().startswith("upload:"):
        state.set_data_source(state.default_source())
        st.warning("The files uploaded in this session were removed while it was idle; upload them again.")
    _upload_sweeper()


def _use_uploads(files: list) -> None:
    """``on_click`` of "Use uploaded files": store, validate, switch (or say why not)."""
    try:
        res = uploads.save_uploads(files, upload_folder().path)
        loaders.load_dataset(res.source)  # validate now, so errors show here
    except DataError as e:
        st.session_state[state.UPLOAD_ERROR] = f"Upload refused: {e}"
    else:
        state.set_data_source(res.source)


def _upload_box() -> None:
    files = st.file_uploader(
        "…or upload files (several at once, or one .zip)", accept_multiple_files=True, key=state.UPLOAD,
        type=["csv", "parquet", "zip", "data", "item", "user", "genre", "tsv", "dat", "txt"],
    )
    if files:
        st.button("Use uploaded files", key=state.UPLOAD_GO, type="primary", on_click=_use_uploads, args=(files,))
    err = st.session_state.pop(state.UPLOAD_ERROR, None)
    if err:
        st.error(err)


def data_source_picker() -> None:
    """Named sources, a path box, a browser upload and the minimum-count filter."""
    with st.sidebar.expander("Data source", expanded=False):
        st.session_state[state.DATA] = state.data_source()
        st.selectbox("Dataset", _named_sources(), key=state.DATA, format_func=_source_label,
                     on_change=state.on_source_changed, persist_state="session")
        if state.data_source().startswith("upload:"):
            st.caption("Using **uploaded files** (not part of the shareable URL).")
        if not policy.demo_mode():  # read-only demo: no path box, no uploads
            _path_and_upload()
        st.divider()
        st.session_state[state.MIN_COUNT] = state.min_count()
        st.number_input(
            "Minimum interactions per user and item", min_value=0, max_value=state.MIN_COUNT_MAX, step=1,
            key=state.MIN_COUNT, on_change=state.on_min_count_changed, persist_state="session",
            help="Iterative N-core filter, as `reclens train --min-count N`: users and items with fewer "
            "interactions are dropped, repeatedly, until every one left has at least N. 0 = all interactions. "
            "5 is the usual benchmark setting; it makes training on a large catalogue of rarely rated items "
            "much faster, and a model trained with the same filter on the command line opens directly.",
        )


def _path_and_upload() -> None:
    """The path box and the upload box (not in the read-only demo mode)."""
    st.text_input(
        "…or a path on this machine", key=state.SOURCE_PATH, on_change=_on_path,
        help="A MovieLens-100K or MovieLens 'latest' directory, a directory with interactions.csv/"
        ".parquet (+ items.csv, users.csv), the interactions file itself, or a scale demo world such as "
        "`demo:users=3000,items=1500` (keys users, items, seed, events, followups). Press Enter to open. "
        "The server opens the demo worlds, its start-up data and folders under its data roots "
        "(`RECSYS_DATA_ROOTS`).",
    )
    _upload_box()


def _load_error(src: str, n: int, e: Exception) -> None:
    why = "" if policy.demo_mode() else f": {esc(e)}"  # a loader's message names server files
    st.error(f"Could not load **{esc(loaders.source_label(src, n))}**{why}")
    if n:
        st.button("Use all interactions (no minimum count)", key=state.DROP_MIN_COUNT, on_click=state.set_min_count,
                  args=(0,))
    st.button("Back to the demo world", key=state.BACK_TO_DEMO, on_click=state.set_data_source, args=("demo",))


# ---- user and k -------------------------------------------------------------------------
def _random_user(ids: tuple[str, ...]) -> None:
    state.set_user(random.SystemRandom().choice(ids))


def user_picker(ds: Dataset) -> str:
    """Select a user: searchable list (type to search) or an id box, featured, random.
    Returns the validated user id and shows a note when it fell back."""
    feat = loaders.featured_users(ds)
    uid = state.resolve_user(ds.has_user, feat)
    box = st.sidebar.container(border=True)
    box.markdown("**User**")
    if ds.n_users <= _SELECT_ALL_MAX:
        box.selectbox("User id (type to search)", ds.user_ids, key=state.USER, label_visibility="collapsed",
                      on_change=state.clear_user_note, persist_state="session")
    else:
        box.text_input("User id", key=state.USER, on_change=state.clear_user_note, persist_state="session")
    c1, c2 = box.columns(2)
    c1.button("Random", key=state.USER_RANDOM, on_click=_random_user, args=(ds.user_ids,), width="stretch")
    c2.button("Featured", key=state.USER_FEATURED, on_click=state.set_user, args=(feat[0],), width="stretch")
    return uid


def draw() -> PageContext | None:
    """The shared sidebar and the selected dataset. On bad input shows the error as a
    readable message (never a traceback) with ways out, and returns None. A source this
    session may not open (:func:`ui.core.state.source_problem`) is replaced by the
    start-up source, with one message that names nothing on the server."""
    _upload_housekeeping()
    problem = policy.source_problem(state.data_source())
    if problem is not None:
        state.set_data_source(state.default_source())
        st.error(problem, icon=":material/block:")
    data_source_picker()
    src, n = state.data_source(), state.min_count()
    try:
        ds = loaders.load_dataset(src, n or None, state.tie_order(src))
    except (DataError, OSError, ValueError) as e:  # OSError/ValueError: defensive, loaders raise DataError
        _load_error(src, n, e)
        return None
    uid = user_picker(ds)
    st.session_state[state.K] = state.k()
    st.sidebar.slider("List length k", state.K_MIN, state.K_MAX, key=state.K, persist_state="session")
    for w in ds.warnings[:3]:
        st.sidebar.caption(f"Warning: {md(w)}")
    queued.status_caption()  # "Server work: training demo (42%), 1 waiting" while the queue is busy
    ctx = PageContext(ds=ds, source=src, min_count=n, user=uid, k=state.k())
    st.session_state[state.CONTEXT] = ctx
    return ctx


def context() -> PageContext:
    """The context the frame loaded for this run (pages call it first). A page that
    Streamlit ran without the frame (its legacy ``pages/`` handling, on the first request
    after a server start) runs the frame instead, which runs this page inside it."""
    if not st.session_state.get(state.IN_FRAME):
        from ui.core import frame

        frame.run()
        st.stop()
    ctx = st.session_state.get(state.CONTEXT)
    if not isinstance(ctx, PageContext):  # pragma: no cover - the frame stores it before any page runs
        st.error("The page could not find its data; reload the page.")
        st.stop()
    return ctx
