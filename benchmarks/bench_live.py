"""Event stream speed: ingest throughput and event → new list latency (issue 21).

    .venv/bin/python -m benchmarks.bench_live [--data DIR] [--split-quantile 0.9] [--events 300]
        [--reloads 20] [--out FILE] [--json]

Splits the source as ``replay`` does (at the given time quantile of its interactions;
the base and its model live under ``$RECSYS_HOME``: reused, or trained once with the
app's first-start settings), empties the base's event log, then measures on the real
events after the split:

* ingest rows/s — a CSV batch of 1, 100 and 10,000 events read and validated
  (``recsys.data.events.read_batch``) and appended (one Parquet segment each);
* event → new list, in process: one event as a JSON line validated and appended, then
  that user's history (kept in memory, plus the event) scored by the transformer and
  the top 10 taken — p50/p95 over ``--events`` consecutive events; also the share of
  events that changed their user's top 10;
* event → new list with a reload: the same, but the dataset is loaded again with its
  log (``recsys.data.load``, what a fresh CLI command pays) — p50/p95 over ``--reloads``.

The log is emptied again at the end. Timings on a shared machine are contended.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recsys.commands.replay import _events, ensure_model, split_source, write_base  # noqa: E402
from recsys.data import load  # noqa: E402
from recsys.data.events import EventLog, read_batch  # noqa: E402
from recsys.models.base import top_k  # noqa: E402


def default_data() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def _pcts(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.median(a)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "n": len(ms)}


def run(data: str, quantile: float = 0.9, n_events: int = 300, reloads: int = 20, k: int = 10) -> dict[str, Any]:
    from recsys.models.transformer import TransformerRecommender

    full = load(data, events=False)
    split = int(np.sort(full.timestamp)[int(quantile * full.n_interactions)])
    before, after = split_source(full, split)
    base = write_base(full, before)
    model_dir = ensure_model(base, train=True, epochs=None)
    assert model_dir is not None
    model = TransformerRecommender.load(model_dir, base)
    events = _events(full, after)
    log = EventLog.of(base)
    log.reset()
    out: dict[str, Any] = {"data": Path(data).name, "base_events": base.n_interactions, "split": split,
                           "replay_events": len(events), "model_fingerprint": model.manifest.get("model_fingerprint")}

    # ---- ingest throughput ------------------------------------------------------------
    ingest: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (1, 100, 10_000):
            part = events.iloc[:size]
            f = Path(tmp) / f"batch{size}.csv"
            part.drop(columns="rating").to_csv(f, index=False)
            reps = max(3, min(50, 30_000 // size))
            t0 = time.perf_counter()
            for _ in range(reps):
                log.append(read_batch(str(f)))
            dt = time.perf_counter() - t0
            ingest[str(size)] = {"rows_per_s": round(size * reps / dt, 1), "ms_per_batch": round(1000 * dt / reps, 2),
                                 "batches": reps}
            log.reset()
    out["ingest"] = ingest

    # ---- event -> new list, in process -------------------------------------------------
    hist: dict[str, tuple[list[int], list[int]]] = {}
    prev: dict[str, list[int]] = {}
    lat, changed = [], 0
    for row in events.iloc[:n_events].itertuples(index=False):
        line = json.dumps({"user_id": row.user_id, "item_id": row.item_id, "timestamp": int(row.timestamp)})
        t0 = time.perf_counter()
        batch = read_batch("-", io.BytesIO((line + "\n").encode()))
        log.append(batch)
        u = str(row.user_id)
        if u not in hist:
            h = base.history(u) if base.has_user(u) else None
            hist[u] = ([] if h is None else h.items.tolist(), [] if h is None or h.timestamps is None
                       else h.timestamps.tolist())
        items, ts = hist[u]
        items.append(base.item_index(str(row.item_id)))
        ts.append(int(row.timestamp))
        s = model.score([np.asarray(items)], [np.asarray(ts)])[0]
        rec = top_k(s, k, np.asarray(items)).tolist()
        lat.append(1000 * (time.perf_counter() - t0))
        if u in prev and prev[u] != rec:
            changed += 1
        prev[u] = rec
    repeat = sum(1 for row in events.iloc[:n_events].itertuples(index=False)) - len(hist)
    out["event_to_list_in_process"] = {**_pcts(lat), "users": len(hist),
                                       "changed_top10_share": round(changed / max(repeat, 1), 3)}

    # ---- event -> new list with a reload ---------------------------------------------------
    lat = []
    for row in events.iloc[n_events: n_events + reloads].itertuples(index=False):
        line = json.dumps({"user_id": row.user_id, "item_id": row.item_id, "timestamp": int(row.timestamp)})
        t0 = time.perf_counter()
        log.append(read_batch("-", io.BytesIO((line + "\n").encode())))
        ds = load(base.source)
        h = ds.history(str(row.user_id))
        s = model.score([h.items], None if h.timestamps is None else [h.timestamps])[0]
        top_k(s, k, h.items)
        lat.append(1000 * (time.perf_counter() - t0))
    out["event_to_list_with_reload"] = _pcts(lat)
    log.reset()
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    out["contended"] = True
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", default=default_data())
    p.add_argument("--split-quantile", type=float, default=0.9)
    p.add_argument("--events", type=int, default=300)
    p.add_argument("--reloads", type=int, default=20)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "live_ml100k.json"))
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("RECSYS_TRAIN_THREADS", "1")))
    res = run(a.data, a.split_quantile, a.events, a.reloads)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res) if a.json else json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
