"""Explanation speed (ML-100K) and planted-cause recovery (demo world).

    .venv/bin/python -m benchmarks.bench_explain --model DIR [--data ML100K_DIR]
        [--demo-model DIR] [--demo-data demo] [--users 20] [--json]

Speed: for users with at least 50 interactions, the last 50 items are the history
(~50-item histories, all explained) and the user's top-1 recommendation is explained
with SHAP (default budget: 1000 model evaluations, permutation explainer) and LIME
(default: 500 samples); reported are median / p90 ms of the attributions alone (what
``elapsed_ms`` measures), the process CPU ms of the same (with ``--threads 1`` this is
what a quiet machine's wall clock would show), and the full explanation (plus
faithfulness, counterfactual, summary). shap's one-time warm-up is measured apart.

Planted causes (demo world, ground truth ``ds.truth.followups``): among users whose
history holds A in its last two items and not B, the share who get B in their top-10
(target ≥ 70%); among those, the share whose top SHAP attribution is A (≥ 90%), whose
top LIME attribution is A (≥ 80%) and whose top-10 counterfactual contains A (≥ 90%).

Agreement (issue 23, ``--agreement``; ML-100K): 20 users with at least 50 history items
(drawn with ``numpy.random.default_rng(0)``, sorted), their full history and top-1
recommendation, explained by ``explain.compare_methods`` (what ``explain --method both``
runs). Reported: median / min SHAP–LIME top-5 overlap ("agreement"), median rank-biased
overlap (p = 0.9, extrapolated), median / min LIME stability (mean pairwise top-5 overlap
across its seeds), the share of explanations whose deletion AUC beats random, and p50 /
p90 of the whole comparison call, warm (one untimed call first; no cache), in wall and
in process CPU ms (with one torch thread the CPU time is close to what an idle machine's
wall clock shows; the wall clock of a shared machine is not). Then the
planted causes again through the same call: the share of cases whose top SHAP (LIME)
unit contains the planted cause A (``--planted-limit`` cases at most).

The machine's load average is printed beside the timings: on a shared 2-core machine
wall-clock figures depend heavily on what else runs. ``run()`` returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from explain import explain_item, warm_up  # noqa: E402
from recsys.data import History, load  # noqa: E402
from recsys.models.base import recommend  # noqa: E402

TARGETS = {"shap_ms_p50": 300.0, "lime_ms_p50": 300.0, "coverage": 0.70, "shap_top1": 0.90, "lime_top1": 0.80,
           "cf_contains": 0.90}

TARGETS_23 = {"agreement_median": 0.8, "agreement_min": 0.4, "stability_median": 0.9, "both_ms_p50": 500.0,
              "planted_shap_top1": 0.95, "planted_lime_top1": 0.85, "deletion_beats_random": 0.90}


def default_data() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def _load_model(ds: Any, model_dir: str) -> Any:
    from recsys.models.transformer import TransformerRecommender

    return TransformerRecommender.load(model_dir, ds)


def _stats(xs: list[float]) -> dict[str, float | None]:
    if not xs:
        return {"p50": None, "p90": None, "n": 0}
    return {"p50": round(float(np.median(xs)), 1), "p90": round(float(np.percentile(xs, 90)), 1), "n": len(xs)}


def speed(data: str, model_dir: str, users: int = 20, history_len: int = 50, seed: int = 0) -> dict[str, Any]:
    """Median ms of SHAP and LIME attributions on ~``history_len``-item histories."""
    ds = load(data)
    scorer = _load_model(ds, model_dir)
    rng = np.random.default_rng(seed)
    long_users = np.flatnonzero(np.diff(ds.user_offsets) >= history_len)
    picked = rng.choice(long_users, size=min(users, long_users.size), replace=False)
    res: dict[str, Any] = {"data": ds.source, "model": str(model_dir), "users": int(picked.size),
                           "history_len": history_len, "warm_up_ms": round(warm_up(), 1),
                           "warm_up_again_ms": round(warm_up(), 1), "budgets": {"shap": 1000, "lime": 500}}
    attr: dict[str, list[float]] = {"shap": [], "lime": []}
    total: dict[str, list[float]] = {"shap": [], "lime": []}
    evals: dict[str, list[int]] = {"shap": [], "lime": []}
    cpu: dict[str, list[float]] = {"shap": [], "lime": []}
    beats: dict[str, list[bool]] = {"shap": [], "lime": []}
    for u in picked:
        h, ts = ds.sequence(int(u))
        h, ts = h[-history_len:], ts[-history_len:]
        target = int(recommend(scorer, h, 1, ts).items[0])
        for method in ("shap", "lime"):
            e = explain_item(ds, scorer, History(ds.user_ids[int(u)], h, ts), target, method=method, k=10, cache=None)
            attr[method].append(e.attribution.elapsed_ms)
            total[method].append(e.total_ms)
            evals[method].append(int(e.attribution.params["evaluations"]))
            cpu[method].append(float(e.attribution.params["cpu_ms"]))
            beats[method].append(e.faithfulness.deletion_auc < e.faithfulness.random_deletion_auc)
    for m in ("shap", "lime"):
        res[f"{m}_attr_ms"] = _stats(attr[m])
        res[f"{m}_total_ms"] = _stats(total[m])
        res[f"{m}_attr_cpu_ms"] = _stats(cpu[m])
        res[f"{m}_deletion_beats_random"] = round(float(np.mean(beats[m])), 3) if beats[m] else None
        res[f"{m}_evaluations"] = int(np.median(evals[m])) if evals[m] else None
    res["shap_ms_p50"] = res["shap_attr_ms"]["p50"]
    res["lime_ms_p50"] = res["lime_attr_ms"]["p50"]
    return res


def planted(data: str, model_dir: str, k: int = 10, near_end: int = 2, limit: int | None = None) -> dict[str, Any]:
    """Planted-cause recovery rates on the demo world."""
    ds = load(data)
    if ds.truth is None or not getattr(ds.truth, "followups", None):
        raise SystemExit(f"{data}: no planted follow-ups (use the demo world)")
    scorer = _load_model(ds, model_dir)
    warm_up()
    eligible, cases = 0, []
    for a_id, b_id in ds.truth.followups:
        a, b = ds.item_index(a_id), ds.item_index(b_id)
        for u in range(ds.n_users):
            h, ts = ds.sequence(u)
            if a in h[-near_end:] and b not in h:
                eligible += 1
                if b in recommend(scorer, h, k, ts).items:
                    cases.append((u, h, ts, a, b))
    if limit:
        cases = cases[:limit]
    shap_hit, lime_hit, cf_hit, faithful = [], [], [], []
    for _u, h, ts, a, b in cases:
        hist = History(ds.user_ids[int(_u)], h, ts)
        es = explain_item(ds, scorer, hist, b, method="shap", k=k, cache=None)
        el = explain_item(ds, scorer, hist, b, method="lime", k=k, cache=None, extras=False)
        shap_hit.append(int(es.attribution.top(1)[0]) == a)
        lime_hit.append(int(el.attribution.top(1)[0]) == a)
        cf_hit.append(a in es.counterfactual.removed)
        faithful.append(es.faithfulness.deletion_auc < es.faithfulness.random_deletion_auc)
    n = len(cases)

    def rate(xs: list[bool]) -> float | None:
        return round(float(np.mean(xs)), 3) if xs else None

    return {"data": ds.source, "model": str(model_dir), "eligible": eligible, "in_top_k": n,
            "coverage": round(n / eligible, 3) if eligible else None, "shap_top1": rate(shap_hit),
            "lime_top1": rate(lime_hit), "cf_contains": rate(cf_hit), "deletion_beats_random": rate(faithful)}


# ---- issue 23: SHAP-LIME agreement, LIME stability, whole comparison time ----------------
def _units_order(a: Any) -> list[int]:
    """Unit keys (history positions of each unit) by weight, largest first."""
    return [int(p) for p in a.positions[a.order()]]


def top_overlap(a: Any, b: Any, n: int = 5) -> float:
    """|top-n(a) ∩ top-n(b)| / n over the explained units (n capped at the unit count)."""
    m = max(1, min(n, a.n_features))
    return len(set(_units_order(a)[:m]) & set(_units_order(b)[:m])) / m


def rbo(x: list[int], y: list[int], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap (Webber et al. 2010, eq. 32) of two rankings of
    the same items; computed here independently of ``explain``."""
    k = min(len(x), len(y))
    if k == 0:
        return 1.0
    sx, sy, overlap, acc = set(), set(), 0, 0.0
    for d in range(1, k + 1):
        a, b = x[d - 1], y[d - 1]
        if a == b:
            overlap += 1
        else:
            overlap += (a in sy) + (b in sx)
        sx.add(a)
        sy.add(b)
        acc += overlap / d * p**d
    return float((1 - p) / p * acc + overlap / k * p**k)


