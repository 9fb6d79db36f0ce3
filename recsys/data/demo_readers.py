"""The demo world's readers: segments with different activity, age bands and regions,
one or two disjoint shelf tastes (switchers change taste once), their organic picks and
session-structured timestamps. Used by :func:`recsys.data.demo.generate`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.data.demo_items import Items
from recsys.data.demo_words import CATEGORY_WORDS

WORLD_START = 1_672_531_200  # 2023-01-01T00:00:00Z
WORLD_SECONDS = 2 * 365 * 86_400

SEGMENTS = ("casual", "regular", "power")
SEGMENT_SHARE = (0.5, 0.35, 0.15)
SEGMENT_MEDIAN = (22.0, 60.0, 150.0)  # organic interactions per user at activity_scale=1
SEGMENT_RANGE = ((12, 45), (35, 120), (90, 320))
SEGMENT_SESSION = (2.0, 3.0, 4.5)  # mean session length (items)
SESSION_REGULARITY = 3.0  # Dirichlet concentration of the gaps between sessions
MIN_ACTIVITY = 12  # organic interactions of the least active user, whatever the scale
AGE_BANDS = ("18-24", "25-34", "35-49", "50+")
AGE_SHARE = (0.2, 0.32, 0.28, 0.2)
REGIONS = ("Europe", "North America", "Asia-Pacific", "Latin America")
REGION_SHARE = (0.4, 0.33, 0.18, 0.09)

# Mild taste tilt by age band (multiplies the category prior when drawing a taste).
AGE_TILT: dict[str, tuple[float, float, float, float]] = {
    "Sci-Fi": (1.6, 1.3, 0.9, 0.6),
    "Fantasy": (1.8, 1.2, 0.8, 0.5),
    "Horror": (1.6, 1.2, 0.8, 0.5),
    "Romance": (1.2, 1.1, 0.9, 0.9),
    "Business": (0.6, 1.4, 1.3, 0.8),
    "Self-Help": (0.9, 1.3, 1.1, 0.8),
    "Children's": (0.3, 0.9, 1.8, 0.9),
    "Cooking": (0.6, 1.0, 1.3, 1.2),
    "History": (0.6, 0.8, 1.1, 1.8),
    "Biography": (0.6, 0.8, 1.1, 1.7),
    "Poetry": (1.0, 0.8, 0.9, 1.4),
}


@dataclass
class Reader:
    """One reader of the demo world (indices into the segment, age and region tuples)."""

    uid: str
    segment: int
    age: int
    region: int
    n_organic: int
    tastes: list[tuple[int, ...]]  # one (stable) or two (switcher) disjoint shelf sets
    switch_at: int | None  # organic index where the second phase starts


def _draw_taste(rng: np.random.Generator, prior: np.ndarray, k: int, exclude: set[int]) -> tuple[int, ...]:
    p = prior.copy()
    p[list(exclude)] = 0.0
    p /= p.sum()
    return tuple(int(c) for c in rng.choice(len(p), size=k, replace=False, p=p))


def make_readers(
    rng: np.random.Generator, n_users: int, switch_fraction: float, activity_scale: float
) -> list[Reader]:
    n_cat = len(CATEGORY_WORDS)
    cat_prior = rng.dirichlet(np.full(n_cat, 4.0))
    width = max(3, len(str(n_users)))
    users: list[Reader] = []
    switchers = set(rng.choice(n_users, size=int(round(switch_fraction * n_users)), replace=False).tolist())
    segs = rng.choice(3, size=n_users, p=SEGMENT_SHARE)
    ages = rng.choice(4, size=n_users, p=AGE_SHARE)
    regions = rng.choice(4, size=n_users, p=REGION_SHARE)
    activity = np.exp(rng.normal(0.0, 0.3, size=n_users))
    for u in range(n_users):
        seg, age, region = int(segs[u]), int(ages[u]), int(regions[u])
        lo, hi = SEGMENT_RANGE[seg]
        n = SEGMENT_MEDIAN[seg] * float(activity[u])
        n_org = int(np.clip(round(n * activity_scale), max(MIN_ACTIVITY, lo * activity_scale), hi * activity_scale))
        tilt = np.array([AGE_TILT.get(w.name, (1.0,) * 4)[age] for w in CATEGORY_WORDS])
        prior = cat_prior * tilt
        k1 = 2 if seg == 2 else int(rng.integers(1, 3))
        first = _draw_taste(rng, prior, k1, set())
        tastes = [first]
        switch_at = None
        if u in switchers:
            k2 = 2 if seg == 2 else int(rng.integers(1, 3))
            tastes.append(_draw_taste(rng, prior, k2, set(first)))
            switch_at = int(round(n_org * rng.uniform(0.35, 0.65)))
        users.append(Reader(f"u{u + 1:0{width}d}", seg, age, region, n_org, tastes, switch_at))
    return users


class _Shelves:
    """Each shelf's books in a popularity-weighted random order, drawn on the shelf's
    first use; ``take`` skips books already picked (``seen``)."""

    def __init__(self, rng: np.random.Generator, items: Items) -> None:
        self.rng, self.items = rng, items
        self.orders: dict[int, list[int]] = {}
        self.seen: set[int] = set()

    def _order(self, c: int) -> list[int]:
        if c not in self.orders:  # weighted sampling without replacement via Gumbel keys
            pool = self.items.pools[c]
            w = self.items.weight[pool]
            ok = w > 0
            keys = np.log(w[ok]) + self.rng.gumbel(size=int(ok.sum()))
            self.orders[c] = pool[ok][np.argsort(-keys)].tolist()[::-1]  # pop() from the end = best
        return self.orders[c]

    def take(self, c: int) -> int | None:
        o = self._order(c)
        while o:
            i = o.pop()
            if i not in self.seen:
                return i
        return None

    def take_first(self, shelves: list[int]) -> int | None:
        """A book from the first of ``shelves`` that has one left."""
        for c in shelves:
            i = self.take(int(c))
            if i is not None:
                return i
        return None


def organic_picks(rng: np.random.Generator, user: Reader, items: Items, cat_p: np.ndarray, noise: float) -> list[int]:
    """The user's organic picks (item indices), without repeats."""
    n_cat = len(items.pools)
    shelves = _Shelves(rng, items)
    out: list[int] = []
    is_noise = rng.random(user.n_organic) < noise
    noise_cat = rng.choice(n_cat, size=user.n_organic, p=cat_p)
    first = rng.random(user.n_organic) < 0.55
    for t in range(user.n_organic):
        taste = user.tastes[1] if user.switch_at is not None and t >= user.switch_at else user.tastes[0]
        if is_noise[t]:
            c = int(noise_cat[t])
        else:
            c = int(taste[0]) if len(taste) == 1 or first[t] else int(taste[1])
        i = shelves.take(c)
        if i is None:  # shelf exhausted: another shelf of the phase, then any shelf
            i = shelves.take_first(list(taste) + rng.permutation(n_cat).tolist())
        if i is None:
            break
        shelves.seen.add(i)
        out.append(i)
    return out


