"""Per-worker memory of getting the training data: the whole log vs the worker's shard.

    .venv/bin/python benchmarks/bench_shard_memory.py --data SRC [--workers 2] [--write FILE]

Two Ray actors (one CPU each, a local Ray) stand in for two Ray Train workers and do
exactly what a worker does to get its data, each mode in fresh actor processes:

- ``whole`` — what every ``train --workers`` worker did before issue 19's shard loading:
  ``recsys.data.load(source)`` and ``leave_one_out`` of the whole log;
- ``shard`` — what it does now: fetch its :class:`~recsys.models.transformer.parallel.UserShard`
  (cut by the driver with ``recsys.train_ray.shard_refs`` and put into the object store)
  and build its sequence views and validation rows.

Each actor reports its peak RSS (the kernel's ``VmHWM``) before and after; the difference
is the data's cost in that worker (the floor — Python, numpy, torch and Ray — is the same
in both). The training itself is identical in both modes and is left out. A benchmark,
not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write", default=None)
    a = ap.parse_args()

    import ray

    from recsys.data import load
    from recsys.evaluation import leave_one_out
    from recsys.models.transformer import TransformerConfig
    from recsys.train_ray import shard_refs

    ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=1)
    class Worker:
        def __init__(self) -> None:
            import torch  # noqa: F401  (a training worker has torch loaded before its data)

            import recsys.evaluation  # noqa: F401
            import recsys.models.transformer.trainer  # noqa: F401

        def run(self, mode: str, source: str, ref: list | None) -> dict:
            floor = _hwm_mib()
            t0 = time.perf_counter()
            if mode == "whole":
                ds = load(source)
                split = leave_one_out(ds)
                users = sum(1 for s in split.train if len(s))
            else:
                shard = ray.get(ref[0])
                seqs, _ = shard.sequences()
                hist, _, _ = shard.valid()
                users = int(shard.users.shape[0])
            return {"floor_mib": round(floor, 1), "peak_mib": round(_hwm_mib(), 1),
                    "seconds": round(time.perf_counter() - t0, 2), "users": users}

    t0 = time.perf_counter()
    ds = load(a.data)
    split = leave_one_out(ds)
    refs, _ = shard_refs(ray, ds, split, TransformerConfig(), a.workers)
    driver_s = round(time.perf_counter() - t0, 2)
    rows = []
    for mode in ("whole", "shard"):
        actors = [Worker.remote() for _ in range(a.workers)]
        res = ray.get([w.run.remote(mode, a.data, [refs[r]] if mode == "shard" else None)
                       for r, w in enumerate(actors)])
        for w in actors:
            ray.kill(w)
        row = {"mode": mode, "data": a.data, "interactions": ds.n_interactions, "users": ds.n_users,
               "workers": res}
        rows.append(row)
        print(json.dumps(row), flush=True)
    ray.shutdown()
    out = {"driver_load_split_shards_s": driver_s, "rows": rows,
           "cmd": " ".join(["benchmarks/bench_shard_memory.py", *sys.argv[1:]]),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if a.write:
        path = Path(a.write)
        old = json.loads(path.read_text()) if path.exists() else {"runs": []}
        old["runs"].append(out)
        path.write_text(json.dumps(old, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
