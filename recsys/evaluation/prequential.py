"""Prequential ("test, then train") evaluation over a stream of events.

Each event of a stream is predicted *before* it is seen: the user's history up to that
event (every interaction of theirs that arrived before it, in the dataset's protocol
order) is scored, the rank of the event's item is recorded — full ranking over all
items, the items already in that history excluded, pessimistic ties
(:func:`recsys.evaluation.metrics.rank_of_targets`, the offline protocol's rules) —
and only then does the event join the history. HR@k and NDCG@k are means over the
ranks; the *rolling* figure is their mean over the most recent ``window`` events.

A stream is a list of row indices into a dataset's interaction arrays in arrival order
(:class:`Stream`): the event log a dataset includes (:func:`log_stream`, arrival = log
order), or the last part of a source in time (:func:`time_stream`, as ``replay``
splits it). Everything else in the dataset counts as known before the stream starts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from recsys.data.types import DataError, Dataset
from recsys.evaluation.metrics import ndcg_of_ranks, rank_of_targets
from recsys.models.base import Scorer

K = 10
DEFAULT_WINDOW = 500  # events in the rolling figure (the card's and `evaluate --prequential`'s default)
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Stream:
    """The rows of ``ds`` (indices into its interaction arrays) that arrive as a stream,
    in arrival order; every other row is known before the stream starts."""

    rows: np.ndarray  # int64 (E,)

    def __len__(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class Prequential:
    """Ranks of the evaluated stream positions (``positions``, ascending) and what they
    were: the user, the item and the time of each event."""

    positions: np.ndarray  # int64 (N,) stream positions evaluated
    ranks: np.ndarray  # int64 (N,) 1-based ranks, predicted before the event was seen
    users: np.ndarray  # int64 (N,) user indices
    items: np.ndarray  # int64 (N,) item indices
    timestamps: np.ndarray  # int64 (N,)
    k: int = K

    def __len__(self) -> int:
        return int(self.ranks.shape[0])

    def hits(self) -> np.ndarray:
        return (self.ranks <= self.k).astype(np.float64)

    def gains(self) -> np.ndarray:
        return ndcg_of_ranks(self.ranks, self.k)

    def summary(self, last: int | None = None) -> dict[str, Any]:
        """``{"events", "hr@k", "ndcg@k"}`` over every evaluated event, or the last
        ``last`` of them (None when there is none)."""
        sl = slice(None) if last is None else slice(max(0, len(self) - last), None)
        h, g = self.hits()[sl], self.gains()[sl]
        n = int(h.shape[0])
        return {"events": n, f"hr@{self.k}": float(h.mean()) if n else None,
                f"ndcg@{self.k}": float(g.mean()) if n else None}

    def rolling(self, window: int) -> tuple[np.ndarray, np.ndarray]:
        """(HR@k, NDCG@k) trailing means over the last ``window`` events at every
        evaluated event (fewer at the start)."""
        return _trailing_mean(self.hits(), window), _trailing_mean(self.gains(), window)

    def blocks(self, size: int) -> list[dict[str, Any]]:
        """HR@k / NDCG@k per consecutive block of ``size`` evaluated events (the last
        block may be shorter): ``[{"first", "last", "events", "hr@k", "ndcg@k"}]``
        with ``first``/``last`` stream positions."""
        out = []
        h, g = self.hits(), self.gains()
        for a in range(0, len(self), size):
            b = min(len(self), a + size)
            out.append({"first": int(self.positions[a]), "last": int(self.positions[b - 1]), "events": b - a,
                        f"hr@{self.k}": float(h[a:b].mean()), f"ndcg@{self.k}": float(g[a:b].mean())})
        return out


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    if window < 1:
        raise DataError(f"--window must be at least 1, not {window}")
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    idx = np.arange(1, x.shape[0] + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


# ---- streams --------------------------------------------------------------------------------


def time_stream(ds: Dataset, split: int) -> Stream:
    """The rows of ``ds`` from time ``split`` on, in time order (the dataset's order among
    equal times) — the events ``replay --split`` would feed. DataError when either side
    is empty."""
    before = np.flatnonzero(ds.timestamp < split)
    after = np.flatnonzero(ds.timestamp >= split)
    if before.size == 0 or after.size == 0:
        raise DataError(f"split {split}: every interaction is on one side of it")
    return Stream(after[np.argsort(ds.timestamp[after], kind="stable")].astype(np.int64))


def split_at_fraction(ds: Dataset, fraction: float) -> int:
    """The time from which the last ``fraction`` of ``ds``'s interactions happen (the
    interaction at that quantile of the sorted times; ties go to the later part)."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"--last must be a fraction between 0 and 1 (e.g. 0.1), not {fraction:g}")
    ts = np.sort(ds.timestamp)
    return int(ts[min(len(ts) - 1, int((1.0 - fraction) * len(ts)))])


