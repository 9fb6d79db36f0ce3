"""Models updated on an event log: where they live, which one a dataset loads, how
stale it is, and the update itself (``train --init-from`` on base + log).

Keying. A model is keyed on the base data's fingerprint (``Dataset.fingerprint``) and
on the prefix of the event log it was trained on:

* the **base model**, trained on the base data alone (no log, or an empty one), lives
  in ``$RECSYS_HOME/models/<fingerprint[:16]>/`` — an update never replaces it;
* a model trained on base + log (``train`` while the log holds events, ``train
  --init-from``, the app's *Update the model*) records that prefix in its manifest,
  ``"event_log": {"generation", "events", "last_timestamp"}`` (the log is append-only
  within a generation, so generation + event count name the prefix exactly), and lives
  in ``$RECSYS_HOME/models/<fingerprint[:16]>+log/<generation[:12]>-<events>/``.

:func:`resolve_model_dir` — what the app and every command load — takes the newest
update whose prefix is a prefix of the log the dataset includes now (same generation,
no more events, the same items first), else the base model, else the directory a
training of the data would write (:func:`model_out_dir`). After ``ingest --reset``
the generation is new, no update matches and the base model is loaded again: a model
is never paired with events that are no longer in the data. The artifact format is
unchanged; the newest :data:`KEEP` updates of a base are kept.

Staleness (:func:`staleness`) counts the logged events the model was not trained on.
The rolling quality (:func:`unseen_quality`) is the prequential HR@10 / NDCG@10
(:mod:`recsys.evaluation.prequential`) over the most recent of those events — events
the model was trained on are never scored, so the figure is always out of sample.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from recsys.data.types import DataError, Dataset
from recsys.paths import default_model_dir, recsys_home

KEEP = 3  # updates kept per base model (the newest; older ones are removed after an update)
UPDATE_EPOCHS = 3  # epochs of continued training in an update (the figure in docs/RESULTS.md)
MANIFEST_KEY = "event_log"
UPDATE_KEY = "update"
Progress = Callable[[float, str], None]


def log_record(ds: Dataset) -> dict[str, Any] | None:
    """The log prefix ``ds`` includes, as a manifest records it (None: no logged event)."""
    if ds.log is None or ds.log.events == 0:
        return None
    return {"generation": ds.log.generation, "events": ds.log.events, "last_timestamp": ds.log.last_timestamp}


def updates_root(ds: Dataset) -> Path:
    """Where the models of ``ds``'s base data trained on its log live."""
    return recsys_home() / "models" / f"{ds.fingerprint[:16]}+log"


def model_out_dir(ds: Dataset) -> Path:
    """Where a model trained on ``ds`` as loaded belongs: the base model's directory
    without logged events, else the update directory of this log prefix."""
    rec = log_record(ds)
    if rec is None:
        return default_model_dir(ds)
    return updates_root(ds) / f"{str(rec['generation'])[:12]}-{int(rec['events']):010d}"


def _has_artifact(d: Path) -> bool:
    return (d / "manifest.json").is_file() and (d / "model.safetensors").is_file()


def _manifest(d: Path) -> dict[str, Any]:
    from recsys.models.transformer.artifact import read_manifest

    try:
        return read_manifest(d, missing_ok=True)
    except DataError:
        return {}


def trained_position(manifest: dict[str, Any], ds: Dataset) -> int:
    """How many of the events in ``ds``'s log the model with this manifest was trained
    on: its recorded prefix when that is a prefix of the current log, else 0 (a base
    model, or one trained on a log that has since been reset)."""
    rec = manifest.get(MANIFEST_KEY)
    if ds.log is None or not isinstance(rec, dict):
        return 0
    n = rec.get("events")
    if rec.get("generation") != ds.log.generation or not isinstance(n, int) or n > ds.log.events:
        return 0
    return n


_MEMO: dict[tuple[str, int, str], int | None] = {}  # (dir, manifest mtime, content key) -> position


def _usable_update(d: Path, ds: Dataset) -> int | None:
    """The log position of the update in ``d`` when ``ds`` can load it, else None
    (remembered per manifest version and data content: pages resolve on every run)."""
    if not _has_artifact(d):
        return None
    try:
        key = (str(d), (d / "manifest.json").stat().st_mtime_ns, ds.content_key)
    except OSError:
        return None
    if key not in _MEMO:
        if len(_MEMO) > 256:
            _MEMO.clear()
        _MEMO[key] = _check_update(d, ds)
    return _MEMO[key]


def _check_update(d: Path, ds: Dataset) -> int | None:
    from recsys.models.transformer.artifact import item_ids_hash

    man = _manifest(d)
    rec = man.get(MANIFEST_KEY)
    if man.get("dataset_fingerprint") != ds.fingerprint or not isinstance(rec, dict):
        return None
    n = trained_position(man, ds)
    items = man.get("n_items")
    if n == 0 or not isinstance(items, int) or items > ds.n_items:
        return None
    if item_ids_hash(list(ds.item_ids[:items])) != man.get("item_ids_sha256"):
        return None
    return n


def updates(ds: Dataset) -> list[tuple[int, Path]]:
    """(log position, directory) of every update ``ds`` can load, newest first."""
    root = updates_root(ds)
    if ds.log is None or ds.log.events == 0 or not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        if d.is_dir() and d.name.startswith(ds.log.generation[:12]):
            n = _usable_update(d, ds)
            if n is not None:
                found.append((n, d))
    return sorted(found, key=lambda x: (-x[0], x[1].name))


def resolve_model_dir(ds: Dataset) -> Path:
    """The model directory ``ds`` loads (see the module docstring)."""
    found = updates(ds)
    if found:
        return found[0][1]
    base = default_model_dir(ds)
    return base if _has_artifact(base) else model_out_dir(ds)


