"""Benchmark: MovieLens-100K load time (median of 5) and memory.

Usage: ``python benchmarks/bench_data.py [--data DIR] [--repeat 5]``. Prints one JSON
line: load times (seconds), peak RSS of the process (MB, includes the interpreter and
pandas/numpy), the RSS growth caused by loading, and the peak of Python-level
allocations during one load (tracemalloc, numpy buffers included). On a shared
machine compare ``cpu_s_median`` (process CPU time) with the wall time and the load
average reported alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    default = os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from recsys.data import load

    import_s = time.perf_counter() - t0
    rss_before = _rss_mb()
    times, cpu = [], []
    ds = None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        ds = load(args.data)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    rss_after = _rss_mb()
    tracemalloc.start()
    load(args.data)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ds is not None
    print(
        json.dumps(
            {
                "bench": "data_load",
                "source": args.data,
                "users": ds.n_users,
                "items": ds.n_items,
                "interactions": ds.n_interactions,
                "load_s_median": round(statistics.median(times), 4),
                "load_s_min": round(min(times), 4),
                "load_s_all": [round(t, 4) for t in times],
                "cpu_s_median": round(statistics.median(cpu), 4),
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "import_s": round(import_s, 3),
                "peak_rss_mb": round(rss_after, 1),
                "rss_growth_mb": round(rss_after - rss_before, 1),
                "traced_peak_mb": round(traced_peak / 2**20, 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
