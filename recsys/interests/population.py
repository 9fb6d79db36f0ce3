"""Population view: who drifted lately, and which categories gain or lose share.

* **Drifted users**: for each user with at least ``min_interactions`` interactions, the
  last ``recent`` fraction of their own interactions (at least ``min_segment``) is
  compared with everything before: the user drifted when the category mix differs
  significantly — a permutation test of the G statistic (count-weighted Jensen-Shannon,
  see :mod:`recsys.interests.changepoints`) at level ``alpha`` — and by at least
  ``min_effect`` bits of Jensen-Shannon divergence (users below it are not tested). Periods are per user because
  users are active at very different times.
* **Gaining / losing categories**: the population's category shares in the last
  ``recent`` fraction of the dataset's time span against before.

Vectorised: one matrix product per user for all permutations. Each user's permutations
come from a random stream of their own (:func:`recsys.seeds.user_rng` of ``seed`` and the
user id), so a user's p-value does not depend on which other users are assessed, in what
order, or in which chunk: any subset of users gives the same per-user results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from recsys.data.types import DataError, Dataset
from recsys.interests.categories import CategoryAssignment, category_assignment
from recsys.interests.changepoints import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, js_divergence, min_permutations
from recsys.seeds import user_rng

DEFAULT_RECENT = 0.2
DEFAULT_MIN_INTERACTIONS = 10
DEFAULT_POP_PERM = 199
DRIFT_PURPOSE = "drift"  # the per-user random stream of the drift test (recsys.seeds)


@dataclass(frozen=True)
class CategoryShift:
    category: str
    before: float  # population share before the last period
    after: float  # share in the last period
    delta: float  # after - before


@dataclass(frozen=True)
class PopulationDrift:
    """Drift over a dataset's users (arrays aligned with ``users``)."""

    users: np.ndarray  # int64 user indices that were assessed (enough interactions)
    js: np.ndarray  # float64 JS divergence (bits) last period vs before
    p_value: np.ndarray  # float64 permutation p-values (NaN: effect too small to test)
    drifted: np.ndarray  # bool
    n_users_total: int
    shifts: tuple[CategoryShift, ...]  # sorted by delta, gaining first
    cutoff_ts: int  # start of the dataset's last period (for category shifts)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_assessed(self) -> int:
        return int(self.users.size)

    @property
    def n_drifted(self) -> int:
        return int(self.drifted.sum())

    @property
    def share_drifted(self) -> float:
        """Drifted users / assessed users (0 when nobody could be assessed)."""
        return float(self.drifted.mean()) if self.users.size else 0.0

    @property
    def gaining(self) -> tuple[CategoryShift, ...]:
        return tuple(s for s in self.shifts if s.delta > 0)

    @property
    def losing(self) -> tuple[CategoryShift, ...]:
        return tuple(s for s in reversed(self.shifts) if s.delta < 0)

    def to_json(self, ds: Dataset | None = None, top: int = 10) -> dict[str, Any]:
        order = np.argsort(-self.js, kind="stable")[:top]
        return {
            "n_users": self.n_users_total,
            "n_assessed": self.n_assessed,
            "n_drifted": self.n_drifted,
            "share_drifted": round(self.share_drifted, 6),
            "cutoff_ts": self.cutoff_ts,
            "gaining": [s.__dict__ for s in self.gaining],
            "losing": [s.__dict__ for s in self.losing],
            "top_drifters": [
                {
                    "user": ds.user_ids[int(self.users[j])] if ds is not None else int(self.users[j]),
                    "js": round(float(self.js[j]), 6),
                    "p_value": None if np.isnan(self.p_value[j]) else float(self.p_value[j]),
                    "drifted": bool(self.drifted[j]),
                }
                for j in order
            ],
            "params": dict(self.params),
        }


