"""What-if studio glue (needs streamlit): the per-session edited profile, edit
actions, before/after lists, explanation deltas and scenario files."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.types import DataError, Dataset
from ui import components, recs, state
from ui import whatif_logic as wl


# ---- the session's working profile ---------------------------------------------------------
def current(ds: Dataset, user: str) -> dict[str, Any]:
    """The scenario being edited in this session. It follows the selected user until
    the analyst edits it; then it stays until reset."""
    ss = st.session_state
    w = ss.get(state.WHATIF)
    ok = isinstance(w, dict) and w.get("scenario", {}).get("data_fingerprint") == ds.fingerprint
    if not ok or (not w.get("edited") and w["scenario"].get("base_user") != user):
        w = {"scenario": wl.from_user(ds, user), "edited": False}
        ss[state.WHATIF] = w
    return w["scenario"]


def put(sc: dict[str, Any], edited: bool = True) -> None:
    st.session_state[state.WHATIF] = {"scenario": sc, "edited": edited}


def is_edited() -> bool:
    w = st.session_state.get(state.WHATIF)
    return bool(isinstance(w, dict) and w.get("edited"))


def base_arrays(ds: Dataset, sc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The 'before' profile: the base user's real history, or empty (cold start)."""
    u = sc.get("base_user")
    if u and ds.has_user(u):
        return recs.user_history(ds, u)
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


# ---- edit actions (button callbacks) ---------------------------------------------------------
def _selected_positions(n: int) -> list[int]:
    sel = st.session_state.get("w.wi_table")
    rows = getattr(getattr(sel, "selection", None), "rows", None) if sel is not None else None
    if rows is None and isinstance(sel, dict):
        rows = sel.get("selection", {}).get("rows")
    return sorted(int(r) for r in (rows or []) if 0 <= int(r) < n)


def _displayed_to_pos(n: int, rows: list[int]) -> list[int]:
    """The table shows the newest first; map displayed rows to history positions."""
    return sorted(n - 1 - r for r in rows)


def act_remove(ds: Dataset) -> None:
    sc = current_scenario()
    pos = _displayed_to_pos(len(sc["history"]), _selected_positions(len(sc["history"])))
    if pos:
        put(wl.remove_at(sc, pos))
    else:
        st.session_state["rl._wi_msg"] = "Select rows in the history table first."


def act_move(ds: Dataset, direction: int) -> None:
    """direction +1 = later (towards the end), −1 = earlier."""
    sc = current_scenario()
    n = len(sc["history"])
    pos = _displayed_to_pos(n, _selected_positions(n))
    if len(pos) != 1:
        st.session_state["rl._wi_msg"] = "Select exactly one row to move it."
        return
    put(wl.move(sc, pos[0], pos[0] + direction))


def act_shift(ds: Dataset) -> None:
    sc = current_scenario()
    n = len(sc["history"])
    pos = _displayed_to_pos(n, _selected_positions(n))
    days = float(st.session_state.get("w.wi_days") or 0)
    put(wl.shift_dates(sc, days, pos or None))


def act_add(ds: Dataset) -> None:
    iid = st.session_state.get("w.wi_add.pick")
    if iid and ds.has_item(iid):
        put(wl.add_item(current_scenario(), iid))


def act_reset(ds: Dataset, user: str) -> None:
    put(wl.from_user(ds, user), edited=False)


def act_empty(ds: Dataset) -> None:
    put(wl.empty_scenario(ds))


def act_load(sc: dict[str, Any]) -> None:
    put(copy.deepcopy(sc))


def current_scenario() -> dict[str, Any]:
    return st.session_state[state.WHATIF]["scenario"]


# ---- tables -------------------------------------------------------------------------------
def history_display(ds: Dataset, sc: dict[str, Any]) -> pd.DataFrame:
    items, ts = wl.arrays(ds, sc)
    df = components.history_frame(ds, items, ts)
    base = sc.get("base_user")
    if base and ds.has_user(base):
        orig = set(int(i) for i in recs.user_history(ds, base)[0])
        df["edit"] = ["" if int(i) in orig else "added" for i in items]
    return df.iloc[::-1].reset_index(drop=True)