def _compare(ds: Any, scorer: Any, hist: Any, target: int, units: str | None) -> Any:
    from explain import LRUCache, compare_methods

    kw: dict[str, Any] = {"k": 10, "cache": LRUCache(64)}  # fresh cache: reuse inside one call only
    if units is not None:
        kw["units"] = units
    return compare_methods(ds, scorer, hist, target, **kw)


def _unit_items(a: Any, j: int) -> set[int]:
    """Item indices of unit ``j`` of an attribution (a group's members, or the item)."""
    groups = getattr(a, "groups", None)
    if groups:
        return set(int(i) for i in groups[j].items)
    return {int(a.features[j])}


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 3) if xs else None


def agreement(data: str, model_dir: str, users: int = 20, min_history: int = 50, seed: int = 0,
              units: str | None = None, history_len: int | None = None) -> dict[str, Any]:
    """Issue 23's agreement figures on ML-100K (see the module docstring)."""
    import time

    import explain

    ds = load(data)
    scorer = _load_model(ds, model_dir)
    long_users = np.flatnonzero(np.diff(ds.user_offsets) >= min_history)
    picked = np.sort(np.random.default_rng(seed).choice(long_users, size=min(users, long_users.size),
                                                        replace=False))
    warm_up()
    rows = []
    first = True
    for u in picked:
        hist = ds.history(ds.user_ids[int(u)])
        if history_len:  # the last history_len items only (how the figures depend on length)
            hist = History(hist.user, hist.items[-history_len:], hist.timestamps[-history_len:])
        target = int(recommend(scorer, hist.items, 1, hist.timestamps).items[0])
        if first:  # torch, lime and sklearn's first-call costs: untimed
            _compare(ds, scorer, hist, target, units)
            first = False
        t0, c0 = time.perf_counter(), time.process_time()
        c = _compare(ds, scorer, hist, target, units)
        ms = (time.perf_counter() - t0) * 1000.0
        cpu = (time.process_time() - c0) * 1000.0
        s, li = c.shap.attribution, c.lime.attribution
        rows.append({
            "user": ds.user_ids[int(u)], "history": len(hist), "units": s.n_features,
            "unit_kind": getattr(c, "units", "items"),
            "agreement": round(top_overlap(s, li), 3),
            "rbo": round(rbo(_units_order(s), _units_order(li)), 3),
            "kendall_tau": round(float(explain.agreement(s, li)), 3),
            "stability": round(float(c.stability), 3),
            "stable": bool(getattr(c, "stable", True)),
            "shap_evaluations": s.params.get("evaluations"), "lime_samples": li.params.get("budget"),
            "shap_beats_random": bool(c.shap.faithfulness.deletion_auc < c.shap.faithfulness.random_deletion_auc),
            "lime_beats_random": bool(c.lime.faithfulness.deletion_auc < c.lime.faithfulness.random_deletion_auc),
            "ms": round(ms, 1), "cpu_ms": round(cpu, 1),
        })
    ag = [r["agreement"] for r in rows]
    st = [r["stability"] for r in rows]
    beats = [r["shap_beats_random"] for r in rows] + [r["lime_beats_random"] for r in rows]
    ms_all = [r["ms"] for r in rows]
    return {
        "data": ds.source, "model": str(model_dir), "users": len(rows), "min_history": min_history,
        "history_len": history_len, "units_asked": units,
        "explain_version": getattr(explain, "__version__", None),
        "agreement_median": _pct(ag, 50), "agreement_min": round(min(ag), 3) if ag else None,
        "rbo_median": _pct([r["rbo"] for r in rows], 50),
        "kendall_tau_median": _pct([r["kendall_tau"] for r in rows], 50),
        "stability_median": _pct(st, 50), "stability_min": round(min(st), 3) if st else None,
        "unstable": sum(not r["stable"] for r in rows),
        "deletion_beats_random": round(float(np.mean(beats)), 3) if beats else None,
        "shap_deletion_beats_random": round(float(np.mean([r["shap_beats_random"] for r in rows])), 3),
        "lime_deletion_beats_random": round(float(np.mean([r["lime_beats_random"] for r in rows])), 3),
        "both_ms_p50": _pct(ms_all, 50), "both_ms_p90": _pct(ms_all, 90),
        # process CPU time of the same calls (one torch thread): what an idle machine's wall
        # clock would roughly show when the machine is shared
        "both_cpu_ms_p50": _pct([r["cpu_ms"] for r in rows], 50),
        "both_cpu_ms_p90": _pct([r["cpu_ms"] for r in rows], 90),
        "per_user": rows,
    }