def _g_stat(before: np.ndarray, after: np.ndarray, total: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """G statistic (nats/2) of masses ``before``/``after`` (.., C) with fixed sizes."""
    n = n1 + n2
    mix = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(before > 0, before * np.log(before / (n1 * mix)), 0.0)
        b = np.where(after > 0, after * np.log(after / (n2 * mix)), 0.0)
    return a.sum(-1) + b.sum(-1)


def drift_test(
    x: np.ndarray,
    n_recent: int,
    n_perm: int,
    rng: np.random.Generator,
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = 0.0,
    batch: int = 40,
) -> tuple[float, float, float]:
    """(JS bits, G statistic, permutation p-value) of the last ``n_recent`` rows vs the rest.

    Sequential Monte Carlo (Besag & Clifford): permutations run in batches and stop once
    the p-value can no longer reach ``alpha`` (then p = exceedances / permutations run).
    When the JS divergence is below ``min_effect`` no permutation is run and p is NaN.
    """
    n = x.shape[0]
    n1 = n - n_recent
    x = x[:, x.sum(0) > 0]  # absent categories add nothing
    total = x.sum(0)
    after = x[n1:].sum(0)
    before = total - after
    js = js_divergence(before, after)
    obs = float(_g_stat(before, after, total, n1, n_recent))
    if js < min_effect:
        return js, obs, float("nan")
    exceed, done = 0, 0
    base = np.zeros((min(batch, n_perm), n), dtype=np.float64)
    base[:, :n_recent] = 1.0
    while done < n_perm:
        p = min(batch, n_perm - done)
        mask = rng.permuted(base[:p], axis=1)
        a = mask @ x  # (p, C) masses of random "recent" sets
        null = _g_stat(total - a, a, total, n1, n_recent)
        exceed += int((null >= obs * (1 - 1e-9)).sum())
        done += p
        if (1 + exceed) / (n_perm + 1) > alpha:
            return js, obs, exceed / done
    return js, obs, (1 + exceed) / (n_perm + 1)


def category_shifts(
    ds: Dataset, assignment: CategoryAssignment, recent: float = DEFAULT_RECENT
) -> tuple[int, tuple[CategoryShift, ...]]:
    """(cutoff ts, shifts): population category shares in the last ``recent`` fraction of
    the dataset's time span vs before, sorted by change (gaining first)."""
    t0, t1 = int(ds.timestamp.min()), int(ds.timestamp.max())
    cutoff = int(t1 - recent * (t1 - t0))
    cm = np.asarray(assignment.category_matrix, dtype=np.float64)
    late = ds.timestamp >= cutoff
    before = np.bincount(ds.item[~late], minlength=ds.n_items) @ cm
    after = np.bincount(ds.item[late], minlength=ds.n_items) @ cm
    b = before / before.sum() if before.sum() > 0 else before
    a = after / after.sum() if after.sum() > 0 else after
    shifts = [
        CategoryShift(c, round(float(b[j]), 6), round(float(a[j]), 6), round(float(a[j] - b[j]), 6))
        for j, c in enumerate(assignment.categories)
    ]
    shifts.sort(key=lambda s: (-s.delta, s.category))
    return cutoff, tuple(shifts)


def population_drift(
    ds: Dataset,
    assignment: CategoryAssignment | None = None,
    *,
    recent: float = DEFAULT_RECENT,
    min_interactions: int = DEFAULT_MIN_INTERACTIONS,
    min_segment: int = 5,
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = DEFAULT_MIN_EFFECT,
    n_perm: int = DEFAULT_POP_PERM,
    seed: int = 0,
    users: Sequence[int] | np.ndarray | None = None,
) -> PopulationDrift:
    """Drift of every user with at least ``min_interactions`` interactions (see module doc).

    ``users`` (user indices, default all) restricts the assessment to those users, e.g.
    one chunk of a larger run: each user's result is the same as in a whole run."""
    if not 0.0 < recent < 1.0:
        raise DataError(f"recent must be in (0, 1), got {recent}")
    asg = assignment if assignment is not None else category_assignment(ds, seed=seed)
    cm = np.asarray(asg.category_matrix, dtype=np.float64)
    n_perm = min_permutations(alpha, n_perm)
    off = ds.user_offsets
    todo = range(ds.n_users) if users is None else [int(x) for x in users]
    assessed, jss, ps = [], [], []
    for u in todo:
        if not 0 <= u < ds.n_users:
            raise DataError(f"user index {u} outside 0..{ds.n_users - 1}")
        a, b = int(off[u]), int(off[u + 1])
        n = b - a
        if n < max(min_interactions, 2 * min_segment):
            continue
        n_recent = int(min(max(round(recent * n), min_segment), n - min_segment))
        x = cm[ds.item[a:b]]
        rng = user_rng(seed, ds.user_ids[u], DRIFT_PURPOSE)  # a stream per user: chunkable, order-free
        js, _g, p = drift_test(x, n_recent, n_perm, rng, alpha=alpha, min_effect=min_effect)
        assessed.append(u)
        jss.append(js)
        ps.append(p)
    js_arr = np.asarray(jss, dtype=np.float64)
    p_arr = np.asarray(ps, dtype=np.float64)
    drifted = (p_arr <= alpha) & (js_arr >= min_effect)
    cutoff, shifts = category_shifts(ds, asg, recent)
    params = {
        "recent": recent, "min_interactions": min_interactions, "min_segment": min_segment, "alpha": alpha,
        "min_effect": min_effect, "n_perm": n_perm, "seed": seed, "categories_source": asg.source,
    }
    return PopulationDrift(
        users=np.asarray(assessed, dtype=np.int64), js=js_arr, p_value=p_arr, drifted=drifted,
        n_users_total=ds.n_users, shifts=shifts, cutoff_ts=cutoff, params=params,
    )
