"""The one session-state registry of the dashboard: every session-state key lives here.

The selected data source, N-core filter, user, item, list length ``k`` and re-ranking
weights are per browser session (never shared) and mirrored in the URL query
parameters ``data``, ``min_count``, ``user``, ``item``, ``k``, ``div``, ``cal``, ``fair``
so a copied URL reproduces the view.

Rules:
- widgets bind directly to the canonical keys below (``key=state.USER``) with
  ``persist_state="session"``, so a value outlives a page switch and pages that do not
  draw its widget (no copies between widget keys and state keys);
- on the first run of a session (and whenever the URL was edited by hand) the URL wins;
  afterwards the state wins and the frame writes it back once per run (:func:`write_url`);
- an unknown or missing user falls back to a featured user and :func:`user_note` says so.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Mapping

import streamlit as st

from recsys.rerank import Weights

# ---- canonical keys (mirrored in the URL) ----------------------------------------------
DATA = "rl.data"  # source string: "demo", a path, or "upload:<token>"
MIN_COUNT = "rl.min_count"  # N-core filter applied to the source (0 = all interactions)
USER = "rl.user"  # external user id
ITEM = "rl.item"  # external item id or None
K = "rl.k"
DIV = "rl.div"
CAL = "rl.cal"
FAIR = "rl.fair"
WEIGHT_KEYS = {"div": DIV, "cal": CAL, "fair": FAIR}

# ---- session values (not in the URL) ----------------------------------------------------
CONTEXT = "rl.context"  # the loaded PageContext of this run (set by the frame)
IN_FRAME = "rl.in_frame"  # True while the frame runs a page (see ui.core.frame)
SCENARIOS = "rl.scenarios"  # dict name -> saved what-if Scenario
WHATIF = "rl.whatif"  # the profile being edited in the What-if studio: a ui.whatif.logic.Draft
#: Hand-over: the Recommendations page stores a counterfactual profile (a Scenario) here
#: and the What-if studio offers to load it.
COUNTERFACTUAL = "rl.counterfactual"
UPLOAD_DIR = "rl.upload_dir"  # per-session temp dir for uploaded files
USER_NOTE = "rl.user_note"  # message when the requested user was unknown / missing (until one is picked)
UPLOAD_ERROR = "rl.upload_error"  # why the last upload was refused (shown once)
WHATIF_MSG = "rl.whatif_msg"  # the What-if studio's one-off messages: {place: [(kind, text)]}
GROUP_IDS = "rl.group_ids"  # user ids behind the rows of the User explorer's group table
ACCESS_OK = "rl.access_ok"  # True once this session showed the access token (RECSYS_ACCESS_TOKEN)
UPLOAD_FOLDER = "rl.upload_folder"  # the session's upload folder object (removed when the session ends)
_INIT = "rl._init"
_URL_SEEN = "rl._url_seen"

# ---- widget keys that are read back or driven by tests ----------------------------------
SOURCE_PATH = "w.path"  # sidebar: a path typed by the analyst
UPLOAD = "w.upload"  # sidebar: the file uploader
UPLOAD_GO = "w.upload_go"
USER_RANDOM = "w.user_random"
USER_FEATURED = "w.user_feat"
DROP_MIN_COUNT = "w.drop_min_count"
UPGRADE_MODEL = "w.upgrade_model"
BACK_TO_DEMO = "w.back_demo"
GROUP_ATTR, GROUP_VALUE, GROUP_SORT = "w.group_attr", "w.group_val", "w.group_sort"
GROUP_TABLE = "w.group_table"
DRIFT_TOGGLE = "w.ue_drift"
REC_TABLE = "w.rec_table"
ITEM_SEARCH, ITEM_GO = "w.item_search", "w.item_go"
SIMILAR_PICK, SIMILAR_GO = "w.sim_pick", "w.sim_go"
RETRAIN = "w.retrain"
EVAL_ATTR = "w.eval_attr"
EVAL_METRICS = "w.eval_metrics"
WI_RESET, WI_EMPTY, WI_CF = "w.wi_reset", "w.wi_empty", "w.wi_cf"
WI_TABLE, WI_REMOVE, WI_UP, WI_DOWN = "w.wi_table", "w.wi_rm", "w.wi_up", "w.wi_down"
WI_DAYS, WI_SHIFT, WI_ADD, WI_ADD_GO = "w.wi_days", "w.wi_shift", "w.wi_add", "w.wi_addgo"
WI_TARGET, WI_EXPLAIN, WI_COMPARE = "w.wi_target", "w.wi_explain", "w.wi_compare"
WI_NAME, WI_SAVE, WI_SAVED, WI_LOAD_SAVED = "w.wi_name", "w.wi_save", "w.wi_saved", "w.wi_loadsaved"
WI_UPLOAD, WI_LOAD_UPLOAD = "w.wi_upload", "w.wi_loadup"

# ---- model comparison (ui/compare) ------------------------------------------------------
COMPARE_ON = "w.compare_on"  # Recommendations: "Compare models for this user" toggle (computed on demand)

URL_KEYS = ("data", "min_count", "user", "item", "k", "div", "cal", "fair")
K_MIN, K_MAX, K_DEFAULT = 5, 50, 10
MIN_COUNT_MAX = 1000


def startup_arg(name: str) -> str | None:
    """``--<name> VALUE`` from ``streamlit run app.py -- --<name> VALUE``, else env
    ``RECSYS_<NAME>`` (``min-count`` -> ``--min-count`` / ``RECSYS_MIN_COUNT``)."""
    argv = sys.argv[1:]
    flag = f"--{name}"
    for k, a in enumerate(argv):
        if a == flag and k + 1 < len(argv):
            return argv[k + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    env = os.environ.get(f"RECSYS_{name.upper().replace('-', '_')}")
    return env or None


def _startup_manifest() -> dict:
    """The manifest of the ``--model``/``RECSYS_MODEL`` artifact ({} when none/unreadable)."""
    from recsys.data.types import DataError
    from recsys.models.transformer.artifact import read_manifest

    model = startup_arg("model")
    if not model:
        return {}
    try:
        return read_manifest(model, missing_ok=True)
    except DataError:
        return {}


def default_source() -> str:
    """``--data``/``RECSYS_DATA``; else the data a ``--model``/``RECSYS_MODEL`` artifact was
    trained on (its manifest's ``dataset_source``); else the demo world."""
    src = startup_arg("data")
    if src:
        return src
    trained_on = _startup_manifest().get("dataset_source")
    if isinstance(trained_on, str) and trained_on:
        return trained_on
    return "demo"


def parse_min_count(v: Any) -> int:
    """An N-core threshold from a URL, widget or start-up flag: an integer 2 … 1000, else
    0 (no filter; 0 and 1 filter nothing)."""
    try:
        n = int(float(v))
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(n, MIN_COUNT_MAX) if n >= 2 else 0


def default_min_count() -> int:
    """``--min-count``/``RECSYS_MIN_COUNT``; else, when the app opens the data a
    ``--model`` artifact was trained on, that artifact's own ``min_count`` (so a model
    trained with ``reclens train --min-count 5`` opens on the same 5-core data)."""
    arg = startup_arg("min-count")
    if arg is not None:
        return parse_min_count(arg)
    man = _startup_manifest()
    if man and default_source() == man.get("dataset_source"):
        return parse_min_count(man.get("min_count"))
    return 0


def tie_order(src: str) -> str:
    """How same-second ties are ordered for ``src``: the ``--model``/``RECSYS_MODEL``
    artifact's own order when ``src`` is the data it was trained on (an artifact from
    before tie keys was trained under item-id order), else the protocol default, hash."""
    from recsys.data.types import DataError
    from recsys.models.transformer.artifact import manifest_tie_order

    man = _startup_manifest()
    if man and src == man.get("dataset_source"):
        try:
            return manifest_tie_order(man)
        except DataError:
            return "hash"
    return "hash"


def _parse_k(v: Any) -> int:
    try:
        k = int(float(v))
    except (TypeError, ValueError, OverflowError):
        return K_DEFAULT
    return min(K_MAX, max(K_MIN, k))


def _unit(v: Any) -> float:
    """A weight from a widget or URL: a number in [0, 1] rounded to 0.01 (else 0)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if x != x else min(1.0, max(0.0, round(x, 2)))


def _adopt_url(qp: Mapping[str, str]) -> None:
    ss = st.session_state
    if qp.get("data"):
        ss[DATA] = str(qp["data"])
        ss[MIN_COUNT] = parse_min_count(qp.get("min_count"))  # a link names its filter (absent = none)
    elif "min_count" in qp:
        ss[MIN_COUNT] = parse_min_count(qp["min_count"])
    if "user" in qp:
        ss[USER] = str(qp["user"])
        ss.pop(USER_NOTE, None)
    if "item" in qp:
        ss[ITEM] = str(qp["item"]) or None
    if "k" in qp:
        ss[K] = _parse_k(qp["k"])
    if any(x in qp for x in WEIGHT_KEYS):
        _store(Weights.clamped(qp.get("div", 0), qp.get("cal", 0), qp.get("fair", 0)))


def _store(w: Weights) -> Weights:
    ss = st.session_state
    ss[DIV], ss[CAL], ss[FAIR] = w.diversity, w.calibration, w.fairness
    return w


def _url_params() -> dict[str, str]:
    return {k: str(st.query_params.get(k)) for k in URL_KEYS if st.query_params.get(k) is not None}


def init() -> None:
    """Initialise / synchronise the state; the frame calls it first on every run."""
    ss = st.session_state
    qp = _url_params()
    if not ss.get(_INIT):
        ss[DATA] = default_source()
        ss[MIN_COUNT] = default_min_count()
        ss[USER] = None
        ss[ITEM] = None
        ss[K] = K_DEFAULT
        ss[DIV] = ss[CAL] = ss[FAIR] = 0.0
        ss[SCENARIOS] = {}
        ss[_INIT] = True
        _adopt_url(qp)
    elif qp and qp != ss.get(_URL_SEEN):
        _adopt_url(qp)  # the URL was edited by hand or a link with parameters was followed


def url_state() -> dict[str, str]:
    """The URL query parameters that reproduce the current view (only keys with a value)."""
    ss = st.session_state
    want: dict[str, str] = {}
    from ui.core.policy import link_data

    if (data := link_data(str(ss.get(DATA) or "demo"))) is not None:
        want["data"] = data
    if min_count():
        want["min_count"] = str(min_count())
    if ss.get(USER) is not None:
        want["user"] = str(ss[USER])
    if ss.get(ITEM):
        want["item"] = str(ss[ITEM])
    want["k"] = str(k())
    w = weights()
    for name, v in (("div", w.diversity), ("cal", w.calibration), ("fair", w.fairness)):
        if v:
            want[name] = f"{v:g}"
    return want


def write_url() -> None:
    """Mirror the canonical state into the URL (the frame calls it once per run)."""
    want = url_state()
    if _url_params() != want:
        for key in URL_KEYS:
            if key not in want and key in st.query_params:
                del st.query_params[key]
        st.query_params.update(want)
    st.session_state[_URL_SEEN] = want


# ---- typed accessors ----------------------------------------------------------------
def data_source() -> str:
    return str(st.session_state.get(DATA) or default_source())


def min_count() -> int:
    """The N-core filter of the open source (0 = none)."""
    return parse_min_count(st.session_state.get(MIN_COUNT))


def set_min_count(value: Any) -> None:
    """Change the N-core filter: a different dataset, so the selection is reset (the same
    filter again changes nothing)."""
    if parse_min_count(value) != min_count():
        _apply_min_count(value)


def _apply_min_count(value: Any) -> None:
    st.session_state[MIN_COUNT] = parse_min_count(value)
    _reset_selection()


def set_data_source(src: str) -> None:
    """Switch dataset (the same source again changes nothing): the user and item selection
    belong to the old data and are reset, and so is the N-core filter (the start-up source
    gets its start-up filter back)."""
    if src != st.session_state.get(DATA):
        _apply_data_source(src)


def _apply_data_source(src: str) -> None:
    ss = st.session_state
    ss[DATA] = src
    ss[MIN_COUNT] = default_min_count() if src == default_source() else 0
    _reset_selection()


def on_source_changed() -> None:
    """``on_change`` of the source selectbox (bound to :data:`DATA`, already changed)."""
    _apply_data_source(data_source())


def on_min_count_changed() -> None:
    """``on_change`` of the minimum-count box (bound to :data:`MIN_COUNT`, already changed)."""
    _apply_min_count(st.session_state.get(MIN_COUNT))


def _reset_selection() -> None:
    ss = st.session_state
    ss.pop(USER_NOTE, None)
    ss[USER] = None
    ss[ITEM] = None
    ss.pop(WHATIF, None)
    ss.pop(COUNTERFACTUAL, None)


def k() -> int:
    return _parse_k(st.session_state.get(K, K_DEFAULT))


def weights() -> Weights:
    ss = st.session_state
    return Weights.clamped(ss.get(DIV, 0.0), ss.get(CAL, 0.0), ss.get(FAIR, 0.0))


def set_weight(name: str) -> None:
    """``on_change`` of a weight slider (bound to ``WEIGHT_KEYS[name]``): keep the moved
    weight and shrink the other two proportionally when the sum would exceed 1."""
    ss = st.session_state
    vals = {n: _unit(ss.get(key, 0.0)) for n, key in WEIGHT_KEYS.items()}
    v = vals[name]
    others = [n for n in vals if n != name]
    rest = sum(vals[n] for n in others)
    room = round(1.0 - v, 2)
    if rest > room + 1e-9:
        for n in others:
            vals[n] = (vals[n] * room / rest) if rest > 0 else 0.0
        vals[others[0]] = round(vals[others[0]], 2)
        vals[others[1]] = max(0.0, round(min(vals[others[1]], room - vals[others[0]]), 2))
    _store(Weights.clamped(vals["div"], vals["cal"], vals["fair"]))


def resolve_user(has_user: Callable[[str], bool], featured: list[str]) -> str:
    """The selected user id, validated against the dataset. An unknown or missing user
    falls back to the first featured user and records a note (see :func:`user_note`)."""
    ss = st.session_state
    req = ss.get(USER)
    if req is not None and has_user(str(req)):
        return str(req)
    fallback = featured[0]
    if req is None:
        ss[USER_NOTE] = f"No user selected — showing featured user **{fallback}**."
    else:
        shown = str(req)[:40]
        ss[USER_NOTE] = f"User `{shown}` is not in this dataset — showing featured user **{fallback}** instead."
    ss[USER] = fallback
    return fallback


def set_user(user_id: str) -> None:
    st.session_state[USER] = str(user_id)
    clear_user_note()


def clear_user_note() -> None:
    """The analyst picked a user: the note about a fallback user no longer applies."""
    st.session_state.pop(USER_NOTE, None)


def user_note() -> str | None:
    return st.session_state.get(USER_NOTE)


def resolve_item(has_item: Callable[[str], bool], default: str | None) -> str | None:
    """The selected item id if known to the dataset, else ``default`` (stored)."""
    ss = st.session_state
    req = ss.get(ITEM)
    if req is not None and has_item(str(req)):
        return str(req)
    ss[ITEM] = default
    return default


def set_item(item_id: str | None) -> None:
    st.session_state[ITEM] = None if item_id is None else str(item_id)


def scenarios() -> dict[str, Any]:
    ss = st.session_state
    if SCENARIOS not in ss or not isinstance(ss[SCENARIOS], dict):
        ss[SCENARIOS] = {}
    return ss[SCENARIOS]
