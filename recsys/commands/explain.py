"""Explain why an item is recommended to a user: SHAP or LIME over the user's history.

``explain --data SRC --model DIR --user U --item I --method shap|lime [-k 10]
[--history ID,...] [--why-not ITEM] [--json]`` prints ``{"user", "item", "method",
"value", "base_value", "attributions": [{"item_id", "title", "weight"}] (every
explained history item, largest weight first), "faithfulness": {"deletion_auc",
"insertion_auc", "random_deletion_auc"}, "counterfactual": [item ids] (null if none
was found within the budget), "why_not", "summary", "elapsed_ms", "total_ms",
"provenance"}`` plus ``warmup_ms``/``load_ms`` (the one-time costs, reported apart) and
a few descriptive extras. ``elapsed_ms`` times the attributions only; ``total_ms``
adds faithfulness, counterfactual, why-not and summary (never loading or warm-up).
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np

from recsys.commands.options import add_min_count, load_data, load_model
from recsys.data.types import DataError, Dataset, History


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="trained transformer artifact (default: the data's default model directory)")
    parser.add_argument("--user", default=None, help="external user id (whose history is explained)")
    parser.add_argument("--item", required=True, help="external id of the recommended item to explain")
    parser.add_argument("--method", choices=("shap", "lime"), default="shap", help="explainer (default shap)")
    parser.add_argument("-k", "--k", type=int, default=10, help="top-k of the counterfactual (default 10)")
    parser.add_argument("--history", default=None, metavar="ID,...",
                        help="explain this comma-separated history (oldest first) instead of the user's")
    parser.add_argument("--why-not", default=None, metavar="ITEM",
                        help="also attribute the score difference between --item and this item")
    parser.add_argument("--budget", type=int, default=None,
                        help="SHAP model evaluations (default 1000) or LIME samples (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the explainer (default 0)")
    parser.add_argument("--max-features", type=int, default=50,
                        help="explain the most recent N history items; older ones are fixed context (default 50)")
    parser.add_argument("--value", choices=("logprob", "rr"), default="logprob",
                        help="explained value: log-probability (default) or reciprocal rank of the item")
    add_min_count(parser)


def _item(ds: Dataset, item_id: str, what: str) -> int:
    if not ds.has_item(item_id):
        raise DataError(f"{what}: unknown item id {item_id!r}")
    return ds.item_index(item_id)


def resolve_history(ds: Dataset, user: str | None, history: str | None) -> History:
    """The explained history from ``--user`` / ``--history`` (an edited history has no
    timestamps)."""
    if user is not None and not ds.has_user(user):
        raise DataError(f"--user: unknown user id {user!r}")
    if history is not None:
        ids = [x.strip() for x in history.split(",") if x.strip()]
        if not ids:
            raise DataError("--history: no item ids given")
        return History(user or "", np.array([_item(ds, x, "--history") for x in ids], dtype=np.int64), None)
    if user is None:
        raise DataError("give --user or --history")
    h = ds.history(user)
    if len(h) == 0:
        raise DataError(f"user {user!r} has no interactions to explain")
    return h


def _date(ts: Any) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d")


def attribution_rows(ds: Dataset, a: Any) -> list[dict[str, Any]]:
    """Every explained item, largest weight first."""
    rows = []
    for j in a.order():
        i = int(a.features[j])
        rows.append({
            "item_id": ds.item_ids[i],
            "title": ds.titles[i],
            "weight": float(a.values[j]),
            "position": int(a.positions[j]),
            "date": None if a.timestamps is None else _date(a.timestamps[j]),
        })
    return rows


def to_json(ds: Dataset, e: Any) -> dict[str, Any]:
    """The command's JSON object for an :class:`explain.Explanation`."""
    a = e.attribution
    fa = e.faithfulness
    cf = e.counterfactual
    out: dict[str, Any] = {
        "user": e.user,
        "item": ds.item_ids[e.target],
        "title": ds.titles[e.target],
        "method": a.method,
        "value": float(a.value),
        "base_value": float(a.base_value),
        "value_kind": a.value_kind,
        "attributions": attribution_rows(ds, a),
        "faithfulness": None if fa is None else {
            "deletion_auc": fa.deletion_auc,
            "insertion_auc": fa.insertion_auc,
            "random_deletion_auc": fa.random_deletion_auc,
            "random_insertion_auc": fa.random_insertion_auc,
            "random_orders": fa.n_random,
            "faithful": fa.faithful,
        },
        "counterfactual": None if cf is None or not cf.found else [ds.item_ids[i] for i in cf.removed],
        "counterfactual_detail": None if cf is None else {
            "k": cf.k, "found": cf.found, "rank_before": cf.rank_before, "rank_after": cf.rank_after,
            "evaluations": cf.evaluations,
        },
        "why_not": None,
        "summary": None if e.summary is None else {
            "sentence": e.summary.sentence,
            "by_category": [{"category": c, "weight": w} for c, w in e.summary.by_category],
            "by_window": list(e.summary.by_window),
        },
        "note": e.note,
        "elapsed_ms": round(a.elapsed_ms, 3),
        "total_ms": round(e.total_ms, 3),
        "provenance": e.provenance,
    }
    if e.why_not is not None:
        w = e.why_not
        y = int(w.params["contrast"])
        out["why_not"] = {
            "item": ds.item_ids[y],
            "title": ds.titles[y],
            "value": float(w.value),
            "base_value": float(w.base_value),
            "attributions": attribution_rows(ds, w),
        }
    return out


