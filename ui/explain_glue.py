"""The Recommendations page's explanation section. ``ui.panel_explain`` (shap, lime,
numba) is imported on first use, so the home page does not wait for it."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.data.types import Dataset
from ui import components


def warm_up() -> None:
    """Start the explainers' one-time warm-up (shap's JIT compile) in a background thread;
    nothing if they cannot be imported (the Recommendations page then says so)."""
    try:
        from ui import panel_explain
    except ImportError:
        return
    panel_explain.start_warm_up()


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
    counterfactual hand-over to the What-if studio). Returns the shown explanation."""
    try:
        from ui import panel_explain
    except ImportError as e:  # a broken shap/lime install: lists and re-ranking still work
        components.empty_state(
            "Explanations are not available",
            f"The explainers could not be imported ({e}). Lists and re-ranking still work.",
        )
        return None
    return panel_explain.explanation_panel(
        ds, model, history, timestamps, target_item=item, k=k, user=user, key=key
    )
