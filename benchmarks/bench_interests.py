"""Benchmark of the interest timeline (issue 5): accuracy on planted phases and speed.

Accuracy (demo world ground truth, ``ds.truth``): for switch users, the share whose
detected change points include one within 15% of the user's time span of the planted
switch; the mean number of change points per user (switchers, stable users, all); the
share of switch users whose first window's dominant category is in the first phase's
categories and whose last window's dominant category is in the second phase's; the
share of stable users with no change point.

Speed: median/max time of one user's timeline (no model; with ``--model`` also with the
model's predicted interest) over a sample of users, and the population drift over
MovieLens-100K (when present) and the demo world — wall clock and CPU time, since the
machine may be shared.

Run: ``.venv/bin/python benchmarks/bench_interests.py [--data demo] [--ml100k DIR] [--model DIR] [--json]``
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
sys.path.insert(0, str(REPO))

from recsys.data import load  # noqa: E402
from recsys.data.types import Dataset  # noqa: E402
from recsys.interests import category_assignment, population_drift, user_timeline  # noqa: E402

TARGETS = {
    "switch_detected_rate": (">=", 0.80),
    "mean_change_points_per_user": ("<=", 2.0),
    "dominant_before_after_rate": (">=", 0.80),
    "timeline_ms_p50": ("<=", 200.0),
    "population_drift_ml100k_s": ("<=", 5.0),
}


def _dominant(shares: dict[str, float]) -> str:
    return max(shares.items(), key=lambda kv: (kv[1], kv[0]))[0]


def planted_accuracy(ds: Dataset, tolerance: float = 0.15, **kw: Any) -> dict[str, Any]:
    """Detection rates of the planted phases of the demo world (``ds.truth``)."""
    truth = ds.truth
    asg = category_assignment(ds)
    detected, dominant, n_cp_sw, n_cp_st, stable_clean, times, cpu = [], [], [], [], [], [], []
    for uid in truth.switch_users:
        t, c = time.perf_counter(), time.process_time()
        tl = user_timeline(ds, uid, assignment=asg, **kw)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        _, ts = ds.sequence(ds.user_index(uid))
        span = max(int(ts[-1]) - int(ts[0]), 1)
        true_cp = truth.change_points[uid][0]
        detected.append(any(abs(c - true_cp) <= tolerance * span for c in tl.change_points))
        n_cp_sw.append(len(tl.change_points))
        phases = truth.phases[uid]
        ok = bool(tl.windows) and _dominant(tl.windows[0].shares) in phases[0].categories
        ok = ok and _dominant(tl.windows[-1].shares) in phases[-1].categories
        dominant.append(ok)
    for uid in truth.stable_users:
        t, c = time.perf_counter(), time.process_time()
        tl = user_timeline(ds, uid, assignment=asg, **kw)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        n_cp_st.append(len(tl.change_points))
        stable_clean.append(len(tl.change_points) == 0)
    ms = np.asarray(times) * 1000
    return {
        "n_switch_users": len(truth.switch_users),
        "n_stable_users": len(truth.stable_users),
        "switch_detected_rate": float(np.mean(detected)),
        "dominant_before_after_rate": float(np.mean(dominant)),
        "mean_change_points_switchers": float(np.mean(n_cp_sw)),
        "mean_change_points_stable": float(np.mean(n_cp_st)),
        "mean_change_points_per_user": float(np.mean(n_cp_sw + n_cp_st)),
        "stable_no_change_point_rate": float(np.mean(stable_clean)),
        "timeline_ms_p50": float(np.median(ms)),
        "timeline_ms_p95": float(np.percentile(ms, 95)),
        "timeline_ms_max": float(ms.max()),
        "timeline_cpu_ms_p50": float(np.median(cpu) * 1000),
        "timeline_cpu_ms_max": float(np.max(cpu) * 1000),
    }


def _timed(f: Any) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) of one call."""
    t, c = time.perf_counter(), time.process_time()
    f()
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000


