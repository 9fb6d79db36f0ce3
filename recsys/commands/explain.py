"""Explain why an item is recommended to a user: SHAP or LIME over the user's history.

``explain --data SRC --model DIR --user U --item I --method shap|lime|both [-k 10]
[--units items|auto|recent|session|category] [--history ID,...] [--why-not ITEM] [--json]`` prints ``{"user", "item", "method",
"value", "base_value", "attributions": [{"item_id", "title", "weight"}] (every
explained history item, largest weight first), "faithfulness": {"deletion_auc",
"insertion_auc", "random_deletion_auc"}, "counterfactual": [item ids] (null if none
was found within the budget), "why_not", "summary", "elapsed_ms", "total_ms",
"provenance"}`` plus ``warmup_ms``/``load_ms`` (the one-time costs, reported apart) and
a few descriptive extras. ``elapsed_ms`` times the attributions only; ``total_ms``
adds faithfulness, counterfactual, why-not and summary (never loading or warm-up).

``--method both`` (issue 23) compares SHAP and LIME over the same units (default
``--units auto``: groups of history items for long histories, :mod:`explain.units`)
with budgets that grow until the top 5 holds still: the object above is SHAP's (every
key kept, ``method`` "both"), plus ``"agreement"`` (top-5 overlap of SHAP and LIME, in
[0, 1]), ``"rbo"``, ``"kendall_tau"``, ``"stability"`` (LIME's mean top-5 overlap across
seeds, in [0, 1]), ``"stable"``, ``"units"`` (``items`` or the grouping), ``"groups"``
(each unit's label and member items), ``"disagreements"`` (units in one method's top 5
only, with each method's deletion AUC in ``"faithfulness_by_method"``), ``"shap"`` and
``"lime"`` (each method's attributions, faithfulness and elapsed ms); ``elapsed_ms`` is
then the whole comparison (both methods, stability runs, faithfulness, counterfactuals).
A single method explains items unless ``--units`` says otherwise.
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
    parser.add_argument("--method", choices=("shap", "lime", "both"), default="shap",
                        help="explainer, or both compared over the same units (default shap)")
    parser.add_argument("--units", choices=("items", "auto", "recent", "session", "category"), default=None,
                        help="explain single items or groups of them: the last N (recent), sessions, "
                             "a category within a time window, or auto (groups above 30 explained items); "
                             "default auto for --method both, items otherwise")
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
    """Every explained unit, largest weight first (a group: its label and member items;
    ``item_id``/``title``/``position``/``date`` name its most recent member)."""
    rows = []
    for j in a.order():
        i = int(a.features[j])
        row: dict[str, Any] = {
            "item_id": ds.item_ids[i],
            "title": ds.titles[i],
            "weight": float(a.values[j]),
            "position": int(a.positions[j]),
            "date": None if a.timestamps is None else _date(a.timestamps[j]),
        }
        if a.groups:
            g = a.groups[int(j)]
            row["unit"] = g.label
            row["items"] = [ds.item_ids[int(x)] for x in g.items]
            row["titles"] = [ds.titles[int(x)] for x in g.items]
        rows.append(row)
    return rows


def _faith_json(fa: Any) -> dict[str, Any] | None:
    return None if fa is None else {
        "deletion_auc": fa.deletion_auc,
        "insertion_auc": fa.insertion_auc,
        "random_deletion_auc": fa.random_deletion_auc,
        "random_insertion_auc": fa.random_insertion_auc,
        "random_orders": fa.n_random,
        "faithful": fa.faithful,
    }


def comparison_json(ds: Dataset, c: Any) -> dict[str, Any]:
    """The ``--method both`` JSON: SHAP's explanation object plus the comparison keys."""
    out = to_json(ds, c.shap)
    d = c.detail
    a = c.shap.attribution
    out.update({
        "method": "both",
        "agreement": float(c.agreement),
        "rbo": float(d.rbo),
        "kendall_tau": None if d.kendall != d.kendall else float(d.kendall),  # nan -> null
        "stability": float(c.stability),
        "shap_stability": float(d.shap_stability),
        "stable": bool(d.stable),
        "stability_seeds": list(c.stability_seeds),
        "units": a.units,
        "n_units": a.n_features,
        "groups": None if not a.groups else [g.to_dict(ds) for g in a.groups],
        "lime_samples": d.lime_samples,
        "shap_evaluations": d.shap_evaluations,
        "disagreements": list(d.disagreements),
        "faithfulness_by_method": {"shap": d.shap_deletion_auc, "lime": d.lime_deletion_auc,
                                   "random": d.random_deletion_auc},
        "shap": {"attributions": out["attributions"], "faithfulness": out["faithfulness"],
                 "elapsed_ms": round(a.elapsed_ms, 3), "sentence": out["summary"]["sentence"] if out["summary"] else None},
        "lime": {"attributions": attribution_rows(ds, c.lime.attribution),
                 "faithfulness": _faith_json(c.lime.faithfulness),
                 "elapsed_ms": round(c.lime.attribution.elapsed_ms, 3),
                 "sentence": None if c.lime.summary is None else c.lime.summary.sentence},
        "elapsed_ms": round(d.elapsed_ms, 3),
        "total_ms": round(d.elapsed_ms, 3),
    })
    return out


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
        "faithfulness": _faith_json(fa),
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


