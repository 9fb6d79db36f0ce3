"""The live view's per-session state: one :class:`LiveState` per live view (the Live page,
the User explorer's panel), kept in this session's ``st.session_state`` only — another
session's live view never sees or changes it. (Keys live here, not in
:mod:`ui.core.state`.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from ui.live.logic import Follow, Tail

STATE = "rl.live"  # dict: view key -> LiveState
PAGE_ON = "w.live_on"  # Live page: the live-mode toggle (off by default)
PANEL_ON = "w.ue_live_on"  # User explorer: the live panel's toggle (off by default)
MODE = "w.live_mode"  # Live page: follow "this user" or "the whole stream"
MODES = ("This user", "Whole stream")


@dataclass
class LiveState:
    tail: Tail | None = None  # the log's tail after the page's dataset
    follow: Follow | None = None  # the followed user's last list
    seen: int | None = None  # the log position this view saw last
    timeline: tuple[Any, Any] | None = None  # (key, figure) of the growing timeline
    newest: tuple[str, Any] | None = None  # (log stamp, the newest events table)
    ticks: int = 0


def live_state(view: str) -> LiveState:
    """This session's state of one live view (created on first use)."""
    views = st.session_state.setdefault(STATE, {})
    s = views.get(view)
    if not isinstance(s, LiveState):
        s = views[view] = LiveState()
    return s