def timeline_speed(ds: Dataset, n: int = 100, seed: int = 0, scorer: Any = None) -> dict[str, float]:
    """Timeline latency (ms) over a sample of users (category assignment cached), wall
    clock and CPU time (the machine is shared: CPU time is the figure without contention)."""
    asg = category_assignment(ds)
    rng = np.random.default_rng(seed)
    users = rng.choice(ds.n_users, size=min(n, ds.n_users), replace=False)
    wall, cpu = zip(*[_timed(lambda u=u: user_timeline(ds, int(u), assignment=asg, scorer=scorer)) for u in users])
    longest = int(np.argmax(np.diff(ds.user_offsets)))
    lw, lc = _timed(lambda: user_timeline(ds, longest, assignment=asg, scorer=scorer))
    return {
        "with_model": getattr(scorer, "name", None),
        "timeline_ms_p50": float(np.median(wall)),
        "timeline_ms_p95": float(np.percentile(wall, 95)),
        "timeline_ms_max": float(np.max(wall)),
        "timeline_cpu_ms_p50": float(np.median(cpu)),
        "timeline_cpu_ms_max": float(np.max(cpu)),
        "timeline_ms_longest_user": lw,
        "timeline_cpu_ms_longest_user": lc,
        "longest_user_interactions": int(np.diff(ds.user_offsets).max()),
    }


def population_speed(ds: Dataset) -> dict[str, Any]:
    asg = category_assignment(ds)
    out: dict[str, Any] = {}
    wall, cpu = _timed(lambda: out.setdefault("drift", population_drift(ds, asg)))
    pd_ = out["drift"]
    gaining = [s.category for s in pd_.gaining[:3]]
    losing = [s.category for s in pd_.losing[:3]]
    return {"seconds": wall / 1000, "cpu_seconds": cpu / 1000, "share_drifted": pd_.share_drifted,
            "n_assessed": pd_.n_assessed, "gaining": gaining, "losing": losing}


def ml100k_dir() -> Path:
    env = os.environ.get("RECSYS_ML100K")
    return Path(env) if env else REPO.parent / "shared" / "data" / "ml-100k"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="demo", help="a source with planted truth (default: demo)")
    ap.add_argument("--ml100k", default=str(ml100k_dir()))
    ap.add_argument("--model", default=None, help="a trained artifact for --data: also time timelines with it")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    ds = load(args.data)
    if getattr(ds, "truth", None) is not None:
        out["planted"] = planted_accuracy(ds)
    out["population_data"] = population_speed(ds)
    if args.model:
        import torch

        from recsys.models.transformer import TransformerRecommender

        torch.set_num_threads(1)
        out["timeline_with_model"] = timeline_speed(ds, n=30, scorer=TransformerRecommender.load(args.model, ds))
    if (Path(args.ml100k) / "u.data").is_file():
        ml = load(args.ml100k)
        out["ml100k_timeline"] = timeline_speed(ml)
        out["population_ml100k"] = population_speed(ml)
    flat = {
        "switch_detected_rate": out.get("planted", {}).get("switch_detected_rate"),
        "mean_change_points_per_user": out.get("planted", {}).get("mean_change_points_per_user"),
        "dominant_before_after_rate": out.get("planted", {}).get("dominant_before_after_rate"),
        "timeline_ms_p50": out.get("ml100k_timeline", out.get("planted", {})).get("timeline_ms_p50"),
        "population_drift_ml100k_s": out.get("population_ml100k", {}).get("seconds"),
    }
    out["targets"] = {
        k: {"value": v, "target": f"{op} {lim}",
            "met": None if v is None else (v >= lim if op == ">=" else v <= lim)}
        for k, v in flat.items() for op, lim in [TARGETS[k]]
    }
    if args.json:
        print(json.dumps(out, default=float))
    else:
        for section, vals in out.items():
            if not isinstance(vals, dict):
                print(f"{section}: {vals}")
                continue
            print(f"[{section}]")
            for k, v in vals.items():
                print(f"  {k}: {v}")
    return out


if __name__ == "__main__":
    main()
