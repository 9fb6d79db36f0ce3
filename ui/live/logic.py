"""The live view's logic (no streamlit): the event log's new tail, a followed user's
list re-scored on every new event of theirs, rank moves and the new event's effect.

The page's dataset includes the log up to the position it was loaded at
(``ds.log.position``); :func:`poll` reads only the segments appended since the last tick
(:meth:`recsys.data.events.EventLog.read_since`) and keeps the events after the
dataset's position as a :class:`Tail` in memory — the page never reloads the dataset to
see a new event. A user's live history is their history in the dataset plus their tail
events (items the model knows), so the same code serves a fragment rerun (old dataset,
longer tail) and a full rerun (reloaded dataset, shorter tail).

:class:`Follow` is what a session knows about the user it follows: the history it last
scored and the list it got. :func:`advance` compares the current history with it; when
the user has new events it re-scores, records the rank moves against the previous list
(up, down, new, out) and attributes them to the new events by their leave-one-out effect:
for each moved item, the change of its log-probability (the masked scorer of the
explanations, :class:`explain.masked.MaskedScorer`, over the same candidate set) when
that one event is removed from the history — one batched forward pass per change.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from explain.masked import MaskedScorer
from recsys.data.events import EventLog, log_stamp
from recsys.data.types import Dataset, History
from recsys.models.base import Scorer, top_k

RUN_EVERY_S = 0.5  # the live fragment's poll interval: event -> visible list within ~0.5 s + scoring
TIMELINE_EVERY_S = 2.0  # the growing timeline redraws less often (a plotly figure per redraw)
TAIL_MAX = 20_000  # tail events kept in memory; beyond it the page reloads its data once
NEWEST = 15  # rows of the newest-events table
MAX_ATTRIBUTED_EVENTS = 3  # new events of one change attributed (leave-one-out each)
MAX_ATTRIBUTED_ITEMS = 5  # moved items attributed


# ---- the log's tail -------------------------------------------------------------------------
@dataclass(frozen=True)
class Tail:
    """The events of the log after the dataset's position (``start``) up to ``end``, with
    their 1-based log ``position``; ``stale``: the log was emptied since the dataset was
    loaded (the page must reload it)."""

    log_dir: str
    data_key: str  # the dataset's content key the tail extends
    start: int
    end: int
    generation: str
    stamp: str
    last_timestamp: int | None
    events: pd.DataFrame
    stale: bool = False

    @property
    def too_long(self) -> bool:
        return len(self.events) > TAIL_MAX


def _with_positions(events: pd.DataFrame, first: int) -> pd.DataFrame:
    out = events.reset_index(drop=True).copy()
    out["position"] = np.arange(first + 1, first + 1 + len(out), dtype=np.int64)
    return out


def poll(ds: Dataset, log_dir: str | Path, prev: Tail | None = None) -> Tail:
    """The tail of ``ds``'s log now, reading only what was appended since ``prev`` (one
    ``stat`` when nothing was)."""
    d = str(log_dir)
    start = ds.log.position if ds.log is not None else 0
    stamp = log_stamp(d)
    same = prev is not None and prev.log_dir == d and prev.data_key == ds.content_key and not prev.stale
    if same and prev is not None and stamp == prev.stamp:
        return prev
    log = EventLog(d)
    if same and prev is not None:
        st, new = log.read_since(prev.end)
        if st.generation == prev.generation and st.events >= prev.end:
            events = pd.concat([prev.events, _with_positions(new, prev.end)], ignore_index=True)
            return Tail(d, ds.content_key, start, st.events, st.generation, stamp, st.last_timestamp, events)
    st, new = log.read_since(start)
    stale = st.events < start or (ds.log is not None and st.info_key(start) != ds.log.key)
    if stale:
        new = new.iloc[:0]
    return Tail(d, ds.content_key, start, st.events, st.generation, stamp, st.last_timestamp,
                _with_positions(new, start), stale)


def newest_events(log_dir: str | Path, n: int = NEWEST) -> pd.DataFrame:
    """The ``n`` newest events of the log (newest first) with their positions — read from
    the last segments only."""
    log = EventLog(log_dir)
    total = log.state().events
    first = max(0, total - n)
    _, ev = log.read_since(first)
    return _with_positions(ev, first).iloc[::-1].reset_index(drop=True)


def events_table(ds: Dataset, events: pd.DataFrame) -> pd.DataFrame:
    """Events for display: time, user, item title (the item id when the data does not
    know it yet), rating, log position."""
    titles = [ds.titles[ds.item_index(i)] if ds.has_item(i) else f"{i} (new item)" for i in events["item_id"]]
    return pd.DataFrame({
        "#": events["position"].to_numpy(dtype=np.int64),
        "when": pd.to_datetime(events["timestamp"].to_numpy(dtype=np.int64), unit="s", utc=True),
        "user": events["user_id"].astype(str).to_numpy(),
        "item": titles,
        "rating": [f"{r:g}" if np.isfinite(r) else "" for r in events["rating"].to_numpy(dtype=np.float64)],
    })


# ---- a followed user ---------------------------------------------------------------------
Event = tuple[str, int]  # (item id, timestamp)


def live_history(ds: Dataset, tail: Tail, user: str, before: int | None = None) -> tuple[History, list[Event]]:
    """``user``'s history in ``ds`` plus their tail events (at log positions <= ``before``
    when given), oldest first, as model input (items the model does not know are left
    out), and the same history as (item id, timestamp) events."""
    if ds.has_user(user):
        items, ts = ds.sequence(ds.user_index(user))
        items, ts = np.asarray(items, dtype=np.int64), np.asarray(ts, dtype=np.int64)
    else:
        items, ts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    ev = tail.events
    sel = ev["user_id"].astype(str).to_numpy() == str(user)
    if before is not None:
        sel &= ev["position"].to_numpy(dtype=np.int64) <= before
    mine_items = [str(x) for x in ev["item_id"].to_numpy()[sel].tolist()]
    mine_ts = ev["timestamp"].to_numpy(dtype=np.int64)[sel]
    known = [ds.has_item(i) for i in mine_items]
    if any(known):
        add_i = np.array([ds.item_index(i) for i, k in zip(mine_items, known) if k], dtype=np.int64)
        add_t = mine_ts[np.asarray(known, dtype=bool)]
        items, ts = np.concatenate([items, add_i]), np.concatenate([ts, add_t])
        order = np.argsort(ts, kind="stable")
        items, ts = items[order], ts[order]
    events = [(ds.item_ids[int(i)], int(t)) for i, t in zip(items, ts)]
    events += [(i, int(t)) for i, t, k in zip(mine_items, mine_ts, known) if not k]
    return History(str(user), items, ts), events


@dataclass(frozen=True)
class Move:
    item_id: str
    title: str
    before: int | None  # rank in the previous list (None: not in it)
    after: int | None  # rank now (None: left the list)
    effect: tuple[float, ...] = ()  # log-probability change due to each new event (leave-one-out)

    @property
    def kind(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "out"
        return "up" if self.after < self.before else "down" if self.after > self.before else "same"

    @property
    def label(self) -> str:
        k = self.kind
        if k in ("up", "down"):
            assert self.before is not None and self.after is not None
            return f"{'▲' if k == 'up' else '▼'}{abs(self.before - self.after)}"
        return {"new": "new", "out": "out", "same": "–"}[k]


@dataclass(frozen=True)
class Change:
    """One re-scoring after new events of the followed user."""

    events: tuple[Event, ...]  # the new events (oldest first)
    moves: tuple[Move, ...]  # the new list's items (rank order), then the items that left
    previous: tuple[str, ...]
    score_ms: float  # scoring the new history + top-k
    attribution_ms: float
    at: float  # wall time of the re-scoring


@dataclass
class Follow:
    """A session's view of one followed user (kept in the session state only)."""

    user: str
    k: int
    data_key: str  # the model + dataset the list was scored with
    history: list[Event]
    items: tuple[str, ...]
    scores: tuple[float, ...]
    changes: list[Change] = field(default_factory=list)  # newest last
    revision: int = 0  # increments with every change (the timeline redraws on it)

    @property
    def last(self) -> Change | None:
        return self.changes[-1] if self.changes else None


