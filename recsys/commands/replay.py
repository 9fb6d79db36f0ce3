"""Replay a data source as a live stream: a base before a date, then its events.

``replay --data SRC --split DATE [--speed 60x|max] [--no-train] [--epochs N] [--json]``
splits the source's interactions at ``DATE`` (seconds or an ISO date/time, naive = UTC).
The events before it become a base data directory of their own,
``$RECSYS_HOME/replay/<base fingerprint[:16]>/`` (``interactions.parquet``, the full
``items.csv`` catalogue, ``users.csv``), which the app and every command open with
``--data <that directory>``; its model is reused from, or trained into (unless
``--no-train``), the base's default model directory. The base's event log is emptied,
then the events from ``DATE`` on are appended to it in time order, the real gaps
between them divided by ``--speed`` (``60x``: an hour of history per minute; ``max``:
no waiting, for tests). The same source and date always give the same base
(fingerprint) and the same log content; ``replay.json`` in the base records the origin
source (the app offers the replay on that source's Live page). JSON: ``{"base_fingerprint", "replayed",
"elapsed_s"}`` plus ``base_source``, ``base_events``, ``model_dir``, ``split``, ``speed``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from recsys.commands.options import add_tie_order, parse_as_of
from recsys.data.types import DataError, Dataset

MAX_BATCH = 10_000  # events per append at --speed max (and at most per append otherwise)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", required=True, metavar="DATE",
                        help="events before this time form the base; the rest are replayed (seconds or ISO date)")
    parser.add_argument("--speed", default="60x", metavar="FACTORx|max",
                        help="replay speed: real gaps divided by FACTOR (default 60x), or max (no waiting)")
    parser.add_argument("--no-train", action="store_true",
                        help="do not train a model for the base when none is stored")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="training epochs when a base model is trained (default: early stopping)")
    add_tie_order(parser, model=False)


def parse_speed(text: str) -> float:
    """``"60x"``/``"60"`` -> 60.0; ``"max"`` -> inf; DataError otherwise."""
    v = text.strip().lower()
    if v == "max":
        return math.inf
    try:
        f = float(v[:-1] if v.endswith("x") else v)
    except ValueError:
        raise DataError(f"--speed: expected a factor like 60x or max, not {text!r}") from None
    if not (f > 0 and math.isfinite(f)):
        raise DataError(f"--speed must be a positive factor or max, not {text!r}")
    return f


def split_source(full: Dataset, split: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows before ``split``, rows from ``split`` on — in replay order: time, then the
    dataset's order) of ``full``'s interactions; DataError when either part is empty."""
    before = np.flatnonzero(full.timestamp < split)
    after = np.flatnonzero(full.timestamp >= split)
    if before.size == 0:
        raise DataError(f"--split {split}: no interaction before it (the data starts at {int(full.timestamp.min())})")
    if after.size == 0:
        raise DataError(f"--split {split}: no interaction from it on (the data ends at {int(full.timestamp.max())})")
    after = after[np.argsort(full.timestamp[after], kind="stable")]
    return before, after


def _events(full: Dataset, rows: np.ndarray) -> pd.DataFrame:
    uid = np.asarray(full.user_ids, dtype=object)
    iid = np.asarray(full.item_ids, dtype=object)
    rating = (full.rating[rows].astype(np.float64) if full.rating is not None
              else np.full(rows.size, np.nan))
    return pd.DataFrame({"user_id": uid[full.user[rows]], "item_id": iid[full.item[rows]],
                         "timestamp": full.timestamp[rows].astype(np.int64), "rating": rating})


def write_base(full: Dataset, rows: np.ndarray) -> Dataset:
    """The base (``rows`` of ``full`` plus its whole catalogue and user attributes) as a
    data directory under ``$RECSYS_HOME/replay/<fingerprint[:16]>`` (reused when present),
    loaded without an event log."""
    from recsys.data import load
    from recsys.paths import recsys_home

    root = recsys_home() / "replay"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        ev = _events(full, rows)
        if full.rating is None:
            ev = ev.drop(columns="rating")
        ev.to_parquet(tmp / "interactions.parquet", index=False)
        pd.DataFrame({"item_id": list(full.item_ids), "title": list(full.titles),
                      "categories": ["|".join(c) for c in full.item_categories],
                      "text": list(full.item_text)}).to_csv(tmp / "items.csv", index=False)
        if full.user_attrs is not None:
            users = full.user_attrs.copy()
            users.insert(0, "user_id", list(full.user_ids))
            users.to_csv(tmp / "users.csv", index=False)
        base = load(str(tmp), tie_order=full.tie_order, events=False)
        final = root / base.fingerprint[:16]
        if not (final / "interactions.parquet").is_file():
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    out = load(str(final), tie_order=full.tie_order, events=False)
    if out.fingerprint != base.fingerprint:
        raise DataError(f"the replay base at {final} holds other data; remove the directory and replay again")
    return out