def log_stream(ds: Dataset, events: pd.DataFrame, start: int = 0) -> Stream:
    """The rows of ``ds`` (loaded with its event log) holding the logged ``events``
    (``user_id``, ``item_id``, ``timestamp``; log order) from log position ``start`` on,
    in log order. The stream's position p is log position ``start + p``. A logged event
    is matched to a row of its user with the same item and time (identical events take
    the latest rows, in the dataset's order). DataError when an event is not in ``ds``."""
    ev = events.iloc[start:]
    n = len(ev)
    rows = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return Stream(rows)
    uids = ev["user_id"].astype(str).tolist()
    iids = ev["item_id"].astype(str).tolist()
    tss = ev["timestamp"].to_numpy(dtype=np.int64)
    off = ds.user_offsets
    slots: dict[int, dict[tuple[int, int], list[int]]] = {}
    for p in range(n - 1, -1, -1):  # latest first: they take the latest identical rows
        if not (ds.has_user(uids[p]) and ds.has_item(iids[p])):
            raise DataError(f"logged event {start + p + 1} ({uids[p]}, {iids[p]}) is not in the loaded data")
        u = ds.user_index(uids[p])
        if u not in slots:
            a, b = int(off[u]), int(off[u + 1])
            by: dict[tuple[int, int], list[int]] = defaultdict(list)
            for r, (i, t) in enumerate(zip(ds.item[a:b].tolist(), ds.timestamp[a:b].tolist()), start=a):
                by[(i, t)].append(r)
            slots[u] = by
        free = slots[u].get((ds.item_index(iids[p]), int(tss[p])))
        if not free:
            raise DataError(f"logged event {start + p + 1} ({uids[p]}, {iids[p]}, {int(tss[p])}) is not in the "
                            "loaded data (was the log changed while reading?)")
        rows[p] = free.pop()
    return Stream(rows)


# ---- scoring --------------------------------------------------------------------------------


def prequential(
    scorer: Scorer,
    ds: Dataset,
    stream: Stream,
    positions: np.ndarray | None = None,
    *,
    k: int = K,
    batch_size: int = 128,
    progress: Progress | None = None,
) -> Prequential:
    """Predict each event of ``stream`` at ``positions`` (default: all) before it is seen.

    The history of the event at position p is its user's rows in ``ds`` (protocol
    order) minus the stream's rows at positions >= p — the event itself and everything
    that arrives after it. ``scorer`` may know fewer items than ``ds`` (a prefix: the
    items an event log added after it was trained); it must return ``ds.n_items`` scores.
    """
    pos = np.arange(len(stream), dtype=np.int64) if positions is None else np.asarray(positions, dtype=np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= len(stream) or np.any(np.diff(pos) <= 0)):
        raise ValueError("positions must be ascending stream positions")
    rows = stream.rows
    first = int(pos[0]) if pos.size else len(stream)
    # for each user, the stream rows that can still be ahead of an evaluated event
    later: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    tail = np.arange(first, len(stream), dtype=np.int64)
    tail_users = ds.user[rows[tail]].astype(np.int64)
    order = np.argsort(tail_users, kind="stable")
    su, sp = tail_users[order], tail[order]
    bounds = np.flatnonzero(np.diff(su)) + 1
    for grp_u, grp_p in zip(np.split(su, bounds), np.split(sp, bounds)):
        if grp_u.size:
            later[int(grp_u[0])] = (rows[grp_p], grp_p)
    off = ds.user_offsets
    n = int(pos.size)
    ranks = np.zeros(n, dtype=np.int64)
    users = ds.user[rows[pos]].astype(np.int64)
    items = ds.item[rows[pos]].astype(np.int64)
    times = ds.timestamp[rows[pos]].astype(np.int64)
    for a in range(0, n, batch_size):
        b = min(n, a + batch_size)
        hist, hts = [], []
        for j in range(a, b):
            u, p = int(users[j]), int(pos[j])
            lo, hi = int(off[u]), int(off[u + 1])
            r_later, p_later = later[u]
            drop = r_later[p_later >= p]
            keep = ~np.isin(np.arange(lo, hi), drop)
            hist.append(np.asarray(ds.item[lo:hi][keep], dtype=np.int64))
            hts.append(np.asarray(ds.timestamp[lo:hi][keep], dtype=np.int64))
        s = np.asarray(scorer.score(hist, hts))
        if s.shape != (b - a, ds.n_items):
            raise ValueError(f"scorer {getattr(scorer, 'name', scorer)!r} returned shape {s.shape}, "
                             f"expected {(b - a, ds.n_items)}")
        ranks[a:b] = rank_of_targets(s, items[a:b], hist)
        if progress:
            progress(b / n, f"predicted {b:,}/{n:,} events before seeing them")
    return Prequential(pos, ranks, users, items, times, k)


def evaluate_stream(
    scorer: Scorer,
    ds: Dataset,
    stream: Stream,
    *,
    window: int = DEFAULT_WINDOW,
    last: int | None = None,
    k: int = K,
    progress: Progress | None = None,
) -> tuple[Prequential, dict[str, Any]]:
    """Prequential evaluation of ``stream`` (its last ``last`` events, default all) and
    its JSON summary: ``{"events", "window", "hr@k", "ndcg@k"}`` over the last
    ``window`` events, ``"overall"`` over every evaluated event and ``"blocks"`` (the
    figure per ``window`` consecutive events)."""
    if window < 1:
        raise DataError(f"--window must be at least 1, not {window}")
    n = len(stream)
    lo = 0 if last is None else max(0, n - last)
    res = prequential(scorer, ds, stream, np.arange(lo, n, dtype=np.int64), k=k, progress=progress)
    recent = res.summary(window)
    return res, {"events": len(res), "window": window, f"hr@{k}": recent[f"hr@{k}"],
                 f"ndcg@{k}": recent[f"ndcg@{k}"], "window_events": recent["events"],
                 "overall": res.summary(), "blocks": res.blocks(window)}
