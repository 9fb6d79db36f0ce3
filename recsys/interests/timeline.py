"""A user's interest timeline: observed category shares per window, change points,
the model's predicted interest at each step, a forecast, and replay "as of" a date.

The parts live beside this module: :mod:`recsys.interests.windows` (calendar or
every-n-interactions windows, smoothed shares), :mod:`recsys.interests.changepoints`
(binary segmentation with a permutation test), :mod:`recsys.interests.prediction` (the
model's category mix after each prefix of the history) and
:mod:`recsys.interests.history` (which history: a user's, an edited one, as of a date).

Replay as of ``t``: everything is computed from the interactions with timestamp <= t
only; :func:`replay` gives the recommendations the model would have made then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

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
from recsys.interests.history import history_as_of, resolve_user, user_history
from recsys.interests.prediction import DEFAULT_MAX_STEPS, Prediction, predicted_interest
from recsys.interests.windows import DEFAULT_SMOOTH, MAX_WINDOWS, Window, observed_windows
from recsys.models.base import RecList, Scorer, recommend

__all__ = [
    "Prediction", "Timeline", "Window", "history_as_of", "replay", "resolve_user", "user_history", "user_timeline",
]


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
    return {categories[int(j)]: round(float(mix[j]), 4) for j in order if mix[j] > 0}


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
