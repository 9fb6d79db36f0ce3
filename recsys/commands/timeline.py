"""Show a user's interest timeline: category shares per window, change points, forecast.

``timeline --data SRC [--model DIR] --user U [--as-of TIMESTAMP] [--json]`` prints
``{"user", "windows": [{"start", "end", "n", "shares"}], "change_points", "predicted":
[{"ts", "shares"}], "forecast"}`` (timestamps in seconds, shares summing to 1) plus
descriptive extras. Without ``--model`` predicted and forecast are empty.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from recsys.commands.options import add_min_count, load_data, load_model, parse_as_of
from recsys.data.types import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="external user id")
    parser.add_argument("--model", default=None, metavar="DIR", help="trained model artifact (adds predictions)")
    parser.add_argument(
        "--as-of",
        default=None,
        metavar="TIMESTAMP",
        help="use only interactions up to this time: seconds since the epoch or an ISO date (UTC)",
    )
    parser.add_argument("--windowing", choices=("auto", "time", "count"), default="auto",
                        help="calendar windows, every-n-interactions windows, or auto (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation test (default 0)")
    add_min_count(parser)


def _date(ts: int) -> str:
    try:
        return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return str(ts)


def render_text(result: dict[str, Any]) -> str:
    """Human-readable rendering: one line per window with its top categories."""
    lines = [f"user {result['user']}: {result['n_interactions']} interactions"
             + (f" up to {_date(result['as_of'])}" if result.get("as_of") is not None else "")]
    for w in result["windows"]:
        top = sorted(w["shares"].items(), key=lambda kv: -kv[1])[:3]
        mix = ", ".join(f"{c} {s:.0%}" for c, s in top if s > 0)
        lines.append(f"  {_date(w['start'])} .. {_date(w['end'])}  n={w['n']:<4} {mix}")
    cps = ", ".join(_date(t) for t in result["change_points"]) or "none"
    lines.append(f"change points: {cps}")
    if result["forecast"]:
        top = sorted(result["forecast"].items(), key=lambda kv: -kv[1])[:3]
        lines.append("forecast: " + ", ".join(f"{c} {s:.0%}" for c, s in top))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.interests import user_timeline

    as_of = parse_as_of(args.as_of)
    ds = load_data(args)
    if not ds.has_user(args.user):
        raise DataError(f"unknown user id {args.user!r} (the dataset has {ds.n_users} users)")
    scorer = load_model(ds, args.model) if args.model is not None else None
    tl = user_timeline(ds, str(args.user), scorer=scorer, as_of=as_of, windowing=args.windowing, seed=args.seed)
    if tl.n_interactions == 0:
        raise DataError(f"user {args.user!r} has no interactions up to {as_of} ({_date(as_of or 0)} UTC)")
    result = tl.to_json()
    result["_text"] = render_text(result)
    return result
