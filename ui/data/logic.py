"""User summaries and history tables of the User explorer (pure: no streamlit)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.types import Dataset


@dataclass(frozen=True)
class UserSummary:
    user: str
    n: int
    first: str
    last: str
    n_categories: int
    top_categories: tuple[str, ...]
    avg_popularity: float
    attributes: dict[str, str]


def user_profile(ds: Dataset, user: str) -> UserSummary:
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
    return UserSummary(
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
    df = history_frame(ds, items, ts)
    if ds.rating is not None:
        a = int(ds.user_offsets[u])
        df["rating"] = ds.rating[a : a + len(items)]
    return df.iloc[::-1].reset_index(drop=True)


def history_frame(ds: Dataset, items: np.ndarray, timestamps: np.ndarray | None) -> pd.DataFrame:
    """A display table of a history (oldest first)."""
    items = np.asarray(items, dtype=np.int64)
    df = pd.DataFrame(
        {
            "#": np.arange(1, len(items) + 1),
            "when": pd.to_datetime(np.asarray(timestamps, dtype=np.int64), unit="s", utc=True)
            if timestamps is not None
            else [pd.NaT] * len(items),
            "item_id": [ds.item_ids[i] for i in items],
            "title": [ds.titles[i] for i in items],
            "categories": [", ".join(ds.item_categories[i]) for i in items],
        }
    )
    return df
