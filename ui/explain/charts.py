"""Pure chart builders for explanations: ``Attribution``/``Explanation`` -> ``go.Figure``.

No streamlit here (testable without a page). Bars are coloured by sign with the house
colours (``ui.core.theme.POSITIVE`` pushes the item up, ``NEGATIVE`` pushes it down).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explain.explanation import Attribution, Faithfulness, Summary
from recsys.data.types import Dataset
from ui.core.theme import ACCENT, NEGATIVE, NEUTRAL, POSITIVE, cell, style

VALUE_LABEL = {"logprob": "log-probability", "rr": "reciprocal rank", "margin": "score difference"}


def _date(ts: int | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d")


def _short(s: str, n: int = 38) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def sign_colors(values: np.ndarray) -> list[str]:
    """POSITIVE for weights > 0, NEGATIVE for < 0, NEUTRAL for exactly 0."""
    return [POSITIVE if v > 0 else NEGATIVE if v < 0 else NEUTRAL for v in np.asarray(values)]


def shown_features(a: Attribution, top: int | None) -> np.ndarray:
    """Feature indices to show: the ``top`` largest |weight| (all if None), ordered so
    the largest weight ends up at the top of a horizontal bar chart."""
    idx = np.lexsort((-a.positions, -np.abs(a.values)))
    if top is not None:
        idx = idx[:top]
    return idx[np.lexsort((-a.positions[idx], a.values[idx]))]  # ascending: plotly draws bottom-up


def feature_labels(ds: Dataset, a: Attribution, idx: np.ndarray) -> list[str]:
    """'Title · date' per feature (position added when titles repeat); a group's label
    with its size for grouped units."""
    if a.groups:
        return [_short(f"{a.groups[int(j)].label}", 44) + f" · {a.groups[int(j)].size} item"
                + ("s" if a.groups[int(j)].size > 1 else "") for j in idx]
    labels = []
    for j in idx:
        lab = _short(ds.titles[int(a.features[j])])
        if a.timestamps is not None:
            lab += f" · {_date(int(a.timestamps[j]))}"
        labels.append(lab)
    if len(set(labels)) < len(labels):
        labels = [f"{lab} (#{int(a.positions[j]) + 1})" for lab, j in zip(labels, idx)]
    return labels


def _bar(ds: Dataset, a: Attribution, idx: np.ndarray, labels: list[str]) -> go.Bar:
    vals = a.values[idx]
    hover = []
    for j in idx:
        if a.groups:
            g = a.groups[int(j)]
            names = "<br>".join(f"· {ds.titles[int(i)]}" for i in g.items[::-1][:8])
            more = f"<br>… {g.size - 8} more" if g.size > 8 else ""
            hover.append(f"<b>{g.label}</b> ({g.size} items)<br>{names}{more}<br>weight {a.values[j]:+.4f}")
            continue
        i = int(a.features[j])
        cats = ", ".join(ds.item_categories[i]) or "—"
        when = _date(int(a.timestamps[j])) if a.timestamps is not None else "—"
        hover.append(
            f"<b>{ds.titles[i]}</b><br>item {ds.item_ids[i]} · {cats}<br>"
            f"history position {int(a.positions[j]) + 1} · {when}<br>weight {a.values[j]:+.4f}"
        )
    return go.Bar(
        x=vals, y=labels, orientation="h", marker_color=sign_colors(vals), hovertext=hover,
        hoverinfo="text", name=a.method.upper(), showlegend=False,
    )


def attribution_bars(
    ds: Dataset, a: Attribution, *, top: int | None = 15, title: str | None = None, height: int | None = None
) -> go.Figure:
    """Horizontal bars of the ``top`` largest |weights| over history items (title · date),
    coloured by sign, largest weight at the top."""
    idx = shown_features(a, top)
    labels = feature_labels(ds, a, idx)
    fig = go.Figure(_bar(ds, a, idx, labels))
    fig.add_vline(x=0, line_color=NEUTRAL, line_width=1)
    fig.update_xaxes(title_text=f"{a.method.upper()} weight ({VALUE_LABEL.get(a.value_kind, a.value_kind)})")
    fig.update_yaxes(automargin=True)
    hidden = a.n_features - len(idx)
    if hidden > 0:
        fig.add_annotation(text=f"+{hidden} smaller weights not shown", xref="paper", yref="paper", x=1, y=0,
                           xanchor="right", yanchor="bottom", showarrow=False, font=dict(size=11, color=NEUTRAL))
    return style(fig, height=height or max(220, 26 * len(idx) + 90), title=title)


def attribution_pair(
    ds: Dataset, left: Attribution, right: Attribution, *, top: int = 12, height: int | None = None
) -> go.Figure:
    """Two attributions of the same features side by side (e.g. SHAP | LIME), rows in
    the left one's order so the same history item sits on the same line."""
    if not np.array_equal(left.positions, right.positions):
        raise ValueError("the two attributions explain different history items")
    idx = shown_features(left, top)
    labels = feature_labels(ds, left, idx)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=(left.method.upper(), right.method.upper()))
    fig.add_trace(_bar(ds, left, idx, labels), row=1, col=1)
    fig.add_trace(_bar(ds, right, idx, labels), row=1, col=2)
    for c in (1, 2):
        fig.add_vline(x=0, line_color=NEUTRAL, line_width=1, **cell(1, c))
    fig.update_yaxes(automargin=True)
    fig = style(fig, height=height or max(240, 26 * len(idx) + 100))
    fig.update_layout(margin=dict(t=32))  # room for the two subplot titles
    return fig