def score_list(model: Scorer, ds: Dataset, h: History, k: int) -> tuple[tuple[str, ...], tuple[float, ...], np.ndarray]:
    """The model's top-k (item ids, scores) for a history and the full score row."""
    s = np.asarray(model.score([h.items], None if h.timestamps is None else [h.timestamps])[0], dtype=np.float64)
    top = top_k(s, k, h.items)
    return tuple(ds.item_ids[int(i)] for i in top), tuple(float(s[int(i)]) for i in top), s


def start(model: Scorer, ds: Dataset, tail: Tail, user: str, k: int, since: int | None = None) -> Follow:
    """Follow ``user`` from their history up to log position ``since`` (their tail events
    after it then count as new on the next :func:`advance`; None: from now)."""
    h, events = live_history(ds, tail, user, before=since)
    items, scores, _ = score_list(model, ds, h, k)
    return Follow(user, k, _key(ds, model), events, items, scores)


def _key(ds: Dataset, model: Scorer) -> str:
    return f"{ds.content_key}/{id(model)}"


def _added(old: list[Event], new: list[Event]) -> list[Event]:
    """The events of ``new`` that ``old`` does not have (multiset difference), oldest first."""
    left = Counter(old)
    out = []
    for e in new:
        if left[e] > 0:
            left[e] -= 1
        else:
            out.append(e)
    return out


