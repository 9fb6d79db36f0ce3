"""Item view charts (pure plotly builders, no streamlit): where an item lands in users'
lists and how much its categories are exposed, model order vs re-ranked."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from recsys.data.types import Dataset
from ui.core.text import esc
from ui.core.theme import ACCENT, style


def exposure_chart(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray, k: int) -> go.Figure:
    """How often the item appears at each rank, model order vs re-ranked."""
    return rank_chart((base == i).sum(axis=0)[:k], (after == i).sum(axis=0)[:k], k)


def rank_chart(model_counts: np.ndarray, reranked_counts: np.ndarray | None, k: int) -> go.Figure:
    """Users per rank 1 … k holding the item: model order, and re-ranked when given."""
    ranks = np.arange(1, k + 1)
    fig = go.Figure()
    fig.add_bar(x=ranks, y=np.asarray(model_counts)[:k], name="model order", marker_color="#9E9E9E")
    if reranked_counts is not None:
        fig.add_bar(x=ranks, y=np.asarray(reranked_counts)[:k], name="re-ranked", marker_color=ACCENT)
    fig.update_layout(barmode="group", xaxis=dict(title="rank", dtick=1), yaxis=dict(title="users"))
    return style(fig, height=300, title="Where the item lands in users' lists")


def item_category_labels(ds: Dataset, i: int) -> list[str]:
    """The item's categories, or ``["(no category)"]``."""
    return list(ds.item_categories[i]) or ["(no category)"]


def category_exposure_chart(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray) -> go.Figure:
    """Exposure (share of all list slots) of the item's categories, before vs after."""
    cats = item_category_labels(ds, i)

    def share(lists: np.ndarray, c: str) -> float:
        flat = lists[lists >= 0]
        if flat.size == 0:
            return 0.0
        if c == "(no category)":
            return float(np.mean([not ds.item_categories[int(j)] for j in flat]))
        mask = np.array([c in cs for cs in ds.item_categories], dtype=bool)
        return float(mask[flat].mean())

    return category_chart(cats, [share(base, c) for c in cats], [share(after, c) for c in cats])


def category_chart(cats: list[str], model_shares: list[float], reranked_shares: list[float] | None) -> go.Figure:
    """Share of all list slots per category: model order, and re-ranked when given."""
    labels = [esc(c) for c in cats]
    fig = go.Figure()
    fig.add_bar(x=labels, y=model_shares, name="model order", marker_color="#9E9E9E")
    if reranked_shares is not None:
        fig.add_bar(x=labels, y=reranked_shares, name="re-ranked", marker_color=ACCENT)
    fig.update_layout(barmode="group", yaxis=dict(title="share of list slots", tickformat=".0%"))
    return style(fig, height=300, title="Exposure of the item's categories")
