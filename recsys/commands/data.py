"""Load and validate a data source and print its statistics.

JSON: sizes, time span, ``fingerprint``, ``sample_users``, ``warnings``, ``tie_order``
and ``tied_test_share`` — the share of the users the leave-one-out split evaluates
(>= 3 interactions) whose test item shares its timestamp with the item before it, i.e.
whose held-out item the tie order picks (the same under both orders). Sizes count the
base data plus its event log (``ingest``); ``log`` is ``{"events", "position",
"last_timestamp", "new_users", "new_items", "base_events"}`` or null, and
``fingerprint`` stays the base data's (the model key).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

import numpy as np

from recsys.commands.options import add_tie_order, resolve_tie_order
from recsys.data import load
from recsys.data.types import Dataset
from recsys.evaluation.split import tied_test_share


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-count",
        type=int,
        default=None,
        metavar="N",
        help="iterative N-core: keep only users and items with at least N interactions",
    )
    add_tie_order(parser, model=False)


def sample_users(ds: Dataset, k: int = 4) -> list[str]:
    """A few user ids worth looking at first.

    The demo world's planted users come first (featured users, then interest
    switchers); otherwise, or to fill up: the most active user, a user of median
    activity, and the user with the most recent interaction.
    """
    picks: list[str] = []
    truth = ds.truth
    if truth is not None:
        featured = truth.featured_users() if hasattr(truth, "featured_users") else ()
        for uid in (*featured, *getattr(truth, "switch_users", ())):
            if ds.has_user(uid) and uid not in picks:
                picks.append(uid)
            if len(picks) >= k:
                return picks
    counts = np.diff(ds.user_offsets)
    order = np.argsort(counts, kind="stable")
    last_ts = np.full(ds.n_users, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_ts, ds.user, ds.timestamp)
    candidates = [
        int(order[-1]),  # most active
        int(order[len(order) // 2]),  # median activity
        int(np.argmax(last_ts)),  # most recent interaction
        int(order[(3 * len(order)) // 4]),  # upper-quartile activity
        int(order[len(order) // 4]),  # lower-quartile activity
    ]
    for u in candidates:
        uid = ds.user_ids[u]
        if uid not in picks:
            picks.append(uid)
        if len(picks) >= k:
            break
    return picks


def stats(ds: Dataset) -> dict[str, Any]:
    """The JSON summary of a dataset (the `data` command's output)."""
    return {
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "first_timestamp": int(ds.timestamp.min()),
        "last_timestamp": int(ds.timestamp.max()),
        "categories": len(ds.categories),
        "fingerprint": ds.fingerprint,
        "tie_order": ds.tie_order,
        "tied_test_share": tied_test_share(ds),
        "sample_users": sample_users(ds),
        "warnings": list(ds.warnings),
        # the event log included (``ingest``): events, position, newest time, new users/items
        "log": None if ds.log is None else ds.log.as_json(),
    }


def _date(ts: int) -> str:
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return f"{ts} s"


def render(ds: Dataset, result: dict[str, Any]) -> str:
    """Short human-readable summary."""
    counts = np.diff(ds.user_offsets)
    density = ds.n_interactions / max(1, ds.n_users * ds.n_items)
    pop = np.sort(ds.item_popularity)[::-1]
    top20 = pop[: max(1, len(pop) // 5)].sum() / max(1, pop.sum())
    lines = [
        f"data: {ds.source}",
        f"  users         {ds.n_users:,}",
        f"  items         {ds.n_items:,}"
        + (
            f"  ({int((ds.item_popularity == 0).sum()):,} never interacted)"
            if (ds.item_popularity == 0).any()
            else ""
        ),
        f"  interactions  {ds.n_interactions:,}  (density {density:.2%})",
        f"  per user      min {int(counts.min())}, median {int(np.median(counts))}, max {int(counts.max())}",
        f"  top 20% items {top20:.0%} of interactions",
        f"  time span     {_date(result['first_timestamp'])} .. {_date(result['last_timestamp'])}",
        f"  categories    {result['categories']}"
        + (
            f" ({', '.join(ds.categories[:6])}" + (", …)" if len(ds.categories) > 6 else ")")
            if ds.categories
            else ""
        ),
        f"  ratings       {'yes' if ds.rating is not None else 'no'};"
        f" user attributes: {', '.join(map(str, ds.user_attrs.columns)) if ds.user_attrs is not None else 'none'}",
        f"  fingerprint   {ds.fingerprint[:16]} (tie order {ds.tie_order})",
        f"  tied tests    {result['tied_test_share']:.1%} of evaluated users' test items share their"
        " timestamp with the item before",
        f"  sample users  {', '.join(result['sample_users'])}",
    ]
    if ds.log is not None:
        lines.append(f"  event log     {ds.log.events:,} events included (base {ds.log.base_events:,}), newest "
                     f"{_date(ds.log.last_timestamp or 0)}; {ds.log.new_users:,} new users, "
                     f"{ds.log.new_items:,} new items")
    if ds.warnings:
        lines.append(f"  warnings      {len(ds.warnings)} (see stderr)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    ds = load(args.data, min_count=args.min_count, tie_order=resolve_tie_order(args))
    for w in ds.warnings:
        print(f"warning: {w}", file=sys.stderr)
    result = stats(ds)
    result["_text"] = render(ds, result)
    return result
