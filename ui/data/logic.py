"""User profile summaries and the timeline sections of the User explorer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.types import Dataset
from ui import components, panel_timeline


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


def population_drift_section(ds: Dataset) -> None:
    """The population drift panel (which categories rise and fall across all users)."""
    panel_timeline.population_drift_panel(ds, key="ue.drift")


def timeline_section(ds: Dataset, user: str, model: Any, *, history: Any = None, key: str = "tl") -> None:
    """The interest timeline of a user (``history``: an edited ``(items, timestamps)``)."""
    panel_timeline.timeline_panel(ds, model, user=user, history=history, key=key)
