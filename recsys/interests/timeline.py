"""A user's interest timeline: observed category shares per window, change points,
the model's predicted interest at each step, a forecast, and replay "as of" a date.

Observed shares: the user's interactions are cut into windows — calendar windows whose
length is picked from a ladder of readable units (hour, day, week, month, …) so the span
gives at most ``max_windows`` of them and at least ~5 interactions per window on
average, or every-n-interactions windows when the activity
is too bursty for calendar windows to say anything (``windowing="auto"``). An item of
several categories splits its weight. Shares are smoothed with the neighbouring windows
(weight ``smooth``), never across a detected change point, and always sum to 1.

Predicted interest: with a :class:`~recsys.models.base.Scorer`, the model's next-item
distribution (softmax of the scores over the items not yet seen) after each prefix of
the history, aggregated by category; prefixes are subsampled to ``max_steps`` and scored
in a few batched ``scorer.score`` calls. The forecast for the next window is the
distribution after the whole (possibly truncated) history.

Replay as of ``t``: everything is computed from the interactions with timestamp <= t
only; :func:`replay` gives the recommendations the model would have made then.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np

from recsys.data.types import DataError, Dataset
from recsys.interests.categories import CategoryAssignment, category_assignment
from recsys.interests.changepoints import (
    DEFAULT_ALPHA,
    DEFAULT_MAX_CHANGE_POINTS,
    DEFAULT_MIN_EFFECT,
    DEFAULT_MIN_FRACTION,
    DEFAULT_MIN_SEGMENT,
    DEFAULT_N_PERM,
    ChangePoint,
    detect_change_points,
)
from recsys.models.base import RecList, Scorer, recommend

MAX_WINDOWS = 12
MIN_PER_WINDOW = 4
DEFAULT_SMOOTH = 0.5
DEFAULT_MAX_STEPS = 32
SCORE_BATCH = 64

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


class Prediction(NamedTuple):
    """The model's category mix for the next item, after the history up to ``ts``."""

    ts: int
    shares: dict[str, float]


@dataclass(frozen=True)
class Timeline:
    """A user's interest timeline (the currency of the interests layer)."""

    user: str
    categories: tuple[str, ...]
    windows: tuple[Window, ...]  # chronological
    change_points: tuple[int, ...]  # seconds
    predicted: tuple[Prediction, ...] = ()
    forecast: dict[str, float] = field(default_factory=dict)
    change_point_details: tuple[ChangePoint, ...] = ()
    n_interactions: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    as_of: int | None = None
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The CLI/JSON form: ``{"user", "windows", "change_points", "predicted", "forecast"}``
        plus descriptive extras (categories, method, params, as_of, change point details)."""
        return {
            "user": self.user,
            "windows": [
                {"start": w.start, "end": w.end, "n": w.n, "shares": dict(w.shares)} for w in self.windows
            ],
            "change_points": list(self.change_points),
            "predicted": [{"ts": p.ts, "shares": dict(p.shares)} for p in self.predicted],
            "forecast": dict(self.forecast),
            "categories": list(self.categories),
            "as_of": self.as_of,
            "n_interactions": self.n_interactions,
            "method": self.method,
            "params": dict(self.params),
            "change_point_details": [
                {
                    "ts": c.ts,
                    "js": c.js,
                    "p_value": c.p_value,
                    "before": _top_shares(self.categories, c.before),
                    "after": _top_shares(self.categories, c.after),
                }
                for c in self.change_point_details
            ],
        }


def _top_shares(categories: Sequence[str], mix: Sequence[float], k: int = 3) -> dict[str, float]:
    order = np.argsort(-np.asarray(mix), kind="stable")[:k]
    return {categories[j]: round(float(mix[j]), 4) for j in order if mix[j] > 0}


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


# ---- user / history resolution ----------------------------------------------------------
def resolve_user(ds: Dataset, user: int | str | None) -> int:
    """User index from an index (int) or an external id (str); DataError if unknown.
    ``None`` or ``""`` is an anonymous profile: -1."""
    if user is None or (isinstance(user, str) and user == ""):
        return -1
    if isinstance(user, (int, np.integer)) and not isinstance(user, bool):
        if not 0 <= int(user) < ds.n_users:
            raise DataError(f"user index {int(user)} out of range (dataset has {ds.n_users} users)")
        return int(user)
    return ds.user_index(str(user))


def history_as_of(
    items: np.ndarray, timestamps: np.ndarray, as_of: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The history truncated to interactions with timestamp <= ``as_of`` (None: all).

    Works on unsorted input too (keeps the original order of the kept interactions).
    """
    items = np.asarray(items, dtype=np.int64)
    timestamps = np.asarray(timestamps, dtype=np.int64)
    if as_of is None:
        return items, timestamps
    keep = timestamps <= int(as_of)
    return items[keep], timestamps[keep]


