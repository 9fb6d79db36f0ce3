"""First start of the dashboard: the app's auto-training, timed stage by stage.

    .venv/bin/python -m benchmarks.bench_autotrain [--data demo] [--min-count N] [--home DIR] [--planted] [--json]

Runs exactly what the app runs on a dataset without a model (``ui.loaders.train``
without streamlit): stage 1 (:func:`recsys.autotrain.train_main`: text embeddings,
transformer, baselines) on :func:`recsys.runtime.training_threads` threads — the app is
usable when it returns — then stage 2 (:func:`recsys.autotrain.train_ablation`, the
no-text ablation, one thread, in the background in the app). ``--home`` defaults to a
fresh temporary directory, so the text embeddings are computed too (a true first
start). Wall and process-CPU seconds are reported with the load average; on a shared
machine wall time depends on what else runs. ``--planted`` then measures the
planted-cause explanation rates (benchmarks/bench_explain.py) on the stage-1 model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def run(data: str = "demo", home: str | None = None, planted: bool = False, ablation: bool = True,
        threads: int | None = None, min_count: int | None = None) -> dict[str, Any]:
    home = home or tempfile.mkdtemp(prefix="reclens-first-start-")
    os.environ["RECSYS_HOME"] = home
    from recsys.autotrain import APP_OVERRIDES, train_ablation, train_main
    from recsys.data import load
    from recsys.paths import default_model_dir
    from recsys.runtime import set_threads, torch_threads, training_threads

    out: dict[str, Any] = {"data": data, "min_count": min_count, "home": home, "cpus": os.cpu_count(),
                           "load_average_before": [round(x, 2) for x in os.getloadavg()],
                           "app_overrides": APP_OVERRIDES}
    ds = load(data, min_count=min_count)  # the app's sidebar filter, as ui.loaders.load_dataset applies it
    out.update(users=ds.n_users, items=ds.n_items, interactions=ds.n_interactions)
    model_dir = default_model_dir(ds)
    n = threads or training_threads()
    out["training_threads"] = n
    marks: list[tuple[float, str]] = []
    t0, c0 = _clock()

    def progress(f: float, msg: str) -> None:
        if not marks or marks[-1][1] != msg.split(" — ")[0]:
            marks.append((round(time.perf_counter() - t0, 1), msg.split(" — ")[0]))
            print(f"{time.perf_counter() - t0:7.1f}s {f:5.1%} {msg}", file=sys.stderr, flush=True)

    with torch_threads(n):
        res = train_main(ds, model_dir, seed=0, progress=progress, min_count=min_count)
    t1, c1 = _clock()
    out["stage1"] = {"wall_s": round(t1 - t0, 1), "cpu_s": round(c1 - c0, 1), "epochs": res["epochs"],
                     "best_epoch": res["best_epoch"], "valid_ndcg@10": round(res["valid"]["ndcg@10"], 4),
                     "test_ndcg@10": round(res["test"]["ndcg@10"], 4), "stages": marks}
    out["load_average_after_stage1"] = [round(x, 2) for x in os.getloadavg()]
    if ablation:
        set_threads(1)
        t2, c2 = _clock()
        abl = train_ablation(ds, model_dir)
        t3, c3 = _clock()
        out["stage2"] = {"wall_s": round(t3 - t2, 1), "cpu_s": round(c3 - c2, 1), "epochs": abl["epochs"],
                         "valid_ndcg@10": round(abl["valid"]["ndcg@10"], 4),
                         "test_ndcg@10": round(abl["test"]["ndcg@10"], 4)}
    if planted:
        from benchmarks.bench_explain import planted as planted_rates

        set_threads(1)
        out["planted"] = planted_rates(data, str(model_dir))
    out["model_dir"] = str(model_dir)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="demo")
    p.add_argument("--min-count", type=int, default=None, help="N-core filter (the app's sidebar box)")
    p.add_argument("--home", default=None, help="RECSYS_HOME (default: a fresh temporary directory)")
    p.add_argument("--planted", action="store_true", help="also measure the planted-cause explanation rates")
    p.add_argument("--no-ablation", action="store_true", help="skip stage 2")
    p.add_argument("--threads", type=int, default=None, help="training threads (default: the idle cores)")
    p.add_argument("--json", action="store_true", help="print one JSON line only")
    a = p.parse_args()
    r = run(a.data, a.home, a.planted, not a.no_ablation, a.threads, a.min_count)
    print(json.dumps(r) if a.json else json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
