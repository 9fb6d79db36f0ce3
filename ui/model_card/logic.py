"""Model card and evaluation tables: pure helpers (dicts -> DataFrame / Figure)."""

from __future__ import annotations

import html
import zlib
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from recsys.evaluation.baselines import BASELINE_LABELS
from recsys.evaluation.evaluate import TARGET_POP_ATTR
from ui.core.theme import ACCENT, NEUTRAL, PALETTE, style

MODEL_LABELS = {
    "transformer": "RecLens transformer",
    "transformer_no_text": "Transformer, no text (ablation)",
    "mostpopular": "MostPopular",
    **BASELINE_LABELS,
}
# one colour per model on every chart (the transformer in the house accent, its
# ablation a paler relative, the baselines fixed colours)
MODEL_COLORS = {
    "RecLens transformer": ACCENT,
    "Transformer, no text (ablation)": "#B3A1EE",
    "EASE": "#4E79A7",
    "ItemKNN": "#59A14F",
    "MostPopular": "#9C9C9C",
    "Text similarity": "#EDC948",
}


def model_color(label: str) -> str:
    """The colour of a model (by its display label); an unknown model takes a palette
    colour chosen by its name, so it too keeps its colour from chart to chart."""
    if label in MODEL_COLORS:
        return MODEL_COLORS[label]
    return PALETTE[zlib.crc32(label.encode("utf-8")) % len(PALETTE)]


MAIN_METRICS = ("ndcg@10", "hr@10", "mrr@10", "ndcg@5", "hr@5", "mrr@5")
BEYOND = ("coverage@10", "ild@10", "avg_popularity", "long_tail_share", "gini", "miscalibration")


def _models_dict(ev: dict[str, Any]) -> dict[str, dict[str, Any]]:
    models = ev.get("models") if isinstance(ev, dict) else None
    if isinstance(models, dict):
        return {str(k): v for k, v in models.items() if isinstance(v, dict)}
    if isinstance(models, list):
        out = {}
        for row in models:
            if isinstance(row, dict) and "name" in row:
                out[str(row["name"])] = row.get("metrics", row)
        return out
    return {}


def metrics_frame(ev: dict[str, Any]) -> pd.DataFrame:
    """One row per model, one column per numeric metric (the mean when mean/std)."""
    rows = []
    for name, m in _models_dict(ev).items():
        row: dict[str, Any] = {"model": MODEL_LABELS.get(name, name), "key": name}
        src = m.get("metrics", m) if isinstance(m.get("metrics"), dict) else m
        for k, v in src.items():
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                row[str(k)] = float(v)
            elif isinstance(v, dict) and isinstance(v.get("mean"), (int, float)):
                row[str(k)] = float(v["mean"])
                if isinstance(v.get("std"), (int, float)):
                    row[f"{k}_std"] = float(v["std"])
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    cols = ["model", "key"] + [c for c in MAIN_METRICS if c in df] + [c for c in BEYOND if c in df]
    rest = [c for c in df.columns if c not in cols and c != "users" and not str(c).startswith("per_group")]
    df = df[cols + rest]
    if "ndcg@10" in df:
        df = pd.DataFrame(df).sort_values("ndcg@10", ascending=False, kind="stable")
    return pd.DataFrame(df).reset_index(drop=True)


def per_group_frame(ev: dict[str, Any]) -> pd.DataFrame:
    """Long table (model, attribute, group, ndcg@10, users) from per-group results: user
    attribute groups first, then the users grouped by their test item's popularity."""
    rows = []
    for name, m in _models_dict(ev).items():
        groups = m.get("ndcg@10_by") or m.get("per_group") or m.get("groups") or m.get("ndcg@10_per_group")
        groups = dict(groups) if isinstance(groups, dict) else {}
        sizes = dict(m["users_by"]) if isinstance(m.get("users_by"), dict) else {}
        if isinstance(m.get("ndcg@10_by_target_pop"), dict):
            groups[TARGET_POP_ATTR] = m["ndcg@10_by_target_pop"]
            tp_sizes = m.get("users_by_target_pop")
            sizes[TARGET_POP_ATTR] = tp_sizes if isinstance(tp_sizes, dict) else {}
        for attr, vals in groups.items():
            if isinstance(vals, dict):
                for g, v in vals.items():
                    if isinstance(v, dict):
                        val = v.get("ndcg@10", v.get("mean"))
                        n = v.get("users", v.get("n"))
                    else:
                        val, n = v, (sizes.get(attr) or {}).get(g)
                    if isinstance(val, (int, float)):
                        rows.append(
                            {"model": MODEL_LABELS.get(name, name), "attribute": str(attr), "group": str(g),
                             "ndcg@10": float(val), "users": n}
                        )
    return pd.DataFrame(rows, columns=["model", "attribute", "group", "ndcg@10", "users"])


