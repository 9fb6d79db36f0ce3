"""Live view charts (pure: no streamlit): the effect of a new event on the items that moved."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.core.text import esc
from ui.core.theme import NEGATIVE, POSITIVE, style
from ui.live.logic import Change


def effect_figure(ch: Change, height: int = 260) -> go.Figure | None:
    """Horizontal bars: for each attributed moved item, the change of its log-probability
    due to the newest attributed event (leave-one-out); None when nothing was attributed."""
    rows = [(m, m.effect[-1]) for m in ch.moves if m.effect]
    if not rows:
        return None
    rows.sort(key=lambda r: r[1])
    fig = go.Figure(go.Bar(
        x=[e for _, e in rows],
        y=[f"{esc(m.title)[:48]} ({m.label})" for m, _ in rows],
        orientation="h",
        marker_color=[POSITIVE if e >= 0 else NEGATIVE for _, e in rows],
        hovertemplate="%{y}<br>Δ log-prob %{x:+.3f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="effect of the newest event on the item (Δ log-probability)", zeroline=True)
    fig.update_yaxes(automargin=True)
    return style(fig, height=height)
