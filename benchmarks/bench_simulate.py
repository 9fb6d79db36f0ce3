"""Long-term simulation: speed and the validation numbers (issue 20).

    .venv/bin/python -m benchmarks.bench_simulate [--demo-model DIR] [--ml-model DIR]
        [--ml100k DIR] [--seeds 0,1,2] [--out benchmarks/results/simulate.json]

1. **Speed, demo world**: 600 readers × 20 rounds × 4 policies (model, random, popular,
   oracle), weights 0 — target ≤ 30 s on 2 cores.
2. **Speed, MovieLens-100K**: its 943 users × 50 rounds × 4 policies — target ≤ 2 min.
3. **Validation on the demo world, per seed**: weights 0 (all four policies), diversity
   0.5, calibration 0.5 and fairness 0.5 (model only), 600 readers × 20 rounds; final
   homogenization, jaccard_new, consumption Gini, exposure Gini, coverage, ILD,
   satisfaction, click-through and utility, with mean and standard deviation over seeds.

Models: the trained transformers (default: each data's default model directory under
``$RECSYS_HOME``; train them with ``python -m recsys train --data demo`` and
``--data <ml-100k>``). Wall and CPU seconds are reported with the 1-minute load average:
on a shared machine compare CPU seconds.
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

from recsys.commands.options import load_model  # noqa: E402
from recsys.data import load  # noqa: E402
from recsys.rerank import Weights, build_context  # noqa: E402
from recsys.simulate import POLICIES, SimConfig, simulate  # noqa: E402

SETTINGS = {
    "weights 0": Weights(),
    "diversity 0.5": Weights(diversity=0.5),
    "calibration 0.5": Weights(calibration=0.5),
    "fairness 0.5": Weights(fairness=0.5),
}
FINALS = ("homogenization", "jaccard", "jaccard_new", "gini_consumption", "gini_exposure", "coverage",
          "long_tail_share", "ild", "miscalibration", "satisfaction", "ctr", "utility")


def default_ml100k() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def timed_run(ds: Any, model: Any, cfg: SimConfig) -> tuple[Any, dict[str, float]]:
    ctx = build_context(ds, emb=np.asarray(model.text_emb))  # item side, as the app caches it
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(ds, model, cfg, ctx=ctx)
    return res, {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2),
                 "load_avg_1m": round(os.getloadavg()[0], 2)}


def finals(res: Any) -> dict[str, dict[str, float | None]]:
    return {name: {m: run.rounds[-1].get(m) for m in FINALS} for name, run in res.policies.items()}


def spread(per_seed: list[dict[str, dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    """{setting: {policy: {metric: {"mean", "std", "values"}}}} over seeds."""
    out: dict[str, Any] = {}
    for setting in per_seed[0]:
        out[setting] = {}
        for pol in per_seed[0][setting]:
            out[setting][pol] = {}
            for m in FINALS:
                vals = [s[setting][pol][m] for s in per_seed]
                if any(v is None for v in vals):
                    continue
                out[setting][pol][m] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1))
                                        if len(vals) > 1 else 0.0, "values": vals}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--demo-model", default=None, help="trained model for the demo world (default: its default dir)")
    p.add_argument("--ml-model", default=None, help="trained model for MovieLens-100K (default: its default dir)")
    p.add_argument("--ml100k", default=default_ml100k(), help="MovieLens-100K directory")
    p.add_argument("--seeds", default="0,1,2", help="validation seeds (default 0,1,2)")
    p.add_argument("--skip-ml100k", action="store_true")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "simulate.json"))
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("RECSYS_TRAIN_THREADS", "1") or 1))
    result: dict[str, Any] = {"threads": torch.get_num_threads(), "cpus": os.cpu_count()}
    demo = load("demo")
    demo_model = load_model(demo, a.demo_model)
    cfg = SimConfig(rounds=20, users=600, policies=POLICIES)
    res, t = timed_run(demo, demo_model, cfg)
    result["demo_speed"] = {"users": len(res.users), "rounds": 20, "policies": list(POLICIES), **t,
                            "model_fingerprint": demo_model.manifest.get("model_fingerprint")}
    print(f"demo 600×20×4: {t}", file=sys.stderr, flush=True)
    if not a.skip_ml100k and (Path(a.ml100k) / "u.data").is_file():
        ml = load(a.ml100k)
        ml_model = load_model(ml, a.ml_model)
        res_ml, t = timed_run(ml, ml_model, SimConfig(rounds=50, users=ml.n_users, policies=POLICIES))
        result["ml100k_speed"] = {"users": len(res_ml.users), "rounds": 50, "policies": list(POLICIES), **t,
                                  "preference": res_ml.preference["kind"]}
        result["ml100k_finals"] = finals(res_ml)
        print(f"ml-100k 943×50×4: {t}", file=sys.stderr, flush=True)
    per_seed = []
    curves: dict[str, Any] = {}
    for seed in (int(s) for s in a.seeds.split(",")):
        row: dict[str, Any] = {}
        for name, w in SETTINGS.items():
            pols = POLICIES if w.is_zero else ("model",)
            r, t = timed_run(demo, demo_model, SimConfig(rounds=20, users=600, policies=pols, weights=w, seed=seed))
            row[name] = finals(r)
            if seed == 0 and name in ("weights 0", "diversity 0.5"):
                curves[name] = {m: [x.get(m) for x in r.policies["model"].rounds] for m in FINALS}
            print(f"seed {seed} {name}: {t}", file=sys.stderr, flush=True)
        per_seed.append(row)
    result["validation"] = {"data": "demo", "users": 600, "rounds": 20, "seeds": a.seeds,
                            "finals": spread(per_seed)}
    result["model_curves_seed0"] = curves
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k.endswith("speed")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
