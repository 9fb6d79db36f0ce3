"""Whose history a timeline is about: a user of the dataset, an edited history, or an
anonymous profile, optionally truncated "as of" a date."""

from __future__ import annotations

import numpy as np

from recsys.data.types import DataError, Dataset


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