# ---- staleness and rolling quality -------------------------------------------------------------


@dataclass(frozen=True)
class Staleness:
    """How far the event log has moved past a model's training data."""

    log_events: int  # events in the log the dataset includes
    trained_events: int  # of them, the ones the model was trained on (a log prefix)
    newest_event: int | None  # time of the newest logged event
    trained_newest: int | None  # time of the newest event the model was trained on (base or log)
    new_users: int
    new_items: int

    @property
    def since_training(self) -> int:
        return self.log_events - self.trained_events

    def as_json(self) -> dict[str, Any]:
        return {"events_since_training": self.since_training, "log_events": self.log_events,
                "trained_log_events": self.trained_events, "newest_event": self.newest_event,
                "trained_newest_event": self.trained_newest, "new_users": self.new_users,
                "new_items": self.new_items}


def staleness(ds: Dataset, manifest: dict[str, Any]) -> Staleness:
    """The staleness of the model with ``manifest`` against ``ds`` as loaded."""
    if ds.log is None:
        return Staleness(0, 0, None, None, 0, 0)
    n = trained_position(manifest, ds)
    rec = manifest.get(MANIFEST_KEY)
    last = manifest.get("trained_newest_event")
    # a model trained on a log that has since been reset: its newest event is not in the data
    trained_last = last if isinstance(last, int) and (n or not isinstance(rec, dict)) else None
    return Staleness(ds.log.events, n, ds.log.last_timestamp, trained_last, ds.log.new_users, ds.log.new_items)


def read_log_events(ds: Dataset) -> Any:
    """The logged events ``ds`` includes (a DataFrame in log order, its first
    ``ds.log.events`` rows); DataError when the log was reset since ``ds`` was loaded."""
    import pandas as pd

    from recsys.data.events import EventLog, log_dir

    if ds.log is None or ds.log.events == 0:
        return pd.DataFrame({"user_id": [], "item_id": [], "timestamp": []})
    contents = EventLog(log_dir(ds.fingerprint), ds.fingerprint).read()
    if contents.state.generation != ds.log.generation or contents.state.events < ds.log.events:
        raise DataError("the event log changed while it was read (reset?); load the data again")
    return contents.events.iloc[: ds.log.events].reset_index(drop=True)


def unseen_quality(scorer: Any, ds: Dataset, manifest: dict[str, Any], window: int | None = None,
                   events: Any = None, start: int | None = None) -> dict[str, Any] | None:
    """Prequential HR@10 / NDCG@10 of ``scorer`` over the most recent ``window`` logged
    events it was not trained on (from log position ``start``, default the model's
    trained position); None when there is none. ``{"events", "first_position",
    "last_position", "hr@10", "ndcg@10"}``."""
    from recsys.evaluation.prequential import DEFAULT_WINDOW, K, log_stream, prequential

    window = DEFAULT_WINDOW if window is None else window
    if ds.log is None:
        return None
    lo = trained_position(manifest, ds) if start is None else start
    if ds.log.events - lo <= 0:
        return None
    ev = read_log_events(ds) if events is None else events
    first = max(lo, ds.log.events - window)
    stream = log_stream(ds, ev, first)
    res = prequential(scorer, ds, stream)
    s = res.summary()
    return {"events": s["events"], "first_position": first + 1, "last_position": ds.log.events,
            f"hr@{K}": s[f"hr@{K}"], f"ndcg@{K}": s[f"ndcg@{K}"]}


# ---- the update ---------------------------------------------------------------------------------


def update_model(
    ds: Dataset,
    current: str | Path,
    *,
    epochs: int = UPDATE_EPOCHS,
    seed: int = 0,
    window: int | None = None,
    min_count: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Continue training the model in ``current`` on ``ds`` (base + the log it includes)
    for ``epochs`` epochs and store it as the update of this log prefix
    (:func:`model_out_dir`), with the rolling quality of ``current`` just before the
    update recorded in the manifest (``"update": {"from", "from_model", "from_events",
    "events", "before"}``). Returns :func:`recsys.train.train_model`'s result plus
    ``"before"``. DataError when there is nothing new to train on."""
    from recsys.models.transformer import TransformerRecommender
    from recsys.train import train_model

    if log_record(ds) is None:
        raise DataError("no logged events to update the model with (ingest or replay events first)")
    cur = Path(current)
    man = _manifest(cur)
    prev_pos = trained_position(man, ds)
    if prev_pos >= ds.log.events:  # type: ignore[union-attr]
        raise DataError(f"the model is already trained on all {prev_pos:,} logged events")
    out = model_out_dir(ds)
    if progress:
        progress(0.0, "scoring the newest events with the current model (rolling quality before)")
    before = unseen_quality(TransformerRecommender.load(cur, ds), ds, man, window)
    record = {"from": str(cur), "from_model": man.get("model_fingerprint"), "from_events": prev_pos,
              "events": ds.log.events, "epochs": epochs, "before": before}  # type: ignore[union-attr]
    result = train_model(ds, out, seed=seed, epochs=epochs, min_count=min_count, ablation=False,
                         init_from=cur, progress=progress, manifest_extra={UPDATE_KEY: record})
    prune(ds, keep={out, cur})
    result["before"] = before
    result["model_dir"] = str(out)
    return result


def prune(ds: Dataset, keep: set[Path], limit: int = KEEP) -> list[Path]:
    """Remove all but the newest ``limit`` update directories of ``ds``'s base (never
    those in ``keep``); returns the removed ones."""
    root = updates_root(ds)
    if not root.is_dir():
        return []
    dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: d.stat().st_mtime, reverse=True)
    keep_r = {k.resolve() for k in keep}
    removed = []
    for d in dirs[limit:]:
        if d.resolve() not in keep_r:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed
