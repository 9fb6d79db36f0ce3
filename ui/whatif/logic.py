"""What-if logic without streamlit: edited profiles (scenarios), edits, list diffs and
the explanation delta.

A :class:`Scenario` is frozen; every edit returns a new one. Its history is kept
oldest first (timestamps are whole seconds). The JSON file users download and upload::

    {"format": "reclens-scenario", "version": 1, "name": str, "base_user": str | None,
     "data_fingerprint": str, "history": [{"item_id": str, "timestamp": int}, ...],
     "note": str}

Files without ``format``/``version``/``data_fingerprint``/``name``/``note`` load too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from recsys.data.types import DataError, Dataset, History
from recsys.models.base import Scorer
from ui.data.logic import history_frame

FORMAT = "reclens-scenario"
VERSION = 1
MAX_HISTORY = 5000
MAX_SCENARIO_BYTES = 2 * 1024 * 1024
MAX_NAME, MAX_NOTE = 120, 500
DAY = 86400
IntsLike = Sequence[int] | np.ndarray
START = 1_700_000_000  # the first timestamp of a profile that has none


@dataclass(frozen=True)
class Event:
    """One history entry: an external item id and when (seconds since the epoch)."""

    item_id: str
    timestamp: int


def _in_time_order(events: Iterable[Event]) -> tuple[Event, ...]:
    return tuple(sorted(events, key=lambda e: e.timestamp))  # stable: ties keep their order


@dataclass(frozen=True)
class Scenario:
    """An edited profile: a name, the user it was copied from (None = built from
    scratch), its history oldest first, a note, and the fingerprint of the data its
    item ids were checked against."""

    name: str
    base_user: str | None
    history: tuple[Event, ...] = ()
    note: str = ""
    data_fingerprint: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "name", str(self.name)[:MAX_NAME])
        object.__setattr__(self, "note", str(self.note)[:MAX_NOTE])

    def __len__(self) -> int:
        return len(self.history)

    @property
    def item_ids(self) -> list[str]:
        return [e.item_id for e in self.history]

    @property
    def timestamps(self) -> list[int]:
        return [e.timestamp for e in self.history]

    def to_history(self, ds: Dataset) -> History:
        """The scenario as a :class:`History` of ``ds`` (user = the base user or "")."""
        items = np.array([ds.item_index(i) for i in self.item_ids], dtype=np.int64)
        return History(self.base_user or "", items, np.array(self.timestamps, dtype=np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "name": self.name, "base_user": self.base_user,
            "data_fingerprint": self.data_fingerprint,
            "history": [{"item_id": e.item_id, "timestamp": e.timestamp} for e in self.history],
            "note": self.note,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes | bytearray, ds: Dataset,
                  source: str = "scenario") -> tuple[Scenario, list[str]]:
        """Check a scenario file (raw bytes, text, or an already parsed object) against
        ``ds``. Returns (the scenario, warnings); raises :class:`DataError` naming the
        problem (and ``source``)."""
        obj = _decode(text, source)
        events = [_event(n, e, source) for n, e in enumerate(_entries(obj, source), start=1)]
        _check_known(events, ds, source)
        warnings: list[str] = []
        fp = obj.get("data_fingerprint")
        if fp and fp != ds.fingerprint:
            warnings.append("this scenario was saved on a different version of the data; items were matched by id")
        base = obj.get("base_user")
        base = str(base) if base is not None and ds.has_user(str(base)) else None
        sc = cls(str(obj.get("name") or "uploaded scenario"), base, _in_time_order(events),
                 str(obj.get("note") or ""), ds.fingerprint)
        return sc, warnings


@dataclass(frozen=True)
class Draft:
    """The What-if studio's working profile: the scenario and whether the analyst has
    edited it (an unedited draft follows the selected user)."""

    scenario: Scenario
    edited: bool = False


# ---- reading a scenario file ---------------------------------------------------------------
def _decode(obj: Any, source: str) -> dict[str, Any]:
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
    return obj


def _entries(obj: dict[str, Any], source: str) -> list[Any]:
    if obj.get("format") not in (None, FORMAT):
        raise DataError(f"format is {obj.get('format')!r}, expected {FORMAT!r}", source)
    hist = obj.get("history")
    if not isinstance(hist, list):
        raise DataError("'history' must be a list of {item_id, timestamp}", source)
    if len(hist) > MAX_HISTORY:
        raise DataError(f"history has {len(hist)} items; at most {MAX_HISTORY}", source)
    return hist


def _event(n: int, e: Any, source: str) -> Event:
    if not isinstance(e, dict) or "item_id" not in e:
        raise DataError(f"history entry {n} needs an 'item_id'", source)
    t = e.get("timestamp")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(float(t)) or float(t) < 0:
        raise DataError(f"history entry {n}: timestamp must be a non-negative number of seconds", source)
    return Event(str(e["item_id"]), int(t))


def _check_known(events: Sequence[Event], ds: Dataset, source: str) -> None:
    unknown = [e.item_id for e in events if not ds.has_item(e.item_id)]
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise DataError(f"{len(unknown)} item id(s) not in this dataset: {shown}", source)


# ---- building scenarios -------------------------------------------------------------------------
def new_scenario(ds: Dataset, name: str, base_user: str | None, items: IntsLike,
                 timestamps: IntsLike | None, note: str = "") -> Scenario:
    """A scenario of item indices of ``ds``; without timestamps the items are placed one
    day apart in the given order."""
    if timestamps is None:
        timestamps = [START + j * DAY for j in range(len(items))]
    events = [Event(ds.item_ids[int(i)], int(t)) for i, t in zip(items, timestamps)]
    return Scenario(name, base_user, _in_time_order(events), note, ds.fingerprint)


def from_user(ds: Dataset, user: str, name: str | None = None) -> Scenario:
    h = ds.history(user)
    return new_scenario(ds, name or f"user {user}", user, h.items, h.timestamps)


def empty_scenario(ds: Dataset, name: str = "cold start") -> Scenario:
    return new_scenario(ds, name, None, [], [])


def base_history(ds: Dataset, sc: Scenario) -> History:
    """The 'before' profile: the base user's real history, or an empty one (cold start)."""
    if sc.base_user and ds.has_user(sc.base_user):
        return ds.history(sc.base_user)
    return History("", np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


# ---- edits (each returns a new scenario) ------------------------------------------------------
def _median_gap(ts: Sequence[int]) -> int:
    if len(ts) < 2:
        return DAY
    return max(int(np.median(np.diff(np.asarray(ts, dtype=np.int64)))), 1)


def add_item(sc: Scenario, item_id: str, timestamp: int | None = None) -> Scenario:
    """``item_id`` appended after the last item at the median gap (or at ``timestamp``);
    the history stays in time order."""
    ts = sc.timestamps
    if timestamp is None:
        timestamp = (ts[-1] + _median_gap(ts)) if ts else START
    return replace(sc, history=_in_time_order([*sc.history, Event(str(item_id), int(timestamp))]))


def remove_at(sc: Scenario, positions: Iterable[int]) -> Scenario:
    drop = {int(p) for p in positions}
    return replace(sc, history=tuple(e for j, e in enumerate(sc.history) if j not in drop))


def move(sc: Scenario, pos: int, new_pos: int) -> Scenario:
    """Move the item at ``pos`` to ``new_pos``. Timestamps stay attached to positions
    (the time axis is kept; the items swap places in it)."""
    n = len(sc.history)
    if not 0 <= pos < n:
        raise DataError(f"position {pos + 1} is outside the history (1..{n})")
    ids = sc.item_ids
    ids.insert(min(max(int(new_pos), 0), n - 1), ids.pop(pos))
    return replace(sc, history=tuple(Event(i, t) for i, t in zip(ids, sc.timestamps)))


def shift_dates(sc: Scenario, days: float, positions: Iterable[int] | None = None) -> Scenario:
    """Shift the timestamps of ``positions`` (default: all) by ``days``; the history is
    re-sorted by time, so shifting an item can reorder it."""
    sel = None if positions is None else {int(p) for p in positions}
    delta = int(round(float(days) * DAY))
    events = [Event(e.item_id, max(0, e.timestamp + delta)) if sel is None or j in sel else e
              for j, e in enumerate(sc.history)]
    return replace(sc, history=_in_time_order(events))


def renamed(sc: Scenario, name: str) -> Scenario:
    return replace(sc, name=(name or sc.name or "scenario").strip()[:MAX_NAME])


def rows_to_positions(n: int, rows: Iterable[int]) -> list[int]:
    """The history table shows the newest first: displayed rows -> history positions."""
    return sorted(n - 1 - int(r) for r in rows if 0 <= int(r) < n)


# ---- tables ---------------------------------------------------------------------------------------
def history_display(ds: Dataset, sc: Scenario) -> pd.DataFrame:
    """The edited history, newest first; items not in the base user's history are
    marked "added"."""
    h = sc.to_history(ds)
    df = history_frame(ds, h.items, h.timestamps)
    if sc.base_user and ds.has_user(sc.base_user):
        orig = {int(i) for i in ds.history(sc.base_user).items}
        df["edit"] = ["" if int(i) in orig else "added" for i in h.items]
    return df.iloc[::-1].reset_index(drop=True)


@dataclass(frozen=True)
class ListDiff:
    entering: list[int]  # items in `after` but not in `before` (in `after` order)
    leaving: list[int]  # items in `before` but not in `after` (in `before` order)
    moves: dict[int, int] = field(default_factory=dict)  # item -> rank change (positive = up), items in both
    tau: float = 1.0  # Kendall τ-b between the two rankings over their union (absent = k+1)


def kendall_tau(before: IntsLike, after: IntsLike) -> float:
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
    res: Any = kendalltau([rb.get(x, len(b) + 1) for x in union], [ra.get(x, len(a) + 1) for x in union])
    tau = float(res.statistic)  # scipy's result type is not visible to type checkers
    return tau if tau == tau else 0.0


def diff_lists(before: IntsLike, after: IntsLike) -> ListDiff:
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


def _change(d: ListDiff, item: int) -> str:
    if item in d.entering:
        return "new"
    m = d.moves.get(item, 0)
    return f"▲{m}" if m > 0 else (f"▼{-m}" if m < 0 else "–")


def diff_frames(ds: Dataset, before: IntsLike, after: IntsLike) -> tuple[pd.DataFrame, pd.DataFrame, ListDiff]:
    """Display tables of the lists before and after the edit, and their diff."""
    b, a = [int(i) for i in before], [int(i) for i in after]
    d = diff_lists(b, a)
    lb = pd.DataFrame({
        "rank": range(1, len(b) + 1), "title": [ds.titles[i] for i in b],
        "status": ["leaves" if i in d.leaving else "" for i in b],
    })
    la = pd.DataFrame({
        "rank": range(1, len(a) + 1), "title": [ds.titles[i] for i in a],
        "change": [_change(d, i) for i in a],
    })
    return lb, la, d


# ---- explanation delta ------------------------------------------------------------------------------
def target_rank(model: Scorer, history: History, target: int) -> int:
    """The rank of ``target`` among the items not in ``history`` (1 = top)."""
    t = None if history.timestamps is None else [history.timestamps]
    scores = np.asarray(model.score([history.items], t)[0], dtype=np.float32)
    above = scores > scores[int(target)]
    above[history.items] = False
    return int(1 + above.sum())


def _delta_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in ("SHAP before", "SHAP after"):
        if c not in df:
            df[c] = np.nan
    if not df.empty:
        df["Δ"] = (df["SHAP after"].fillna(0) - df["SHAP before"].fillna(0)).round(4)
        order = np.argsort(-df["Δ"].abs().to_numpy(), kind="stable")
        df = df.iloc[order].reset_index(drop=True)
    return df


def explanation_delta(ds: Dataset, model: Scorer, target: int, before: History, after: History,
                      k: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """SHAP attributions of ``target`` before and after the edit, per history item
    (largest change first), plus the target's value (log-probability) and rank
    before/after (no value for an empty profile)."""
    from explain import explain_item

    rows: dict[int, dict[str, Any]] = {}
    facts: dict[str, float] = {}
    for label, h in (("before", before), ("after", after)):
        facts[f"rank {label}"] = float(target_rank(model, h, target))
        if len(h) == 0:
            continue
        a = explain_item(ds, model, h, int(target), method="shap", k=k, extras=False).attribution
        facts[f"value {label}"] = float(a.value)
        for f, v in zip(a.features, a.values):
            r = rows.setdefault(int(f), {"item_id": ds.item_ids[int(f)], "title": ds.titles[int(f)]})
            r[f"SHAP {label}"] = round(float(r.get(f"SHAP {label}", 0.0)) + float(v), 4)
    return _delta_frame(list(rows.values())), facts
