"""Interest timeline charts: pure builders (Timeline / PopulationDrift -> plotly Figure).

No streamlit here. Colours come from :func:`ui.core.theme.category_colors` so a category has
the same colour on every chart; layout from :func:`ui.core.theme.style`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recsys.interests import PopulationDrift, Timeline
from recsys.interests.categories import OTHER
from ui.core.text import esc
from ui.core.theme import ACCENT, NEGATIVE, NEUTRAL, POSITIVE, category_colors, cell, style

CHANGE_COLOR = "#444444"


def timeline_colors(tl: Timeline) -> dict[str, str]:
    """The shared palette for a timeline's categories (``other`` keeps its grey and does
    not shift the others: the mapping equals ``category_colors(ds.categories)``)."""
    return category_colors([c for c in tl.categories if c != OTHER])


def _dt(ts: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ts, dtype=np.int64), unit="s", utc=True)


def _fmt(ts: int) -> str:
    return pd.to_datetime(int(ts), unit="s", utc=True).strftime("%Y-%m-%d %H:%M")


def shown_categories(tl: Timeline, max_categories: int = 8) -> list[str]:
    """The categories to draw, by total share over windows and predictions (largest
    first); the rest is folded into ``other``."""
    tot = {c: 0.0 for c in tl.categories}
    for w in tl.windows:
        for c, s in w.shares.items():
            tot[c] += s * w.n
    for p in tl.predicted:
        for c, s in p.shares.items():
            tot[c] += s
    ranked = [c for c in sorted(tot, key=lambda c: (-tot[c], c)) if tot[c] > 0 and c != OTHER]
    return ranked[:max_categories]


def _fold(shares: dict[str, float], keep: Sequence[str]) -> dict[str, float]:
    out = {c: float(shares.get(c, 0.0)) for c in keep}
    rest = 1.0 - sum(out.values())
    if rest > 1e-9:
        out[OTHER] = rest
    return out


def _top_text(categories: Sequence[str], mix: Sequence[float], k: int = 3) -> str:
    order = np.argsort(-np.asarray(mix), kind="stable")[:k]
    return ", ".join(f"{categories[j]} {mix[j]:.0%}" for j in order if mix[j] > 0.005)


def _observed_traces(fig: go.Figure, tl: Timeline, keep: list[str], colors: dict[str, str]) -> None:
    """Row 1: observed category shares per window, stacked."""
    if not tl.windows:
        return
    mids = _dt([(w.start + w.end) // 2 for w in tl.windows])
    folded = [_fold(w.shares, keep) for w in tl.windows]
    custom = np.array([[_fmt(w.start), _fmt(w.end - 1), w.n] for w in tl.windows], dtype=object)
    mode = "lines" if len(tl.windows) > 1 else "lines+markers"
    for c in keep + [OTHER]:
        y = [f.get(c, 0.0) for f in folded]
        if c == OTHER and max(y) <= 1e-9:
            continue
        fig.add_trace(
            go.Scatter(
                x=mids, y=y, name=c, legendgroup=c, stackgroup="observed", mode=mode,
                line=dict(width=0.5, color=colors.get(c, "#CCCCCC")), fillcolor=colors.get(c, "#CCCCCC"),
                customdata=custom, meta="observed",
                hovertemplate=(
                    f"<b>{esc(c)}</b> %{{y:.0%}}<br>%{{customdata[0]}} → %{{customdata[1]}}"
                    "<br>%{customdata[2]} interactions<extra></extra>"
                ),
            ),
            row=1, col=1,
        )


def _predicted_traces(fig: go.Figure, tl: Timeline, keep: list[str], colors: dict[str, str]) -> None:
    """Row 2: the model's predicted next-item category mix at each step, stacked."""
    px = _dt([p.ts for p in tl.predicted])
    pf = [_fold(p.shares, keep) for p in tl.predicted]
    for c in keep + [OTHER]:
        y = [f.get(c, 0.0) for f in pf]
        if c == OTHER and max(y) <= 1e-9:
            continue
        fig.add_trace(
            go.Scatter(
                x=px, y=y, name=c, legendgroup=c, showlegend=False,
                stackgroup="predicted", mode="lines", line=dict(width=0.5, color=colors.get(c, "#CCCCCC")),
                fillcolor=colors.get(c, "#CCCCCC"), opacity=0.8, meta="predicted",
                hovertemplate=f"<b>{esc(c)}</b> %{{y:.0%}} predicted<br>after %{{x|%Y-%m-%d %H:%M}}<extra></extra>",
            ),
            row=2, col=1,
        )


