"""Observed interest: a user's interactions cut into windows, category shares per window.

Calendar windows take their length from a ladder of readable units (hour, day, week,
month, …) so the span gives at most ``max_windows`` of them and at least ~5
interactions per window on average; every-n-interactions windows are used when the
activity is too bursty for calendar windows to say anything (``windowing="auto"``). An
item of several categories splits its weight. Shares are smoothed with the
neighbouring windows (weight ``smooth``), never across a change point, and always sum to 1.
"""

from __future__ import annotations

import datetime as _dt
from typing import NamedTuple, Sequence

import numpy as np

from recsys.data.types import DataError

MAX_WINDOWS = 12
MIN_PER_WINDOW = 4
DEFAULT_SMOOTH = 0.5

HOUR, DAY = 3600, 86400
# (label, seconds or months): fixed-length units, then calendar months/years
_UNITS: tuple[tuple[str, int, int], ...] = (
    ("minute", 60, 0), ("5 minutes", 300, 0), ("15 minutes", 900, 0), ("hour", HOUR, 0),
    ("3 hours", 3 * HOUR, 0), ("6 hours", 6 * HOUR, 0), ("day", DAY, 0), ("2 days", 2 * DAY, 0),
    ("week", 7 * DAY, 0), ("2 weeks", 14 * DAY, 0), ("month", 0, 1), ("quarter", 0, 3),
    ("half-year", 0, 6), ("year", 0, 12), ("2 years", 0, 24), ("5 years", 0, 60), ("decade", 0, 120),
)
_MONDAY = 4 * DAY  # 1970-01-05 was a Monday: weeks start on Mondays


class Window(NamedTuple):
    """One window of observed interest: [start, end) seconds, interactions, shares."""

    start: int
    end: int
    n: int
    shares: dict[str, float]


def shares_dict(categories: Sequence[str], v: np.ndarray) -> dict[str, float]:
    """{category: share} over all categories; rounded to 6 digits and summing to 1."""
    v = np.asarray(v, dtype=np.float64)
    tot = v.sum()
    v = v / tot if tot > 0 else np.full(len(categories), 1.0 / max(len(categories), 1))
    r = np.round(v, 6)
    if r.size:
        j = int(np.argmax(r))
        r[j] = round(r[j] + (1.0 - r.sum()), 6)  # rounding remainder to the largest share
    return {c: float(x) for c, x in zip(categories, r)}


