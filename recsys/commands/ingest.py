"""Append new events to the data source's event log (every command then sees them).

``ingest --data SRC --events FILE|- [--items FILE] [--json]`` validates a batch — an
interactions ``.csv``/``.parquet`` (``user_id,item_id,timestamp[,rating]``) or, with
``-``, one JSON object per line on stdin — with the loaders' rules and appends it whole
to ``$RECSYS_HOME/events/<base fingerprint[:16]>/`` (:mod:`recsys.data.events`); a bad
batch is refused whole (exit 2, one ``error: <file>:<line>: <problem>`` line) and the
log stays as it was. Unknown users are new users; unknown items are titled by their id
(a warning) unless ``--items`` (``item_id,title[,categories][,text]``) describes them;
``--users`` (``user_id`` + attribute columns) gives new users their attributes.
``ingest --data SRC --reset`` empties the log. JSON: ``{"appended", "log_events",
"last_timestamp"}`` (``--reset``: ``"removed"`` too).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import pandas as pd

from recsys.commands.options import add_tie_order
from recsys.data.types import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", default=None, metavar="FILE|-",
                        help="new interactions: a .csv or .parquet file (user_id,item_id,timestamp[,rating]) "
                             "or - for one JSON object per line on stdin")
    parser.add_argument("--items", default=None, metavar="FILE",
                        help="items.csv rows (item_id,title[,categories][,text]) for new items")
    parser.add_argument("--users", default=None, metavar="FILE",
                        help="users.csv rows (user_id + attribute columns) for new users")
    parser.add_argument("--reset", action="store_true", help="empty the event log of this data source")
    add_tie_order(parser, model=False)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.data import load
    from recsys.data.events import EventLog, read_batch, read_items, read_users

    if args.reset == (args.events is not None):
        raise DataError("give either --events FILE|- or --reset")
    if args.reset and (args.items or args.users):
        raise DataError("--items and --users go with --events, not --reset")
    t0 = time.perf_counter()
    # the batch first: a bad batch is refused before the data is even loaded
    batch = None if args.reset else read_batch(args.events, sys.stdin.buffer if args.events == "-" else None)
    items = read_items(args.items) if args.items else None
    users = read_users(args.users) if args.users else None
    base = load(args.data, tie_order=args.tie_order or "hash", events=False)
    log = EventLog.of(base)
    if batch is None:
        removed = log.reset()
        st = log.state()
        return {"appended": 0, "removed": removed, "log_events": st.events, "last_timestamp": st.last_timestamp,
                "_text": f"event log of {base.source} emptied ({removed:,} events removed)"}
    for w in batch.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if items is not None:
        known = [x for x in items["item_id"].tolist() if base.has_item(x)]
        if known:
            print(f"warning: {args.items}: {len(known)} item(s) already in the data keep their title: "
                  + ", ".join(known[:5]) + (" …" if len(known) > 5 else ""), file=sys.stderr)
            items = pd.DataFrame(items[[not base.has_item(x) for x in items["item_id"].tolist()]])
    if users is not None:
        users = pd.DataFrame(users[[not base.has_user(x) for x in users["user_id"].tolist()]])
    _warn_untitled(base, log, batch.events["item_id"].tolist(), items, args.events)
    st = log.append(batch, items, users)
    n = len(batch)
    text = (f"appended {n:,} event(s) to the log of {base.source}: {st.events:,} logged, newest "
            f"{_date(st.last_timestamp)} ({1000 * (time.perf_counter() - t0):.0f} ms)")
    return {"appended": n, "log_events": st.events, "last_timestamp": st.last_timestamp, "_text": text}


def _warn_untitled(base: Any, log: Any, item_ids: list[str], items: Any, label: str) -> None:
    """Warn (as the loaders do) about new items no items row describes."""
    new = [x for x in dict.fromkeys(item_ids) if not base.has_item(x)]
    if not new:
        return
    described = set() if items is None else {str(x) for x in items["item_id"].tolist()}
    missing = [x for x in new if x not in described]
    if missing and log.exists():
        logged = log.read().items
        if logged is not None:
            described |= {str(x) for x in logged["item_id"].tolist()}
        missing = [x for x in missing if x not in described]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        where = "<stdin>" if label == "-" else label
        print(f"warning: {where}: {len(missing)} item(s) not in the data and without an items row (--items), "
              f"titled by id: {shown}", file=sys.stderr)


def _date(ts: int | None) -> str:
    if ts is None:
        return "-"
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{ts} s"
