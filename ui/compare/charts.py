"""The model-comparison chart (pure plotly, no streamlit): the overlap heatmap."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.core.text import esc
from ui.core.theme import style

COLORSCALE = [[0.0, "#F4F1FD"], [1.0, "#6C4BD8"]]


def overlap_heatmap(df: pd.DataFrame, k: int) -> go.Figure:
    """Pairwise Jaccard of the models' top-k sets (``df`` from ``logic.overlap_frame``)."""
    labels_x = [esc(c) for c in df.columns]
    labels_y = [esc(i) for i in df.index]
    z = df.to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z, x=labels_x, y=labels_y, zmin=0.0, zmax=1.0, colorscale=COLORSCALE,
        text=[[f"{v:.2f}" for v in row] for row in z], texttemplate="%{text}",
        hovertemplate="%{y} · %{x}: Jaccard %{z:.2f}<extra></extra>", colorbar=dict(title="Jaccard"),
    ))
    fig.update_yaxes(autorange="reversed")
    return style(fig, height=80 + 60 * len(labels_y), title=f"Overlap of the top-{k} lists")
