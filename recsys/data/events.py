"""The event log beside a data source: new interactions appended after the base data.

A source's log lives in ``$RECSYS_HOME/events/<base fingerprint[:16]>/``:

* ``seg-<n>-<random>.parquet`` — immutable segments (``user_id``, ``item_id`` strings,
  ``timestamp`` int64 seconds, ``rating`` float64 or null), one per appended batch;
  ``seg-….items.parquet`` / ``seg-….users.parquet`` beside a segment hold the items
  rows (titles of new items) and users rows (attributes of new users) given with it;
* ``log.json`` — the list of segments, the event count, the newest event time and a
  random ``generation`` (new on every reset). It is the commit point: a segment is
  written to a temporary file and renamed into place, then ``log.json`` is rewritten
  the same way, so a reader sees either the old or the new log, never half a batch;
* ``.lock`` — an ``fcntl.flock`` lock: appends and resets hold it exclusively (two
  processes appending at once queue, nothing is lost), readers hold it shared.

A batch is validated completely (the loaders' rules and ``<file>:<line>: <problem>``
messages; :func:`read_batch`) before the log is touched, so a refused batch leaves the
log byte-for-byte unchanged. After :data:`COMPACT_AT` segments an append rewrites them
as one (same content, same key), so a log fed event by event stays quick to read.

:func:`include_log` merges a log into a loaded dataset: base users and items keep
their indices (new ones are appended after them), the fingerprint stays the base
data's (the model key) and ``Dataset.log`` says how many events were added, the log's
position and its newest event time; ``Dataset.content_key`` changes with the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from recsys.data.events_batch import Batch, read_batch, read_items, read_users
from recsys.data.events_merge import merge
from recsys.data.types import DataError, Dataset

LOG_FILE = "log.json"
LOCK_FILE = ".lock"
FORMAT = "reclens-event-log"
VERSION = 1
COMPACT_AT = 64  # segments; an append beyond this rewrites the log as one segment
__all__ = ["Batch", "EventLog", "LogContents", "LogState", "include_log", "log_dir", "log_stamp", "logs_stamp",
           "merge", "read_batch", "read_items", "read_users"]


def log_dir(base_fingerprint: str) -> Path:
    """The event log directory of the base data with this fingerprint."""
    from recsys.paths import recsys_home

    return recsys_home() / "events" / base_fingerprint[:16]


def logs_stamp() -> str:
    """Changes whenever any event log under ``$RECSYS_HOME/events`` changes (the
    modification times of the log directories: every append or reset renames a new
    ``log.json`` into one): a cheap key for caches of loaded datasets."""
    from recsys.paths import recsys_home

    root = recsys_home() / "events"
    try:
        return ";".join(f"{d.name}:{d.stat().st_mtime_ns}" for d in sorted(root.iterdir()) if d.is_dir())
    except OSError:
        return ""


def log_stamp(directory: str | Path) -> str:
    """Changes whenever the log in ``directory`` changes (every append, compaction or
    reset renames a new ``log.json`` into place: a new inode, time and size); "" when
    there is no log. One ``stat`` call: a cheap key for a cache of one source's data."""
    try:
        st = (Path(directory) / LOG_FILE).stat()
    except OSError:
        return ""
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


