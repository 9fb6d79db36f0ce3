"""The allowlist, demo mode and access token as the app applies them to this session
(the streamlit side of the pure :mod:`ui.core.access`): the start-up source, the data
roots, the first-start limit and the session's own upload folder are filled in here."""

from __future__ import annotations

import os
import sys

import streamlit as st

from ui.core import access, state
from ui.serving.logic import first_start_limit


def demo_mode() -> bool:
    """The read-only demo mode: ``streamlit run app.py -- --demo-mode`` or ``RECSYS_DEMO_MODE=1``."""
    return access.demo_mode(sys.argv[1:], os.environ)


def access_token() -> str | None:
    """``RECSYS_ACCESS_TOKEN`` (a link passes it once as ``?token=``), or None."""
    return access.access_token(os.environ)


def source_problem(src: str) -> str | None:
    """None when this browser session may open ``src`` (:func:`ui.core.access.check_source`),
    else the message to show instead of opening it. In demo mode no upload opens."""
    return access.check_source(
        src, startup=state.default_source(), roots=access.data_roots(os.environ),
        upload_dir=None if demo_mode() else st.session_state.get(state.UPLOAD_DIR),
        max_interactions=first_start_limit(os.environ)[0],
    )


def source_display(src: str) -> str:
    """The source as the app names it (uploads as "uploaded files"; in demo mode a path
    by its last part only)."""
    return access.display_source(src, hide_paths=demo_mode())


def link_data(src: str) -> str | None:
    """The ``data`` URL parameter for ``src``, or None for none: an upload's temporary
    folder never goes into a link, and in demo mode neither does the start-up source's
    path (a link without ``data`` opens the start-up source)."""
    if src.startswith("upload:"):
        return None
    if demo_mode() and src == state.default_source() and source_display(src) != src:
        return None
    return src