def render_text(r: dict[str, Any], top: int = 10) -> str:
    lines = [f"{r['method'].upper()} explanation of {r['item']} “{r['title']}” for user {r['user'] or '(profile)'}",
             f"value {r['value']:.4f} ({r['value_kind']}), base {r['base_value']:.4f}; {r['note']}"]
    for row in r["attributions"][:top]:
        lines.append(f"  {row['weight']:+.4f}  {row['item_id']:>8}  {row['title']}")
    if len(r["attributions"]) > top:
        lines.append(f"  … {len(r['attributions']) - top} more")
    if r["faithfulness"]:
        f = r["faithfulness"]
        lines.append(f"faithfulness: deletion AUC {f['deletion_auc']:.3f} (random {f['random_deletion_auc']:.3f}), "
                     f"insertion AUC {f['insertion_auc']:.3f}")
    cd = r.get("counterfactual_detail") or {}
    if r["counterfactual"] is None:
        lines.append(f"counterfactual: none found within {cd.get('evaluations')} re-rankings")
    elif not r["counterfactual"]:
        lines.append(f"counterfactual: not needed, the item is at rank {cd.get('rank_before')}, "
                     f"outside the top-{cd.get('k')}")
    else:
        lines.append(f"counterfactual: removing {', '.join(r['counterfactual'])} moves it from rank "
                     f"{cd.get('rank_before')} to {cd.get('rank_after')} (out of the top-{cd.get('k')})")
    if r["summary"]:
        lines.append(r["summary"]["sentence"])
    if r["why_not"]:
        w = r["why_not"]
        best = ", ".join(f"{x['item_id']} {x['weight']:+.3f}" for x in w["attributions"][:3])
        lines.append(f"why not {w['item']}: margin {w['value']:.3f}; largest reasons: {best}")
    lines.append(f"elapsed {r['elapsed_ms']:.0f} ms, total {r['total_ms']:.0f} ms "
                 f"(warm-up {r['warmup_ms']:.0f} ms, load {r['load_ms']:.0f} ms)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    if args.k < 1:
        raise DataError(f"-k must be at least 1, got {args.k}")
    if args.budget is not None and args.budget < 1:
        raise DataError(f"--budget must be positive, got {args.budget}")
    if args.max_features < 1:
        raise DataError(f"--max-features must be at least 1, got {args.max_features}")
    ds = load_data(args)
    h = resolve_history(ds, args.user, args.history)
    target = _item(ds, args.item, "--item")
    if target in set(h.items.tolist()):
        raise DataError(f"--item: {args.item!r} is already in the history; only unseen items are recommended")
    why_not = None
    if args.why_not is not None:
        why_not = _item(ds, args.why_not, "--why-not")
        if why_not == target:
            raise DataError("--why-not: must differ from --item")
    from recsys.runtime import serving_threads, set_threads

    set_threads(serving_threads())  # small batches: one torch thread is fastest (recsys.runtime)
    scorer = load_model(ds, args.model)
    load_ms = (time.perf_counter() - t0) * 1000.0

    from explain import explain_item, warm_up

    warmup_ms = warm_up()
    e = explain_item(ds, scorer, h, target, method=args.method, k=args.k, budget=args.budget,
                     seed=args.seed, value=args.value, max_features=args.max_features, why_not=why_not,
                     cache=None)
    out = to_json(ds, e)
    from recsys.models.base import recommend

    out["rank"] = int(e.counterfactual.rank_before) if e.counterfactual is not None else None
    out["top_k"] = [ds.item_ids[i] for i in recommend(scorer, h.items, args.k, h.timestamps).items]
    out["warmup_ms"] = round(warmup_ms, 3)
    out["load_ms"] = round(load_ms, 3)
    out["_text"] = render_text(out)
    return out
