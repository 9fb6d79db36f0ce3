"""The case-file download button (streamlit); the report itself is :mod:`ui.report.logic`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import streamlit as st

from recsys.data.types import Dataset
from recsys.models.base import Scorer
from recsys.rerank import RerankResult
from ui.core import policy, state
from ui.report.logic import Section, case_file_html, safe_name, timeline_figure

if TYPE_CHECKING:  # explain imports shap; only its types are needed here
    from explain.explanation import Explanation


def case_file_button(ds: Dataset, model: Scorer, user: str, res: RerankResult, *, item: str | None, key: str,
                     explanation: Explanation | None = None, extra: Sequence[Section] = ()) -> None:
    """A download button for the case file (built lazily when clicked)."""
    label = policy.source_display(state.data_source())

    def build() -> str:
        return case_file_html(ds, model, user, res, item=item, explanation=explanation, extra=extra,
                              timeline_fig=timeline_figure(ds, model, user), data_label=label)

    st.download_button(
        "Case file (HTML)", data=build, file_name=f"reclens_case_{safe_name(user)}.html", mime="text/html", key=key,
        icon=":material/description:", on_click="ignore",
    )
