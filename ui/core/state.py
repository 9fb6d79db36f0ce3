"""The one session-state registry of the dashboard.

Every page calls :func:`init_page` first. The selected data source, user, item, list
length ``k`` and re-ranking weights live here (per browser session, never shared) and
are mirrored in the URL query parameters ``data``, ``min_count``, ``user``, ``item``,
``k``, ``div``, ``cal``, ``fair`` so a copied URL reproduces the view.

Rules:
- the canonical values live under the ``rl.*`` keys below; widgets use their own keys
  (``w.*``) and copy into the canonical key on change, because Streamlit forgets widget
  keys when the analyst switches pages;
- on the first run of a session (and whenever the URL was edited by hand) the URL wins;
  afterwards the state wins and is written back to the URL on every run;
- an unknown or missing user falls back to a featured user and :func:`user_note` says so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import streamlit as st

# ---- canonical keys -------------------------------------------------------------
DATA = "rl.data"  # source string: "demo", a path, or "upload:<token>"
MIN_COUNT = "rl.min_count"  # N-core filter applied to the source (None = all interactions)
USER = "rl.user"  # external user id
ITEM = "rl.item"  # external item id or None
K = "rl.k"
DIV = "rl.div"
CAL = "rl.cal"
FAIR = "rl.fair"
SCENARIOS = "rl.scenarios"  # dict name -> scenario dict (see ui.whatif_logic)
WHATIF = "rl.whatif"  # the profile being edited in the What-if studio (scenario dict)
#: Shared hand-over key: the Recommendations page stores a counterfactual profile here
#: (a scenario dict: {"name", "user", "base_user", "history": [{"item_id", "timestamp"}],
#: "note"}) and the What-if studio offers to load it.
COUNTERFACTUAL = "rl.counterfactual"
UPLOAD_DIR = "rl.upload_dir"  # per-session temp dir for uploaded files
USER_NOTE = "rl.user_note"  # message when the requested user was unknown / missing
_INIT = "rl._init"
_URL_SEEN = "rl._url_seen"

URL_KEYS = ("data", "min_count", "user", "item", "k", "div", "cal", "fair")
K_MIN, K_MAX, K_DEFAULT = 5, 50, 10
MIN_COUNT_MAX = 1000
WEIGHT_KEYS = (DIV, CAL, FAIR)


@dataclass(frozen=True)
class Weights:
    """Re-ranking weights (diversity, calibration, fairness), each in [0, 1], sum ≤ 1."""

    div: float = 0.0
    cal: float = 0.0
    fair: float = 0.0

    @property
    def any(self) -> bool:
        return (self.div + self.cal + self.fair) > 0


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
    model = startup_arg("model")
    if not model:
        return {}
    import json
    from pathlib import Path

    try:
        man = json.loads((Path(model) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return man if isinstance(man, dict) else {}


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


def parse_min_count(v: Any) -> int | None:
    """An N-core threshold from a URL, widget or start-up flag: an integer 2 … 1000, else
    None (no filter; 0 and 1 filter nothing)."""
    try:
        n = int(float(v))
    except (TypeError, ValueError, OverflowError):
        return None
    return min(n, MIN_COUNT_MAX) if n >= 2 else None


def default_min_count() -> int | None:
    """``--min-count``/``RECSYS_MIN_COUNT``; else, when the app opens the data a
    ``--model`` artifact was trained on, that artifact's own ``min_count`` (so a model
    trained with ``python -m recsys train --min-count 5`` opens on the same 5-core data)."""
    arg = startup_arg("min-count")
    if arg is not None:
        return parse_min_count(arg)
    man = _startup_manifest()
    if man and default_source() == man.get("dataset_source"):
        return parse_min_count(man.get("min_count"))
    return None


def _parse_float(v: Any, default: float = 0.0) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return default
    if x != x:  # NaN
        return default
    return min(1.0, max(0.0, round(x, 2)))


def _parse_k(v: Any) -> int:
    try:
        k = int(float(v))
    except (TypeError, ValueError):
        return K_DEFAULT
    return min(K_MAX, max(K_MIN, k))


def clamp_weights(div: float, cal: float, fair: float) -> Weights:
    """Clamp each weight to [0, 1]; if the sum exceeds 1, scale them down to sum to 1."""
    d, c, f = (_parse_float(x) for x in (div, cal, fair))
    s = d + c + f
    if s > 1.0:
        d, c, f = (round(x / s, 2) for x in (d, c, f))
        while d + c + f > 1.0 + 1e-9:  # rounding can overshoot by 0.01
            if d >= c and d >= f:
                d = round(d - 0.01, 2)
            elif c >= f:
                c = round(c - 0.01, 2)
            else:
                f = round(f - 0.01, 2)
    return Weights(d, c, f)


def _adopt_url(qp: Mapping[str, str]) -> None:
    ss = st.session_state
    if "data" in qp and qp["data"]:
        ss[DATA] = str(qp["data"])
        ss[MIN_COUNT] = parse_min_count(qp.get("min_count"))  # a link names its filter (absent = none)
    elif "min_count" in qp:
        ss[MIN_COUNT] = parse_min_count(qp["min_count"])
    if "user" in qp:
        ss[USER] = str(qp["user"])
    if "item" in qp:
        ss[ITEM] = str(qp["item"]) or None
    if "k" in qp:
        ss[K] = _parse_k(qp["k"])
    if any(x in qp for x in ("div", "cal", "fair")):
        w = clamp_weights(qp.get("div", 0), qp.get("cal", 0), qp.get("fair", 0))
        ss[DIV], ss[CAL], ss[FAIR] = w.div, w.cal, w.fair


def init_page() -> None:
    """Initialise / synchronise the state at the top of every page."""
    ss = st.session_state
    qp = {k: st.query_params.get(k) for k in URL_KEYS if st.query_params.get(k) is not None}
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
    ss.pop(USER_NOTE, None)


def write_url() -> None:
    """Mirror the canonical state into the URL (only keys with a value)."""
    ss = st.session_state
    want: dict[str, str] = {}
    data = ss.get(DATA) or "demo"
    if not str(data).startswith("upload:"):
        want["data"] = str(data)
    if ss.get(MIN_COUNT):
        want["min_count"] = str(ss[MIN_COUNT])
    if ss.get(USER) is not None:
        want["user"] = str(ss[USER])
    if ss.get(ITEM):
        want["item"] = str(ss[ITEM])
    want["k"] = str(ss.get(K, K_DEFAULT))
    for name, key in (("div", DIV), ("cal", CAL), ("fair", FAIR)):
        v = float(ss.get(key, 0.0))
        if v:
            want[name] = f"{v:g}"
    current = {k: st.query_params.get(k) for k in URL_KEYS if st.query_params.get(k) is not None}
    if current != want:
        for k in URL_KEYS:
            if k not in want and k in st.query_params:
                del st.query_params[k]
        st.query_params.update(want)
    ss[_URL_SEEN] = want


# ---- typed accessors ----------------------------------------------------------------
def data_source() -> str:
    return str(st.session_state.get(DATA) or default_source())


def min_count() -> int | None:
    return parse_min_count(st.session_state.get(MIN_COUNT))


def set_min_count(value: Any) -> None:
    """Change the N-core filter: a different dataset, so the selection is reset."""
    n = parse_min_count(value)
    if min_count() != n:
        st.session_state[MIN_COUNT] = n
        _reset_selection()


def set_data_source(src: str) -> None:
    """Switch dataset: the user and item selection belong to the old data and are reset,
    and so is the N-core filter (the start-up source gets its start-up filter back)."""
    ss = st.session_state
    if ss.get(DATA) != src:
        ss[DATA] = src
        ss[MIN_COUNT] = default_min_count() if src == default_source() else None
        _reset_selection()


def _reset_selection() -> None:
    ss = st.session_state
    ss[USER] = None
    ss[ITEM] = None
    ss.pop(WHATIF, None)
    ss.pop(COUNTERFACTUAL, None)


def k() -> int:
    return _parse_k(st.session_state.get(K, K_DEFAULT))


def set_k(value: int) -> None:
    st.session_state[K] = _parse_k(value)


def weights() -> Weights:
    ss = st.session_state
    return clamp_weights(ss.get(DIV, 0.0), ss.get(CAL, 0.0), ss.get(FAIR, 0.0))


def set_weights(div: float, cal: float, fair: float) -> Weights:
    w = clamp_weights(div, cal, fair)
    ss = st.session_state
    ss[DIV], ss[CAL], ss[FAIR] = w.div, w.cal, w.fair
    return w


def set_weight(name: str, value: float) -> Weights:
    """Move one weight (``div``/``cal``/``fair``) and shrink the other two
    proportionally when the sum would exceed 1 — the moved weight is kept."""
    cur = weights()
    vals = {"div": cur.div, "cal": cur.cal, "fair": cur.fair}
    v = _parse_float(value)
    vals[name] = v
    others = [n for n in vals if n != name]
    rest = sum(vals[n] for n in others)
    room = round(1.0 - v, 2)
    if rest > room + 1e-9:
        for n in others:
            vals[n] = (vals[n] * room / rest) if rest > 0 else 0.0
        vals[others[0]] = round(vals[others[0]], 2)
        vals[others[1]] = max(0.0, round(min(vals[others[1]], room - vals[others[0]]), 2))
    return set_weights(vals["div"], vals["cal"], vals["fair"])


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


def bind_widget(widget_key: str, canonical_key: str) -> None:
    """Before drawing a widget keyed ``widget_key``: seed it from the canonical value.
    Use :func:`copy_to` as its ``on_change`` to write the choice back."""
    st.session_state[widget_key] = st.session_state.get(canonical_key)


def copy_to(widget_key: str, canonical_key: str) -> None:
    """on_change callback: copy a widget's value into its canonical key."""
    st.session_state[canonical_key] = st.session_state.get(widget_key)


def scenarios() -> dict[str, dict]:
    ss = st.session_state
    if SCENARIOS not in ss or not isinstance(ss[SCENARIOS], dict):
        ss[SCENARIOS] = {}
    return ss[SCENARIOS]