def ensure_model(base: Dataset, train: bool, epochs: int | None) -> Path | None:
    """The base's default model directory, trained first when empty (unless not ``train``)."""
    from recsys.paths import default_model_dir

    d = default_model_dir(base)
    if (d / "manifest.json").is_file():
        return d
    if not train:
        return None
    from recsys.autotrain import train_main

    def progress(f: float, msg: str) -> None:
        print(f"\r[{f:4.0%}] {msg[:110]:<110}", end="", file=sys.stderr, flush=True)

    print(f"training a model for the replay base ({base.n_interactions:,} interactions)…", file=sys.stderr)
    train_main(base, d, seed=0, epochs=epochs, progress=progress)
    print(file=sys.stderr)
    return d


def feed(
    log: Any,
    events: pd.DataFrame,
    speed: float,
    users: pd.DataFrame | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[int, int], None] | None = None,
) -> int:
    """Append ``events`` (time order) to ``log``: event k is due ``(t_k - t_0) / speed``
    seconds after the start; every append takes all events due by then (at most
    MAX_BATCH). ``users``: attribute rows, each appended with the first batch of its
    user. Returns the number appended."""
    from recsys.data.events import Batch

    ts = events["timestamp"].to_numpy(dtype=np.int64)
    due = np.zeros(len(ts)) if math.isinf(speed) else (ts - ts[0]) / speed
    start, k, n = clock(), 0, len(ts)
    given: set[str] = set()
    while k < n:
        now = clock() - start
        if due[k] > now:
            sleep(min(float(due[k] - now), 1.0))
            continue
        j = min(int(np.searchsorted(due, now, side="right")), k + MAX_BATCH, n)
        rows = None
        if users is not None:
            first = set(events["user_id"].iloc[k:j].tolist()) - given
            rows = users[users["user_id"].isin(sorted(first))] if first else None
            given |= first
        if rows is not None and len(rows):
            log.append(Batch(events.iloc[k:j].reset_index(drop=True)), None, pd.DataFrame(rows))
        else:
            log.append(Batch(events.iloc[k:j].reset_index(drop=True)))
        k = j
        if report is not None:
            report(k, n)
    return n


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.data import load
    from recsys.data.events import EventLog
    from recsys.data.replays import write_mark

    t0 = time.perf_counter()
    speed = parse_speed(args.speed)
    split = parse_as_of(args.split)
    assert split is not None
    full = load(args.data, tie_order=args.tie_order or "hash", events=False)
    before, after = split_source(full, split)
    base = write_base(full, before)
    events = _events(full, after)
    model_dir = ensure_model(base, not args.no_train, args.epochs)
    log = EventLog.of(base)
    log.reset()
    # after the model: the app offers the replay once it can open it without training
    write_mark(Path(base.source), args.data, split, base.n_interactions, len(events))
    span = int(events["timestamp"].iloc[-1] - events["timestamp"].iloc[0])
    print(f"replay base: --data {Path(base.source)} ({base.n_interactions:,} events before the split); "
          f"replaying {len(events):,} events spanning {span / 86400:.1f} days"
          + ("" if math.isinf(speed) else f" in about {span / speed:,.0f} s"), file=sys.stderr, flush=True)
    last = [0.0]

    def report(k: int, n: int) -> None:
        now = time.perf_counter()
        if k == n or now - last[0] >= 2.0:
            last[0] = now
            print(f"replayed {k:,}/{n:,} events", file=sys.stderr, flush=True)

    users = None  # attributes of the users whose first event is after the split
    if full.user_attrs is not None:
        new = [u for u in dict.fromkeys(events["user_id"].tolist()) if not base.has_user(u)]
        if new:
            users = full.user_attrs.iloc[[full.user_index(u) for u in new]].copy()
            users.insert(0, "user_id", new)
    t_feed = time.perf_counter()
    replayed = feed(log, events, speed, users, report=report)
    elapsed = time.perf_counter() - t_feed
    result: dict[str, Any] = {
        "base_fingerprint": base.fingerprint,
        "replayed": replayed,
        "elapsed_s": round(elapsed, 3),
        "base_source": str(base.source),
        "base_events": base.n_interactions,
        "model_dir": None if model_dir is None else str(model_dir),
        "split": split,
        "speed": "max" if math.isinf(speed) else speed,
        "total_s": round(time.perf_counter() - t0, 3),
    }
    result["_text"] = (f"replayed {replayed:,} events into the log of {base.source} in {elapsed:.1f} s "
                       f"(base fingerprint {base.fingerprint[:16]}; open it with --data {base.source})")
    return result