# ---- the log -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogState:
    """What ``log.json`` says: segments (file, events, items file), totals, generation."""

    segments: tuple[dict[str, Any], ...]
    events: int
    last_timestamp: int | None
    generation: str

    @property
    def key(self) -> str:
        return f"{self.generation[:12]}-{self.events}"

    def info_key(self, position: int | None = None) -> str:
        """``Dataset.log.key`` of a dataset that includes the first ``position`` events
        of this generation of the log (default: all of them)."""
        import hashlib

        events = self.events if position is None else int(position)
        return hashlib.sha256(f"{self.generation[:12]}-{events}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LogContents:
    """Every logged event (in log order) and the items and users rows given with them."""

    state: LogState
    events: pd.DataFrame
    items: pd.DataFrame | None
    users: pd.DataFrame | None = None


class EventLog:
    """The append-only event log of one base dataset (see the module docstring)."""

    def __init__(self, directory: str | Path, base_fingerprint: str = ""):
        self.dir = Path(directory)
        self.base_fingerprint = base_fingerprint

    @classmethod
    def of(cls, ds: Dataset) -> EventLog:
        """The log of ``ds`` loaded without its log (its fingerprint is the base's)."""
        return cls(log_dir(ds.fingerprint), ds.fingerprint)

    # ---- locking --------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        if exclusive:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        else:  # read-only, so a reader never needs write access to the log
            try:
                fd = os.open(self.dir / LOCK_FILE, os.O_RDONLY)
            except OSError:  # no lock file: no writer has ever run here
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # ---- state ----------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.dir / LOG_FILE).is_file()

    def _state(self) -> LogState:
        f = self.dir / LOG_FILE
        if not f.is_file():
            return LogState((), 0, None, uuid.uuid4().hex)
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError(f"format {doc.get('format')!r} version {doc.get('version')!r}")
            segs = tuple(dict(s) for s in doc["segments"])
            last = doc.get("last_timestamp")
            return LogState(segs, int(doc["events"]), None if last is None else int(last), str(doc["generation"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"damaged event log: {e}", file=str(f)) from None

    def state(self) -> LogState:
        if not self.exists():
            return self._state()
        with self._locked(False):
            return self._state()

    def _commit(self, state: LogState) -> None:
        doc = {"format": FORMAT, "version": VERSION, "base_fingerprint": self.base_fingerprint,
               "generation": state.generation, "events": state.events, "last_timestamp": state.last_timestamp,
               "segments": list(state.segments)}
        _write_atomic(self.dir / LOG_FILE, json.dumps(doc, indent=1).encode("utf-8"))

    # ---- writing ----------------------------------------------------------------------
    def append(
        self, batch: Batch, items: pd.DataFrame | None = None, users: pd.DataFrame | None = None
    ) -> LogState:
        """Append a validated batch (and its items and users rows) as one segment; the
        new state."""
        events = batch.events
        with self._locked(True):
            st = self._state()
            name = f"seg-{len(st.segments) + 1:06d}-{uuid.uuid4().hex[:8]}"
            _write_atomic(self.dir / f"{name}.parquet", _events_parquet(events))
            ts = events["timestamp"].to_numpy(dtype=np.int64)
            seg = {"file": f"{name}.parquet", "events": len(events), **self._side(name, items, users),
                   "first_timestamp": int(ts.min()), "last_timestamp": int(ts.max())}
            last = seg["last_timestamp"] if st.last_timestamp is None else max(st.last_timestamp,
                                                                                 seg["last_timestamp"])
            new = LogState(st.segments + (seg,), st.events + len(events), last, st.generation)
            self._commit(new)
            if len(new.segments) > COMPACT_AT:
                new = self._compact(new)
            return new

    def _side(self, name: str, items: pd.DataFrame | None, users: pd.DataFrame | None) -> dict[str, str | None]:
        """Write a segment's items and users rows; their file names (None: none given)."""
        out: dict[str, str | None] = {"items_file": None, "users_file": None}
        if items is not None and len(items):
            out["items_file"] = f"{name}.items.parquet"
            _write_atomic(self.dir / out["items_file"], _items_parquet(items))
        if users is not None and len(users):
            out["users_file"] = f"{name}.users.parquet"
            _write_atomic(self.dir / out["users_file"], _users_parquet(users))
        return out

    def _compact(self, st: LogState) -> LogState:
        """Rewrite every segment as one (called under the exclusive lock)."""
        events, items, users = self._read_segments(st)
        name = f"seg-{1:06d}-{uuid.uuid4().hex[:8]}"
        _write_atomic(self.dir / f"{name}.parquet", _events_parquet(events))
        seg = {"file": f"{name}.parquet", "events": st.events, **self._side(name, items, users),
               "first_timestamp": int(events["timestamp"].to_numpy(dtype=np.int64).min()), "last_timestamp": st.last_timestamp}
        new = LogState((seg,), st.events, st.last_timestamp, st.generation)
        self._commit(new)
        self._remove(st.segments)
        return new

    def reset(self) -> int:
        """Empty the log; returns the number of events removed."""
        if not self.exists():
            return 0
        with self._locked(True):
            st = self._state()
            self._commit(LogState((), 0, None, uuid.uuid4().hex))
            self._remove(st.segments)
            return st.events

    def _remove(self, segments: tuple[dict[str, Any], ...]) -> None:
        for s in segments:
            for f in (s.get("file"), s.get("items_file"), s.get("users_file")):
                if f:
                    with contextlib.suppress(FileNotFoundError):
                        (self.dir / str(f)).unlink()

    # ---- reading ----------------------------------------------------------------------
    def read(self) -> LogContents:
        """Every logged event, oldest append first (a consistent snapshot)."""
        if not self.exists():
            st = self._state()
            return LogContents(st, _empty_events(), None)
        with self._locked(False):
            st = self._state()
            events, items, users = self._read_segments(st)
        return LogContents(st, events, items, users)

    def read_since(self, position: int) -> tuple[LogState, pd.DataFrame]:
        """The log's state and its events after the first ``position`` (log order),
        reading only the segments that hold them — the cheap tail a live view polls.
        Positions count events since the log was last emptied (``state.generation``
        tells a reset apart: the caller compares it); a compacted log holds the same
        events in the same order, so positions stay valid across compaction."""
        import pyarrow.parquet as pq

        if not self.exists():
            return self._state(), _empty_events()
        with self._locked(False):
            st = self._state()
            frames, start = [], 0
            for s in st.segments:
                end = start + int(s["events"])
                if end > position:
                    f = self.dir / str(s["file"])
                    try:
                        df = pq.read_table(f).to_pandas()
                    except Exception as e:  # a missing or damaged segment
                        raise DataError(f"damaged event log segment: {type(e).__name__}: {e}", file=str(f)) from None
                    frames.append(df.iloc[max(0, position - start):])
                start = end
        events = pd.concat(frames, ignore_index=True) if frames else _empty_events()
        return st, events

    def _read_segments(self, st: LogState) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
        import pyarrow.parquet as pq

        frames, item_frames, user_frames = [], [], []
        for s in st.segments:
            f = self.dir / str(s["file"])
            try:
                frames.append(pq.read_table(f).to_pandas())
                if s.get("items_file"):
                    item_frames.append(pq.read_table(self.dir / str(s["items_file"])).to_pandas())
                if s.get("users_file"):
                    user_frames.append(pq.read_table(self.dir / str(s["users_file"])).to_pandas())
            except Exception as e:  # a missing or damaged segment
                raise DataError(f"damaged event log segment: {type(e).__name__}: {e}", file=str(f)) from None
        events = pd.concat(frames, ignore_index=True) if frames else _empty_events()
        items = pd.concat(item_frames, ignore_index=True) if item_frames else None
        users = pd.concat(user_frames, ignore_index=True).fillna("") if user_frames else None
        return events, items, users


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({"user_id": pd.Series([], dtype=object), "item_id": pd.Series([], dtype=object),
                         "timestamp": np.zeros(0, np.int64), "rating": np.zeros(0, np.float64)})


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _parquet_bytes(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _events_parquet(events: pd.DataFrame) -> bytes:
    import pyarrow as pa

    return _parquet_bytes(pa.table({
        "user_id": pa.array(events["user_id"].tolist(), pa.string()),
        "item_id": pa.array(events["item_id"].tolist(), pa.string()),
        "timestamp": pa.array(events["timestamp"].to_numpy(dtype=np.int64), pa.int64()),
        "rating": pa.array(events["rating"].to_numpy(dtype=np.float64), pa.float64(), from_pandas=True),
    }))


def _users_parquet(users: pd.DataFrame) -> bytes:
    import pyarrow as pa

    return _parquet_bytes(pa.table({str(c): pa.array(["" if v is None else str(v) for v in users[c].tolist()],
                                                     pa.string()) for c in users.columns}))


def _items_parquet(items: pd.DataFrame) -> bytes:
    import pyarrow as pa

    return _parquet_bytes(pa.table({
        "item_id": pa.array([str(x) for x in items["item_id"].tolist()], pa.string()),
        "title": pa.array([str(x) for x in items["title"].tolist()], pa.string()),
        "categories": pa.array([list(c) for c in items["categories"].tolist()], pa.list_(pa.string())),
        "text": pa.array([str(x) for x in items["text"].tolist()], pa.string()),
    }))


# ---- a dataset with its log -----------------------------------------------------------------


def include_log(ds: Dataset, base: Dataset | None = None) -> Dataset:
    """``ds`` with the events of its source's log appended (``ds`` unchanged when the log
    is empty or absent). ``base``: the source as loaded before any N-core filter (its
    fingerprint names the log; its titles name logged items the filter dropped)."""
    base = ds if base is None else base
    log = EventLog.of(base)
    if not log.exists():
        return ds
    contents = log.read()
    if contents.state.events == 0:
        return ds
    return merge(ds, contents, catalogue=base)