def timeline_figure(
    tl: Timeline,
    colors: dict[str, str] | None = None,
    *,
    max_categories: int = 8,
    show_predicted: bool = True,
    marker_ts: int | None = None,
    height: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Stacked area of observed category shares per window (row 1) and, when the
    timeline has predictions, of the model's predicted next-item mix (row 2); change
    points as vertical lines with a hover marker (from → to, divergence, p-value);
    ``marker_ts`` draws an "as of" line (replay date)."""
    colors = dict(colors or timeline_colors(tl))
    colors.setdefault(OTHER, "#CCCCCC")
    keep = shown_categories(tl, max_categories)
    two = bool(show_predicted and tl.predicted)
    fig = make_subplots(
        rows=2 if two else 1, cols=1, shared_xaxes=True, vertical_spacing=0.08,
        row_heights=[0.6, 0.4] if two else None,
    )
    _observed_traces(fig, tl, keep, colors)
    if two:
        _predicted_traces(fig, tl, keep, colors)
    for cp in tl.change_point_details:
        for r in range(1, 3 if two else 2):
            fig.add_vline(x=_dt([cp.ts])[0], line=dict(color=CHANGE_COLOR, width=1.5, dash="dash"), **cell(r, 1))
    if tl.change_point_details:
        cps = tl.change_point_details
        text = [
            f"<b>Change point</b> {_fmt(c.ts)}<br>from {_top_text(tl.categories, c.before)}"
            f"<br>to {_top_text(tl.categories, c.after)}<br>JS divergence {c.js:.2f} bits · p={c.p_value:.3f}"
            for c in cps
        ]
        fig.add_trace(
            go.Scatter(
                x=_dt([c.ts for c in cps]), y=[1.04] * len(cps), mode="markers", name="Change point",
                marker=dict(symbol="triangle-down", size=12, color=CHANGE_COLOR), text=text,
                hovertemplate="%{text}<extra></extra>", meta="change_points",
            ),
            row=1, col=1,
        )
    if marker_ts is not None:
        for r in range(1, 3 if two else 2):
            fig.add_vline(x=_dt([marker_ts])[0], line=dict(color=ACCENT, width=2), **cell(r, 1))
        fig.add_annotation(
            x=_dt([marker_ts])[0], y=1.1, yref="y domain", text="as of", showarrow=False,
            font=dict(color=ACCENT), row=1, col=1,
        )
    for r, label in zip(range(1, 3 if two else 2), ("observed", "predicted (model)")):
        fig.update_yaxes(range=[0, 1.08], tickformat=".0%", title_text=label, row=r, col=1)
    fig.update_layout(hovermode="closest")
    return style(fig, height=height or (520 if two else 380), title=title)


def forecast_figure(tl: Timeline, colors: dict[str, str] | None = None, top: int = 8) -> go.Figure:
    """Last observed window vs the model's forecast for the next window (grouped bars)."""
    colors = dict(colors or timeline_colors(tl))
    last = tl.windows[-1].shares if tl.windows else {}
    fc = tl.forecast
    cats = sorted(set(last) | set(fc), key=lambda c: -(last.get(c, 0.0) + fc.get(c, 0.0)))[:top][::-1]
    fig = go.Figure()
    fig.add_bar(
        y=cats, x=[last.get(c, 0.0) for c in cats], orientation="h", name="last window (observed)",
        marker=dict(color=[colors.get(c, "#CCCCCC") for c in cats], opacity=0.45), meta="observed",
        hovertemplate="%{y}: %{x:.0%} observed<extra></extra>",
    )
    fig.add_bar(
        y=cats, x=[fc.get(c, 0.0) for c in cats], orientation="h", name="forecast (model)",
        marker=dict(color=[colors.get(c, "#CCCCCC") for c in cats]), meta="forecast",
        hovertemplate="%{y}: %{x:.0%} forecast<extra></extra>",
    )
    # the bars wear their category's colour; the legend explains pale vs solid in grey
    # (its swatches would otherwise show whichever category came first)
    for tr in fig.data:
        tr.showlegend = False
    for name, opacity in (("last window (observed)", 0.45), ("forecast (model)", 1.0)):
        fig.add_scatter(y=[None], x=[None], mode="markers", name=name, hoverinfo="skip", meta="legend",
                        marker=dict(symbol="square", size=11, color="#6B6B6B", opacity=opacity))
    fig.update_layout(barmode="group", xaxis=dict(tickformat=".0%"))
    style(fig, height=130 + 34 * max(len(cats), 1), title="Next window: observed vs forecast")
    return fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0))


