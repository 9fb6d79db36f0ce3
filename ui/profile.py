"""User profile summaries and the timeline section (glue to the interests panel)."""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.types import Dataset
from ui import components


@dataclass(frozen=True)
class Profile:
    user: str
    n: int
    first: str
    last: str
    n_categories: int
    top_categories: tuple[str, ...]
    avg_popularity: float
    attributes: dict[str, str]


def user_profile(ds: Dataset, user: str) -> Profile:
    u = ds.user_index(user)
    items, ts = ds.sequence(u)
    cats: Counter[str] = Counter()
    for i in items:
        for c in ds.item_categories[int(i)]:
            cats[c] += 1
    attrs: dict[str, str] = {}
    if ds.user_attrs is not None:
        attrs = {str(k): str(v) for k, v in ds.user_attrs.iloc[u].items() if str(v)}
    fmt = "%Y-%m-%d"
    return Profile(
        user=user,
        n=len(items),
        first=pd.to_datetime(int(ts[0]), unit="s", utc=True).strftime(fmt) if len(ts) else "—",
        last=pd.to_datetime(int(ts[-1]), unit="s", utc=True).strftime(fmt) if len(ts) else "—",
        n_categories=len(cats),
        top_categories=tuple(c for c, _ in cats.most_common(6)),
        avg_popularity=float(np.mean(ds.item_popularity[items])) if len(items) else 0.0,
        attributes=attrs,
    )


def history_table(ds: Dataset, user: str) -> pd.DataFrame:
    """The user's history, newest first, with ratings when the data has them."""
    u = ds.user_index(user)
    items, ts = ds.sequence(u)
    df = components.history_frame(ds, items, ts)
    if ds.rating is not None:
        a = int(ds.user_offsets[u])
        df["rating"] = ds.rating[a : a + len(items)]
    return df.iloc[::-1].reset_index(drop=True)


def _call_with_supported(fn: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with the subset of keyword arguments it accepts."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def population_drift_section(ds: Dataset) -> None:
    """The interests teammate's population drift panel."""
    try:
        from ui import panel_timeline
    except ImportError:
        components.empty_state("Population drift not available in this build", "ui/panel_timeline.py is missing.")
        return
    fn = getattr(panel_timeline, "population_drift_panel", None)
    if fn is None:
        components.empty_state("Population drift not available", "ui/panel_timeline.py has no population_drift_panel().")
        return
    fn(ds, key="ue.drift")


def timeline_section(ds: Dataset, user: str, model: Any, *, history: Any = None, key: str = "tl") -> None:
    """The interest timeline of a user (the interests teammate's panel)."""
    try:
        from ui import panel_timeline
    except ImportError:
        components.empty_state(
            "Interest timeline not available in this build",
            "The timeline panel (ui/panel_timeline.py) is missing; the profile history is in the next tab.",
        )
        return
    fn = getattr(panel_timeline, "timeline_panel", None) or getattr(panel_timeline, "render", None)
    if fn is None:
        components.empty_state("Interest timeline not available", "ui/panel_timeline.py has no timeline_panel().")
        return
    _call_with_supported(fn, ds=ds, user=user, model=model, history=history, key=key)