def advance(f: Follow, model: Scorer, ds: Dataset, tail: Tail, now: float | None = None) -> bool:
    """Re-score ``f``'s user when their history grew; True when it did (``f`` updated)."""
    h, events = live_history(ds, tail, f.user)
    if events == f.history:
        f.data_key = _key(ds, model)
        return False
    new = _added(f.history, events)
    if not new:  # history shrank (a reset reloaded the data): start again from here
        items, scores, _ = score_list(model, ds, h, f.k)
        f.history, f.items, f.scores, f.changes, f.data_key = events, items, scores, [], _key(ds, model)
        f.revision += 1
        return True
    t0 = time.perf_counter()
    items, scores, _ = score_list(model, ds, h, f.k)
    t1 = time.perf_counter()
    moves = rank_moves(ds, f.items, items)
    moves = attribute(model, ds, h, new, moves)
    t2 = time.perf_counter()
    f.changes = (f.changes + [Change(tuple(new), tuple(moves), f.items, 1000 * (t1 - t0), 1000 * (t2 - t1),
                                     time.time() if now is None else now)])[-20:]
    f.history, f.items, f.scores, f.data_key = events, items, scores, _key(ds, model)
    f.revision += 1
    return True


def rank_moves(ds: Dataset, before: tuple[str, ...], after: tuple[str, ...]) -> list[Move]:
    """The new list with each item's previous rank, then the items that left it."""
    prev = {x: r for r, x in enumerate(before, start=1)}
    now = {x: r for r, x in enumerate(after, start=1)}

    def title(x: str) -> str:
        return ds.titles[ds.item_index(x)] if ds.has_item(x) else x

    moves = [Move(x, title(x), prev.get(x), r) for x, r in now.items()]
    moves += [Move(x, title(x), r, None) for x, r in prev.items() if x not in now]
    return moves


def attribute(model: Scorer, ds: Dataset, h: History, new: list[Event], moves: list[Move]) -> list[Move]:
    """``moves`` with the leave-one-out effect of each new event (the most recent
    :data:`MAX_ATTRIBUTED_EVENTS`) on the moved items (the :data:`MAX_ATTRIBUTED_ITEMS`
    that moved most; new entrants and exits first): the target's log-probability over
    the items not in the history with the full history minus the same without the
    event — explain's masked scorer, one batched forward pass."""
    moved = [m for m in moves if m.kind != "same" and ds.has_item(m.item_id)]

    def order(m: Move) -> tuple[int, int]:  # entrants from the top, then exits, then the largest moves
        if m.kind == "new":
            return 0, m.after or 0
        if m.kind == "out":
            return 1, m.before or 0
        return 2, -abs((m.before or 0) - (m.after or 0))

    moved.sort(key=order)
    moved = moved[:MAX_ATTRIBUTED_ITEMS]
    if not moved or len(h) == 0:
        return moves
    hist_ids = [(ds.item_ids[int(i)], int(t)) for i, t in zip(h.items, h.timestamps if h.timestamps is not None
                                                               else np.zeros(len(h), np.int64))]
    positions = []
    for e in new[-MAX_ATTRIBUTED_EVENTS:]:
        hits = [p for p, x in enumerate(hist_ids) if x == e]
        if hits:
            positions.append(hits[-1])
    if not positions:  # the new events are items the model does not know
        return moves
    ms = MaskedScorer(model, h, ds.item_index(moved[0].item_id), max_features=max(1, len(h) - min(positions)))
    masks = np.ones((1 + len(positions), ms.n_features), dtype=np.int8)
    for r, p in enumerate(positions, start=1):
        masks[r, p - ms.n_context] = 0
    rows = ms.scores(masks)
    effects: dict[str, tuple[float, ...]] = {}
    for m in moved:
        v = MaskedScorer(model, h, ds.item_index(m.item_id), max_features=ms.max_features).values_from_scores(rows)
        effects[m.item_id] = tuple(float(v[0] - v[r]) for r in range(1, len(v)))
    return [Move(m.item_id, m.title, m.before, m.after, effects.get(m.item_id, ())) for m in moves]


def moves_table(f: Follow, ch: Change) -> pd.DataFrame:
    """The latest change as a table: rank, move, title, effect of the new event(s)."""
    rows = []
    for m in ch.moves:
        eff = "" if not m.effect else ", ".join(f"{e:+.2f}" for e in m.effect)
        rows.append({"rank": m.after if m.after is not None else None, "move": m.label,
                     "was": m.before, "title": m.title, "effect of each new event (Δ log-prob)": eff})
    df = pd.DataFrame(rows)
    df["rank"] = df["rank"].astype("Int64")
    df["was"] = df["was"].astype("Int64")
    return df


def moved_count(ch: Change) -> int:
    return sum(1 for m in ch.moves if m.kind != "same")