def session_timestamps(rng: np.random.Generator, n: int, segment: int, switch: int | None) -> np.ndarray:
    """Strictly increasing timestamps in sessions: minutes apart within a session,
    hours to weeks between sessions, spread over 5–24 months. With ``switch`` (an
    index), interaction ``switch`` opens a session at the matching fraction of the
    span, so a planted change point sits where its index says it does."""
    start = WORLD_START + int(rng.uniform(0.0, 0.45) * WORLD_SECONDS)
    span = int(rng.uniform(0.35, 1.0) * (WORLD_START + WORLD_SECONDS - start))
    if switch is None or not 0 < switch < n:
        return _session_times(rng, n, segment, start, span)
    cut = int(span * switch / n)
    pause = int(rng.uniform(0.5, 3.0) * 86_400)
    before = _session_times(rng, switch, segment, start, max(cut - pause, 3600))
    after = _session_times(rng, n - switch, segment, start + cut, span - cut)
    return np.concatenate([before, after])


def _session_times(rng: np.random.Generator, n: int, segment: int, start: int, span: int) -> np.ndarray:
    """n session-structured timestamps from ``start`` to about ``start + span``."""
    gaps = rng.integers(120, 2_700, size=max(n - 1, 0)).astype(np.int64)
    sizes = rng.geometric(1.0 / SEGMENT_SESSION[segment], size=n)
    starts = np.cumsum(sizes)
    starts = starts[starts < n]  # interaction indices that open a new session
    if len(starts) < min(n - 1, 2):  # at least two sessions, so the piece spans its time
        starts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, 2), replace=False))
    if len(starts):
        busy = int(gaps.sum()) - int(gaps[starts - 1].sum())
        free = max(span - busy - len(starts) * 4 * 3600, len(starts) * 3600)
        between = 4 * 3600 + free * rng.dirichlet(np.full(len(starts), SESSION_REGULARITY))
        gaps[starts - 1] = between.astype(np.int64)
    return start + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
