"""History: one user's items and timestamps, validated and read-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data import DataError, History, load

FIX = Path(__file__).resolve().parent / "fixtures" / "data"


def test_history_stores_read_only_int64_copies():
    items = np.array([3, 1, 2], dtype=np.int32)
    ts = [10, 20, 30]
    h = History("u1", items, np.asarray(ts))
    assert len(h) == 3 and h.user == "u1"
    assert h.items.dtype == np.int64 and h.timestamps is not None and h.timestamps.dtype == np.int64
    assert h.items.tolist() == [3, 1, 2] and h.timestamps.tolist() == ts
    assert not h.items.flags.writeable and not h.timestamps.flags.writeable
    items[0] = 99  # the caller's array stays theirs
    assert h.items[0] == 3


def test_history_without_timestamps_and_empty():
    h = History("", np.array([5]), None)
    assert h.timestamps is None and len(h) == 1
    empty = History("", np.array([]), np.array([]))  # an empty profile is a valid history
    assert len(empty) == 0 and empty.items.dtype == np.int64


@pytest.mark.parametrize(
    "items, ts, message",
    [
        (np.array([1, 2]), np.array([5]), "2 items but 1 timestamps"),
        (np.array([1.5, 2.0]), None, "must be integers"),
        (np.array([1, -1]), None, "non-negative"),
        (np.array([[1, 2]]), None, "one-dimensional"),
        (np.array([1, 2]), np.array([1.0, 2.0]), "timestamps must be integers"),
    ],
)
def test_history_rejects_bad_input(items, ts, message):
    with pytest.raises(DataError, match=message):
        History("", items, ts)


def test_dataset_history_matches_sequence():
    ds = load(str(FIX / "ml100k"))
    h = ds.history("3")
    items, ts = ds.sequence(ds.user_index("3"))
    assert h.user == "3" and np.array_equal(h.items, items) and h.timestamps is not None
    assert np.array_equal(h.timestamps, ts)
    assert [ds.item_ids[i] for i in h.items] == ["20", "2", "10"]
    with pytest.raises(DataError, match="unknown user id"):
        ds.history("nobody")
