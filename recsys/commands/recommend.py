"""Top-k recommendations of the trained transformer for one user.

``recommend --data SRC --model DIR --user U [-k 10] [--history ID,ID,...] [--as-of T]``
-> JSON ``{"user", "items": [{"item_id", "title", "score", "rank"}], "elapsed_ms"}``.
Scored from all of the user's interactions (or those up to ``--as-of``), seen items
excluded, best first. ``--history`` replaces the history (oldest first) to score an
edited profile: items already in the user's history keep their timestamps, new ones
follow the previous entry at the user's median gap; unknown ids are an error.

``--compare`` adds the same user's top-k under the evaluate command's models
(:mod:`recsys.evaluation.compare`): ``"compare": {model: [{"item_id", "rank", "score"}]}``
for ``transformer``, ``transformer_no_text`` (the artifact's ``no_text/``), ``ease``,
``itemknn`` and ``popularity`` — same k, same history and seen-item exclusion as
``items``, each model's own order (no re-ranking) — ``"compare_skipped": {model: reason}``,
``"compare_overlap": {a: {b: Jaccard of the top-k sets}}``, ``"held_out"`` (for a user of
the leave-one-out split: ``{"item_id", "title", "rank_in": {model: rank or null},
"history_length"}``, the test item's rank when every model scores the split's history
without it, whatever ``--history``/``--as-of`` say; else null) and ``"compare_fit"``. The
baselines are fitted as ``evaluate`` fits them, on every interaction before each user's
test item. Without ``--json`` a side-by-side table.

When the data includes an event log, ``"staleness"`` says how far it has moved past the
model (``events_since_training``, ``log_events``, ``newest_event``, …; :mod:`recsys.updates`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recsys.commands.options import add_min_count, load_data, load_model, parse_as_of
from recsys.data.types import DataError, Dataset, History
from recsys.models.base import Scorer
from recsys.rerank import add_rerank_arguments, rerank_from_args

DEFAULT_GAP = 3600  # seconds between new history items when the user's median gap is unknown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="trained artifact (default: $RECSYS_HOME/models/<data fingerprint>)")
    parser.add_argument("--user", required=True, metavar="U", help="user id")
    parser.add_argument("-k", type=int, default=10, help="number of recommendations (default 10)")
    parser.add_argument("--history", default=None, metavar="ID,ID,...",
                        help="replace the user's history by these item ids (oldest first)")
    parser.add_argument("--as-of", default=None, metavar="TIMESTAMP",
                        help="use only interactions up to this time (seconds or ISO date)")
    parser.add_argument("--compare", action="store_true",
                        help="also list the no-text ablation, EASE, ItemKNN and MostPopular for this user, "
                             "their overlap and where the held-out test item lands")
    add_min_count(parser)
    add_rerank_arguments(parser)  # --diversity/--calibration/--fairness W, --fair-group, --candidates (recsys.rerank)


def parse_history(ds: Dataset, text: str) -> list[int]:
    """Item indices of a comma-separated id list; DataError naming every unknown id."""
    ids = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in ids if not ds.has_item(x)]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise DataError(f"--history: unknown item id(s): {shown}")
    return [ds.item_index(x) for x in ids]


def edited_timestamps(items: Sequence[int], base_items: np.ndarray, base_ts: np.ndarray) -> np.ndarray:
    """Timestamps for an edited history: items of the base history keep theirs (the
    latest occurrence); a new item follows the previous entry at the median gap."""
    gaps = np.diff(base_ts)
    gap = int(np.median(gaps)) if gaps.size else DEFAULT_GAP
    gap = max(gap, 1)
    known = {int(i): int(t) for i, t in zip(base_items, base_ts)}
    start = int(base_ts[0]) if base_ts.size else 0
    out = np.zeros(len(items), dtype=np.int64)
    prev: int | None = None
    for k, i in enumerate(items):
        if int(i) in known:
            t = known[int(i)]
        else:
            t = (prev + gap) if prev is not None else start
        out[k] = t
        prev = t
    return out


def user_history(ds: Dataset, user: str, edit: str | None = None, as_of: int | None = None) -> History:
    """The user's history (up to ``as_of``), or the ``--history`` edit of it (``edit``:
    comma-separated item ids, oldest first; timestamps from :func:`edited_timestamps`)."""
    items, ts = ds.sequence(ds.user_index(user))
    items = np.asarray(items, dtype=np.int64)
    ts = np.asarray(ts, dtype=np.int64)
    if as_of is not None:
        keep = ts <= as_of
        items, ts = items[keep], ts[keep]
    if edit is None:
        return History(str(user), items, ts)
    new = parse_history(ds, edit)
    return History(str(user), np.asarray(new, dtype=np.int64), edited_timestamps(new, items, ts))


def score_history(model: Scorer, history: History) -> np.ndarray:
    """Model scores over all items after ``history`` (seen items not yet excluded)."""
    ts = None if history.timestamps is None else [history.timestamps]
    return np.asarray(model.score([history.items], ts)[0], dtype=np.float32)


def _ablation(ds: Dataset, model_dir: Path) -> Scorer | str:
    """The artifact's no-text ablation, or the reason it cannot be compared."""
    from recsys.evaluation.compare import NO_ABLATION
    from recsys.models.transformer import TransformerRecommender

    if not (model_dir / "no_text").is_dir():
        return NO_ABLATION
    try:
        return TransformerRecommender.load(model_dir / "no_text", ds)
    except DataError as e:
        return f"the no_text/ model cannot be loaded: {e}"


