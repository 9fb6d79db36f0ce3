"""``evaluate --prequential``: predict each event of a stream before it is seen.

``evaluate --prequential --data SRC [--model DIR] [--window N] [--last F] [--json]``
(:mod:`recsys.evaluation.prequential`). The stream is the source's event log
(``ingest``/``replay``) from the first event the model was not trained on
(:func:`recsys.updates.trained_position`) — or, with ``--last F``, the last fraction F
of the source's interactions in time, split as ``replay`` splits it (the base is
``replay``'s base directory and its model the base's, unless ``--model``). The model
defaults to the one the data loads (:func:`recsys.updates.resolve_model_dir`).
JSON: ``{"stream", "events", "window", "hr@10", "ndcg@10", "window_events",
"overall": {...}, "blocks": [...], "model_dir", "skipped_trained"}`` — ``hr@10`` /
``ndcg@10`` over the last ``window`` events, ``overall`` over all, ``blocks`` per
``window`` consecutive events.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from recsys.data.types import DataError, Dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recsys.evaluation.prequential import DEFAULT_WINDOW

    parser.add_argument("--prequential", action="store_true",
                        help="evaluate on the event stream instead: each logged event predicted before it is seen")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, metavar="N",
                        help=f"with --prequential: the rolling figure's window in events (default {DEFAULT_WINDOW})")
    parser.add_argument("--last", type=float, default=None, metavar="F",
                        help="with --prequential: the stream is the last fraction F of the source in time "
                             "(split as replay does) instead of its event log")


def check_args(args: argparse.Namespace) -> None:
    if not args.prequential:
        if args.last is not None:
            raise DataError("--last goes with --prequential")
        return
    if args.window < 1:
        raise DataError(f"--window must be at least 1, not {args.window}")
    if args.baselines_only or args.seeds != 1:
        raise DataError("--prequential evaluates one stored model: not with --baselines-only or --seeds")


def _progress(fraction: float, message: str) -> None:
    if fraction >= 1.0 or int(fraction * 100) % 25 == 0:
        print(f"[evaluate] {100 * fraction:5.1f}% {message}", file=sys.stderr, flush=True)


def _model_dir(ds: Dataset, explicit: str | None) -> Path:
    from recsys.updates import resolve_model_dir

    d = Path(explicit) if explicit else resolve_model_dir(ds)
    if not (d / "manifest.json").is_file():
        if explicit:
            raise DataError(f"no trained model at {d}: model directory not found")
        raise DataError(f"no trained model for this data at {d}; train one with "
                        f"`python -m recsys train --data {ds.source}` or pass --model DIR")
    return d


def _last_fraction(args: argparse.Namespace) -> tuple[Dataset, Any, Path]:
    """(base + the stream merged in memory, the stream's events, the model directory)."""
    from recsys.commands.replay import _events, split_source, write_base
    from recsys.data import load
    from recsys.data.events import LogContents, LogState, merge
    from recsys.evaluation.prequential import split_at_fraction

    full = load(args.data, tie_order=getattr(args, "tie_order", None) or "hash", events=False)
    split = split_at_fraction(full, args.last)
    before, after = split_source(full, split)
    base = write_base(full, before)
    events = _events(full, after)
    st = LogState((), len(events), int(events["timestamp"].to_numpy(dtype=np.int64).max()), "prequential")
    ds = merge(base, LogContents(st, events, None, None), catalogue=base)
    if args.model:
        return ds, events, _model_dir(ds, args.model)
    from recsys.paths import default_model_dir

    d = default_model_dir(base)
    if not (d / "manifest.json").is_file():
        raise DataError(f"no model for the base before {split} at {d}; train it with "
                        f"`python -m recsys train --data {base.source}` (or replay the source) or pass --model DIR")
    return ds, events, d


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.commands.options import resolve_min_count, resolve_tie_order
    from recsys.data import load
    from recsys.evaluation.prequential import K, evaluate_stream, log_stream
    from recsys.models.transformer import TransformerRecommender
    from recsys.models.transformer.artifact import read_manifest
    from recsys.updates import read_log_events, staleness, trained_position

    if args.last is not None:
        ds, events, model_dir = _last_fraction(args)
        start, kind = 0, f"the last {args.last:g} of the source in time"
    else:
        ds = load(args.data, min_count=resolve_min_count(args), tie_order=resolve_tie_order(args))
        if ds.log is None or ds.log.events == 0:
            raise DataError(f"{ds.source} has no event log to evaluate on: ingest or replay events first, "
                            "or pass --last F to replay the source's own last fraction F")
        model_dir = _model_dir(ds, args.model)
        events = read_log_events(ds)
        start, kind = trained_position(read_manifest(model_dir), ds), "the event log"
        if start >= len(events):
            raise DataError(f"the model was trained on all {start:,} logged events: nothing to predict "
                            "before it was seen (wait for new events)")
    model = TransformerRecommender.load(model_dir, ds)
    stream = log_stream(ds, events, start)
    res, out = evaluate_stream(model, ds, stream, window=args.window, progress=_progress)
    for b in out["blocks"]:  # stream positions -> 1-based event numbers of the log / the stream
        b["first"], b["last"] = start + b["first"] + 1, start + b["last"] + 1
    out = {"stream": kind, **out, "skipped_trained": start, "model_dir": str(model_dir),
           "protocol": "prequential: each event predicted before it is seen from its user's history up to it; "
                       "full ranking, seen items excluded, pessimistic ties"}
    if args.last is None:
        out["staleness"] = staleness(ds, read_manifest(model_dir)).as_json()
    w, o = out, out["overall"]
    out["_text"] = "\n".join([
        f"prequential evaluation on {kind}: {len(res):,} events predicted before they were seen"
        + (f" (the first {start:,} logged events were training data, skipped)" if start else ""),
        f"last {w['window_events']:,} events: HR@{K} {w[f'hr@{K}']:.4f}  NDCG@{K} {w[f'ndcg@{K}']:.4f}",
        f"all {o['events']:,} events:  HR@{K} {o[f'hr@{K}']:.4f}  NDCG@{K} {o[f'ndcg@{K}']:.4f}",
    ])
    return out
