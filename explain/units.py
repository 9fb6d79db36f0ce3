"""Explanation units: single history items, or groups of them that people reason in.

A long history explained item by item gives 50 weights, most of them near zero, and
SHAP and LIME then disagree mostly about noise. A grouping turns the explained items
into a few units, each a set of history positions, and :class:`GroupedScorer` is the
set function over those units (a unit masked out = all its items removed), so SHAP
(``shap.explainers.Exact`` over at most ``MAX_GROUPS`` units) and LIME work on the
same units through the same masker machinery as items do. Every unit keeps its member
items, so a group can be opened.

Groupings (``units=``):

- ``"recent"``: "the last N" — the most recent three items alone, then blocks that
  grow further back (4–5, 6–8, 9–13, 14–21, 22+ back): recent items, which a
  sequential model weighs most, stay individually visible;
- ``"session"``: events close in time — the explained span cut at its largest time
  gaps (at most ``MAX_GROUPS`` sessions; "recent" when the history has no times);
- ``"category"``: the same (first) category within a time window (the last 10 items,
  or older), the smallest such groups merged into "other" beyond ``MAX_GROUPS``;
- ``"items"``: one unit per item (the item-level behaviour);
- ``"auto"``: ``AUTO_GROUPING`` ("category") when more than ``AUTO_MIN_ITEMS`` (10) items
  are explained, else items (the threshold and the choice are measured: docs/RESULTS.md,
  issue 23).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np

from explain.masked import MaskedScorer
from recsys.data.types import DataError, Dataset

UNITS = ("auto", "items", "recent", "session", "category")
GROUPINGS = ("recent", "session", "category")
# auto groups when more than this many items are explained: up to here SHAP is exact over
# items; above it item-level SHAP and LIME disagree even at 20 and 30 items (RESULTS.md)
AUTO_MIN_ITEMS = 10
AUTO_GROUPING = "category"  # the best measured agreement, stability and faithfulness (RESULTS.md)
MAX_GROUPS = 8  # <= shap_explain.EXACT_MAX_FEATURES: exact Shapley values over groups
RECENT_WINDOW = 10  # "category": items among the last RECENT_WINDOW are the recent window
CATEGORY_SINGLE = 0  # "category": this many most recent items stay units of their own


@dataclass(frozen=True, eq=False)  # holds arrays: identity equality
class Group:
    """One explanation unit: ``label`` and its member history positions (oldest first),
    their item indices and timestamps (or None)."""

    label: str
    positions: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.positions.shape[0])

    def to_dict(self, ds: Dataset | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "positions": [int(p) for p in self.positions]}
        if ds is not None:
            out["items"] = [ds.item_ids[int(i)] for i in self.items]
            out["titles"] = [ds.titles[int(i)] for i in self.items]
        return out


def resolve_units(units: str, n_features: int) -> str:
    """The grouping ``units`` stands for on ``n_features`` explained items."""
    if units not in UNITS:
        raise DataError(f"unknown explanation units {units!r} (choose from {', '.join(UNITS)})")
    if units == "auto":
        return AUTO_GROUPING if n_features > AUTO_MIN_ITEMS else "items"
    return units


def _ordinal(n: int) -> str:
    return {1: "most recent", 2: "2nd most recent", 3: "3rd most recent"}.get(n, f"{n}th most recent")


def recent_blocks(n: int, max_groups: int = MAX_GROUPS) -> list[np.ndarray]:
    """Feature indices (oldest first) of "the last N" blocks over ``n`` features: sizes
    1, 1, 1, 2, 3, 5, 8, 13, ... counted back from the most recent, the oldest block
    taking what is left (at most ``max_groups`` blocks), most recent block first."""
    sizes: list[int] = []
    a, b = 1, 1
    covered = 0
    while covered < n:
        size = 1 if len(sizes) < 3 else a + b
        if len(sizes) >= 3:
            a, b = b, size
        if len(sizes) == max_groups - 1:
            size = n - covered
        size = min(size, n - covered)
        sizes.append(size)
        covered += size
    blocks = []
    end = n
    for s in sizes:
        blocks.append(np.arange(end - s, end))
        end -= s
    return blocks


def _span(ts: np.ndarray | None) -> str:
    if ts is None or ts.size == 0:
        return ""

    def d(x: Any) -> str:
        return datetime.fromtimestamp(int(x), tz=timezone.utc).strftime("%Y-%m-%d")

    lo, hi = d(ts.min()), d(ts.max())
    return lo if lo == hi else f"{lo} – {hi}"


def _recent(f: MaskedScorer) -> list[tuple[str, np.ndarray]]:
    out = []
    n = f.n_features
    for blk in recent_blocks(n):
        back_lo, back_hi = n - int(blk.max()), n - int(blk.min())  # 1 = most recent
        label = _ordinal(back_lo) if back_lo == back_hi else f"{back_lo}–{back_hi} back"
        out.append((label, blk))
    return out


def _session(f: MaskedScorer) -> list[tuple[str, np.ndarray]]:
    ts = f.feature_timestamps
    n = f.n_features
    if ts is None or n <= 1:
        return _recent(f)
    gaps = np.diff(ts.astype(np.int64))
    # cut at the largest positive gaps (ties: the more recent gap first), at most MAX_GROUPS sessions
    cand = [int(i) for i in np.lexsort((-np.arange(gaps.size), -gaps)) if gaps[i] > 0][: MAX_GROUPS - 1]
    cuts = sorted(c + 1 for c in cand)
    blocks = np.split(np.arange(n), cuts)
    out = []
    for k, blk in enumerate(reversed(blocks)):
        label = f"session {len(blocks) - k} · {_span(ts[blk])}" if ts is not None else f"session {len(blocks) - k}"
        out.append((f"{label} ({blk.size})", blk))
    return out


def _category(f: MaskedScorer, ds: Dataset) -> list[tuple[str, np.ndarray]]:
    n = f.n_features
    single = min(CATEGORY_SINGLE, n - 1)
    keys: dict[tuple[str, bool], list[int]] = {}
    for j in range(n - single):
        cats = ds.item_categories[int(f.features[j])]
        recent = n - j <= RECENT_WINDOW
        keys.setdefault((cats[0] if cats else "(none)", recent), []).append(j)
    # largest groups kept; recent before older on ties; the rest merged into "other"
    ranked = sorted(keys.items(), key=lambda kv: (-len(kv[1]), not kv[0][1], kv[0][0]))
    room = MAX_GROUPS - single
    kept, rest = ranked[: room - 1], ranked[room - 1 :]
    if len(rest) == 1:
        kept, rest = ranked, []
    out = [(f"{cat} · {'last ' + str(RECENT_WINDOW) if rec else 'older'} ({len(js)})", np.array(js))
           for (cat, rec), js in kept]
    if rest:
        js = sorted(j for _, g in rest for j in g)
        out.append((f"other categories ({len(js)})", np.array(js)))
    out.extend((_ordinal(n - j), np.array([j])) for j in range(n - single, n))
    out.sort(key=lambda lj: -int(lj[1].max()))  # the unit holding the most recent item first
    return out


def build_groups(ds: Dataset, f: MaskedScorer, grouping: str) -> tuple[Group, ...]:
    """The groups of ``f``'s explained items under ``grouping`` (most recent unit first)."""
    if grouping == "recent":
        parts = _recent(f)
    elif grouping == "session":
        parts = _session(f)
    elif grouping == "category":
        parts = _category(f, ds)
    else:
        raise DataError(f"unknown grouping {grouping!r} (choose from {', '.join(GROUPINGS)})")
    ts = f.feature_timestamps
    return tuple(Group(label, f.positions[js].copy(), f.features[js].copy(), None if ts is None else ts[js].copy())
                 for label, js in parts if js.size)