def _comparison_lines(r: dict[str, Any], top: int) -> list[str]:
    """LIME's units and the disagreements of a ``--method both`` result."""
    lines = ["LIME:"]
    for row in r["lime"]["attributions"][:top]:
        lines.append(f"  {row['weight']:+.4f}  {row['item_id']:>8}  {row.get('unit') or row['title']}")
    fm = r["faithfulness_by_method"]
    for d in r["disagreements"]:
        lines.append(f"  disagree: {d['unit']} — SHAP rank {d['shap_rank']}, LIME rank {d['lime_rank']}, "
                     f"removing it alone lowers the value by {d['drop']:+.3f}")
    if r["disagreements"] and fm["shap"] is not None:
        lines.append(f"  deletion AUC (lower = the model follows it): SHAP {fm['shap']:.3f}, "
                     f"LIME {fm['lime']:.3f}, random {fm['random']:.3f}")
    return lines


def render_text(r: dict[str, Any], top: int = 10) -> str:
    both = r["method"] == "both"
    lines = [f"{'SHAP and LIME' if both else r['method'].upper()} explanation of {r['item']} “{r['title']}” for user {r['user'] or '(profile)'}",
             f"value {r['value']:.4f} ({r['value_kind']}), base {r['base_value']:.4f}; {r['note']}"]
    if both:
        lines.append(f"units: {r['units']} ({r['n_units']}); agreement (top-5 overlap) {r['agreement']:.2f}, "
                     f"RBO {r['rbo']:.2f}; LIME stability {r['stability']:.0%} at {r['lime_samples']} samples"
                     + ("" if r["stable"] else " — UNSTABLE: the time cap was reached before the top 5 held still"))
        lines.append("SHAP:")
    for row in r["attributions"][:top]:
        lines.append(f"  {row['weight']:+.4f}  {row['item_id']:>8}  {row.get('unit') or row['title']}")
    if both:
        lines.extend(_comparison_lines(r, top))
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
    if args.method == "both" and args.why_not is not None:
        raise DataError("--why-not: give --method shap or lime (the comparison has no why-not)")
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
    if args.method == "both":
        from explain import compare_methods

        c = compare_methods(ds, scorer, h, target, k=args.k, seed=args.seed, value=args.value,
                            max_features=args.max_features, units=args.units or "auto", cache=None,
                            shap_budget=args.budget, lime_budget=args.budget)
        e = c.shap
        out = comparison_json(ds, c)
    else:
        e = explain_item(ds, scorer, h, target, method=args.method, k=args.k, budget=args.budget,
                         seed=args.seed, value=args.value, max_features=args.max_features, why_not=why_not,
                         cache=None, units=args.units or "items")
        out = to_json(ds, e)
    from recsys.models.base import recommend

    out["rank"] = int(e.counterfactual.rank_before) if e.counterfactual is not None else None
    out["top_k"] = [ds.item_ids[i] for i in recommend(scorer, h.items, args.k, h.timestamps).items]
    out["warmup_ms"] = round(warmup_ms, 3)
    out["load_ms"] = round(load_ms, 3)
    out["_text"] = render_text(out)
    return out
