"""shap's one-time JIT compilation, paid in a background thread once per server process
so the first explanation an analyst asks for is fast. Only a machine's first start really
compiles: the code is kept in numba's cache under ``RECSYS_HOME`` (``explain.jitcache``),
later starts load it (about 0.3–0.5 s instead of 6–20 s). The explainers are imported in
that thread: the Home page never waits for shap, lime or numba, and a build where they
cannot be imported stays silent here (the Recommendations page says so)."""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st


@st.cache_resource(show_spinner=False)
def _warm_up_thread() -> dict[str, Any]:
    box: dict[str, Any] = {"ms": None, "error": None, "done": threading.Event()}

    def work() -> None:
        try:
            from explain import warm_up

            box["ms"] = warm_up()
        except ImportError as e:
            box["error"] = str(e)
        finally:
            box["done"].set()

    threading.Thread(target=work, name="reclens-shap-warm-up", daemon=True).start()
    return box


def start() -> None:
    """Start the warm-up in the background (once per server process)."""
    _warm_up_thread()


def done() -> bool:
    return _warm_up_thread()["done"].is_set()


def wait() -> None:
    """Block until the warm-up has finished (the first explanation of a fresh server)."""
    _warm_up_thread()["done"].wait()