def compare(ds: Dataset, model: Scorer, model_dir: Path, h: History, k: int) -> tuple[dict[str, Any], str]:
    """The ``--compare`` keys and their side-by-side text (see the module docstring)."""
    from recsys.evaluation.compare import collect_models, compare_user, fit_baselines, render_text, to_json

    print("fitting EASE, ItemKNN and MostPopular for the comparison…", file=sys.stderr, flush=True)
    baselines = fit_baselines(ds)
    models, skipped = collect_models(model, _ablation(ds, model_dir), baselines)
    in_data = bool(h.user) and ds.has_user(h.user)
    comp = compare_user(models, h, k, skipped=skipped, split=baselines.split,
                        user_index=ds.user_index(h.user) if in_data else None)
    return to_json(ds, comp), render_text(ds, comp)


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    if args.k < 1:
        raise DataError(f"-k must be at least 1, not {args.k}")
    ds = load_data(args)
    model = load_model(ds, args.model)
    as_of = parse_as_of(args.as_of)
    edited = args.history is not None
    h = user_history(ds, str(args.user), args.history, as_of)
    scores = score_history(model, h)
    # re-ranked top-k (exactly the model's order when all weights are 0) with per-item contributions
    # and reasons, plus "metrics"/"baseline_metrics"/"weights"/"fair_group"/"dropped" (recsys.rerank)
    rerank_out = rerank_from_args(ds, scores, h.items, args, k=args.k, emb=model.text_emb, user=h.user)
    items = rerank_out.pop("items")
    result: dict[str, Any] = {
        "user": h.user,
        "items": items,
        "history_length": len(h),
        "edited": edited,
        "as_of": as_of,
        **rerank_out,
        "elapsed_ms": round(1000 * (time.perf_counter() - t0), 1),
    }
    if ds.log is not None:  # how far the event log has moved past the model (recsys.updates)
        from recsys.updates import staleness

        result["staleness"] = staleness(ds, getattr(model, "manifest", None) or {}).as_json()
    lines = [f"user {h.user} ({len(h)} history items" + (", edited" if edited else "") + ")"]
    lines += [f"{it['rank']:3d}. {it['title']}  [{it['item_id']}]  {it['score']:.3f}" for it in items]
    if getattr(args, "compare", False):
        from recsys.updates import resolve_model_dir

        extra, text = compare(ds, model, Path(args.model) if args.model else resolve_model_dir(ds), h, args.k)
        result.update(extra)
        result["elapsed_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        lines += ["", text]
    result["_text"] = "\n".join(lines)
    return result