def metrics_chart(df: pd.DataFrame, metrics: tuple[str, ...] = ("ndcg@10", "hr@10", "mrr@10"),
                  title: str | None = "Model vs baselines") -> go.Figure:
    """Grouped bars: models × metrics, the RecLens transformer highlighted; the legend
    below the bars (six models wrap to several rows in a narrow column)."""
    fig = go.Figure()
    present = [m for m in metrics if m in df]
    for _, row in df.iterrows():
        err = None
        std_cols = [f"{m}_std" for m in present]
        if all(c in df for c in std_cols):
            err = dict(type="data", array=[row[c] for c in std_cols], visible=True)
        fig.add_bar(
            x=present, y=[row[m] for m in present], name=str(row["model"]), error_y=err,
            marker_color=model_color(str(row["model"])),
            hovertemplate="%{x}: %{y:.4f}<extra>" + str(row["model"]).replace("<", "&lt;") + "</extra>",
        )
    fig.update_layout(barmode="group", yaxis=dict(title="score (test split)"))
    style(fig, height=380, title=title)
    return fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0),
                             margin=dict(t=44 if title else 10))  # no legend above the bars


def per_group_chart(df: pd.DataFrame, attribute: str) -> go.Figure:
    sub = df[df["attribute"] == attribute]
    fig = go.Figure()
    for model, g in sub.groupby("model", sort=False):
        fig.add_bar(x=[html.escape(str(x)) for x in g["group"]], y=g["ndcg@10"], name=str(model),
                    marker_color=model_color(str(model)))
    fig.update_layout(barmode="group", xaxis=dict(title=attribute, type="category"), yaxis=dict(title="NDCG@10"))
    return style(fig, height=320, title=f"NDCG@10 by {attribute}")


def _duration(seconds: Any) -> str:
    try:
        sec = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if sec < 90:
        return f"{sec:.0f} s"
    m, s = divmod(int(round(sec)), 60)
    return f"{m} min {s:02d} s" if m < 90 else f"{m // 60} h {m % 60:02d} min"


def _config(man: dict[str, Any]) -> dict[str, Any]:
    cfg = man.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _schedule_fact(man: dict[str, Any]) -> str | None:
    """The learning-rate schedule as run: the constant rate, and for the plateau schedule
    where the rate was lowered and whether that pass beat the best state before it."""
    cfg = _config(man)
    lr, mode = cfg.get("lr"), cfg.get("lr_decay", "none")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        return None
    text = f"{lr:g}"
    if mode == "cosine":
        return text + ", cosine decay"
    raw = man.get("history")
    hist: list[Any] = raw if isinstance(raw, list) else []
    cuts = [h for h in hist if isinstance(h, dict) and isinstance(h.get("lr_factor"), (int, float))
            and isinstance(h.get("epoch"), int)]
    if mode == "plateau" and not cuts and hist and isinstance(hist[0], dict) and hist[0].get("epoch", 1) != 1:
        return text + ", lowered on validation plateaus (the stored history is too short to say where)"
    if mode != "plateau" or not cuts:
        return text + " (constant)"
    best = man.get("best_epoch")
    steps = ", ".join(f"×{h['lr_factor']:g} after epoch {h['epoch']}" for h in cuts)
    gained = isinstance(best, int) and best > cuts[0]["epoch"]
    verdict = "it improved validation" if gained else "no gain, the earlier best state was kept"
    return f"{text}; {steps}, restarting from the best state — {verdict}"