def planted_compare(data: str, model_dir: str, k: int = 10, near_end: int = 2, limit: int | None = 100,
                    units: str | None = None) -> dict[str, Any]:
    """Planted-cause rates through ``compare_methods`` (what ``explain --method both``
    shows): a hit when the top SHAP (LIME) unit contains the planted cause A."""
    ds = load(data)
    if ds.truth is None or not getattr(ds.truth, "followups", None):
        raise SystemExit(f"{data}: no planted follow-ups (use the demo world)")
    scorer = _load_model(ds, model_dir)
    warm_up()
    eligible, cases = 0, []
    for a_id, b_id in ds.truth.followups:
        a, b = ds.item_index(a_id), ds.item_index(b_id)
        for u in range(ds.n_users):
            h, ts = ds.sequence(u)
            if a in h[-near_end:] and b not in h:
                eligible += 1
                if b in recommend(scorer, h, k, ts).items:
                    cases.append((u, a, b))
    cases.sort()
    if limit:
        cases = cases[:: max(1, len(cases) // limit)][:limit]  # spread over the cases, deterministic
    shap_hit, lime_hit, beats, sizes, lengths = [], [], [], [], []
    for u, a, b in cases:
        hist = ds.history(ds.user_ids[int(u)])
        c = _compare(ds, scorer, hist, b, units)
        s, li = c.shap.attribution, c.lime.attribution
        shap_hit.append(a in _unit_items(s, int(s.order()[0])))
        lime_hit.append(a in _unit_items(li, int(li.order()[0])))
        sizes.append(len(_unit_items(s, int(s.order()[0]))))
        lengths.append(len(hist))
        for e in (c.shap, c.lime):
            beats.append(e.faithfulness.deletion_auc < e.faithfulness.random_deletion_auc)

    def rate(xs: list[bool]) -> float | None:
        return round(float(np.mean(xs)), 3) if xs else None

    return {"data": ds.source, "model": str(model_dir), "eligible": eligible, "cases": len(cases),
            "history_median": _pct([float(x) for x in lengths], 50),
            "shap_top1": rate(shap_hit), "lime_top1": rate(lime_hit),
            "top_unit_size_median": _pct([float(x) for x in sizes], 50),
            "deletion_beats_random": rate(beats)}


def run(data: str | None = None, model: str | None = None, demo_data: str = "demo", demo_model: str | None = None,
        users: int = 20, limit: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
                           "targets": TARGETS}
    if model:
        out["speed"] = speed(data or default_data(), model, users=users)
    if demo_model:
        out["planted"] = planted(demo_data, demo_model, limit=limit)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="ML-100K directory (default ../shared/data/ml-100k)")
    p.add_argument("--model", default=None, help="transformer trained on --data (speed part)")
    p.add_argument("--demo-data", default="demo", help="demo world source (default demo)")
    p.add_argument("--demo-model", default=None, help="transformer trained on --demo-data (planted part)")
    p.add_argument("--users", type=int, default=20, help="users timed (default 20)")
    p.add_argument("--limit", type=int, default=None, help="at most this many planted cases")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1, as the app and the explain command use; see recsys.runtime)")
    p.add_argument("--json", action="store_true", help="print one JSON line only")
    p.add_argument("--agreement", action="store_true",
                   help="issue 23: agreement/stability/time on --data with --model, planted causes through the "
                        "comparison on --demo-data with --demo-model")
    p.add_argument("--units", default=None, help="with --agreement: explanation units (default: the library's)")
    p.add_argument("--history-len", type=int, default=None,
                   help="with --agreement: explain only the last N history items of each user")
    p.add_argument("--planted-limit", type=int, default=100, help="with --agreement: planted cases (default 100)")
    p.add_argument("--out", default=None, help="also write the result JSON to this file")
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.agreement:
        r = {"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
             "targets": TARGETS_23, "note": "wall-clock figures on a shared, contended 2-core machine"}
        if a.model:
            r["agreement"] = agreement(a.data or default_data(), a.model, users=a.users, units=a.units,
                                       history_len=a.history_len)
        if a.demo_model:
            r["planted"] = planted_compare(a.demo_data, a.demo_model, limit=a.planted_limit, units=a.units)
        r["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        if a.out:
            Path(a.out).write_text(json.dumps(r, indent=2) + "\n")
        print(json.dumps(r) if a.json else json.dumps(r, indent=2))
        return
    r = run(a.data, a.model, a.demo_data, a.demo_model, a.users, a.limit)
    print(json.dumps(r) if a.json else json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
