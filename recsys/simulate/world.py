"""One policy's copy of the simulated users: histories, consumed sets, drifting
preferences, and the pairwise Jaccard overlaps behind homogenization, kept up to date
incrementally (each round adds at most one item per user, so a pair's intersection grows
by at most two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recsys.seeds import user_seed

if TYPE_CHECKING:  # pragma: no cover
    from recsys.simulate.preference import Preferences

MAX_PAIRS = 200_000
ROUND_SECONDS = 86_400
PAIR_BLOCK = 20_000


def user_pairs(n_users: int, seed: int, max_pairs: int = MAX_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """The user pairs homogenization averages over: all of them, or a seeded sample."""
    if n_users * (n_users - 1) // 2 <= max_pairs:
        a, b = np.triu_indices(n_users, k=1)
        return a.astype(np.int64), b.astype(np.int64)
    rng = np.random.default_rng(user_seed(seed, "pairs", "simulate/pairs"))
    a = rng.integers(0, n_users, size=max_pairs)
    b = (a + rng.integers(1, n_users, size=max_pairs)) % n_users
    return a.astype(np.int64), b.astype(np.int64)


def topk_masked(scores: np.ndarray, masked: np.ndarray, k: int) -> np.ndarray:
    """(U, k) best-first items per row of ``scores`` among the unmasked ones (-1 padding)."""
    s = np.where(masked, -np.inf, np.asarray(scores, dtype=np.float64))
    n = s.shape[1]
    k = min(k, n)
    part = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (s.shape[0], 1))
    vals = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)  # best first; ties to the smaller item index
    part = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    return np.where(np.isfinite(vals), part, -1)


class World:
    """One policy's copy of the simulated users: histories, consumed sets, preferences."""

    def __init__(self, hist: list[np.ndarray], ts: list[np.ndarray], n_items: int, pref: np.ndarray,
                 pairs: tuple[np.ndarray, np.ndarray]) -> None:
        u = len(hist)
        self.hist = [np.asarray(h, dtype=np.int64) for h in hist]
        self.ts = [np.asarray(t, dtype=np.int64) for t in ts]
        self.last_ts = np.array([int(t[-1]) if len(t) else 0 for t in self.ts], dtype=np.int64)
        self.consumed = np.zeros((u, n_items), dtype=bool)
        for r, h in enumerate(self.hist):
            self.consumed[r, h] = True
        self.sizes = self.consumed.sum(axis=1).astype(np.int64)
        self.counts = self.consumed.sum(axis=0).astype(np.int64)
        self.pref = pref.copy()
        self.pa, self.pb = pairs
        self.inter = self._intersections()
        # the same for the items consumed during the simulation only
        self.new = np.zeros((u, n_items), dtype=bool)
        self.new_sizes = np.zeros(u, dtype=np.int64)
        self.new_inter = np.zeros(len(self.pa), dtype=np.int64)

    def _intersections(self) -> np.ndarray:
        out = np.zeros(len(self.pa), dtype=np.int64)
        for s in range(0, len(self.pa), PAIR_BLOCK):  # blocks bound the (pairs, items) temporary
            a, b = self.pa[s : s + PAIR_BLOCK], self.pb[s : s + PAIR_BLOCK]
            out[s : s + len(a)] = (self.consumed[a] & self.consumed[b]).sum(axis=1)
        return out

    @staticmethod
    def _mean_jaccard(inter: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> float:
        union = size_a + size_b - inter
        j = np.divide(inter, union, out=np.zeros(len(union)), where=union > 0)
        return float(j.mean()) if len(j) else 0.0

    def jaccard(self) -> float:
        """Mean Jaccard overlap of the pairs' consumed sets (real history + simulation)."""
        return self._mean_jaccard(self.inter, self.sizes[self.pa], self.sizes[self.pb])

    def jaccard_new(self) -> float:
        """Mean Jaccard overlap of the pairs' sets consumed during the simulation only."""
        return self._mean_jaccard(self.new_inter, self.new_sizes[self.pa], self.new_sizes[self.pb])

    @staticmethod
    def _pair_gain(sets: np.ndarray, pa: np.ndarray, pb: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        """How much each pair's intersection grows when a takes ca and b takes cb (-1 =
        nothing); a chosen item is never already in its chooser's set."""
        sa, sb = np.maximum(ca, 0), np.maximum(cb, 0)
        gain = ((ca >= 0) & sets[pb, sa]).astype(np.int64)
        gain += (cb >= 0) & sets[pa, sb]
        gain += (ca >= 0) & (ca == cb)
        return gain

    def consume(self, chosen: np.ndarray, rnd: int, prefs: Preferences) -> np.ndarray:
        """Apply one round's choices (``chosen`` (U,), -1 = none); returns the rows that clicked."""
        c = chosen
        ca, cb = c[self.pa], c[self.pb]
        self.inter += self._pair_gain(self.consumed, self.pa, self.pb, ca, cb)
        self.new_inter += self._pair_gain(self.new, self.pa, self.pb, ca, cb)
        rows = np.flatnonzero(c >= 0)
        items = c[rows]
        self.consumed[rows, items] = True
        self.new[rows, items] = True
        self.sizes[rows] += 1
        self.new_sizes[rows] += 1
        np.add.at(self.counts, items, 1)
        for r, i in zip(rows.tolist(), items.tolist()):
            self.hist[r] = np.append(self.hist[r], i)
            self.ts[r] = np.append(self.ts[r], self.last_ts[r] + rnd * ROUND_SECONDS)
        prefs.drift_towards(self.pref, rows, items)
        return rows
