"""Glue between the pages and the explanations teammate's panel (ui/panel_explain.py)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import streamlit as st

from recsys.data.types import Dataset
from ui import components


def warm_up() -> None:
    """Start the explainers' one-time warm-up in the background (no-op if unavailable)."""
    try:
        from ui import panel_explain
    except ImportError:
        return
    start = getattr(panel_explain, "start_warm_up", None)
    if start is not None:
        start()


def available() -> bool:
    try:
        from ui import panel_explain  # noqa: F401
    except ImportError:
        return False
    return True


def _call_with_supported(fn: Any, **kwargs: Any) -> Any:
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def explanation_section(
    ds: Dataset,
    model: Any,
    user: str,
    item: str,
    *,
    history: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
    k: int = 10,
    key: str = "ex",
) -> Any:
    """Render the explanation panel for ``item`` (SHAP/LIME, faithfulness, why-not,
    counterfactual hand-over to the What-if studio). Returns what the panel returns."""
    try:
        from ui import panel_explain
    except ImportError as e:
        components.empty_state(
            "Explanations are not available in this build",
            f"The explanation panel could not be imported ({e}). Lists and re-ranking still work.",
        )
        return None
    fn = getattr(panel_explain, "explanation_panel", None)
    if fn is None:
        st.warning("ui/panel_explain.py has no explanation_panel().")
        return None
    return _call_with_supported(
        fn, ds=ds, model=model, user=user, item=item, item_id=item, history=history, timestamps=timestamps, k=k,
        key=key,
    )
