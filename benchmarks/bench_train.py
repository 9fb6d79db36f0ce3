"""Training speed of the transformer, alone and on a busy machine.

    .venv/bin/python benchmarks/bench_train.py [--data DIR] [--epochs 6] [--seed 1]
        [--write benchmarks/results/train_speed.json]

Trains the ML-100K transformer (hash tie order, the ``reclens train`` defaults and
thread rule) for a fixed number of epochs in a fresh worker process, three ways:

- ``alone`` — nothing else running (start it on an otherwise idle machine);
- ``beside_hog`` — beside one CPU-bound process this script starts itself (a busy
  Python loop);
- ``two_trainings`` — two independent trainings started at the same time.

It prints seconds per epoch for each and the slow-down against ``alone``. Every figure
is wall time of ``fit`` only (data, split and text embeddings are prepared before the
clock starts). A benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOG = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def default_data() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def worker(data: str, epochs: int, seed: int) -> dict:
    """One training of ``epochs`` epochs (no early stopping inside so few epochs)."""
    import torch

    from recsys.data import load
    from recsys.evaluation.split import leave_one_out
    from recsys.models.transformer import TransformerConfig, TransformerRecommender
    from recsys.runtime import set_threads, training_threads
    from recsys.text import item_embeddings

    set_threads(training_threads())  # the thread rule of `reclens train`

    ds = load(data)
    split = leave_one_out(ds)
    te = item_embeddings(ds)
    model = TransformerRecommender(ds.item_ids, TransformerConfig(), te, seed=seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    model.fit(split.train, split.train_ts, split.inputs("valid"), epochs=epochs)
    wall = time.perf_counter() - t0
    return {"epochs": model.log.epochs, "wall_s": round(wall, 2), "cpu_s": round(time.process_time() - c0, 2),
            "s_per_epoch": round(wall / max(model.log.epochs, 1), 3), "torch_threads": torch.get_num_threads()}


def _spawn(data: str, epochs: int, seed: int, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--data", data, "--epochs", str(epochs),
           "--seed", str(seed), "--out", str(out)]
    return subprocess.Popen(cmd, cwd=REPO)


def _run(data: str, epochs: int, seeds: list[int], tmp: Path, tag: str) -> list[dict]:
    procs = [(_spawn(data, epochs, s, tmp / f"{tag}_{k}.json"), tmp / f"{tag}_{k}.json") for k, s in enumerate(seeds)]
    for p, _ in procs:
        p.wait()
    return [json.loads(f.read_text()) for _, f in procs]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", default=None, metavar="FILE")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    data = a.data or default_data()
    if a.worker:
        Path(a.out).write_text(json.dumps(worker(data, a.epochs, a.seed)))
        return 0
    import tempfile

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        alone = _run(data, a.epochs, [a.seed], tmp, "alone")[0]
        hog = subprocess.Popen([sys.executable, "-c", HOG])
        try:
            time.sleep(1.0)
            beside = _run(data, a.epochs, [a.seed], tmp, "hog")[0]
        finally:
            hog.kill()
            hog.wait()
        two = _run(data, a.epochs, [a.seed, a.seed + 1], tmp, "two")
    res = {
        "data": data, "epochs": a.epochs, "seed": a.seed, "cpu_count": os.cpu_count(), "load_average_start": load0,
        "alone": alone, "beside_hog": beside, "two_trainings": two,
        "slowdown_beside_hog": round(beside["wall_s"] / alone["wall_s"], 2),
        "slowdown_two_trainings": round(max(t["wall_s"] for t in two) / alone["wall_s"], 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"alone: {alone['s_per_epoch']} s/epoch ({alone['torch_threads']} torch threads)")
    print(f"beside a CPU hog: {beside['s_per_epoch']} s/epoch (x{res['slowdown_beside_hog']})")
    print(f"two trainings at once: {[t['s_per_epoch'] for t in two]} s/epoch (x{res['slowdown_two_trainings']})")
    if a.write:
        Path(a.write).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
