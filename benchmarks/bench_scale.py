"""Scale-out figures (issue 19): generate, load, train, precompute — time and peak memory.

    .venv/bin/python benchmarks/bench_scale.py STAGE [options] [--write FILE]

Every stage runs the real command line (``python -m recsys ...``) in a child process and
samples the memory of the child's whole process tree (driver, raylet, Ray workers)
every 0.2 s. Memory is the sum of **PSS** (``/proc/PID/smaps_rollup``), not RSS: PSS
splits shared pages (Ray's object store, torch's libraries) between the processes that
map them, so the sum is the tree's real footprint; summing RSS would count the object
store once per worker.

Stages (worlds are ``demo:users=U,items=I`` scale worlds written to ``--scratch`` by
``generate``; the interactions per user stay near 67, the ratio of the 20M-row log
measured in the issue):

- ``generate`` — write the 1M / 10M / 20M-row worlds (``--rows``), seconds and peak;
- ``load`` — ``data --json`` on each written world: rows/s and peak memory;
- ``train`` — ``train --no-ablation`` on a world (or ML-100K) with ``--workers 1``
  (1 thread) and ``--workers 2`` (Ray Train, 1 thread each): samples/s, validation
  NDCG@10, wall time, the peak RSS of each Ray Train worker process (``VmHWM``) and the
  users each worker held; ``--loss full|sampled`` for the softmax comparison;
- ``precompute`` — ``precompute`` with 1 and 2 workers: users/s, peak memory.

A benchmark, not a test: run it on an otherwise idle machine and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PER_USER = 66.3  # interactions per user in the scale worlds (about 20M rows / 300k users) ...
EVENTS = 65  # ... from 65 organic picks per reader plus ~2% planted follow-ups
ITEMS = 40_000


def world_spec(rows: int, items: int = ITEMS, seed: int = 0) -> str:
    users = max(100, round(rows / PER_USER))
    return f"users={users},items={items},events={EVENTS},seed={seed}"


# ---- process-tree memory ---------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pids(root: int) -> list[int]:
    kids = _children()
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(kids.get(pid, []))
    return seen


def tree_pss_mib(root: int) -> float:
    return sum(_pss_kib(pid) for pid in tree_pids(root)) / 1024


def _hwm(pid: int) -> tuple[int, str]:
    """(peak RSS so far in KiB — the kernel's VmHWM —, the process title)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, StopIteration):
        return 0, ""
    return hwm, title


#: Ray worker processes whose peaks are reported one by one: Ray Train workers (titles
#: ``ray::RayTrainWorker`` / ``ray::_RayTrainWorker``) and Ray Data actors
#: (``ray::MapWorker(MapBatches(ScorerActor))``)
WORKER_TITLES = ("RayTrainWorker", "MapWorker")


def _is_worker(title: str) -> bool:
    return any(w in title for w in WORKER_TITLES)


def run_measured(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    """Run ``cmd``; return its parsed JSON stdout (last line starting with ``{``), wall
    seconds and the peak PSS of its process tree. Stderr passes through (progress)."""
    full_env = {**os.environ, **(env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=full_env, cwd=REPO)
    peak = [0.0]
    procs: dict[int, tuple[int, str]] = {}  # pid -> (peak RSS KiB, a title it had)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            pids = tree_pids(proc.pid)
            peak[0] = max(peak[0], sum(_pss_kib(pid) for pid in pids) / 1024)
            for pid in pids:
                hwm, title = _hwm(pid)
                old = procs.get(pid, (0, ""))
                procs[pid] = (max(hwm, old[0]), title if _is_worker(title) or not old[1] else old[1])
            done.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        done.set()
        th.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} exited {proc.returncode}")
    text = out.strip()
    result = json.loads(text[text.index("{"):]) if "{" in text else {}
    workers = sorted(round(h / 1024, 1) for h, t in procs.values() if _is_worker(t))
    return {"cmd": " ".join(cmd), "wall_s": round(wall, 2), "peak_pss_mib": round(peak[0], 1), "json": result,
            "worker_peak_rss_mib": workers}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "recsys", *args]


# ---- stages --------------------------------------------------------------------------
def stage_generate(a: argparse.Namespace) -> list[dict]:
    rows = []
    for n in a.rows:
        out = Path(a.scratch) / f"world_{n}"
        r = run_measured(cli("generate", "--size", world_spec(n), "--out", str(out), "--json"))
        j = r["json"]
        rows.append({"stage": "generate", "rows_asked": n, "interactions": j.get("interactions"),
                     "users": j.get("users"), "items": j.get("items"), "wall_s": r["wall_s"],
                     "peak_pss_mib": r["peak_pss_mib"], "cmd": r["cmd"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def stage_load(a: argparse.Namespace) -> list[dict]:
    rows = []
    for n in a.rows:
        src = str(Path(a.scratch) / f"world_{n}")
        r = run_measured(cli("data", "--data", src, "--json"))
        n_rows = r["json"].get("interactions") or n
        rows.append({"stage": "load", "rows": n_rows, "wall_s": r["wall_s"],
                     "rows_per_s": round(n_rows / r["wall_s"]), "peak_pss_mib": r["peak_pss_mib"],
                     "note": "wall time of the whole `data --json` process (start-up, load, summary)",
                     "cmd": r["cmd"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _history(model_dir: str) -> list | None:
    """Per-epoch training history (loss, validation NDCG@10, seconds) from the manifest."""
    path = Path(model_dir) / "manifest.json"
    return json.loads(path.read_text()).get("history") if path.exists() else None


def stage_train(a: argparse.Namespace) -> list[dict]:
    rows = []
    for workers in a.workers:
        out = a.out or tempfile.mkdtemp(prefix=f"scale-train-w{workers}-", dir=a.scratch)
        args = ["train", "--data", a.data, "--out", out, "--no-ablation", "--json", "--seed", str(a.seed),
                "--workers", str(workers), "--loss", a.loss]
        if a.epochs:
            args += ["--epochs", str(a.epochs)]
        if a.negatives:
            args += ["--negatives", str(a.negatives)]
        if a.sampler:
            args += ["--sampler", a.sampler]
        if a.init_from:
            args += ["--init-from", a.init_from]
        r = run_measured(cli(*args), env={"RECSYS_TRAIN_THREADS": str(a.threads)})
        j = r["json"]
        rows.append({"stage": "train", "data": a.data, "workers": workers, "loss": j.get("loss"),
                     "negatives": j.get("negatives"), "sampler": j.get("sampler"), "epochs": j.get("epochs"),
                     "train_seconds": j.get("train_seconds"), "samples_per_s": j.get("samples_per_s"),
                     "valid_ndcg@10": (j.get("valid") or {}).get("ndcg@10"),
                     "test_ndcg@10": (j.get("test") or {}).get("ndcg@10"), "wall_s": r["wall_s"],
                     "history": _history(out), "worker_users": j.get("worker_users"),
                     "worker_peak_rss_mib": r["worker_peak_rss_mib"],
                     "peak_pss_mib": r["peak_pss_mib"], "seed": a.seed, "threads": a.threads, "model_dir": out, "cmd": r["cmd"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def stage_precompute(a: argparse.Namespace) -> list[dict]:
    rows = []
    for workers in a.workers:
        shutil.rmtree(Path(a.model) / "serving", ignore_errors=True)  # a fresh table, not a resumed one
        args = ["precompute", "--data", a.data, "--model", a.model, "--workers", str(workers), "--json"]
        args += ["--explain", str(a.explain)] if a.explain else []
        args += ["--no-population"] if a.no_population else []
        r = run_measured(cli(*args))
        j = r["json"]
        rows.append({"stage": "precompute", "data": a.data, "workers": workers, "users": j.get("users"),
                     "rows": j.get("rows"), "users_per_s": j.get("users_per_s"), "wall_s": r["wall_s"],
                     "seconds": j.get("seconds"), "first_result_s": j.get("first_result_s"),
                     "population_s": j.get("population_s"), "worker_peak_rss_mib": r["worker_peak_rss_mib"],
                     "peak_pss_mib": r["peak_pss_mib"], "explain": a.explain, "cmd": r["cmd"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def stage_followups(a: argparse.Namespace) -> list[dict]:
    """Quality on the planted follow-ups, read from a model's serving table: users whose
    log ends with a trigger A whose B they never took (pending follow-ups; A is their
    held-out test item, so neither pair occurrence was in their training data) — where
    does B land in their list (full history, seen items excluded)?"""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from recsys import serving
    from recsys.data import load

    ds = load(a.data)
    pend = ds.truth.pending_followups
    want = {u: pairs[0][1] for u, pairs in pend.items()}
    df = serving.read_users(serving.serving_path(a.model), list(want), columns=["user_id", "rank", "item_id"])
    hit = df[df["item_id"].to_numpy() == df["user_id"].map(want).to_numpy()]
    ranks = dict(zip(hit["user_id"], hit["rank"]))
    pool = int(df.groupby("user_id")["rank"].max().min()) if len(df) else 0
    r = np.array([ranks.get(u, pool + 1) for u in want], dtype=float)
    row = {"stage": "followups", "data": a.data, "model": a.model, "pending_users": len(want),
           "b_in_top10": round(float((r <= 10).mean()), 4), "b_in_top50": round(float((r <= 50).mean()), 4),
           "b_in_pool": round(float((r <= pool).mean()), 4), "b_median_rank": float(np.median(r)), "pool": pool}
    print(json.dumps(row), flush=True)
    return [row]


STAGES = {"followups": stage_followups, "generate": stage_generate, "load": stage_load, "train": stage_train, "precompute": stage_precompute}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=sorted(STAGES))
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 20_000_000])
    ap.add_argument("--scratch", default=os.environ.get("RECSYS_SCALE_SCRATCH", "/tmp/reclens-scale"))
    ap.add_argument("--data", default=None, help="train/precompute: data source")
    ap.add_argument("--model", default=None, help="precompute: artifact directory")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--loss", default="auto", choices=["auto", "full", "sampled"])
    ap.add_argument("--explain", type=int, default=0)
    ap.add_argument("--no-population", action="store_true", help="precompute: skip the stored trade-offs")
    ap.add_argument("--init-from", default=None, help="train: continue from this artifact")
    ap.add_argument("--threads", type=int, default=1, help="train: torch threads per process/worker (default 1)")
    ap.add_argument("--out", default=None, help="train: artifact directory (default: a new one in --scratch)")
    ap.add_argument("--negatives", type=int, default=None, help="train: shared negatives of the sampled softmax")
    ap.add_argument("--sampler", default=None, choices=["uniform", "popularity"],
                    help="train: how the sampled softmax draws its negatives (default: the command's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", default=None, help="append the rows to this JSON file")
    a = ap.parse_args()
    Path(a.scratch).mkdir(parents=True, exist_ok=True)
    rows = STAGES[a.stage](a)
    if a.write:
        path = Path(a.write)
        old = json.loads(path.read_text()) if path.exists() else {"runs": []}
        old["runs"].extend({**r, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())} for r in rows)
        path.write_text(json.dumps(old, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
