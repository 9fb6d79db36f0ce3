"""ItemKNN fit time on a synthetic catalogue, optionally against an earlier commit's ItemKNN.

    .venv/bin/python benchmarks/bench_itemknn.py [--items 20000] [--users 30000]
        [--per-user 50] [--k 100] [--threads 1] [--before COMMIT] [--repeat 2]
        [--out benchmarks/results/itemknn_fit.json]

The matrix is seeded: ``--users`` users with Poisson(``--per-user``) interactions each,
items drawn with Zipf-like popularity (exponent 0.8). ``--before COMMIT`` loads
``recsys/evaluation/baselines.py`` of that commit (``git show``) and times its ItemKNN on
the same matrix, alternating with the current one, and checks that both keep the same
neighbours with the same values. Timings are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from recsys.evaluation import ItemKNN  # noqa: E402


def synthetic(n_users: int, n_items: int, per_user: float, seed: int = 0) -> sp.csr_matrix:
    """A binary (n_users, n_items) matrix with a long-tailed item popularity."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rng.shuffle(pop)
    lens = rng.poisson(per_user, n_users).clip(1)
    rows = np.repeat(np.arange(n_users), lens)
    cols = rng.choice(n_items, size=int(lens.sum()), p=pop / pop.sum())
    m = sp.csr_matrix((np.ones(cols.size, np.float32), (rows, cols)), shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def module_at(commit: str) -> types.ModuleType:
    """``recsys.evaluation.baselines`` as it was at ``commit``."""
    src = subprocess.run(
        ["git", "show", f"{commit}:recsys/evaluation/baselines.py"], cwd=REPO, check=True,
        capture_output=True, text=True,
    ).stdout
    mod = types.ModuleType(f"baselines_{commit}")
    exec(compile(src, f"{commit}:baselines.py", "exec"), mod.__dict__)
    return mod


def _fit_seconds(make, x: sp.csr_matrix) -> tuple[float, Any]:
    t0 = time.perf_counter()
    model = make().fit(x)
    return time.perf_counter() - t0, model


def same_neighbours(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    return bool(np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
                and np.array_equal(a.data, b.data))


def run(items: int, users: int, per_user: float, k: int, threads: int, before: str | None, repeat: int) -> dict:
    x = synthetic(users, items, per_user)
    out: dict[str, Any] = {"items": items, "users": users, "interactions": int(x.nnz), "k": k,
                           "threads": threads, "cpu_count": os.cpu_count(),
                           "load_average_1min": round(os.getloadavg()[0], 2)}
    old = module_at(before) if before else None
    now_t, old_t = [], []
    now_model = old_model = None
    for _ in range(repeat):
        secs, now_model = _fit_seconds(lambda: ItemKNN(k=k, num_threads=threads), x)
        now_t.append(secs)
        if old is not None:
            secs, old_model = _fit_seconds(lambda: old.ItemKNN(k=k), x)
            old_t.append(secs)
    out["fit_seconds"] = round(min(now_t), 2)
    if old is not None and old_model is not None and now_model is not None:
        out["before_commit"] = before
        out["before_fit_seconds"] = round(min(old_t), 2)
        out["speedup"] = round(min(old_t) / min(now_t), 1)
        out["same_neighbours_and_values"] = same_neighbours(now_model.similarity, old_model.similarity)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--users", type=int, default=30_000)
    p.add_argument("--per-user", type=float, default=50.0)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="threads of the all-pairs search (0 = all cores)")
    p.add_argument("--before", default=None, metavar="COMMIT", help="also time the ItemKNN of this commit")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", default=None, help="write the result as JSON to this file")
    args = p.parse_args(argv)
    res = run(args.items, args.users, args.per_user, args.k, args.threads, args.before, args.repeat)
    text = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
