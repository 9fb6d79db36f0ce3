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

Randomness flows through one ``numpy.random.Generator`` built from ``seed``. The
catalogue is drawn in :mod:`recsys.data.demo_items`, the readers and their organic picks
in :mod:`recsys.data.demo_readers`; this module plants the follow-ups and assembles the
world and its ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from recsys.data.demo_items import Items, make_items
from recsys.data.demo_readers import (
    AGE_BANDS,
    REGIONS,
    SEGMENTS,
    WORLD_SECONDS,
    WORLD_START,
    Reader,
    make_readers,
    organic_picks,
    session_timestamps,
)
from recsys.data.demo_words import CATEGORY_WORDS
from recsys.data.order import DEFAULT_TIE_ORDER
from recsys.data.types import DataError, Dataset, build_dataset

__all__ = [
    "AGE_BANDS",
    "REGIONS",
    "SEGMENTS",
    "WORLD_SECONDS",
    "WORLD_START",
    "DemoTruth",
    "Phase",
    "generate",
    "generate_small",
]


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


# --------------------------------------------------------------------------------------
# planted follow-ups


def _choose_triggers(rng: np.random.Generator, items: Items, organic: list[list[int]]) -> list[int]:
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
    users: list[Reader],
    organic: list[list[int]],
    items: Items,
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
    tie_order: str = DEFAULT_TIE_ORDER,
) -> Dataset:
    """Generate the demo world (deterministic in all arguments). Its timestamps strictly
    increase per reader, so ``tie_order`` changes only the fingerprint, not the order."""
    if n_users < 10 or n_items < 100:
        raise DataError(f"demo world too small: {n_users} users, {n_items} items (need >= 10 and >= 100)")
    if not 0 <= n_followups <= n_items // 5:
        raise DataError(f"n_followups must be in [0, {n_items // 5}], got {n_followups}")
    if not (0 <= followup_prob <= 1 and 0 <= switch_fraction <= 1 and 0 <= pending_fraction <= 1 and 0 <= noise < 1):
        raise DataError("followup_prob, switch_fraction, pending_fraction and noise must be probabilities")
    rng = np.random.default_rng(seed)
    items = make_items(rng, n_items, n_followups, zipf)
    users = make_readers(rng, n_users, switch_fraction, activity_scale)
    cat_p = np.array([items.weight[p].sum() for p in items.pools])
    cat_p /= cat_p.sum()
    organic = [organic_picks(rng, u, items, cat_p, noise) for u in users]
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
        k_switch = _switch_index(user, org, seq)
        ts = session_timestamps(rng, len(seq), user.segment, k_switch)
        phases[user.uid] = _phases(user, ts, k_switch)
        cps[user.uid] = [] if k_switch is None else [int(ts[k_switch])]
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
    return build_dataset(source, interactions, items_df, users_df, truth=truth, tie_order=tie_order)


def _switch_index(user: Reader, organic: list[int], seq: list[int]) -> int | None:
    """Where phase two starts in ``seq``: at the first organic pick of the new taste
    (items never repeat); None for a stable reader."""
    at = user.switch_at
    if at is None or not 0 < at < len(organic):
        return None
    return seq.index(organic[at])


def _phases(user: Reader, ts: np.ndarray, k_switch: int | None) -> list[Phase]:
    """The reader's interest phases, with their shelves by name."""
    names = [tuple(CATEGORY_WORDS[c].name for c in taste) for taste in user.tastes]
    if k_switch is None:
        return [Phase(int(ts[0]), int(ts[-1]), names[0])]
    cp = int(ts[k_switch])
    return [Phase(int(ts[0]), cp, names[0]), Phase(cp, int(ts[-1]), names[1])]


def _featured(
    users: list[Reader],
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


def generate_small(seed: int = 0, tie_order: str = DEFAULT_TIE_ORDER) -> Dataset:
    """A small demo world (150 users, 400 items) for fast tests."""
    return generate(
        seed, n_users=150, n_items=400, n_followups=20, activity_scale=0.5, source="demo-small",
        tie_order=tie_order,
    )