class GroupedScorer:
    """The set function over groups of a :class:`MaskedScorer`'s features.

    A (M, G) group mask becomes the (M, n) item mask that keeps exactly the members of
    the kept groups. Values are memoised by group mask (there are at most 2^G), so SHAP,
    LIME, their stability runs and the faithfulness curves over the same groups share
    every model evaluation. ``features``/``positions`` name each unit by its most recent
    member (unique positions, so unit identity works as for items); ``groups`` holds the
    members.
    """

    def __init__(self, base: MaskedScorer, groups: Sequence[Group], grouping: str) -> None:
        if not 0 < len(groups) <= 16:  # the memo is a 2^G table
            raise ValueError(f"between 1 and 16 groups, got {len(groups)}")
        self.base = base
        self.groups = tuple(groups)
        self.grouping = grouping
        pos_index = {int(p): j for j, p in enumerate(base.positions)}
        self.member = np.zeros((len(self.groups), base.n_features), dtype=bool)
        for g, grp in enumerate(self.groups):
            self.member[g, [pos_index[int(p)] for p in grp.positions]] = True
        if not (self.member.sum(axis=0) == 1).all():
            raise ValueError("groups must partition the explained items")
        rep = [int(np.flatnonzero(row).max()) for row in self.member]
        self.features = base.features[rep]
        self.positions = base.positions[rep]
        ts = base.feature_timestamps
        self.feature_timestamps = None if ts is None else ts[rep]
        self.target = base.target
        self.value_kind = base.value_kind
        self.n_context = base.n_context
        self.evaluations = 0
        # value of each coalition by its bit code (sum of 2^g over kept groups); NaN = not scored
        self._memo = np.full(2 ** len(self.groups), np.nan)
        self._bits = 1 << np.arange(len(self.groups), dtype=np.int64)
        self.memo_hits = 0

    @property
    def n_features(self) -> int:
        return len(self.groups)

    def note(self) -> str:
        return f"{self.base.note()}; grouped into {self.n_features} units ({self.grouping})"

    def item_masks(self, masks: np.ndarray) -> np.ndarray:
        m = np.asarray(masks)
        if m.ndim == 1:
            m = m[None, :]
        if m.shape[1] != self.n_features:
            raise ValueError(f"mask has {m.shape[1]} columns, expected {self.n_features}")
        return (m > 0.5).astype(np.int64) @ self.member.astype(np.int64) > 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        m = np.asarray(masks)
        if m.ndim == 1:
            m = m[None, :]
        b = m > 0.5
        if b.shape[1] != self.n_features:
            raise ValueError(f"mask has {b.shape[1]} columns, expected {self.n_features}")
        codes = b.astype(np.int64) @ self._bits
        out = self._memo[codes]
        miss = np.isnan(out)
        self.memo_hits += int((~miss).sum())
        if miss.any():
            new, first = np.unique(codes[miss], return_index=True)
            self._memo[new] = self.base(self.item_masks(b[miss][first]))
            out = self._memo[codes]
        self.evaluations += b.shape[0]
        return out

    def prefetch_all(self) -> None:
        """Score every coalition of the groups in one batched pass (what exact Shapley
        values need; LIME's samples are then answered from memory)."""
        g = self.n_features
        allm = ((np.arange(2**g)[:, None] >> np.arange(g)[None, :]) & 1).astype(bool)
        before = self.evaluations
        self(allm)
        self.evaluations = before  # counted when an explainer asks for them

    def prefetch(self, masks: np.ndarray) -> None:
        before = self.evaluations
        self(masks)
        self.evaluations = before

    def clear_prefetch(self) -> None:  # the memo stays: values are deterministic
        return None

    # ---- what faithfulness and the counterfactual use ---------------------------------
    def scores(self, masks: np.ndarray) -> np.ndarray:
        self.evaluations += np.asarray(masks).reshape(-1, self.n_features).shape[0]
        return self.base.scores(self.item_masks(masks))

    def ranks_from_scores(self, s: np.ndarray, exclude_rows: list[np.ndarray] | None = None) -> np.ndarray:
        return self.base.ranks_from_scores(s, exclude_rows)

    def rerank(self, masks: np.ndarray) -> np.ndarray:
        return self.base.rerank(self.item_masks(masks))


def expand(a: Any, base: MaskedScorer) -> Any:
    """The item-level :class:`~explain.explanation.Attribution` of a grouped one: each
    member item carries its group's weight split equally (so sums are kept), ordered
    by group weight — for the counterfactual search and the summary, which speak items."""
    import dataclasses

    groups = getattr(a, "groups", None)
    if not groups:
        return a
    pos_index = {int(p): j for j, p in enumerate(base.positions)}
    vals = np.zeros(base.n_features)
    for w, grp in zip(a.values, groups):
        for p in grp.positions:
            vals[pos_index[int(p)]] = float(w) / grp.size
    ts = base.feature_timestamps
    return dataclasses.replace(a, features=base.features.copy(), positions=base.positions.copy(),
                               timestamps=None if ts is None else ts.copy(), values=vals, groups=None)
