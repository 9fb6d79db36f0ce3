"""Re-ranking speed and the population λ-sweep on MovieLens-100K.

    .venv/bin/python -m benchmarks.bench_rerank [--data DIR] [--model DIR] [--users 100] [--json]

Per weight setting: p50/p90 wall and CPU milliseconds to re-rank one user (top-200
candidates → 10, explanations and list metrics included, model scoring excluded) and the
seconds to re-rank the whole evaluated population in one batch; then the λ-sweep table
(NDCG@10, ILD, long-tail share, miscalibration, average popularity, coverage, Gini at
w = 0, 0.25, 0.5, 0.75 per term). Without ``--model`` (and no trained model for the
data) an EASE baseline is the scorer. Targets (2 cores): one user ≤ 20 ms p50, the whole
population ≤ 5 s, a slider move ≤ 300 ms. On a shared machine compare CPU and wall
times; the load average is reported alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recsys.commands.bench import load_scorer  # noqa: E402
from recsys.data import load  # noqa: E402
from recsys.evaluation import leave_one_out  # noqa: E402
from recsys.rerank import Weights, build_context, prepare_population, rerank, rerank_population, sweep  # noqa: E402

SETTINGS = {
    "model order": Weights(),
    "diversity 0.5": Weights(diversity=0.5),
    "calibration 0.5": Weights(calibration=0.5),
    "fairness 0.5": Weights(fairness=0.5),
    "all 0.25": Weights(0.25, 0.25, 0.25),
}


def default_data() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def run(data: str, model: str | None = None, users: int = 100, seed: int = 0) -> dict[str, Any]:
    ds = load(data)
    scorer, desc = load_scorer(ds, model)
    emb = getattr(scorer, "text_emb", None)
    ctx = build_context(ds, emb=None if emb is None else np.asarray(emb))
    ctx.similarity()
    split = leave_one_out(ds)
    pop = prepare_population(ds, scorer, ctx, split=split)
    hist, _, _ = split.inputs("test")
    rng = np.random.default_rng(seed)
    sample = rng.choice(pop.n_users, size=min(users, pop.n_users), replace=False)
    scores = {int(j): np.asarray(scorer.score([hist[j]])[0]) for j in sample}
    per_setting: dict[str, Any] = {}
    for name, w in SETTINGS.items():
        for j in sample[:5]:  # warm-up
            rerank(ctx, scores[int(j)], hist[j], w)
        wall, cpu = [], []
        for j in sample:
            t0, c0 = time.perf_counter(), time.process_time()
            rerank(ctx, scores[int(j)], hist[j], w)
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        t0, c0 = time.perf_counter(), time.process_time()
        rerank_population(ctx, pop, w)
        per_setting[name] = {
            "user_ms_p50": float(np.median(wall)),
            "user_ms_p90": float(np.percentile(wall, 90)),
            "user_cpu_ms_p50": float(np.median(cpu)),
            "population_s": time.perf_counter() - t0,
            "population_cpu_s": time.process_time() - c0,
        }
    t0 = time.perf_counter()
    table = sweep(ctx, pop)
    return {
        "model": desc,
        "data": data,
        "population_users": pop.n_users,
        "population_score_s": pop.score_seconds,
        "settings": per_setting,
        "sweep_s": time.perf_counter() - t0,
        "sweep": table.drop(columns=["seconds", "group_share"]).to_dict(orient="records"),
        "load_avg_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=default_data(), help="MovieLens-100K directory (default ../shared/data/ml-100k)")
    p.add_argument("--model", default=None, help="trained transformer directory (default: EASE when none exists)")
    p.add_argument("--users", type=int, default=100, help="users timed per setting (default 100)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    res = run(a.data, a.model, a.users)
    if a.json:
        print(json.dumps(res))
        return 0
    print(f"model: {res['model']}  ({res['population_users']} users; load average {res['load_avg_1m']:.1f})")
    print(f"population scoring: {res['population_score_s']:.2f} s")
    print(f"{'setting':18s} {'user p50 ms':>12s} {'p90':>8s} {'cpu p50':>8s} {'population s':>13s}")
    for name, r in res["settings"].items():
        print(f"{name:18s} {r['user_ms_p50']:12.1f} {r['user_ms_p90']:8.1f} {r['user_cpu_ms_p50']:8.1f} "
              f"{r['population_s']:13.2f}")  # fmt: skip
    print(f"\nλ-sweep ({res['sweep_s']:.1f} s):")
    cols = ["term", "weight", "ndcg@10", "ild", "long_tail_share", "miscalibration", "avg_popularity", "coverage", "gini"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in res["sweep"]:
        print("| " + " | ".join(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