def diff_frames(ds: Dataset, before: Any, after: Any) -> tuple[pd.DataFrame, pd.DataFrame, wl.ListDiff]:
    b = [int(i) for i in before.items]
    a = [int(i) for i in after.items]
    d = wl.diff_lists(b, a)
    lb = pd.DataFrame({
        "rank": range(1, len(b) + 1), "title": [ds.titles[i] for i in b],
        "status": ["leaves" if i in d.leaving else "" for i in b],
    })
    la = pd.DataFrame({
        "rank": range(1, len(a) + 1), "title": [ds.titles[i] for i in a],
        "change": ["new" if i in d.entering else (f"▲{d.moves[i]}" if d.moves.get(i, 0) > 0 else
                   (f"▼{-d.moves[i]}" if d.moves.get(i, 0) < 0 else "–")) for i in a],
    })
    return lb, la, d


# ---- explanation delta ------------------------------------------------------------------------
def explanation_delta(ds: Dataset, model: Any, target: int, before: tuple[np.ndarray, np.ndarray],
                      after: tuple[np.ndarray, np.ndarray], k: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """SHAP attributions of ``target`` before and after the edit, per history item,
    plus the target's value (log-probability) and rank before/after."""
    from explain import explain_item

    rows: dict[int, dict[str, Any]] = {}
    facts: dict[str, float] = {}
    for label, (h, t) in (("before", before), ("after", after)):
        if len(h) == 0:
            scores = recs.score_history(model, h, t)
            facts[f"rank {label}"] = float(1 + (scores > scores[target]).sum())
            continue
        e = explain_item(ds, model, h, t, int(target), method="shap", k=k, extras=False)
        a = e.attribution
        facts[f"value {label}"] = float(a.value)
        scores = recs.score_history(model, h, t)
        seen = set(int(x) for x in h)
        facts[f"rank {label}"] = float(1 + sum(1 for j in np.flatnonzero(scores > scores[target]) if j not in seen))
        for f, v in zip(a.features, a.values):
            r = rows.setdefault(int(f), {"item_id": ds.item_ids[int(f)], "title": ds.titles[int(f)]})
            r[f"SHAP {label}"] = round(float(r.get(f"SHAP {label}", 0.0)) + float(v), 4)
    df = pd.DataFrame(list(rows.values()))
    for c in ("SHAP before", "SHAP after"):
        if c not in df:
            df[c] = np.nan
    if not df.empty:
        df["Δ"] = (df["SHAP after"].fillna(0) - df["SHAP before"].fillna(0)).round(4)
        df = df.reindex(df["Δ"].abs().sort_values(ascending=False).index).reset_index(drop=True)
    return df, facts


# ---- scenarios ----------------------------------------------------------------------------------
def save_current(name: str = "") -> None:
    """Save the working profile in this session under the typed name (callback)."""
    name = st.session_state.get("w.wi_name") or name
    sc = copy.deepcopy(current_scenario())
    sc["name"] = (name or sc.get("name") or "scenario").strip()[:120]
    state.scenarios()[sc["name"]] = copy.deepcopy(sc)


def load_upload(ds: Dataset, data: bytes, file_name: str) -> list[str]:
    """Validate an uploaded scenario file and make it the working profile."""
    sc, warns = wl.validate(data, ds, source=file_name)
    put(sc)
    return warns


def load_counterfactual(ds: Dataset) -> list[str]:
    """Load the counterfactual profile stored by the Recommendations page."""
    obj = st.session_state.get(state.COUNTERFACTUAL)
    if obj is None:
        raise DataError("no counterfactual profile has been stored yet")
    if isinstance(obj, dict) and isinstance(obj.get("history"), list):
        obj = copy.deepcopy(obj)
        known = [int(e["timestamp"]) for e in obj["history"] if isinstance(e, dict) and e.get("timestamp") is not None]
        t = known[0] if known else 1_700_000_000
        for e in obj["history"]:  # entries without a time keep their order, one day apart
            if isinstance(e, dict):
                if e.get("timestamp") is None:
                    e["timestamp"] = t
                t = int(e["timestamp"]) + wl.DAY
    sc, warns = wl.validate(obj, ds, source="counterfactual")
    if isinstance(obj, dict):
        sc["base_user"] = obj.get("base_user") or obj.get("user") or sc.get("base_user")
        sc["name"] = str(obj.get("name") or "counterfactual")[:120]
    put(sc)
    return warns
