"""What-if logic without streamlit: edited profiles (scenarios), edits, list diffs.

A *scenario* is a plain JSON-ready dict::

    {"format": "reclens-scenario", "version": 1, "name": str, "base_user": str | None,
     "data_fingerprint": str, "history": [{"item_id": str, "timestamp": int}, ...],
     "note": str}

The history is kept oldest first. Scenarios are only ever copied, never shared.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.stats import kendalltau

from recsys.data.types import DataError, Dataset

FORMAT = "reclens-scenario"
VERSION = 1
MAX_HISTORY = 5000
MAX_SCENARIO_BYTES = 2 * 1024 * 1024
DAY = 86400


def new_scenario(ds: Dataset, name: str, base_user: str | None, items: Sequence[int],
                 timestamps: Sequence[int], note: str = "") -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": str(name)[:120],
        "base_user": base_user,
        "data_fingerprint": ds.fingerprint,
        "history": [{"item_id": ds.item_ids[int(i)], "timestamp": int(t)} for i, t in zip(items, timestamps)],
        "note": str(note)[:500],
    }


def from_user(ds: Dataset, user: str, name: str | None = None) -> dict[str, Any]:
    items, ts = ds.sequence(ds.user_index(user))
    return new_scenario(ds, name or f"user {user}", user, items, ts)


def empty_scenario(ds: Dataset, name: str = "cold start") -> dict[str, Any]:
    return new_scenario(ds, name, None, [], [])


def arrays(ds: Dataset, sc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, timestamps) of a scenario, oldest first."""
    h = sc.get("history", [])
    items = np.array([ds.item_index(e["item_id"]) for e in h], dtype=np.int64)
    ts = np.array([int(e["timestamp"]) for e in h], dtype=np.int64)
    return items, ts


def _sorted(sc: dict[str, Any]) -> dict[str, Any]:
    sc["history"] = sorted(sc["history"], key=lambda e: int(e["timestamp"]))
    return sc


def _median_gap(ts: list[int]) -> int:
    if len(ts) < 2:
        return DAY
    gaps = np.diff(np.asarray(ts, dtype=np.int64))
    g = int(np.median(gaps))
    return max(g, 1)


def add_item(sc: dict[str, Any], item_id: str, timestamp: int | None = None) -> dict[str, Any]:
    """A copy with ``item_id`` appended (after the last item at the median gap, or at
    ``timestamp``); the history stays in time order."""
    out = copy.deepcopy(sc)
    ts = [int(e["timestamp"]) for e in out["history"]]
    if timestamp is None:
        timestamp = (ts[-1] + _median_gap(ts)) if ts else 1_700_000_000
    out["history"].append({"item_id": str(item_id), "timestamp": int(timestamp)})
    return _sorted(out)


def remove_at(sc: dict[str, Any], positions: Sequence[int]) -> dict[str, Any]:
    out = copy.deepcopy(sc)
    drop = {int(p) for p in positions}
    out["history"] = [e for j, e in enumerate(out["history"]) if j not in drop]
    return out


def move(sc: dict[str, Any], pos: int, new_pos: int) -> dict[str, Any]:
    """Reorder: move the item at ``pos`` to ``new_pos``. Timestamps stay attached to
    positions (the time axis is kept; the items swap places in it)."""
    out = copy.deepcopy(sc)
    h = out["history"]
    n = len(h)
    if not (0 <= pos < n):
        raise DataError(f"position {pos + 1} is outside the history (1..{n})")
    new_pos = min(max(int(new_pos), 0), n - 1)
    stamps = [int(e["timestamp"]) for e in h]
    ids = [e["item_id"] for e in h]
    ids.insert(new_pos, ids.pop(pos))
    out["history"] = [{"item_id": i, "timestamp": t} for i, t in zip(ids, stamps)]
    return out


def shift_dates(sc: dict[str, Any], days: float, positions: Sequence[int] | None = None) -> dict[str, Any]:
    """Shift the timestamps of ``positions`` (default: all) by ``days``; the history is
    re-sorted by time, so shifting an item can reorder it."""
    out = copy.deepcopy(sc)
    sel = None if positions is None else {int(p) for p in positions}
    delta = int(round(float(days) * DAY))
    for j, e in enumerate(out["history"]):
        if sel is None or j in sel:
            e["timestamp"] = max(0, int(e["timestamp"]) + delta)
    return _sorted(out)