def population_drift_figure(drift: PopulationDrift, colors: dict[str, str] | None = None, top: int = 12) -> go.Figure:
    """Categories gaining and losing population share (last period vs before), in
    percentage points, largest moves first; bars in the category colours, outlined green
    (gaining) or red (losing)."""
    shifts = sorted(drift.shifts, key=lambda s: -abs(s.delta))[:top]
    shifts = sorted(shifts, key=lambda s: s.delta)
    colors = dict(colors or category_colors([s.category for s in drift.shifts if s.category != OTHER]))
    cats = [s.category for s in shifts]
    fig = go.Figure()
    fig.add_bar(
        y=cats, x=[100 * s.delta for s in shifts], orientation="h", name="change in share",
        marker=dict(
            color=[colors.get(c, "#CCCCCC") for c in cats],
            line=dict(color=[POSITIVE if s.delta > 0 else NEGATIVE for s in shifts], width=2),
        ),
        customdata=np.array([[s.before, s.after] for s in shifts], dtype=float).reshape(-1, 2),
        hovertemplate="<b>%{y}</b><br>%{customdata[0]:.1%} → %{customdata[1]:.1%}"
        "<br>%{x:+.1f} points<extra></extra>",
    )
    fig.add_vline(x=0, line=dict(color=NEUTRAL, width=1))
    fig.update_layout(xaxis=dict(title="change in share (percentage points)", zeroline=False), showlegend=False)
    return style(fig, height=80 + 26 * max(len(cats), 1), title="Categories gaining and losing share lately")


def drift_distribution_figure(drift: PopulationDrift, bins: int = 30) -> go.Figure:
    """Histogram of per-user divergence (last period vs before), drifted users highlighted."""
    js = np.asarray(drift.js, dtype=float)
    edges = np.linspace(0.0, max(float(js.max()) if js.size else 1.0, 1e-6), bins + 1)
    fig = go.Figure()
    for name, sel, color in (("drifted", drift.drifted, ACCENT), ("stable", ~drift.drifted, NEUTRAL)):
        counts, _ = np.histogram(js[sel], bins=edges)
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name=name, marker_color=color,
            hovertemplate=f"{name}: %{{y}} users<br>JS ≈ %{{x:.2f}} bits<extra></extra>",
        )
    thr = drift.params.get("min_effect")
    if thr is not None:
        fig.add_vline(x=float(thr), line=dict(color=CHANGE_COLOR, dash="dash"))
    fig.update_layout(barmode="stack", xaxis=dict(title="JS divergence, last period vs before (bits)"),
                      yaxis=dict(title="users"))
    style(fig, height=340, title=f"{drift.share_drifted:.0%} of users drifted in their last period")
    return fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0))