def _month_floor(t: int, months: int) -> int:
    d = _dt.datetime.fromtimestamp(int(t), tz=_dt.timezone.utc)
    idx = (d.year * 12 + d.month - 1) // months * months
    return int(_dt.datetime(idx // 12, idx % 12 + 1, 1, tzinfo=_dt.timezone.utc).timestamp())


def _month_add(t: int, months: int) -> int:
    d = _dt.datetime.fromtimestamp(int(t), tz=_dt.timezone.utc)
    idx = d.year * 12 + d.month - 1 + months
    return int(_dt.datetime(idx // 12, idx % 12 + 1, 1, tzinfo=_dt.timezone.utc).timestamp())


def calendar_edges(t0: int, t1: int, max_windows: int = MAX_WINDOWS) -> tuple[str, np.ndarray]:
    """(unit label, bin edges) of the finest readable calendar unit that covers
    [t0, t1] with at most ``max_windows`` windows, aligned to the unit (UTC)."""
    for label, sec, months in _UNITS:
        if sec:
            off = _MONDAY if sec % (7 * DAY) == 0 else 0
            start = (t0 - off) // sec * sec + off
            n = (t1 - start) // sec + 1
            if n <= max_windows:
                return label, start + sec * np.arange(n + 1, dtype=np.int64)
        else:
            start = _month_floor(t0, months)
            edges = [start]
            while edges[-1] <= t1 and len(edges) <= max_windows + 1:
                edges.append(_month_add(edges[-1], months))
            if len(edges) - 1 <= max_windows:
                return label, np.asarray(edges, dtype=np.int64)
    span = max(t1 - t0 + 1, 1)  # beyond a century: equal slices
    return "span", t0 + np.ceil(np.linspace(0, span, max_windows + 1)).astype(np.int64)


def count_bounds(n: int, max_windows: int = MAX_WINDOWS, min_per_window: int | None = None) -> np.ndarray:
    """Index bounds of every-n-interactions windows: as many as possible up to
    ``max_windows`` with at least ``min_per_window`` interactions each (>= 1 window)."""
    mpw = MIN_PER_WINDOW if min_per_window is None else min_per_window
    w = int(np.clip(n // max(mpw, 1), 1, max_windows)) if n else 0
    if w == 0:
        return np.zeros(1, dtype=np.int64)
    return np.round(np.linspace(0, n, w + 1)).astype(np.int64)


def time_window_budget(n: int, max_windows: int = MAX_WINDOWS, min_per_window: int | None = None) -> int:
    """At most ``max_windows`` calendar windows, and few enough that they average at
    least ``min_per_window`` interactions (a short history gets coarser windows)."""
    mpw = MIN_PER_WINDOW if min_per_window is None else min_per_window
    return int(max(1, min(max_windows, n // max(mpw, 1))))


def choose_windowing(ts: np.ndarray, max_windows: int = MAX_WINDOWS) -> str:
    """``"time"`` unless calendar windows would be degenerate — fewer than 3 non-empty
    windows or one window holding over half the interactions — then ``"count"``."""
    if ts.size < 2 or ts[-1] == ts[0]:
        return "count"
    _, edges = calendar_edges(int(ts[0]), int(ts[-1]), time_window_budget(ts.size, max_windows))
    counts = np.bincount(np.searchsorted(edges, ts, side="right") - 1, minlength=len(edges) - 1)
    if (counts > 0).sum() < 3 or counts.max() > 0.5 * ts.size:
        return "count"
    return "time"


def _smooth(mass: np.ndarray, blocked: np.ndarray, weight: float) -> np.ndarray:
    """Neighbour smoothing of per-window category masses: window i gets ``weight`` times
    the masses of windows i-1 and i+1, except across ``blocked[i]`` (between i and i+1)."""
    if weight <= 0 or mass.shape[0] < 2:
        return mass.copy()
    out = mass.copy()
    link = ~blocked  # (w-1,)
    out[1:] += weight * mass[:-1] * link[:, None]
    out[:-1] += weight * mass[1:] * link[:, None]
    return out


def observed_windows(
    x: np.ndarray,
    ts: np.ndarray,
    categories: Sequence[str],
    *,
    windowing: str = "auto",
    max_windows: int = MAX_WINDOWS,
    smooth: float = DEFAULT_SMOOTH,
    change_points: Sequence[int] = (),
) -> tuple[str, str, list[Window]]:
    """(windowing used, unit label, windows) of per-interaction category rows ``x`` (n, C)."""
    if windowing not in ("auto", "time", "count"):
        raise DataError(f"windowing must be 'auto', 'time' or 'count', not {windowing!r}")
    n = ts.size
    if n == 0:
        return windowing, "", []
    mode = choose_windowing(ts, max_windows) if windowing == "auto" else windowing
    if mode == "time" and ts[-1] == ts[0]:
        mode = "count"
    if mode == "time":
        unit, edges = calendar_edges(int(ts[0]), int(ts[-1]), time_window_budget(n, max_windows))
        bounds = np.searchsorted(ts, edges, side="left")
        spans = [(int(edges[j]), int(edges[j + 1]), int(bounds[j]), int(bounds[j + 1])) for j in range(len(edges) - 1)]
        spans = [s for s in spans if s[3] > s[2]]  # drop empty calendar windows
    else:
        b = count_bounds(n, max_windows)
        unit = f"{int(np.ceil(n / max(len(b) - 1, 1)))} interactions"
        spans = [(int(ts[b[j]]), int(ts[b[j + 1] - 1]) + 1, int(b[j]), int(b[j + 1])) for j in range(len(b) - 1)]
    mass = np.stack([x[a:b].sum(0) for _, _, a, b in spans]).astype(np.float64)
    cps = np.asarray(sorted(change_points), dtype=np.int64)
    # a change point between two windows' middles blocks smoothing between them
    mids = np.asarray([(s + e) / 2.0 for s, e, _, _ in spans])
    blocked = np.asarray(
        [bool(((cps > mids[j]) & (cps <= mids[j + 1])).any()) for j in range(len(spans) - 1)], dtype=bool
    )
    sm = _smooth(mass, blocked, smooth)
    windows = [
        Window(start=s, end=e, n=b - a, shares=shares_dict(categories, sm[j]))
        for j, (s, e, a, b) in enumerate(spans)
    ]
    return mode, unit, windows