def manifest_facts(man: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs worth showing from a manifest.json, in words a reader
    expects (durations in minutes, the best epoch beside the epochs run)."""
    facts: list[tuple[str, str]] = []

    def add(label: str, *keys: str, fmt: Any = str) -> None:
        for k in keys:
            v = man.get(k)
            if v not in (None, "", {}):
                facts.append((label, fmt(v)))
                return

    add("Model", "name", fmt=lambda v: MODEL_LABELS.get(str(v), str(v)))
    add("Text encoder", "text_encoder")
    add("Created", "created", fmt=lambda v: str(v).replace("T", " ").replace("Z", " UTC"))
    add("Seed", "seed")
    epochs, best = man.get("epochs"), man.get("best_epoch")
    if epochs not in (None, ""):
        facts.append(("Epochs", f"{epochs} (best {best})" if best not in (None, "", epochs) else str(epochs)))
    add("Training time", "train_seconds", fmt=_duration)
    sched = _schedule_fact(man)
    if sched:
        facts.append(("Learning rate", sched))
    new = man.get("new_items")
    if isinstance(new, dict) and new.get("mode") == "text":
        facts.append(("New items", f"{new.get('items', '?')} without a training interaction, placed by their "
                                   f"text (newcomer offset {float(new.get('offset', 0.0)):g})"))
    add("Data filter", "min_count", fmt=lambda v: f"{v}-core (users and items with at least {v} interactions)")
    add("Tie order", "tie_order", fmt=lambda v: f"{v} (same-second interactions of a user ordered by "
        + ("a hash of user and item id)" if v == "hash" else "item id; the order before tie keys)"))
    add("Dataset fingerprint", "dataset_fingerprint")
    add("Model fingerprint", "model_fingerprint")
    add("Schema", "schema_version")
    cfg = _config(man)
    if all(k in cfg for k in ("d_model", "n_layers", "n_heads", "max_len")):
        arch = (f"{cfg['n_layers']} layers × {cfg['n_heads']} heads, width {cfg['d_model']}, "
                f"the last {cfg['max_len']} items as context")
        if "use_text" in cfg:
            arch += "; item text on" if cfg["use_text"] else "; no item text (ablation)"
        facts.append(("Architecture", arch))
    vers = man.get("versions")
    if isinstance(vers, dict):
        facts.append(("Versions", ", ".join(f"{k} {v}" for k, v in list(vers.items())[:6])))
    return facts


def protocol_text(proto: Any) -> str:
    """The evaluation protocol in one readable line (evaluation.json stores a dict)."""
    if not isinstance(proto, dict):
        return str(proto)
    parts = [str(proto["summary"])] if proto.get("summary") else []
    for key in ("users", "ties"):
        if proto.get(key):
            parts.append(f"{key}: {proto[key]}")
    if not parts:
        parts = [f"{k}: {v}" for k, v in proto.items()]
    return "; ".join(parts)


def manifest_metrics(man: dict[str, Any]) -> dict[str, float]:
    m = man.get("metrics")
    out: dict[str, float] = {}
    if isinstance(m, dict):
        for split, vals in m.items():
            if isinstance(vals, dict):
                for k, v in vals.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        out[f"{split} {k}"] = float(v)
            elif isinstance(vals, (int, float)) and not isinstance(vals, bool):
                out[str(split)] = float(vals)
    return out


__all__ = ["metrics_frame", "per_group_frame", "metrics_chart", "per_group_chart", "manifest_facts", "protocol_text", "NEUTRAL"]


TABLE_METRIC_ORDER = ("ndcg@10", "hr@10", "mrr@10", "ndcg@20", "hr@20", "mrr@20", "ndcg@5", "hr@5", "mrr@5")


def table_metric_tiles(result: dict[str, Any], limit: int = 6) -> list[tuple[str, str]]:
    """(label, value) tiles of ``evaluation_from_table``'s result: the ranking metrics in
    a fixed order (NDCG@10 first), then any other numeric ``metric@k`` keys; counts such
    as ``users`` are left to the caption."""
    nums = {str(k): float(v) for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and "@" in str(k)}  # fmt: skip
    keys = [k for k in TABLE_METRIC_ORDER if k in nums] + sorted(k for k in nums if k not in TABLE_METRIC_ORDER)
    return [(_metric_label(k), f"{nums[k]:.4f}") for k in keys[:limit]]


def _metric_label(key: str) -> str:
    """``ndcg@10`` → ``NDCG@10``, ``hr@10`` → ``HR@10``."""
    name, _, k = key.partition("@")
    return f"{name.upper()}@{k}"


def table_users(result: dict[str, Any]) -> int | None:
    """How many evaluated users the table's metrics average over, when it says."""
    for key in ("users", "n_users", "evaluated_users"):
        v = result.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
    return None
