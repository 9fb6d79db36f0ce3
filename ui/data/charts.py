"""Home-page dataset charts: pure builders (Dataset -> plotly Figure), no streamlit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recsys.data.types import Dataset
from ui.core.text import esc
from ui.core.theme import ACCENT, NEUTRAL, category_colors, style


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    """Headline numbers of a dataset (plain Python values)."""
    lengths = np.diff(ds.user_offsets)
    return {
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "categories": len(ds.categories),
        "first": pd.to_datetime(int(ds.timestamp.min()), unit="s", utc=True),
        "last": pd.to_datetime(int(ds.timestamp.max()), unit="s", utc=True),
        "median_history": float(np.median(lengths)) if len(lengths) else 0.0,
        "density": ds.n_interactions / max(1, ds.n_users * ds.n_items),
    }


def compact_count(n: int) -> str:
    """A count that fits a narrow metric card: ``9,125``, ``100k``, ``36.6k``, ``1.2M``."""
    n = int(n)
    if abs(n) < 10_000:
        return f"{n:,}"
    div, suffix = next((d, x) for d, x in ((10**9, "B"), (10**6, "M"), (10**3, "k")) if abs(n) >= d)
    v = n / div
    return (f"{v:.0f}" if abs(v) >= 100 or round(v, 1) == round(v) else f"{v:.1f}") + suffix


def span_text(days: int) -> str:
    """A time span in the unit a reader expects: days, months up to two years, then years."""
    if days <= 60:
        return f"{days} d"
    if days <= 730:
        return f"{days / 30.44:.0f} mo"
    return f"{days / 365.25:.1f} yr"


def _freq(span_s: float) -> str:
    day = 86400.0
    if span_s <= 120 * day:
        return "D"
    if span_s <= 3 * 365 * day:
        return "W"
    return "MS"


def activity_over_time(ds: Dataset) -> go.Figure:
    """Interactions and active users per period (day/week/month by the data's span)."""
    t = pd.to_datetime(ds.timestamp, unit="s", utc=True)
    span = float(ds.timestamp.max() - ds.timestamp.min()) if ds.n_interactions else 0.0
    df = pd.DataFrame({"t": t, "user": ds.user})
    g = df.groupby(pd.Grouper(key="t", freq=_freq(span)))
    agg = pd.DataFrame({"interactions": g.size(), "active users": g["user"].nunique()}).reset_index()
    fig = go.Figure()
    fig.add_bar(x=agg["t"], y=agg["interactions"], name="interactions", marker_color=ACCENT, opacity=0.85)
    fig.add_scatter(
        x=agg["t"], y=agg["active users"], name="active users", mode="lines", yaxis="y2",
        line=dict(color="#F28E2B", width=2),
    )
    fig.update_layout(
        yaxis=dict(title="interactions"),
        yaxis2=dict(title="active users", overlaying="y", side="right", showgrid=False, rangemode="tozero",
                    tickmode="auto", tickformat=",d"),
        bargap=0.05,
    )
    style(fig, height=340, title="Activity over time")
    return fig.update_layout(margin=dict(t=40, b=60), legend=dict(y=-0.18, yanchor="top"))


def category_mix(ds: Dataset, top: int = 20) -> go.Figure:
    """Share of interactions per category (an item of several categories splits its
    weight), coloured with the shared category palette."""
    colors = category_colors(ds.categories)
    if not ds.categories:
        fig = go.Figure()
        fig.add_annotation(text="This dataset has no item categories", showarrow=False)
        return style(fig, height=320, title="Category mix")
    w = np.asarray(ds.category_matrix, dtype=np.float64)[ds.item].sum(axis=0)
    share = w / max(w.sum(), 1e-12)
    order = np.argsort(-share, kind="stable")[:top]
    cats = [ds.categories[j] for j in order]
    labels = [esc(c) for c in cats]  # plotly reads a little HTML in labels: show data literally
    fig = go.Figure(
        go.Bar(
            x=[float(share[j]) for j in order][::-1],
            y=labels[::-1],
            orientation="h",
            marker_color=[colors.get(c, NEUTRAL) for c in cats][::-1],
            hovertemplate="%{y}: %{x:.1%} of interactions<extra></extra>",
        )
    )
    fig.update_layout(xaxis=dict(tickformat=".0%", title="share of interactions"))
    return style(fig, height=max(320, 22 * len(cats) + 60), title="Category mix")


def popularity_long_tail(ds: Dataset) -> go.Figure:
    """Items sorted by popularity (log scale) with the head/long-tail boundary (the
    most popular 20% of items vs the rest) and the head's share of interactions."""
    pop = np.sort(np.asarray(ds.item_popularity, dtype=np.int64))[::-1]
    n = len(pop)
    head = max(1, int(round(0.2 * n)))
    head_share = float(pop[:head].sum()) / max(1, int(pop.sum()))
    x = np.arange(1, n + 1)
    fig = go.Figure()
    fig.add_scatter(
        x=x[:head], y=np.maximum(pop[:head], 0.9), mode="lines", fill="tozeroy", name="head (top 20% of items)",
        line=dict(color=ACCENT),
    )
    fig.add_scatter(
        x=x[head - 1 :], y=np.maximum(pop[head - 1 :], 0.9), mode="lines", fill="tozeroy",
        name="long tail (bottom 80%)", line=dict(color="#F28E2B"),
    )
    fig.update_layout(
        xaxis=dict(title="items ranked by popularity"),
        yaxis=dict(title="interactions", type="log", dtick=1),  # ticks at powers of 10 only
        annotations=[
            dict(
                x=head, y=1, yref="paper", text=f"head = {head_share:.0%} of interactions", showarrow=False,
                xanchor="left", yanchor="top",
            )
        ],
    )
    style(fig, height=340, title="Popularity long tail")
    return fig.update_layout(margin=dict(t=40, b=60), legend=dict(y=-0.25, yanchor="top"))


def history_length_hist(ds: Dataset) -> go.Figure:
    """Distribution of interactions per user."""
    lengths = np.diff(ds.user_offsets)
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=40, marker_color=ACCENT))
    fig.update_layout(xaxis=dict(title="interactions per user"), yaxis=dict(title="users"))
    return style(fig, height=280, title="History lengths")