def user_history(
    ds: Dataset,
    user: int | str | None,
    history: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
    as_of: int | None = None,
) -> tuple[int, np.ndarray, np.ndarray]:
    """(user index, items, timestamps) oldest first, optionally an edited history,
    truncated at ``as_of``. An edited history without timestamps gets one per second
    ending at the user's last real interaction (order = given order). ``user`` may be
    None/"" (index -1) for an anonymous profile when a ``history`` is given."""
    u = resolve_user(ds, user)
    if history is None:
        if u < 0:
            raise DataError("a user or a history is needed")
        items, ts = ds.sequence(u)
    else:
        items = np.asarray(history, dtype=np.int64)
        if items.size and (items.min() < 0 or items.max() >= ds.n_items):
            raise DataError(f"history holds item indices outside 0..{ds.n_items - 1}")
        if timestamps is None:
            real = ds.sequence(u)[1] if u >= 0 else ds.timestamp
            end = int(real.max()) if real.size else 0
            ts = end - (len(items) - 1) + np.arange(len(items), dtype=np.int64)
        else:
            ts = np.asarray(timestamps, dtype=np.int64)
            if ts.shape != items.shape:
                raise DataError("history and timestamps must have the same length")
        order = np.lexsort((items, ts))
        items, ts = items[order], ts[order]
    items, ts = history_as_of(items, ts, as_of)
    return u, np.asarray(items, dtype=np.int64), np.asarray(ts, dtype=np.int64)


# ---- windows -------------------------------------------------------------------------------
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


