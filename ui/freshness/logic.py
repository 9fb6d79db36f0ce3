"""Freshness of the model card: pure helpers (no streamlit) — the staleness tiles, the
rolling-quality texts, the update's work-queue key, its command line and its work."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from recsys.data.types import Dataset
from recsys.evaluation.prequential import DEFAULT_WINDOW, K
from recsys.updates import UPDATE_EPOCHS, UPDATE_KEY, Staleness, model_out_dir

WINDOW = DEFAULT_WINDOW  # events in the card's rolling figure


def when(ts: int | None) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM UTC`` ("—" when None)."""
    if ts is None:
        return "—"
    try:
        return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return f"{ts} s"


def staleness_tiles(s: Staleness) -> list[tuple[str, str, str]]:
    """(label, value, help) of the staleness metrics."""
    extra = []
    if s.new_users or s.new_items:
        extra.append(f"{s.new_users:,} new users, {s.new_items:,} new items")
    return [
        ("Events since training", f"{s.since_training:,}",
         f"logged events the model was not trained on ({s.trained_events:,} of the {s.log_events:,} logged "
         "events were training data)"),
        ("Newest event", when(s.newest_event),
         f"the model's newest training event: {when(s.trained_newest)}"),
        ("Event log", f"{s.log_events:,} events", "; ".join(extra) or "events appended by ingest or replay"),
    ]


def figure(q: dict[str, Any] | None, key: str) -> str:
    """A rolling-quality number (4 decimals) or "—"."""
    v = None if q is None else q.get(key)
    return "—" if v is None else f"{float(v):.4f}"


def update_record(man: dict[str, Any]) -> dict[str, Any] | None:
    rec = man.get(UPDATE_KEY)
    return rec if isinstance(rec, dict) else None


def before_text(rec: dict[str, Any]) -> str:
    """The update's "before" figure in words."""
    b = rec.get("before")
    epochs = rec.get("epochs")
    head = (f"Updated after {int(rec.get('events', 0)):,} logged events"
            + (f" ({epochs} epochs of continued training)" if epochs else ""))
    if not isinstance(b, dict) or b.get(f"ndcg@{K}") is None:
        return head + "."
    return (f"{head}. Before the update the previous model scored NDCG@{K} {figure(b, f'ndcg@{K}')} · "
            f"HR@{K} {figure(b, f'hr@{K}')} on the {int(b.get('events', 0)):,} newest events it had not seen.")


def delta(after: dict[str, Any] | None, before: dict[str, Any] | None, key: str) -> str | None:
    """``after - before`` as a signed 4-decimal string (None when either is missing)."""
    if not after or not before or after.get(key) is None or before.get(key) is None:
        return None
    return f"{float(after[key]) - float(before[key]):+.4f}"


def update_key(ds: Dataset) -> str:
    """The work-queue key of updating the model on ``ds``'s current log prefix: one
    update per prefix per server, whichever sessions ask for it."""
    return "update:" + str(model_out_dir(ds).resolve())


def cli_line(source: str, model_dir: str, epochs: int = UPDATE_EPOCHS) -> str:
    """The command that updates the model outside the app."""
    return (f"python -m recsys train --data {source} --init-from {model_dir} --epochs {epochs} "
            "--no-ablation")


def update_work(ds: Dataset, current: Path, min_count: int | None,
                after: Callable[[], None]) -> Callable[[Callable[[float, str], None]], dict[str, Any]]:
    """The queue job's work: :func:`recsys.updates.update_model` (then ``after``, e.g.
    clearing caches)."""

    def work(progress: Callable[[float, str], None]) -> dict[str, Any]:
        from recsys.updates import update_model

        try:
            return update_model(ds, current, min_count=min_count, progress=progress)
        finally:
            after()

    return work
