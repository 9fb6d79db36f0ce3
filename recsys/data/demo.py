"""The demo world: a synthetic bookshop with planted, known structure.

``generate(seed)`` builds a deterministic :class:`~recsys.data.types.Dataset` in about
a second of CPU time (``generate_small`` in about 0.2 s): ~600 readers, ~1,500 books on
15 shelves (categories) with readable titles and one-sentence descriptions, Zipf-like
popularity, three reader segments (casual / regular / power) with different activity,
timestamps in sessions over two years, and two kinds of planted structure whose ground
truth is ``ds.truth`` (a :class:`DemoTruth`):

* **Interest phases** — a fraction of readers (``switch_fraction``, default half)
  switch once, at a known time, from one set of 1–2 shelves to a disjoint set; the
  others keep one taste throughout. Apart from a little noise (``noise`` of the picks
  come from any shelf), every pick comes from the current phase's shelves.
* **Follow-ups** — ``n_followups`` pairs (A → B). When a reader takes A, B follows one
  or two steps later with probability ``followup_prob``. B books are never picked
  otherwise, so nothing but A predicts B. A books are moderately popular, so each pair
  occurs often enough to be learned. The logs of ``pending_fraction`` of the readers
  end with a trigger A whose B lies beyond the end of the log (a *pending* follow-up:
  the history ends with A and B is unseen — the ideal "why is B recommended?" case).

Randomness flows through one ``numpy.random.Generator`` built from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from recsys.data.demo_words import CATEGORIES, CATEGORY_WORDS, NEIGHBOURS, CategoryWords
from recsys.data.types import DataError, Dataset, build_dataset

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


class Phase(NamedTuple):
    """One interest phase of a user: ``start <= t < end`` (the last phase includes
    ``end``, the user's last timestamp); ``categories`` are the planted shelves."""

    start: int
    end: int
    categories: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class DemoTruth:
    """Ground truth planted in the demo world (all ids are external string ids).

    ``phases[u]``: the user's interest phases, oldest first (one for stable users, two
    for switchers). ``change_points[u]``: timestamps where a new phase starts (the
    first interaction of the new phase); empty for stable users. ``followups``: the
    planted pairs (A, B). ``followup_users[(a, b)]``: users whose log has B within two
    steps after A. ``trigger_users[(a, b)]``: every user who took A.
    ``pending_followups[u]``: pairs whose A is u's last interaction and whose B is not in
    u's log. ``featured``: role -> user id of good demo users ("switcher", "followup",
    "stable"). Treat the containers as read-only.
    """

    seed: int
    categories: tuple[str, ...]
    phases: dict[str, list[Phase]]
    change_points: dict[str, list[int]]
    switch_users: tuple[str, ...]
    stable_users: tuple[str, ...]
    followups: tuple[tuple[str, str], ...]
    followup_users: dict[tuple[str, str], tuple[str, ...]]
    trigger_users: dict[tuple[str, str], tuple[str, ...]]
    pending_followups: dict[str, list[tuple[str, str]]]
    followup_prob: float
    noise: float
    featured: dict[str, str] = field(default_factory=dict)

    def featured_users(self) -> tuple[str, ...]:
        """A few users worth looking at first: a switcher with a long history, a user
        with a planted follow-up near the end of the history, a stable user."""
        return tuple(dict.fromkeys(self.featured.values()))

    def followup_of(self, item_id: str) -> str | None:
        """The planted follow-up B of trigger ``item_id`` (A), or None."""
        return dict(self.followups).get(str(item_id))

    def trigger_of(self, item_id: str) -> str | None:
        """The planted trigger A of follow-up ``item_id`` (B), or None."""
        return {b: a for a, b in self.followups}.get(str(item_id))


# --------------------------------------------------------------------------------------
# items


@dataclass(frozen=True)
class _Items:
    ids: list[str]
    titles: list[str]
    cats: list[tuple[int, ...]]  # category indices, primary first
    text: list[str]
    weight: np.ndarray  # organic popularity weight (0 for follow-up targets B)
    pools: list[np.ndarray]  # per category: item indices carrying it
    b_items: list[int]


def _make_title(rng: np.random.Generator, words: CategoryWords, taken: set[str]) -> str:
    for _ in range(200):
        tpl = words.templates[rng.integers(len(words.templates))]
        a = words.adjectives[rng.integers(len(words.adjectives))]
        n, m = rng.choice(len(words.nouns), size=2, replace=False)
        title = tpl.format(a=a, n=words.nouns[n], m=words.nouns[m])
        if title not in taken:
            return title
    for k in range(2, 10_000):  # vocabulary exhausted: number the volumes
        title = f"{tpl.format(a=a, n=words.nouns[n], m=words.nouns[m])}, Volume {k}"
        if title not in taken:
            return title
    raise AssertionError("unreachable")


def _make_text(rng: np.random.Generator, words: CategoryWords, second: CategoryWords | None) -> str:
    def pick(xs: tuple[str, ...]) -> str:
        return xs[rng.integers(len(xs))]

    text = f"{pick(words.openers)} {pick(words.topics)} {pick(words.settings)}"
    if second is not None:
        text += f", with a touch of {second.flavour}"
    return text + "."


def _make_items(rng: np.random.Generator, n_items: int, n_followups: int, zipf: float) -> _Items:
    n_cat = len(CATEGORY_WORDS)
    shelf_share = rng.dirichlet(np.full(n_cat, 6.0))
    primary = rng.choice(n_cat, size=n_items, p=shelf_share)
    primary[:n_cat] = np.arange(n_cat)  # every shelf has books
    taken: set[str] = set()
    ids, titles, cats, text = [], [], [], []
    width = max(4, len(str(n_items)))
    for i in range(n_items):
        c = int(primary[i])
        second: int | None = None
        if rng.random() < 0.3:
            near = NEIGHBOURS[CATEGORY_WORDS[c].name]
            second = CATEGORIES.index(near[int(rng.integers(len(near)))])
        title = _make_title(rng, CATEGORY_WORDS[c], taken)
        taken.add(title)
        ids.append(f"b{i + 1:0{width}d}")
        titles.append(title)
        cats.append((c,) if second is None else (c, second))
        text.append(_make_text(rng, CATEGORY_WORDS[c], None if second is None else CATEGORY_WORDS[second]))
    rank = rng.permutation(n_items)
    weight = 1.0 / (rank + 1.0) ** zipf
    # follow-up targets B: tail books of each shelf in turn, never picked organically
    b_items: list[int] = []
    order = rng.permutation(n_cat)
    for k in range(n_followups):
        c = int(order[k % n_cat])
        cand = [i for i in range(n_items) if primary[i] == c and i not in b_items and rank[i] > n_items // 3]
        if not cand:
            cand = [i for i in range(n_items) if i not in b_items]
        b_items.append(int(rng.choice(cand)))
    weight[b_items] = 0.0
    pools = [np.array([i for i in range(n_items) if c in cats[i]], dtype=np.int64) for c in range(n_cat)]
    return _Items(ids, titles, cats, text, weight, pools, b_items)


# --------------------------------------------------------------------------------------
# users and their organic picks


@dataclass
class _User:
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


def _make_users(
    rng: np.random.Generator, n_users: int, switch_fraction: float, activity_scale: float
) -> list[_User]:
    n_cat = len(CATEGORY_WORDS)
    cat_prior = rng.dirichlet(np.full(n_cat, 4.0))
    width = max(3, len(str(n_users)))
    users: list[_User] = []
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
        users.append(_User(f"u{u + 1:0{width}d}", seg, age, region, n_org, tastes, switch_at))
    return users


def _organic(rng: np.random.Generator, user: _User, items: _Items, cat_p: np.ndarray, noise: float) -> list[int]:
    """The user's organic picks (item indices), without repeats."""
    n_cat = len(items.pools)
    orders: dict[int, list[int]] = {}
    seen: set[int] = set()
    out: list[int] = []

    def order_of(c: int) -> list[int]:
        if c not in orders:  # weighted sampling without replacement via Gumbel keys
            pool = items.pools[c]
            w = items.weight[pool]
            ok = w > 0
            keys = np.log(w[ok]) + rng.gumbel(size=int(ok.sum()))
            orders[c] = pool[ok][np.argsort(-keys)].tolist()[::-1]  # pop() from the end = best
        return orders[c]

    def take(c: int) -> int | None:
        o = order_of(c)
        while o:
            i = o.pop()
            if i not in seen:
                return i
        return None

    is_noise = rng.random(user.n_organic) < noise
    noise_cat = rng.choice(n_cat, size=user.n_organic, p=cat_p)
    first = rng.random(user.n_organic) < 0.55
    for t in range(user.n_organic):
        taste = user.tastes[1] if user.switch_at is not None and t >= user.switch_at else user.tastes[0]
        if is_noise[t]:
            c = int(noise_cat[t])
        else:
            c = int(taste[0]) if len(taste) == 1 or first[t] else int(taste[1])
        i = take(c)
        if i is None:  # shelf exhausted: another shelf of the phase, then any shelf
            for c2 in list(taste) + rng.permutation(n_cat).tolist():
                i = take(int(c2))
                if i is not None:
                    break
        if i is None:
            break
        seen.add(i)
        out.append(i)
    return out


def _choose_triggers(rng: np.random.Generator, items: _Items, organic: list[list[int]]) -> list[int]:
    """For each follow-up target B, a moderately popular trigger A on B's shelf."""
    counts = np.bincount(np.concatenate([np.asarray(s, dtype=np.int64) for s in organic]),
                         minlength=len(items.ids))
    nz = counts[counts > 0]
    lo, hi = np.quantile(nz, 0.80), np.quantile(nz, 0.97)
    used: set[int] = set(items.b_items)
    triggers: list[int] = []
    for b in items.b_items:
        c = items.cats[b][0]
        cand = [int(i) for i in items.pools[c] if i not in used and items.cats[i][0] == c and lo <= counts[i] <= hi]
        if not cand:  # small worlds: among the most popular unused books of the shelf
            for rest in (
                [int(i) for i in items.pools[c] if i not in used and items.cats[i][0] == c and counts[i] > 0],
                [int(i) for i in items.pools[c] if i not in used and counts[i] > 0],
                [int(i) for i in np.argsort(-counts) if i not in used and counts[i] > 0],
            ):
                if rest:
                    cand = sorted(rest, key=lambda i: -counts[i])[:3]
                    break
        a = int(rng.choice(cand))
        used.add(a)
        triggers.append(a)
    return triggers


def _plant_pending_ends(
    rng: np.random.Generator,
    users: list[_User],
    organic: list[list[int]],
    items: _Items,
    triggers: list[int],
    fraction: float,
) -> set[str]:
    """End the logs of ``fraction`` of the users with a trigger A they have not taken
    (preferably on a shelf of their current taste); its B lies beyond the end of the
    log. Appends to ``organic`` in place; returns the chosen user ids."""
    chosen = rng.choice(len(users), size=int(round(fraction * len(users))), replace=False)
    ends: set[str] = set()
    for u in sorted(int(x) for x in chosen):
        user, org = users[u], organic[u]
        taken = set(org)
        now = set(user.tastes[-1] if user.switch_at is not None else user.tastes[0])
        fresh = [a for a in triggers if a not in taken]
        near = [a for a in fresh if items.cats[a][0] in now]
        pool = near or fresh
        if pool:
            org.append(int(pool[int(rng.integers(len(pool)))]))
            ends.add(user.uid)
    return ends


def _insert_followups(
    rng: np.random.Generator, seq: list[int], pair_of: dict[int, int], prob: float, pending_end: bool
) -> tuple[list[int], list[int]]:
    """Insert B one or two positions after each A (with probability ``prob``). With
    ``pending_end`` the last organic pick is a trigger whose B lies beyond the end of
    the log. Returns the new sequence and the pending Bs."""
    out: list[int] = []
    slots: dict[int, int] = {}  # target position -> B waiting for it

    def push(x: int) -> None:
        out.append(x)
        while len(out) in slots:
            out.append(slots.pop(len(out)))

    left: list[int] = []
    for k, i in enumerate(seq):
        b = pair_of.get(i)
        if b is not None and pending_end and k == len(seq) - 1:
            out.extend(slots[t] for t in sorted(slots))  # earlier Bs come first: the log ends with A
            slots.clear()
            out.append(i)
            left.append(b)
            break
        p = len(out)
        push(i)
        if b is None or rng.random() >= prob:
            continue
        target = p + (1 if rng.random() < 0.7 else 2)
        if target < len(out):  # p + 1 was filled by an earlier A's B: take p + 2
            target = p + 2
        if target == len(out):
            push(b)
        else:
            slots[target] = b
    out.extend(slots[t] for t in sorted(slots))
    return out, left


def _timestamps(rng: np.random.Generator, n: int, segment: int, switch: int | None) -> np.ndarray:
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


# --------------------------------------------------------------------------------------
# the world


def generate(
    seed: int = 0,
    n_users: int = 600,
    n_items: int = 1500,
    *,
    n_followups: int = 60,
    followup_prob: float = 0.85,
    switch_fraction: float = 0.5,
    pending_fraction: float = 0.06,
    noise: float = 0.1,
    zipf: float = 1.0,
    activity_scale: float = 1.0,
    source: str = "demo",
) -> Dataset:
    """Generate the demo world (deterministic in all arguments)."""
    if n_users < 10 or n_items < 100:
        raise DataError(f"demo world too small: {n_users} users, {n_items} items (need >= 10 and >= 100)")
    if not 0 <= n_followups <= n_items // 5:
        raise DataError(f"n_followups must be in [0, {n_items // 5}], got {n_followups}")
    if not (0 <= followup_prob <= 1 and 0 <= switch_fraction <= 1 and 0 <= pending_fraction <= 1 and 0 <= noise < 1):
        raise DataError("followup_prob, switch_fraction, pending_fraction and noise must be probabilities")
    rng = np.random.default_rng(seed)
    items = _make_items(rng, n_items, n_followups, zipf)
    users = _make_users(rng, n_users, switch_fraction, activity_scale)
    cat_p = np.array([items.weight[p].sum() for p in items.pools])
    cat_p /= cat_p.sum()
    organic = [_organic(rng, u, items, cat_p, noise) for u in users]
    triggers = _choose_triggers(rng, items, organic)
    pair_of = dict(zip(triggers, items.b_items))
    ends = _plant_pending_ends(rng, users, organic, items, triggers, pending_fraction)

    rows_u: list[np.ndarray] = []
    rows_i: list[np.ndarray] = []
    rows_t: list[np.ndarray] = []
    phases: dict[str, list[Phase]] = {}
    cps: dict[str, list[int]] = {}
    pending: dict[str, list[tuple[str, str]]] = {}
    followers: dict[tuple[str, str], list[str]] = {(items.ids[a], items.ids[b]): [] for a, b in pair_of.items()}
    takers: dict[tuple[str, str], list[str]] = {k: [] for k in followers}
    seqs: dict[str, np.ndarray] = {}
    for user, org in zip(users, organic):
        seq, left = _insert_followups(rng, org, pair_of, followup_prob, user.uid in ends)
        # phase two starts at the first organic pick of the new taste (items never repeat)
        has_switch = user.switch_at is not None and 0 < user.switch_at < len(org)
        k_switch = seq.index(org[user.switch_at]) if has_switch else None
        ts = _timestamps(rng, len(seq), user.segment, k_switch)
        names = tuple(CATEGORY_WORDS[c].name for c in user.tastes[0])
        if k_switch is None:
            phases[user.uid] = [Phase(int(ts[0]), int(ts[-1]), names)]
            cps[user.uid] = []
        else:
            cp = int(ts[k_switch])
            names2 = tuple(CATEGORY_WORDS[c].name for c in user.tastes[1])
            phases[user.uid] = [Phase(int(ts[0]), cp, names), Phase(cp, int(ts[-1]), names2)]
            cps[user.uid] = [cp]
        if left:
            pending[user.uid] = [(items.ids[seq[-1]], items.ids[b]) for b in left]
        pos = {i: k for k, i in enumerate(seq)}
        for a, b in pair_of.items():
            if a in pos:
                key = (items.ids[a], items.ids[b])
                takers[key].append(user.uid)
                if b in pos and 0 < pos[b] - pos[a] <= 2:
                    followers[key].append(user.uid)
        arr = np.asarray(seq, dtype=np.int64)
        seqs[user.uid] = arr
        rows_u.append(np.full(len(seq), user.uid, dtype=object))
        rows_i.append(arr)
        rows_t.append(ts)

    item_idx = np.concatenate(rows_i)
    interactions = pd.DataFrame(
        {
            "user_id": np.concatenate(rows_u),
            "item_id": np.asarray(items.ids, dtype=object)[item_idx],
            "timestamp": np.concatenate(rows_t),
        }
    )
    items_df = pd.DataFrame(
        {
            "item_id": items.ids,
            "title": items.titles,
            "categories": [tuple(CATEGORY_WORDS[c].name for c in cs) for cs in items.cats],
            "text": items.text,
        }
    )
    users_df = pd.DataFrame(
        {
            "user_id": [u.uid for u in users],
            "segment": [SEGMENTS[u.segment] for u in users],
            "age_band": [AGE_BANDS[u.age] for u in users],
            "region": [REGIONS[u.region] for u in users],
        }
    )
    switch_users = tuple(u.uid for u in users if cps[u.uid])
    stable_users = tuple(u.uid for u in users if not cps[u.uid])
    truth = DemoTruth(
        seed=seed,
        categories=tuple(w.name for w in CATEGORY_WORDS),
        phases=phases,
        change_points=cps,
        switch_users=switch_users,
        stable_users=stable_users,
        followups=tuple(followers),
        followup_users={k: tuple(v) for k, v in followers.items()},
        trigger_users={k: tuple(v) for k, v in takers.items()},
        pending_followups=pending,
        followup_prob=followup_prob,
        noise=noise,
        featured=_featured(users, seqs, cps, pending, followers),
    )
    return build_dataset(source, interactions, items_df, users_df, truth=truth)


def _featured(
    users: list[_User],
    seqs: dict[str, np.ndarray],
    cps: dict[str, list[int]],
    pending: dict[str, list[tuple[str, str]]],
    followers: dict[tuple[str, str], list[str]],
) -> dict[str, str]:
    """Pick good demo users: long-history switcher, follow-up user, long stable user."""
    out: dict[str, str] = {}
    sw = [u for u in users if cps[u.uid]]
    if sw:  # long but readable history, switch near the middle
        out["switcher"] = min(sw, key=lambda u: (abs(len(seqs[u.uid]) - 120), u.uid)).uid
    if pending:  # history ends with a trigger A, its B unseen: "why is B recommended?"
        out["followup"] = min(sorted(pending), key=lambda uid: abs(len(seqs[uid]) - 80))
    else:
        fol = sorted({uid for v in followers.values() for uid in v})
        if fol:
            out["followup"] = max(fol, key=lambda uid: len(seqs[uid]))
    st = [u for u in users if not cps[u.uid]]
    if st:
        out["stable"] = min(st, key=lambda u: (abs(len(seqs[u.uid]) - 100), u.uid)).uid
    return out


def generate_small(seed: int = 0) -> Dataset:
    """A small demo world (150 users, 400 items) for fast tests."""
    return generate(
        seed, n_users=150, n_items=400, n_followups=20, activity_scale=0.5, source="demo-small"
    )
