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
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    r = run(a.data, a.model, a.demo_data, a.demo_model, a.users, a.limit)
    print(json.dumps(r) if a.json else json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
