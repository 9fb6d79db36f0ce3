"""Group attributions by category and by recency window, and say it in one sentence."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any

import numpy as np

from explain.explanation import Attribution, Summary
from recsys.data.types import Dataset

#: Recency windows, counted back from the most recent history item (1 = most recent).
WINDOWS = ((1, 5), (6, 15), (16, 50), (51, 10**9))
RECENT = 10  # drivers among the last RECENT items are called "recent"
MAX_DRIVERS = 3
DRIVER_SHARE = 0.6
DOMINANCE = 0.5  # a further driver must weigh at least half the largest


def _date(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d")


def by_category(ds: Dataset, a: Attribution) -> tuple[tuple[str, float], ...]:
    """Summed weight per category (an item of several categories splits its weight
    equally; uncategorised items go to "(none)"), largest absolute weight first."""
    acc: dict[str, float] = defaultdict(float)
    for item, w in zip(a.features, a.values):
        cats = ds.item_categories[int(item)] or ("(none)",)
        for c in cats:
            acc[c] += float(w) / len(cats)
    return tuple(sorted(acc.items(), key=lambda kv: (-abs(kv[1]), kv[0])))


def by_window(a: Attribution, history_len: int) -> tuple[dict[str, Any], ...]:
    """Summed weight per recency window (``WINDOWS``), with the window's date range."""
    back = history_len - a.positions  # 1 = most recent
    out = []
    for lo, hi in WINDOWS:
        sel = (back >= lo) & (back <= hi)
        if not sel.any():
            continue
        label = f"last {hi}" if lo == 1 else (f"{lo}–{hi} back" if hi < 10**9 else f"{lo}+ back")
        row: dict[str, Any] = {
            "label": label,
            "first": int(lo),
            "last": int(min(hi, back.max())),
            "weight": float(a.values[sel].sum()),
            "n": int(sel.sum()),
            "start": None,
            "end": None,
        }
        if a.timestamps is not None:
            ts = a.timestamps[sel]
            row["start"], row["end"] = _date(ts.min()), _date(ts.max())
        out.append(row)
    return tuple(out)


def _join(titles: list[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def drivers(a: Attribution) -> np.ndarray:
    """Feature indices of the main positive drivers: the largest positive weights, added
    while they cover less than ``DRIVER_SHARE`` of the positive total, each at least
    ``DOMINANCE`` times the largest, at most ``MAX_DRIVERS``."""
    order = [j for j in a.order() if a.values[j] > 0]
    if not order:
        return np.zeros(0, dtype=np.int64)
    total = float(sum(a.values[j] for j in order))
    top = float(a.values[order[0]])
    picked = [order[0]]
    for j in order[1:MAX_DRIVERS]:
        if sum(a.values[i] for i in picked) / total >= DRIVER_SHARE or a.values[j] < DOMINANCE * top:
            break
        picked.append(j)
    return np.array(picked, dtype=np.int64)


def sentence(ds: Dataset, a: Attribution, history_len: int) -> str:
    """One plain sentence naming the main reasons, e.g. "Recommended mainly because of
    3 recent Sci-Fi titles: “A”, “B” and “C” (81% of the positive evidence)."""
    d = drivers(a)
    if d.size == 0:
        return (
            f"No item of the explained history pushes “{ds.titles[a.target]}” up; "
            "it ranks where it does on the model's general preference."
        )
    items = [int(a.features[j]) for j in d]
    cats = Counter(c for i in items for c in set(ds.item_categories[i]))
    common = [c for c, n in cats.most_common() if n == len(items)]
    cat = f"{common[0]} " if common else ""
    recent = all(history_len - int(a.positions[j]) <= RECENT for j in d)
    noun = "title" if len(items) == 1 else "titles"
    share = float(a.values[d].sum() / a.values[a.values > 0].sum())
    count = "1" if len(items) == 1 else str(len(items))
    return (
        f"Recommended mainly because of {count} {'recent ' if recent else ''}{cat}{noun}: "
        f"{_join([ds.titles[i] for i in items])} ({share:.0%} of the positive evidence)."
    )


def group_sentence(ds: Dataset, g: Attribution) -> str:
    """The sentence of a grouped attribution: the main driving units by their labels and
    a few of their titles."""
    d = drivers(g)
    if d.size == 0 or not g.groups:
        return (
            f"No item group of the explained history pushes “{ds.titles[g.target]}” up; "
            "it ranks where it does on the model's general preference."
        )
    parts = []
    for j in d:
        grp = g.groups[int(j)]
        titles = [ds.titles[int(i)] for i in grp.items[::-1][:3]]
        more = f" and {grp.size - 3} more" if grp.size > 3 else ""
        parts.append(f"{grp.label} ({_join(titles)}{more})")
    share = float(g.values[d].sum() / g.values[g.values > 0].sum())
    return f"Recommended mainly because of {'; '.join(parts)} ({share:.0%} of the positive evidence)."


def summarise(ds: Dataset, a: Attribution, history_len: int, grouped: Attribution | None = None) -> Summary:
    """The :class:`Summary` of an attribution over a history of ``history_len`` items
    (``a`` item-level; ``grouped``, when the explanation is over groups, names the
    sentence's drivers by group)."""
    return Summary(
        by_category=by_category(ds, a),
        by_window=by_window(a, history_len),
        sentence=group_sentence(ds, grouped) if grouped is not None and grouped.groups else
        sentence(ds, a, history_len),
    )
