"""Event stream speed: ingest throughput and event → new list latency (issue 21).

    .venv/bin/python -m benchmarks.bench_live [--data DIR] [--split-quantile 0.9] [--events 300]
        [--reloads 20] [--out FILE] [--json] [--visible]

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

``--visible`` measures instead what an analyst sees (results to
``benchmarks/results/live_visible.json``): ``streamlit run app.py`` on the replay base,
headless Chromium (Playwright, ``/usr/bin/chromium``) on the Live page with live mode on
following the replay's most active user; each of ``--events`` of that user's real
events is appended through the API at t0 and the DOM is polled (every 10 ms) until the
page shows the re-scored list ("list #n") — event → updated list visible, p50/p95. The
events are spaced by a random 0.2–0.9 s, so they land at every phase of the page's
0.5 s poll. Also the scoring the page itself reports for each change ("Re-scored in
N ms") and the same step (``ui.live.logic.advance``: score + top-k, then the new
event's leave-one-out effect) timed in process.

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


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _serve(env: dict[str, str], log_path: Path) -> tuple[Any, str]:
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"streamlit did not start; see {log_path}")


def run_visible(data: str, quantile: float = 0.9, n_events: int = 20, seed: int = 0) -> dict[str, Any]:
    """Event -> updated list visible in the browser (see the module docstring)."""
    import re

    from playwright.sync_api import sync_playwright

    from recsys.models.transformer import TransformerRecommender
    from ui.live import logic

    full = load(data, events=False)
    split = int(np.sort(full.timestamp)[int(quantile * full.n_interactions)])
    before, after = split_source(full, split)
    base = write_base(full, before)
    model_dir = ensure_model(base, train=True, epochs=None)
    assert model_dir is not None
    events = _events(full, after)
    user = str(events["user_id"].value_counts().index[0])
    mine = events[events["user_id"] == user].iloc[:n_events].reset_index(drop=True)
    log = EventLog.of(base)
    log.reset()
    rng = np.random.default_rng(seed)
    env = dict(os.environ, RECSYS_DATA=str(base.source))
    for var in ("RECSYS_MODEL", "RECSYS_DATA_ROOTS", "RECSYS_DEMO_MODE", "RECSYS_ACCESS_TOKEN"):
        env.pop(var, None)
    lat, page_ms = [], []
    proc, url = _serve(env, Path(tempfile.gettempdir()) / "bench_live_streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/live?user={user}", timeout=600_000)
            page.get_by_text("Live mode is off").wait_for(timeout=600_000)
            page.locator('[data-testid="stCheckbox"]', has_text="Live mode").click()
            page.get_by_text("No events yet").wait_for(timeout=120_000)
            for n, row in enumerate(mine.itertuples(index=False), start=1):
                ev = {"user_id": row.user_id, "item_id": row.item_id, "timestamp": int(row.timestamp)}
                if np.isfinite(row.rating):
                    ev["rating"] = float(row.rating)
                line = json.dumps(ev)
                t0 = time.perf_counter()
                log.append(read_batch("-", io.BytesIO((line + "\n").encode())))
                page.wait_for_function(
                    f"() => /list #{n}(?!\\d)/.test(document.querySelector('[data-testid=\"stMain\"]').innerText)",
                    polling=10, timeout=60_000)
                lat.append(1000 * (time.perf_counter() - t0))
                got = re.search(r"Re-scored in (\d+) ms", page.inner_text('[data-testid="stMain"]'))
                if got:
                    page_ms.append(float(got.group(1)))
                time.sleep(float(rng.uniform(0.2, 0.9)))
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
    # the same page step in process: follow the user, then one event at a time
    ds = load(base.source, events=False)  # the log holds the events now: start from the base without them
    model = TransformerRecommender.load(model_dir, ds)
    tail = logic.poll(ds, log.dir)
    f = logic.start(model, ds, tail, user, 10, since=0)
    adv, score = [], []
    for pos in range(1, int(tail.end) + 1):
        part = logic.Tail(tail.log_dir, tail.data_key, 0, pos, tail.generation, tail.stamp, tail.last_timestamp,
                          tail.events.iloc[:pos])
        t0 = time.perf_counter()
        logic.advance(f, model, ds, part)
        adv.append(1000 * (time.perf_counter() - t0))
        if f.last is not None:
            score.append(f.last.score_ms)
    log.reset()
    return {
        "data": Path(data).name, "base_events": base.n_interactions, "split": split, "user": user,
        "history_length": int(len(base.history(user))) if base.has_user(user) else 0,
        "run_every_s": logic.RUN_EVERY_S,
        "event_to_visible_list": _pcts(lat),
        "page_rescore_ms": _pcts(page_ms) if page_ms else None,
        "inprocess_score_topk": _pcts(score),
        "inprocess_score_topk_attribution": _pcts(adv),
        "browser": "headless /usr/bin/chromium via Playwright", "load_avg": [round(x, 2) for x in os.getloadavg()],
        "contended": True,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", default=default_data())
    p.add_argument("--split-quantile", type=float, default=0.9)
    p.add_argument("--events", type=int, default=300)
    p.add_argument("--reloads", type=int, default=20)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "live_ml100k.json"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--visible", action="store_true",
                   help="event -> updated list visible in the browser (default out: results/live_visible.json)")
    a = p.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("RECSYS_TRAIN_THREADS", "1")))
    if a.visible:
        out = a.out if a.out != p.get_default("out") else str(REPO / "benchmarks" / "results" / "live_visible.json")
        res = run_visible(a.data, a.split_quantile, min(a.events, 100) if a.events != 300 else 20)
        Path(out).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(res) if a.json else json.dumps(res, indent=1))
        return
    res = run(a.data, a.split_quantile, a.events, a.reloads)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res) if a.json else json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
