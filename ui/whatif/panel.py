"""What-if studio glue (needs streamlit): the session's working profile, the widget
callbacks, one-off messages, the before/after lists and the explanation delta.

The working profile is a :class:`ui.whatif.logic.Draft` under ``state.WHATIF``; saved
scenarios live in ``state.scenarios()`` (name -> Scenario); the Recommendations page
hands a counterfactual Scenario over under ``state.COUNTERFACTUAL``. Callbacks get their
values through ``args``; a table selection, a number or a name that is read at click
time goes through the accessors below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import streamlit as st

from recsys.data.types import DataError, Dataset, History
from recsys.models.base import Scorer
from recsys.rerank import RerankResult
from ui.core import recs, state
from ui.whatif import logic as wl
from ui.whatif.logic import Draft, Scenario

Slot = Literal["top", "edit", "scenarios"]  # where a one-off message is shown


# ---- the session's working profile ---------------------------------------------------------------
def current(ds: Dataset, user: str) -> Scenario:
    """The scenario being edited in this session. It follows the selected user until the
    analyst edits it; then it stays until reset (or the data changes)."""
    d = st.session_state.get(state.WHATIF)
    if isinstance(d, Draft) and d.scenario.data_fingerprint == ds.fingerprint:
        if d.edited or d.scenario.base_user == user:
            return d.scenario
    d = Draft(wl.from_user(ds, user), edited=False)
    st.session_state[state.WHATIF] = d
    return d.scenario


def put(sc: Scenario, edited: bool = True) -> None:
    st.session_state[state.WHATIF] = Draft(sc, edited)


def is_edited() -> bool:
    d = st.session_state.get(state.WHATIF)
    return isinstance(d, Draft) and d.edited


def _working() -> Scenario:
    d = st.session_state.get(state.WHATIF)
    if not isinstance(d, Draft):
        raise DataError("no what-if profile in this session yet")
    return d.scenario


def has_counterfactual() -> bool:
    return isinstance(st.session_state.get(state.COUNTERFACTUAL), Scenario)


# ---- accessors of values read at click time --------------------------------------------------------
def _selected_rows() -> list[int]:
    """Displayed rows selected in the history table (newest first)."""
    sel = st.session_state.get(state.WI_TABLE)
    rows = getattr(getattr(sel, "selection", None), "rows", None)
    if rows is None and isinstance(sel, dict):
        rows = sel.get("selection", {}).get("rows")
    return [int(r) for r in rows or []]


def _selected_positions(sc: Scenario) -> list[int]:
    return wl.rows_to_positions(len(sc), _selected_rows())


def _shift_days() -> float:
    try:
        return float(st.session_state.get(state.WI_DAYS) or 0)
    except (TypeError, ValueError):
        return 0.0


def _typed_name() -> str:
    return str(st.session_state.get(state.WI_NAME) or "")


# ---- one-off messages -------------------------------------------------------------------------------
def _say(slot: Slot, text: str, kind: Literal["warning", "error"] = "warning") -> None:
    msgs = st.session_state.get(state.WHATIF_MSG)
    msgs = dict(msgs) if isinstance(msgs, dict) else {}
    msgs.setdefault(slot, []).append((kind, text))
    st.session_state[state.WHATIF_MSG] = msgs


def show_messages(slot: Slot) -> None:
    """Show (once) the messages the callbacks left for ``slot``."""
    msgs = st.session_state.get(state.WHATIF_MSG)
    if not isinstance(msgs, dict) or slot not in msgs:
        return
    msgs = dict(msgs)
    for kind, text in msgs.pop(slot):
        (st.error if kind == "error" else st.warning)(text)
    st.session_state[state.WHATIF_MSG] = msgs


# ---- callbacks ----------------------------------------------------------------------------------------
def act_reset(ds: Dataset, user: str) -> None:
    put(wl.from_user(ds, user), edited=False)


def act_empty(ds: Dataset) -> None:
    put(wl.empty_scenario(ds))


def act_remove() -> None:
    sc = _working()
    pos = _selected_positions(sc)
    if pos:
        put(wl.remove_at(sc, pos))
    else:
        _say("edit", "Select rows in the history table first.")


def act_move(direction: int) -> None:
    """direction +1 = later (towards the end), −1 = earlier."""
    sc = _working()
    pos = _selected_positions(sc)
    if len(pos) != 1:
        _say("edit", "Select exactly one row to move it.")
        return
    put(wl.move(sc, pos[0], pos[0] + direction))


def act_shift() -> None:
    sc = _working()
    put(wl.shift_dates(sc, _shift_days(), _selected_positions(sc) or None))


def act_add(ds: Dataset, item_id: str | None) -> None:
    if item_id and ds.has_item(item_id):
        put(wl.add_item(_working(), item_id))


def act_save() -> None:
    """Save the working profile in this session under the typed name."""
    sc = wl.renamed(_working(), _typed_name())
    state.scenarios()[sc.name] = sc


def act_load(sc: Scenario) -> None:
    put(sc)


def act_upload(ds: Dataset, file: Any) -> None:
    """Validate an uploaded scenario file and make it the working profile."""
    try:
        sc, warns = Scenario.from_json(file.getvalue(), ds, source=str(file.name))
    except DataError as e:
        _say("scenarios", f"Scenario refused: {e}", "error")
        return
    put(sc)
    for w in warns:
        _say("scenarios", w)


def act_counterfactual(ds: Dataset) -> None:
    """Load the counterfactual profile stored by the Recommendations page."""
    sc = st.session_state.get(state.COUNTERFACTUAL)
    if not isinstance(sc, Scenario):
        _say("top", "Counterfactual refused: no counterfactual profile has been stored yet", "error")
    elif sc.data_fingerprint != ds.fingerprint:
        _say("top", "Counterfactual refused: it was made on different data", "error")
    else:
        put(sc)


# ---- before / after --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """The profiles and lists before and after the edit, and their display tables."""

    before: History
    after: History
    before_list: RerankResult
    after_list: RerankResult
    before_table: pd.DataFrame
    after_table: pd.DataFrame
    diff: wl.ListDiff

    @property
    def candidates(self) -> list[int]:
        """Items of either list (after first): the ones the explanation delta offers."""
        both = [int(i) for i in self.after_list.items] + [int(i) for i in self.before_list.items]
        return list(dict.fromkeys(both))


def compare(ds: Dataset, model: Scorer, sc: Scenario, k: int) -> Comparison:
    """Recommend for the base profile and the edited one with the session's weights."""
    before, after = wl.base_history(ds, sc), sc.to_history(ds)
    w = state.weights()
    rb = recs.recommend(ds, model, before, k, w)
    ra = recs.recommend(ds, model, after, k, w)
    lb, la, diff = wl.diff_frames(ds, rb.items, ra.items)
    return Comparison(before, after, rb, ra, lb, la, diff)


def explanation_delta(ds: Dataset, model: Scorer, target: int, cmp: Comparison, k: int) -> None:
    """Compute and show the SHAP explanation of ``target`` before and after the edit."""
    with st.spinner("Explaining before and after…"):
        df, facts = wl.explanation_delta(ds, model, target, cmp.before, cmp.after, k)
    cols = st.columns(4)
    for col, key in zip(cols, ("rank before", "rank after", "value before", "value after")):
        if key in facts:
            col.metric(key, f"{facts[key]:.0f}" if key.startswith("rank") else f"{facts[key]:.3f}")
    if df.empty:
        st.caption("No history items to attribute (empty profile).")
    else:
        st.dataframe(df, hide_index=True)