# ---- predicted interest ---------------------------------------------------------------------
def prefix_steps(n: int, max_steps: int = DEFAULT_MAX_STEPS) -> np.ndarray:
    """Prefix lengths 1..n at which to query the model, at most ``max_steps``, always incl. n."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n <= max_steps:
        return np.arange(1, n + 1, dtype=np.int64)
    return np.unique(np.round(np.linspace(1, n, max_steps)).astype(np.int64))


def category_distribution(scores: np.ndarray, seen: np.ndarray, cat_matrix: np.ndarray) -> np.ndarray:
    """Softmax of ``scores`` over the items not in ``seen``, aggregated by category (C,)."""
    s = np.asarray(scores, dtype=np.float64).copy()
    if seen.size:
        s[np.asarray(seen, dtype=np.int64)] = -np.inf
    if not np.isfinite(s).any():  # every item seen: fall back to all items
        s = np.asarray(scores, dtype=np.float64).copy()
    s -= s[np.isfinite(s)].max()
    p = np.where(np.isfinite(s), np.exp(s), 0.0)
    p /= p.sum()
    return p @ cat_matrix


def predicted_interest(
    scorer: Scorer,
    items: np.ndarray,
    ts: np.ndarray,
    assignment: CategoryAssignment,
    max_steps: int = DEFAULT_MAX_STEPS,
    batch: int = SCORE_BATCH,
) -> tuple[list[Prediction], dict[str, float]]:
    """(predictions after each sampled prefix, forecast after the full history)."""
    cats = assignment.categories
    cm = np.asarray(assignment.category_matrix, dtype=np.float64)
    if getattr(scorer, "n_items", cm.shape[0]) != cm.shape[0]:
        raise DataError(f"model scores {scorer.n_items} items but the dataset has {cm.shape[0]}")
    steps = prefix_steps(items.size, max_steps)
    preds: list[Prediction] = []
    for a in range(0, steps.size, batch):
        ks = steps[a : a + batch]
        scores = scorer.score([items[:k] for k in ks], [ts[:k] for k in ks])
        for k, row in zip(ks, np.asarray(scores)):
            dist = category_distribution(row, items[:k], cm)
            preds.append(Prediction(ts=int(ts[k - 1]), shares=shares_dict(cats, dist)))
    forecast = dict(preds[-1].shares) if preds else {}
    return preds, forecast


# ---- the timeline ---------------------------------------------------------------------------
def user_timeline(
    ds: Dataset,
    user: int | str | None,
    *,
    scorer: Scorer | None = None,
    history: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
    as_of: int | None = None,
    assignment: CategoryAssignment | None = None,
    windowing: str = "auto",
    max_windows: int = MAX_WINDOWS,
    smooth: float = DEFAULT_SMOOTH,
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = DEFAULT_MIN_EFFECT,
    min_segment: int = DEFAULT_MIN_SEGMENT,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    max_change_points: int = DEFAULT_MAX_CHANGE_POINTS,
    n_perm: int = DEFAULT_N_PERM,
    max_steps: int = DEFAULT_MAX_STEPS,
    seed: int = 0,
) -> Timeline:
    """The interest timeline of ``user`` (an index, or an external id given as str;
    None/"" with a ``history`` for an anonymous profile).

    ``history``/``timestamps`` replace the logged history (e.g. an edited profile);
    ``as_of`` keeps only interactions with timestamp <= as_of (replay); ``scorer`` adds
    predicted interest and a forecast; ``assignment`` defaults to the dataset's
    categories (topics from text embeddings when it has none).
    """
    u, items, ts = user_history(ds, user, history, timestamps, as_of)
    asg = assignment if assignment is not None else category_assignment(ds, seed=seed)
    cm = np.asarray(asg.category_matrix, dtype=np.float64)
    if cm.shape[0] != ds.n_items:
        raise DataError(f"category assignment covers {cm.shape[0]} items, the dataset has {ds.n_items}")
    x = cm[items]
    cps = detect_change_points(
        x, ts, alpha=alpha, min_effect=min_effect, min_segment=min_segment, min_fraction=min_fraction,
        max_change_points=max_change_points, n_perm=n_perm, seed=seed,
    )
    mode, unit, windows = observed_windows(
        x, ts, asg.categories, windowing=windowing, max_windows=max_windows, smooth=smooth,
        change_points=[c.ts for c in cps],
    )
    preds: list[Prediction] = []
    forecast: dict[str, float] = {}
    if scorer is not None:
        preds, forecast = predicted_interest(scorer, items, ts, asg, max_steps=max_steps)
    params = {
        "windowing": mode, "window_unit": unit, "max_windows": max_windows, "smooth": smooth,
        "alpha": alpha, "min_effect": min_effect, "min_segment": min_segment, "min_fraction": min_fraction,
        "max_change_points": max_change_points, "n_perm": n_perm, "max_steps": max_steps, "seed": seed,
        "categories_source": asg.source, "model": getattr(scorer, "name", None) if scorer else None,
    }
    return Timeline(
        user=ds.user_ids[u] if u >= 0 else "",
        categories=tuple(asg.categories),
        windows=tuple(windows),
        change_points=tuple(c.ts for c in cps),
        predicted=tuple(preds),
        forecast=forecast,
        change_point_details=tuple(cps),
        n_interactions=int(items.size),
        first_ts=int(ts[0]) if ts.size else None,
        last_ts=int(ts[-1]) if ts.size else None,
        as_of=None if as_of is None else int(as_of),
        method="binary segmentation, JS/G statistic, permutation test",
        params=params,
    )


def replay(
    scorer: Scorer,
    ds: Dataset,
    user: int | str | None,
    as_of: int | None,
    k: int = 10,
    history: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
) -> RecList:
    """The top-k the model would have recommended from the history up to ``as_of``
    (interactions with timestamp <= as_of only; None = the whole history)."""
    u, items, ts = user_history(ds, user, history, timestamps, as_of)
    return recommend(scorer, items, k, ts, user=ds.user_ids[u] if u >= 0 else "")
