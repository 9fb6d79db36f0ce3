"""Long-term lab charts: pure plotly builders over :func:`ui.simulate.logic.long_table`.

* :func:`curves_figure` — one metric over the rounds, a line per policy (the references
  random / most popular / oracle dashed or dotted).
* :func:`small_multiples_figure` — a grid of metrics, a line per weight setting (model).
* :func:`timeline_figure` — one user's real history and simulated choices by category.
* :func:`category_shift_figure` — the category mix of the real history vs the choices.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.core import theme
from ui.core.text import esc
from ui.simulate.logic import METRIC_LABELS, POLICY_LABELS

POLICY_STYLE = {
    "model": dict(color=theme.ACCENT, dash="solid", width=3),
    "random": dict(color=theme.NEUTRAL, dash="dash", width=2),
    "popular": dict(color=theme.PALETTE[1], dash="dash", width=2),
    "oracle": dict(color=theme.PALETTE[2], dash="dot", width=2),
}


def curves_figure(df: pd.DataFrame, metric: str, setting: str) -> go.Figure:
    """``metric`` over the rounds for every policy of ``setting``."""
    fig = go.Figure()
    sub = df[(df["metric"] == metric) & (df["setting"] == setting)]
    for pol, g in sub.groupby("policy", sort=False):
        g = pd.DataFrame(g).sort_values(by="round")
        name = POLICY_LABELS.get(str(pol), str(pol))
        fig.add_trace(go.Scatter(
            x=g["round"], y=g["value"], mode="lines+markers", name=esc(name), line=POLICY_STYLE.get(str(pol), {}),
            marker=dict(size=4), hovertemplate=f"{esc(name)}<br>round %{{x}}: %{{y:.4f}}<extra></extra>",
        ))
    fig.update_xaxes(title_text="round (0 = before the first recommendation)")
    fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric))
    return theme.style(fig, height=380, title=f"{METRIC_LABELS.get(metric, metric)} — {esc(setting)}")


def small_multiples_figure(df: pd.DataFrame, metrics: Sequence[str], policy: str = "model") -> go.Figure:
    """A subplot per metric, a line per weight setting of ``policy``."""
    metrics = list(metrics)
    cols = 3
    rows = max(1, math.ceil(len(metrics) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[METRIC_LABELS.get(m, m) for m in metrics],
                        horizontal_spacing=0.07, vertical_spacing=0.14)
    sub = df[df["policy"] == policy]
    settings = list(dict.fromkeys(sub["setting"]))
    for s_i, setting in enumerate(settings):
        color = theme.ACCENT if s_i == 0 else theme.PALETTE[(s_i - 1) % len(theme.PALETTE)]
        for m_i, m in enumerate(metrics):
            g = pd.DataFrame(sub[(sub["setting"] == setting) & (sub["metric"] == m)]).sort_values(by="round")
            fig.add_trace(go.Scatter(
                x=g["round"], y=g["value"], mode="lines", name=str(setting), legendgroup=str(setting),
                showlegend=m_i == 0, line=dict(color=color, width=2.5 if s_i == 0 else 1.8),
                hovertemplate=f"{esc(setting)}<br>round %{{x}}: %{{y:.4f}}<extra></extra>",
            ), row=m_i // cols + 1, col=m_i % cols + 1)
    theme.style(fig, height=260 * rows + 90)
    # below the grid: above it the legend would cover the subplot titles
    fig.layout.legend = dict(orientation="h", x=0, xanchor="left", y=-0.08, yanchor="top")
    fig.layout.margin = dict(l=10, r=10, t=40, b=60)
    return fig


def timeline_figure(tl: pd.DataFrame) -> go.Figure:
    """Each row of :func:`ui.simulate.logic.user_timeline` as a marker: x = step, y =
    category, one colour per source (real history, then the policies). Plotly reads a
    little HTML in labels, so every data text is escaped."""
    fig = go.Figure()
    palette = {"real history": theme.NEUTRAL, **{POLICY_LABELS[p]: s["color"] for p, s in POLICY_STYLE.items()}}
    for source, g in tl.groupby("source", sort=False):
        fig.add_trace(go.Scatter(
            x=g["step"], y=[esc(c) for c in g["category"]], mode="markers", name=esc(source),
            marker=dict(size=11 if source == "real history" else 9, color=palette.get(str(source)),
                        symbol="square" if source == "real history" else "circle", opacity=0.85),
            text=[esc(t) for t in g["title"]],
            hovertemplate=f"{esc(source)}<br>step %{{x}}: %{{text}}<br>%{{y}}<extra></extra>",
        ))
    fig.add_vline(x=0.5, line=dict(color=theme.NEUTRAL, dash="dot"))
    fig.update_xaxes(title_text="real history (≤ 0) · simulated rounds (≥ 1)")
    return theme.style(fig, height=360)


def category_shift_figure(shift: pd.DataFrame) -> go.Figure:
    """Stacked category shares per source (real history vs each policy's choices)."""
    fig = go.Figure()
    colors = theme.category_colors(shift["category"].unique())
    for cat, g in shift.groupby("category", sort=True):
        fig.add_trace(go.Bar(x=g["share"], y=[esc(x) for x in g["source"]], orientation="h", name=esc(cat),
                             marker_color=colors.get(str(cat)),
                             hovertemplate=f"{esc(cat)}: %{{x:.0%}}<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    return theme.style(fig, height=120 + 40 * len(set(shift["source"])))