def to_json(sc: dict[str, Any]) -> str:
    return json.dumps(sc, ensure_ascii=False, indent=1)


def validate(obj: Any, ds: Dataset, source: str = "scenario") -> tuple[dict[str, Any], list[str]]:
    """Check an uploaded scenario (parsed JSON or raw bytes/str) against ``ds``.
    Returns (a clean scenario, warnings); raises DataError naming the problem."""
    if isinstance(obj, (bytes, bytearray)):
        if len(obj) > MAX_SCENARIO_BYTES:
            raise DataError(f"file is larger than {MAX_SCENARIO_BYTES // 1024} KB", source)
        try:
            obj = obj.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DataError("file is not UTF-8 text", source) from None
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON ({e.msg})", source, e.lineno) from None
    if not isinstance(obj, dict):
        raise DataError("a scenario must be a JSON object", source)
    if obj.get("format") not in (None, FORMAT):
        raise DataError(f"format is {obj.get('format')!r}, expected {FORMAT!r}", source)
    hist = obj.get("history")
    if not isinstance(hist, list):
        raise DataError("'history' must be a list of {item_id, timestamp}", source)
    if len(hist) > MAX_HISTORY:
        raise DataError(f"history has {len(hist)} items; at most {MAX_HISTORY}", source)
    clean: list[dict[str, Any]] = []
    unknown: list[str] = []
    for n, e in enumerate(hist, start=1):
        if not isinstance(e, dict) or "item_id" not in e:
            raise DataError(f"history entry {n} needs an 'item_id'", source)
        iid = str(e["item_id"])
        t = e.get("timestamp")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(float(t)) or float(t) < 0:
            raise DataError(f"history entry {n}: timestamp must be a non-negative number of seconds", source)
        if not ds.has_item(iid):
            unknown.append(iid)
            continue
        clean.append({"item_id": iid, "timestamp": int(t)})
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise DataError(f"{len(unknown)} item id(s) not in this dataset: {shown}", source)
    warnings: list[str] = []
    fp = obj.get("data_fingerprint")
    if fp and fp != ds.fingerprint:
        warnings.append("this scenario was saved on a different version of the data; items were matched by id")
    base = obj.get("base_user")
    base = str(base) if base is not None and ds.has_user(str(base)) else None
    sc = {
        "format": FORMAT, "version": VERSION, "name": str(obj.get("name") or "uploaded scenario")[:120],
        "base_user": base, "data_fingerprint": ds.fingerprint, "history": clean,
        "note": str(obj.get("note") or "")[:500],
    }
    return _sorted(sc), warnings


@dataclass(frozen=True)
class ListDiff:
    entering: list[int]  # items in `after` but not in `before` (in `after` order)
    leaving: list[int]  # items in `before` but not in `after` (in `before` order)
    moves: dict[int, int]  # item -> rank change (positive = moved up) for items in both
    tau: float  # Kendall τ-b between the two rankings over their union (absent = k+1)


def kendall_tau(before: Sequence[int], after: Sequence[int]) -> float:
    """Kendall τ-b of two top-k lists over their union, an absent item ranked k+1
    (tied). 1 = same order, −1 = reversed; identical lists give 1."""
    b, a = [int(x) for x in before], [int(x) for x in after]
    if b == a:
        return 1.0
    union = list(dict.fromkeys(b + a))
    if len(union) < 2:
        return 1.0
    rb = {x: r for r, x in enumerate(b, start=1)}
    ra = {x: r for r, x in enumerate(a, start=1)}
    xb = [rb.get(x, len(b) + 1) for x in union]
    xa = [ra.get(x, len(a) + 1) for x in union]
    tau = kendalltau(xb, xa).statistic
    return float(tau) if tau == tau else 0.0


def diff_lists(before: Sequence[int], after: Sequence[int]) -> ListDiff:
    b, a = [int(x) for x in before], [int(x) for x in after]
    sb, sa = set(b), set(a)
    rb = {x: r for r, x in enumerate(b, start=1)}
    ra = {x: r for r, x in enumerate(a, start=1)}
    return ListDiff(
        entering=[x for x in a if x not in sb],
        leaving=[x for x in b if x not in sa],
        moves={x: rb[x] - ra[x] for x in a if x in sb},
        tau=kendall_tau(b, a),
    )