def faithfulness_curves(f: Faithfulness, *, title: str | None = None, height: int = 260) -> go.Figure:
    """Deletion and insertion curves (reciprocal rank of the target) vs random orders."""
    n = f.deletion_curve.shape[0] - 1
    x = np.linspace(0, 1, n + 1) if n > 0 else np.zeros(1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=f.deletion_curve, name=f"deletion (AUC {f.deletion_auc:.2f})",
                             line=dict(color=NEGATIVE, width=2)))
    fig.add_trace(go.Scatter(x=x, y=f.random_deletion_curve, name=f"random deletion ({f.random_deletion_auc:.2f})",
                             line=dict(color=NEGATIVE, width=1, dash="dot")))
    fig.add_trace(go.Scatter(x=x, y=f.insertion_curve, name=f"insertion (AUC {f.insertion_auc:.2f})",
                             line=dict(color=POSITIVE, width=2)))
    fig.add_trace(go.Scatter(x=x, y=f.random_insertion_curve,
                             name=f"random insertion ({f.random_insertion_auc:.2f})",
                             line=dict(color=POSITIVE, width=1, dash="dot")))
    fig.update_xaxes(title_text="share of explained history items removed / added", range=[0, 1])
    fig.update_yaxes(title_text="reciprocal rank", rangemode="tozero")
    return style(fig, height=height, title=title)


def category_bars(summary: Summary, *, top: int = 8, height: int | None = None) -> go.Figure:
    """Summed weight per category, coloured by sign."""
    rows = list(summary.by_category[:top])[::-1]
    vals = np.array([w for _, w in rows])
    fig = go.Figure(go.Bar(x=vals, y=[c for c, _ in rows], orientation="h", marker_color=sign_colors(vals),
                           hovertemplate="%{y}: %{x:+.4f}<extra></extra>"))
    fig.add_vline(x=0, line_color=NEUTRAL, line_width=1)
    fig.update_xaxes(title_text="summed weight")
    return style(fig, height=height or max(180, 26 * len(rows) + 80))


def window_bars(summary: Summary, *, height: int = 200) -> go.Figure:
    """Summed weight per recency window (most recent first)."""
    rows = list(summary.by_window)
    labels = [r["label"] + (f"<br>{r['start']} – {r['end']}" if r.get("start") else "") for r in rows]
    vals = np.array([r["weight"] for r in rows])
    fig = go.Figure(go.Bar(x=labels, y=vals, marker_color=sign_colors(vals),
                           customdata=[r["n"] for r in rows],
                           hovertemplate="%{x}<br>%{customdata} items, weight %{y:+.4f}<extra></extra>"))
    fig.add_hline(y=0, line_color=NEUTRAL, line_width=1)
    fig.update_yaxes(title_text="summed weight")
    return style(fig, height=height)


def units_table(ds: Dataset, a: Attribution) -> list[dict[str, object]]:
    """One row per member item of every unit (largest unit weight first): the grouped
    view opened to its items."""
    rows: list[dict[str, object]] = []
    for j in a.order():
        if a.groups:
            g = a.groups[int(j)]
            members = list(zip(g.items, g.positions, g.timestamps if g.timestamps is not None else [None] * g.size))
            label = g.label
        else:
            ts = None if a.timestamps is None else a.timestamps[j]
            members = [(a.features[j], a.positions[j], ts)]
            label = ds.titles[int(a.features[j])]
        for i, p, t in members[::-1]:
            rows.append({"unit": label, "unit weight": round(float(a.values[j]), 4), "item": ds.titles[int(i)],
                         "item id": ds.item_ids[int(i)], "position": int(p) + 1,
                         "date": _date(None if t is None else int(t))})
    return rows


def badge(f: Faithfulness | None) -> tuple[str, str]:
    """(text, colour) of the faithfulness badge shown beside an explanation."""
    if f is None:
        return "faithfulness not computed", NEUTRAL
    text = f"deletion AUC {f.deletion_auc:.2f} vs random {f.random_deletion_auc:.2f}"
    if f.faithful:
        return "faithful · " + text, POSITIVE
    if f.deletion_auc < f.random_deletion_auc:
        return "partly faithful · " + text, ACCENT
    return "not faithful · " + text, NEGATIVE
