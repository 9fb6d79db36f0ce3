"""Reading a batch of new events for the event log (:mod:`recsys.data.events`).

The same readers and rules as the loaders (:mod:`recsys.data.tables`,
:mod:`recsys.data.validate`), so a batch gets the same ``<file>:<line>: <problem>``
errors; JSON lines on stdin become a :class:`~recsys.data.tables.Table` whose rows
carry their physical line (``<stdin>:N``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from recsys.data.tables import Table, read_delimited, read_parquet
from recsys.data.types import DataError

STDIN = "<stdin>"


# ---- reading a batch -------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Validated new events (``user_id``/``item_id`` str, ``timestamp`` int64,
    ``rating`` float64 or NaN) and the warnings the loaders would give."""

    events: pd.DataFrame
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.events)


def read_batch(source: str, stdin: IO[bytes] | None = None) -> Batch:
    """New events from a ``.csv``/``.parquet`` file with the interactions schema
    (``user_id,item_id,timestamp[,rating]``) or, for ``"-"``, from ``stdin``: one JSON
    object per line (blank lines skipped; lines numbered ``<stdin>:N``)."""
    from recsys.data.loaders import _interactions

    if source == "-":
        if stdin is None:
            raise DataError("--events -: no standard input")
        t = _json_lines(stdin.read())
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(f"no such file: {source}")
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            t = read_parquet(path, source)
        elif suffix == ".csv":
            t = read_delimited(path, source, numeric=("timestamp", "rating"), int_ids=("user_id", "item_id"))
        else:
            raise DataError(f"{source}: expected an interactions .csv or .parquet file, or - for JSON lines on stdin")
    t.require(("user_id", "item_id", "timestamp"), "interactions")
    warns: list[str] = []
    frame = _interactions(t, "user_id", "item_id", "timestamp", "rating" if "rating" in t.columns else None, warns)
    events = pd.DataFrame({
        "user_id": _as_str(frame["user_id"]),
        "item_id": _as_str(frame["item_id"]),
        "timestamp": frame["timestamp"].to_numpy(dtype=np.int64),
        "rating": frame["rating"].to_numpy(dtype=np.float64) if "rating" in frame else np.full(len(frame), np.nan),
    })
    return Batch(events, tuple(warns))


def read_items(source: str) -> pd.DataFrame:
    """Items rows for new items: an ``items.csv`` (``item_id,title[,categories][,text]``,
    categories separated by ``|``), validated like the generic loader's."""
    from recsys.data.loaders import _generic_items

    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"no such file: {source}")
    warns: list[str] = []
    items = _generic_items(read_delimited(path, source), warns)
    if "categories" not in items:
        items["categories"] = [() for _ in range(len(items))]
    if "text" not in items:
        items["text"] = pd.Series([""] * len(items), dtype=object)
    return items


def read_users(source: str) -> pd.DataFrame:
    """Users rows for new users: a ``users.csv`` (``user_id`` + attribute columns),
    validated like the generic loader's."""
    from recsys.data.loaders import _generic_users

    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"no such file: {source}")
    return _generic_users(read_delimited(path, source))


def _as_str(col: Any) -> np.ndarray:
    arr = np.asarray(col.to_numpy())
    if arr.dtype == object and all(isinstance(x, str) for x in arr.tolist()):
        return arr
    return np.array([str(x) for x in arr.tolist()], dtype=object)


def _json_value(v: object, key: str, line: int) -> str:
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise DataError(f"{key} must be a string or a number, got {type(v).__name__}", file=STDIN, line=line)
    return v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)


def _json_lines(data: bytes) -> Table:
    """A :class:`Table` of JSON lines (one object each) with the physical line of every row."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"not valid UTF-8: byte 0x{data[e.start]:02x}", file=STDIN, line=line) from None
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            raise DataError(f"not valid JSON: {msg}", file=STDIN, line=n) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=STDIN, line=n)
        rows.append({str(k).strip(): _json_value(v, str(k).strip(), n) for k, v in obj.items()})
        lines.append(n)
    if not rows:
        raise DataError("no events (expected one JSON object per line)", file=STDIN)
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns = {c: pd.Series([r.get(c, "") for r in rows], dtype=object) for c in names}
    return Table(file=STDIN, columns=columns, n_rows=len(rows), lines=np.asarray(lines, dtype=np.int64))
