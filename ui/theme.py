"""One visual language for every chart: category colours, sign colours, layout.

Pure helpers (plotly only, no streamlit) so chart builders stay testable.
"""

from __future__ import annotations

from typing import Iterable

import plotly.graph_objects as go

# A 20-colour qualitative palette (colour-blind friendly first, then extended).
PALETTE = (
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1",
    "#FF9DA7", "#9C755F", "#BAB0AC", "#1F77B4", "#2CA02C", "#D62728", "#9467BD",
    "#8C564B", "#E377C2", "#17BECF", "#BCBD22", "#7F7F7F", "#AEC7E8",
)
POSITIVE = "#2E7D32"  # pushes the item up
NEGATIVE = "#C62828"  # pushes the item down
NEUTRAL = "#9E9E9E"
ACCENT = "#6C4BD8"
OTHER = "#CCCCCC"


def category_colors(categories: Iterable[str]) -> dict[str, str]:
    """Stable colour per category: the same dataset always gives the same mapping,
    on every page and chart (categories sorted, then assigned in order)."""
    cats = sorted(set(categories))
    colors = {c: PALETTE[k % len(PALETTE)] for k, c in enumerate(cats)}
    colors.setdefault("other", OTHER)
    return colors


def style(fig: go.Figure, *, height: int | None = None, title: str | None = None) -> go.Figure:
    """Apply the house layout to a figure (in place) and return it."""
    fig.update_layout(
        template="plotly_white",
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        font=dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hoverlabel=dict(namelength=-1),
    )
    if title:
        fig.update_layout(title=dict(text=title, x=0, xanchor="left"))
    if height:
        fig.update_layout(height=height)
    return fig
