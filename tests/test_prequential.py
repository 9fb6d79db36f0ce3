"""Prequential evaluation: known ranks on a fixture, events predicted before they are
seen, log streams matched to the dataset's rows, and ``evaluate --prequential``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys.data.events import LogContents, LogState, merge
from recsys.data.types import DataError, build_dataset
from recsys.evaluation.prequential import (
    Stream,
    evaluate_stream,
    log_stream,
    prequential,
    split_at_fraction,
    time_stream,
)

N_ITEMS = 14
ITEMS = [f"i{k:02d}" for k in range(N_ITEMS)]


class FixedScorer:
    """Item k scores N_ITEMS - k whatever the history (i00 best); records every call."""

    name = "fixed"
    n_items = N_ITEMS

    def __init__(self, constant: bool = False):
        self.constant = constant
        self.calls: list[tuple[list[list[int]], list[list[int]]]] = []

    def score(self, histories, timestamps=None):
        self.calls.append(([list(map(int, h)) for h in histories], [list(map(int, t)) for t in (timestamps or [])]))
        row = np.zeros(N_ITEMS) if self.constant else np.arange(N_ITEMS, 0, -1, dtype=np.float64)
        return np.tile(row, (len(histories), 1)).astype(np.float32)


def _world():
    """Base: a = [i00], b = [i01]; then the stream (time order): a i02, b i00, a i01, a i13."""
    rows = [("a", "i00", 10), ("b", "i01", 20), ("a", "i02", 100), ("b", "i00", 110), ("a", "i01", 120),
            ("a", "i13", 130)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": ITEMS, "title": ITEMS})
    ds = build_dataset("fixture", inter, items)
    assert list(ds.item_ids) == ITEMS
    return ds


def test_known_ranks_give_exact_hr_and_ndcg():
    ds = _world()
    stream = time_stream(ds, 100)
    res = prequential(FixedScorer(), ds, stream)
    # a i02, history {i00}: i01 scores higher -> 2; b i00, history {i01}: 1;
    # a i01, history {i00, i02}: 1; a i13, history {i00, i01, i02}: i03..i12 ahead -> 11
    assert res.ranks.tolist() == [2, 1, 1, 11]
    s = res.summary()
    assert s["events"] == 4 and s["hr@10"] == pytest.approx(3 / 4)
    assert s["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 + 1 + 0) / 4)
    last2 = res.summary(2)  # the rolling figure over the last two events
    assert last2["events"] == 2 and last2["hr@10"] == pytest.approx(0.5) and last2["ndcg@10"] == pytest.approx(0.5)
    hr, nd = res.rolling(2)
    assert hr.tolist() == pytest.approx([1.0, 1.0, 1.0, 0.5]) and nd[-1] == pytest.approx(0.5)
    assert [b["events"] for b in res.blocks(3)] == [3, 1] and res.blocks(3)[1]["hr@10"] == 0.0


def test_ties_are_pessimistic_and_seen_items_excluded():
    res = prequential(FixedScorer(constant=True), _world(), time_stream(_world(), 100))
    # every score ties: the rank is the number of rankable items (all but the history)
    assert res.ranks.tolist() == [N_ITEMS - 1, N_ITEMS - 1, N_ITEMS - 2, N_ITEMS - 3]


def test_each_event_is_predicted_before_it_is_seen():
    ds = _world()
    scorer = FixedScorer()
    prequential(scorer, ds, time_stream(ds, 100), batch_size=1)
    hist = [c[0][0] for c in scorer.calls]
    ts = [c[1][0] for c in scorer.calls]
    idx = ds.item_index
    assert hist == [[idx("i00")], [idx("i01")], [idx("i00"), idx("i02")], [idx("i00"), idx("i02"), idx("i01")]]
    assert ts == [[10], [20], [10, 100], [10, 100, 120]]
    for h, target in zip(hist, ["i02", "i00", "i01", "i13"]):
        assert idx(target) not in h  # the event's own item is not in the history that scores it


def test_a_subset_of_positions_still_hides_every_later_event():
    ds = _world()
    scorer = FixedScorer()
    res = prequential(scorer, ds, time_stream(ds, 100), np.array([3]))
    assert res.ranks.tolist() == [11]
    assert scorer.calls[0][0] == [[ds.item_index("i00"), ds.item_index("i02"), ds.item_index("i01")]]
    with pytest.raises(ValueError):
        prequential(scorer, ds, time_stream(ds, 100), np.array([2, 1]))


def test_log_stream_matches_logged_events_to_rows_in_log_order():
    base = build_dataset("fixture", pd.DataFrame([("a", "i00", 10), ("b", "i01", 20)],
                                                 columns=["user_id", "item_id", "timestamp"]),
                         pd.DataFrame({"item_id": ITEMS, "title": ITEMS}))
    # arrival (log) order differs from time order for b: the log order decides what was seen
    ev = pd.DataFrame([("a", "i02", 100), ("b", "i00", 110), ("a", "i01", 120), ("a", "i13", 130)],
                      columns=["user_id", "item_id", "timestamp"])
    ev["rating"] = np.nan
    ds = merge(base, LogContents(LogState((), 4, 130, "g"), ev, None))
    stream = log_stream(ds, ev)
    got = [(ds.user_ids[ds.user[r]], ds.item_ids[ds.item[r]], int(ds.timestamp[r])) for r in stream.rows]
    assert got == list(ev[["user_id", "item_id", "timestamp"]].itertuples(index=False, name=None))
    assert prequential(FixedScorer(), ds, stream).ranks.tolist() == [2, 1, 1, 11]
    tail = log_stream(ds, ev, start=2)
    assert tail.rows.tolist() == stream.rows[2:].tolist()
    with pytest.raises(DataError, match="not in the loaded data"):
        log_stream(base, ev)


def test_evaluate_stream_summary_and_fraction_split():
    ds = _world()
    assert split_at_fraction(ds, 0.5) == 110  # the last half of six interactions in time
    with pytest.raises(DataError):
        split_at_fraction(ds, 1.5)
    _, out = evaluate_stream(FixedScorer(), ds, time_stream(ds, 100), window=2)
    assert out["events"] == 4 and out["window_events"] == 2 and out["hr@10"] == pytest.approx(0.5)
    assert out["overall"]["hr@10"] == pytest.approx(0.75) and len(out["blocks"]) == 2
    with pytest.raises(DataError):
        evaluate_stream(FixedScorer(), ds, Stream(np.zeros(0, np.int64)), window=0)
