"""Fairness-lab charts: pure plotly builders (no streamlit), styled with :mod:`ui.core.theme`.

* :func:`before_after_figure` — the model's list and the re-ranked list side by side,
  an arrow per item from its model rank to its new rank (green up, red down, grey
  unchanged), items entering from beyond the top-k and items dropping out marked;
  the reason of each move in the hover text.
* :func:`contributions_figure` — stacked per-term contributions of each re-ranked item
  (they add up to its combined score).
* :func:`tradeoff_figure` — population trade-off curves (NDCG@10 against ILD, long-tail
  share and miscalibration) per term, with the current setting marked.
* :func:`group_ndcg_figure` — NDCG@10 per user group, model vs re-ranked.
* :func:`metric_deltas` — rows for metric tiles (value, delta, whether up is good).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recsys.rerank import RerankResult
from ui.core import theme

TERM_COLORS = {
    "relevance": theme.NEUTRAL,
    "diversity": theme.PALETTE[0],
    "calibration": theme.PALETTE[1],
    "fairness": theme.ACCENT,
}
TERM_LABELS = {"relevance": "Relevance", "diversity": "Diversity (MMR)", "calibration": "Calibration", "fairness": "Fairness"}
METRIC_LABELS = {
    "ild": "ILD (diversity)",
    "long_tail_share": "Long-tail share",
    "miscalibration": "Miscalibration (KL)",
    "avg_popularity": "Avg. popularity",
    "ndcg@10": "NDCG@10",
    "coverage": "Coverage",
    "gini": "Gini of exposure",
}
#: +1 when a higher value is better, -1 when lower is better, 0 when neither
METRIC_DIRECTION = {"ild": 1, "long_tail_share": 1, "miscalibration": -1, "avg_popularity": 0}
TERMS = ("relevance", "diversity", "calibration", "fairness")


def _short(text: str, n: int = 38) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def before_after_figure(result: RerankResult, titles: Sequence[str], *, height: int | None = None) -> go.Figure:
    """Model list (left) vs re-ranked list (right) with rank-move arrows.

    ``result`` is a :class:`recsys.rerank.RerankResult`; ``titles`` maps item index to title.
    """
    before = [int(i) for i in result.baseline_items]
    after = [int(i) for i in result.items]
    k = max(len(before), len(after), 1)
    out_y = k + 1.2  # "beyond the list" row
    after_rank = {i: r + 1 for r, i in enumerate(after)}
    fig = go.Figure()
    # arrows: one per item of either list (collected, then set once: add_annotation per
    # arrow re-validates the growing annotation list every time)
    arrows: list[dict] = []
    for r in range(len(after)):
        o = int(result.original_ranks[r])
        move = o - (r + 1)
        color = theme.POSITIVE if move > 0 else theme.NEGATIVE if move < 0 else theme.NEUTRAL
        y0 = o if o <= k else out_y
        arrows.append(dict(
            x=1, y=r + 1, ax=0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
            arrowhead=3, arrowsize=1.1, arrowwidth=2 if move else 1.2, arrowcolor=color, opacity=0.85, text="",
        ))  # fmt: skip
    dropped_reason = dict(zip([int(i) for i in result.dropped_items], result.dropped_reasons))
    for o, i in enumerate(before):
        if i not in after_rank:
            arrows.append(dict(
                x=1, y=out_y, ax=0, ay=o + 1, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                arrowhead=3, arrowsize=1.1, arrowwidth=1.2, arrowcolor=theme.NEGATIVE, opacity=0.35, text="",
            ))  # fmt: skip
    # the two columns of labelled markers
    fig.add_trace(
        go.Scatter(
            x=[0] * len(before),
            y=[o + 1 for o in range(len(before))],
            mode="markers+text",
            marker=dict(size=11, color=theme.NEUTRAL),
            text=[f"{_short(titles[i])}  #{o + 1}" for o, i in enumerate(before)],
            textposition="middle left",
            hovertext=[
                f"{titles[i]}<br>model rank #{o + 1}"
                + (f"<br>{dropped_reason[i]}" if i in dropped_reason else f"<br>re-ranked #{after_rank[i]}")
                for o, i in enumerate(before)
            ],
            hoverinfo="text",
            name="Model order",
            showlegend=False,
        )
    )
    moves = [int(m) for m in result.moves]
    fig.add_trace(
        go.Scatter(
            x=[1] * len(after),
            y=[r + 1 for r in range(len(after))],
            mode="markers+text",
            marker=dict(
                size=11,
                color=[theme.POSITIVE if m > 0 else theme.NEGATIVE if m < 0 else theme.NEUTRAL for m in moves],
            ),
            text=[
                f"#{r + 1}  {_short(titles[i])}  " + (f"▲{m}" if m > 0 else f"▼{-m}" if m < 0 else "–")
                for r, (i, m) in enumerate(zip(after, moves))
            ],
            textposition="middle right",
            hovertext=[f"{titles[i]}<br>{reason}" for i, reason in zip(after, result.reasons)],
            hoverinfo="text",
            name="Re-ranked",
            showlegend=False,
        )
    )
    fig.update_xaxes(
        range=[-1.6, 2.6], tickvals=[0, 1], ticktext=["<b>Model order</b>", "<b>Re-ranked</b>"], side="top",
        showgrid=False, zeroline=False,
    )  # fmt: skip
    has_out = bool(result.dropped_items.size) or any(int(o) > k for o in result.original_ranks)
    fig.update_yaxes(
        range=[(out_y + 0.6) if has_out else k + 0.6, 0.4], showticklabels=False, showgrid=False, zeroline=False,
    )  # fmt: skip
    if has_out:
        arrows.append(dict(
            x=0.5, y=out_y, text="beyond the top-k", showarrow=False, font=dict(size=11, color=theme.NEUTRAL),
            xref="x", yref="y",
        ))  # fmt: skip
    fig.layout.annotations = arrows
    theme.style(fig, height=height or 90 + 34 * (k + (2 if has_out else 0)))
    fig.layout.margin = dict(l=10, r=10, t=40, b=10)
    return fig


def contributions_figure(result: RerankResult, titles: Sequence[str], *, height: int | None = None) -> go.Figure:
    """Stacked horizontal bars: each re-ranked item's weighted per-term contributions."""
    labels = [f"#{r + 1} {_short(titles[int(i)], 32)}" for r, i in enumerate(result.items)]
    fig = go.Figure()
    for j, term in enumerate(TERMS):
        vals = [float(c[j]) for c in result.contributions]
        if not any(v > 0 for v in vals) and term != "relevance":
            continue
        fig.add_trace(
            go.Bar(
                y=labels,
                x=vals,
                orientation="h",
                name=TERM_LABELS[term],
                marker_color=TERM_COLORS[term],
                hovertemplate="%{y}<br>" + TERM_LABELS[term] + ": %{x:.3f}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="contribution to the combined score")
    return theme.style(fig, height=height or 80 + 28 * max(len(labels), 1))


def tradeoff_figure(
    sweep: pd.DataFrame,
    current: Mapping[str, float] | None = None,
    *,
    metrics: Sequence[str] = ("ild", "long_tail_share", "miscalibration"),
    current_label: str = "current setting",
    height: int = 360,
) -> go.Figure:
    """NDCG@10 (y) against each beyond-accuracy metric (x), one curve per re-ranking
    term through w = 0, 0.25, 0.5, 0.75; ``current`` (population metrics of the current
    weights) is marked with a star in every panel."""
    fig = make_subplots(rows=1, cols=len(metrics), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[METRIC_LABELS.get(m, m) for m in metrics])  # fmt: skip
    terms = list(dict.fromkeys(sweep["term"])) if len(sweep) else []
    for c, m in enumerate(metrics, start=1):
        for t, term in enumerate(terms):
            d = sweep.loc[sweep["term"] == term].sort_values("weight")
            # w = 0 is the same point for every term: label it once
            labels = [f"{w:g}" if (w > 0 or t == 0) else "" for w in d["weight"]]
            fig.add_trace(
                go.Scatter(
                    x=d[m], y=d["ndcg@10"], mode="lines+markers+text", customdata=d["weight"],
                    text=labels, textposition="top center", textfont=dict(size=10),
                    line=dict(color=TERM_COLORS.get(term, theme.ACCENT), width=2), marker=dict(size=7),
                    name=TERM_LABELS.get(term, term), legendgroup=term, showlegend=c == 1,
                    hovertemplate=f"{TERM_LABELS.get(term, term)} w=%{{customdata:g}}<br>{METRIC_LABELS.get(m, m)}: "
                    "%{x:.3f}<br>NDCG@10: %{y:.4f}<extra></extra>",
                ),
                row=1, col=c,
            )  # fmt: skip
        if current is not None and m in current and "ndcg@10" in current:
            fig.add_trace(
                go.Scatter(
                    x=[current[m]], y=[current["ndcg@10"]], mode="markers",
                    marker=dict(symbol="star", size=16, color="#111111", line=dict(color="white", width=1)),
                    name=current_label, legendgroup="current", showlegend=c == 1,
                    hovertemplate=f"{current_label}<br>{METRIC_LABELS.get(m, m)}: %{{x:.3f}}<br>"
                    "NDCG@10: %{y:.4f}<extra></extra>",
                ),
                row=1, col=c,
            )  # fmt: skip
    fig.update_yaxes(title_text="NDCG@10", row=1, col=1)
    theme.style(fig, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=70, b=10), legend=dict(y=1.18))
    return fig


def group_ndcg_figure(
    model: Mapping[str, float], reranked: Mapping[str, float] | None = None, *, attribute: str = "", height: int = 320
) -> go.Figure:
    """NDCG@10 per user group (values of one attribute): model vs re-ranked bars."""
    groups = list(model)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=groups, y=[model[g] for g in groups], name="Model order", marker_color=theme.NEUTRAL,
               hovertemplate="%{x}: %{y:.4f}<extra>model</extra>")
    )  # fmt: skip
    if reranked is not None:
        fig.add_trace(
            go.Bar(x=groups, y=[reranked.get(g, 0.0) for g in groups], name="Re-ranked", marker_color=theme.ACCENT,
                   hovertemplate="%{x}: %{y:.4f}<extra>re-ranked</extra>")
        )  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="NDCG@10")
    fig.update_xaxes(title_text=attribute or None)
    return theme.style(fig, height=height)


def signed_delta(delta: float, fmt: str) -> str | None:
    """``delta`` formatted with its sign for an ``st.metric`` tile, or None when it
    rounds to zero (no change gets no arrow, rather than a green "↑ +0.000")."""
    s = fmt.format(abs(delta))
    if float(s) == 0.0:
        return None
    return ("+" if delta > 0 else "-") + s


def metric_deltas(metrics: Mapping[str, float], baseline: Mapping[str, float]) -> list[dict[str, Any]]:
    """Tiles for the list metrics: label, value, delta (re-ranked − model) and the
    streamlit ``delta_color`` ("normal" when up is good, "inverse" when down is good)."""
    rows = []
    for m in ("ild", "long_tail_share", "miscalibration", "avg_popularity"):
        if m not in metrics:
            continue
        d = METRIC_DIRECTION.get(m, 0)
        fmt = "{:.1f}" if m == "avg_popularity" else "{:.3f}"
        rows.append(
            {
                "metric": m,
                "label": METRIC_LABELS[m],
                "value": fmt.format(metrics[m]),
                "delta": signed_delta(metrics[m] - baseline.get(m, 0.0), fmt),
                "delta_color": "normal" if d > 0 else "inverse" if d < 0 else "off",
            }
        )
    return rows
