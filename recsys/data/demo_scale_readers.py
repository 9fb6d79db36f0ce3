"""The readers of a scale demo world, one block of :data:`BLOCK_USERS` readers at a time,
with numpy array operations only (no Python loop over readers or events).

Block ``b`` holds readers ``b * BLOCK_USERS`` … and draws from its own random stream,
``SeedSequence(seed, spawn_key=(1, b))``: a block is the same whichever blocks are
generated before it, in which process, or how many are written together.

Per block: segments, age bands and regions; one or two disjoint shelf tastes (a
Gumbel-top-k draw from the age-tilted shelf prior: the second taste is the next shelves
of the same ranking); organic picks (a share :data:`NOISE` from any shelf by popularity, the rest
from a taste shelf, each a book of its shelf by popularity; books are drawn with
replacement and repeats dropped — the order of first appearances is a weighted sample
without replacement, the ``demo`` world's shelf order); a trigger A at
the end of :data:`PENDING` of the logs whose B never comes; the follow-ups B one or two
steps after A; session-structured, strictly increasing timestamps, the change point of
a switcher opening a session at the matching share of the reader's span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.data.demo_readers import (
    AGE_SHARE,
    REGION_SHARE,
    SEGMENT_MEDIAN,
    SEGMENT_RANGE,
    SEGMENT_SESSION,
    SEGMENT_SHARE,
    SESSION_REGULARITY,
    WORLD_SECONDS,
    WORLD_START,
)
from recsys.data.demo_scale_items import N_CAT, Catalog
from recsys.data.demo_spec import WorldSpec

BLOCK_USERS = 1024  # readers per random stream: part of the world's definition
NOISE = 0.1  # share of the picks from any shelf
SWITCH = 0.5
PENDING = 0.06
FOLLOWUP_PROB = 0.85
FIRST_SHELF = 0.55  # of a two-shelf taste, the share of picks from the first shelf
OVERSAMPLE = 1.5  # draws per missing pick in a round (repeats are dropped)
ROUNDS = ("popular", "popular", "popular", "flat", "flat", "any")  # rounds of draws (see _organic)
BASE_EVENTS = 57.0  # mean organic picks per reader at activity scale 1
HOUR, DAY = 3600, 86_400


@dataclass(frozen=True, eq=False)
class Block:
    """One block of readers: their interactions in protocol order (``user`` global
    reader indices, ascending; per reader strictly increasing ``ts``) and their truth.

    Per reader: ``segment``, ``age``, ``region`` (indices into SEGMENTS, AGE_BANDS,
    REGIONS); ``taste[u, phase, slot]`` shelf indices (-1 empty; phase 1 only for
    switchers); ``change_ts`` (-1 for stable readers); ``length``; ``pending`` pair index
    (-1 none). Per trigger occurrence: reader, pair, and whether B came 1–2 steps later.
    """

    first_user: int
    user: np.ndarray  # int32
    item: np.ndarray  # int32
    ts: np.ndarray  # int64
    segment: np.ndarray  # int8
    age: np.ndarray
    region: np.ndarray
    taste: np.ndarray  # (n, 2, 2) int8
    change_ts: np.ndarray  # int64
    length: np.ndarray  # int64
    pending: np.ndarray  # int64
    occ_user: np.ndarray  # int32
    occ_pair: np.ndarray  # int32
    occ_followed: np.ndarray  # bool

    @property
    def n_users(self) -> int:
        return len(self.segment)


def n_blocks(spec: WorldSpec) -> int:
    return -(-spec.users // BLOCK_USERS)


def block_rng(spec: WorldSpec, b: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(1, b)))


def _starts(counts: np.ndarray) -> np.ndarray:
    """Offsets of consecutive runs of the given lengths."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _readers(rng: np.random.Generator, n: int, cat: Catalog, scale: float) -> tuple[np.ndarray, ...]:
    seg = rng.choice(3, size=n, p=SEGMENT_SHARE)
    age = rng.choice(4, size=n, p=AGE_SHARE)
    region = rng.choice(4, size=n, p=REGION_SHARE)
    act = np.exp(rng.normal(0.0, 0.3, size=n))
    lo, hi = np.array(SEGMENT_RANGE, dtype=float).T * scale
    n_org = np.clip(np.round(np.array(SEGMENT_MEDIAN)[seg] * act * scale), np.maximum(5, lo[seg]), np.maximum(5, hi[seg]))
    n_org = n_org.astype(np.int64)
    keys = np.log(cat.taste_prior[age]) + rng.gumbel(size=(n, N_CAT))
    rank = np.argsort(-keys, axis=1)[:, :4]
    k1 = np.where(seg == 2, 2, rng.integers(1, 3, size=n))
    k2 = np.where(seg == 2, 2, rng.integers(1, 3, size=n))
    switch = rng.random(n) < SWITCH
    at = np.round(n_org * rng.uniform(0.35, 0.65, size=n)).astype(np.int64)
    rows = np.arange(n)
    taste = np.full((n, 2, 2), -1, dtype=np.int64)
    taste[:, 0, 0] = rank[:, 0]
    taste[:, 0, 1] = np.where(k1 == 2, rank[:, 1], -1)
    taste[:, 1, 0] = np.where(switch, rank[rows, k1], -1)
    taste[:, 1, 1] = np.where(switch & (k2 == 2), rank[rows, np.minimum(k1 + 1, 3)], -1)
    want = np.stack([np.where(switch, at, n_org), np.where(switch, n_org - at, 0)], axis=1)
    return seg, age, region, taste, want


def _draw(rng: np.random.Generator, cat: Catalog, taste: np.ndarray, draws: np.ndarray,
          mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``draws[s]`` books with replacement for each segment ``s = 4 u + 2 phase + noise``
    (reader u's taste picks, then noise picks, of each phase): (segment, book). Per draw
    a shelf — a taste shelf, or for noise (and every draw in ``mode`` "any") a shelf by
    popularity — then a book of the shelf by popularity (in ``mode`` "flat" uniformly:
    the shelf's popular books are taken)."""
    d_seg = np.repeat(np.arange(len(draws)), draws)
    d_user, d_phase, d_noise = d_seg // 4, (d_seg // 2) % 2, d_seg % 2 == 1
    t0, t1 = taste[d_user, d_phase, 0], taste[d_user, d_phase, 1]
    m = len(d_seg)
    shelf = np.where((t1 < 0) | (rng.random(m) < FIRST_SHELF), t0, t1)
    noise_shelf = np.minimum(np.searchsorted(np.cumsum(cat.shelf_p), rng.random(m), side="right"), N_CAT - 1)
    shelf = np.where(d_noise | (mode == "any"), noise_shelf, shelf)
    lo, hi = cat.pool_start[shelf], cat.pool_end[shelf]
    if mode == "flat":
        pos = lo + np.floor(rng.random(m) * (hi - lo)).astype(np.int64)
    else:
        pos = np.searchsorted(cat.cdf, shelf + rng.random(m), side="right")
    pos = np.clip(pos, lo, hi - 1)
    return d_seg, cat.pool_item[pos]


def _kept(n_items: int, want: np.ndarray, d_seg: np.ndarray, item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which draws (in segment order) are picks — a reader's first draw of a book, up to
    ``want`` per segment — and their rank in the segment."""
    key = (d_seg // 4) * np.int64(n_items) + item
    order = np.argsort(key, kind="stable")
    first = np.ones(len(key), dtype=bool)
    first[order[1:]] = key[order[1:]] != key[order[:-1]]  # drop repeats, keep the first
    kept_before = np.concatenate([[0], np.cumsum(first)])
    seg_start = np.searchsorted(d_seg, np.arange(len(want)))
    rank = kept_before[1:] - 1 - kept_before[seg_start][d_seg]  # rank among the segment's first draws
    return first & (rank < want[d_seg]), rank


def _organic(rng: np.random.Generator, cat: Catalog, taste: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, ...]:
    """Organic picks, per reader phase one then phase two: (reader, book, phase).

    A phase's picks are :data:`NOISE` noise picks (binomial), the rest taste picks;
    noise picks are placed at random among the taste picks. Rounds of draws
    (:data:`ROUNDS`) top up the segments that repeats left short; for shelves running
    dry the last rounds draw the shelf's books uniformly, then from any shelf (as the
    ``demo`` world falls back)."""
    noise = rng.binomial(want, NOISE)
    seg_want = np.stack([want - noise, noise], axis=2).reshape(-1)  # 4 u + 2 phase + noise
    d_seg = np.zeros(0, dtype=np.int64)
    item = np.zeros(0, dtype=np.int64)
    keep = np.zeros(0, dtype=bool)
    rank = np.zeros(0, dtype=np.int64)
    for mode in ROUNDS:
        short = seg_want - np.bincount(d_seg[keep], minlength=len(seg_want))
        if not short.any():
            break
        draws = np.where(short > 0, np.ceil(short * OVERSAMPLE).astype(np.int64) + 4, 0)
        s_new, i_new = _draw(rng, cat, taste, draws, mode)
        d_seg, item = np.concatenate([d_seg, s_new]), np.concatenate([item, i_new])
        order = np.argsort(d_seg, kind="stable")  # by segment, then round, then draw
        d_seg, item = d_seg[order], item[order]
        keep, rank = _kept(cat.n_items, seg_want, d_seg, item)
    d_seg, item, rank = d_seg[keep], item[keep], rank[keep]
    got = np.bincount(d_seg, minlength=len(seg_want))
    # within a phase: taste picks keep their order, noise picks fall at random places
    pos = np.where(d_seg % 2 == 0, (rank + 0.5) / np.maximum(got[d_seg], 1), rng.random(len(d_seg)))
    order = np.lexsort((pos, d_seg // 2))
    d_seg, item = d_seg[order], item[order]
    return d_seg // 4, item, (d_seg // 2) % 2


def _pending(rng: np.random.Generator, cat: Catalog, taste: np.ndarray, o_user: np.ndarray,
             o_item: np.ndarray) -> np.ndarray:
    """Pair index of the trigger that ends each reader's log (-1 for most): a trigger on
    the reader's current first shelf (else any) that the reader has not taken."""
    n, n_pairs = len(taste), len(cat.pair_a)
    chosen = rng.random(n) < PENDING
    r1, r2 = rng.random(n), rng.random(n)
    if n_pairs == 0:
        return np.full(n, -1, dtype=np.int64)
    now = np.where(taste[:, 1, 0] >= 0, taste[:, 1, 0], taste[:, 0, 0])
    lo, hi = cat.trig_start[now], cat.trig_start[now + 1]
    near = cat.trig_order[np.minimum(lo + np.floor(r1 * (hi - lo)).astype(np.int64), n_pairs - 1)]
    first = np.where(hi > lo, near, np.floor(r1 * n_pairs).astype(np.int64))
    other = np.floor(r2 * n_pairs).astype(np.int64)
    taken = np.sort(np.concatenate([o_user * np.int64(cat.n_items) + o_item, [-1]]))

    def has(pairs: np.ndarray) -> np.ndarray:
        k = np.arange(n) * np.int64(cat.n_items) + cat.pair_a[pairs]
        at = np.minimum(np.searchsorted(taken, k), len(taken) - 1)
        return taken[at] == k

    pick = np.where(~has(first), first, np.where(~has(other), other, -1))
    return np.where(chosen, pick, -1)


def _with_followups(rng: np.random.Generator, cat: Catalog, o_user: np.ndarray, o_item: np.ndarray,
                    o_phase: np.ndarray, pending: np.ndarray) -> tuple[np.ndarray, ...]:
    """Insert B one (70 %) or two steps after a trigger A with probability
    :data:`FOLLOWUP_PROB`, append the pending triggers; (reader, book, phase) in order,
    phase -1 for inserted and pending books."""
    n = len(pending)
    count = np.bincount(o_user, minlength=n)
    j = np.arange(len(o_user)) - _starts(count)[o_user]
    pair = cat.pair_of[o_item]
    follow = (pair >= 0) & (rng.random(len(o_user)) < FOLLOWUP_PROB)
    d = np.where(rng.random(len(o_user)) < 0.7, 1, 2)
    p_user = np.flatnonzero(pending >= 0)
    f = np.flatnonzero(follow)
    user = np.concatenate([o_user, o_user[f], p_user])
    item = np.concatenate([o_item, cat.pair_b[pair[f]], cat.pair_a[pending[p_user]]])
    phase = np.concatenate([o_phase, np.full(len(f) + len(p_user), -1)])
    # order keys: organic pick j at 4j; B of A at j after pick j + d - 1 (4j + 2 or 4j + 5,
    # so a B of the pick before comes first); a pending trigger after everything
    key = np.concatenate([4 * j, 4 * (j[f] + d[f]) - 1 - d[f], 4 * (count[p_user] + 3)])
    order = np.lexsort((key, user))
    return user[order], item[order], phase[order]


def _timestamps(rng: np.random.Generator, seg: np.ndarray, length: np.ndarray, k_switch: np.ndarray) -> np.ndarray:
    """Per reader strictly increasing session timestamps (see the module docstring):
    ``k_switch`` (-1 for none) is the index that opens the second piece."""
    n = len(length)
    start = WORLD_START + (rng.uniform(0.0, 0.45, size=n) * WORLD_SECONDS).astype(np.int64)
    span = (rng.uniform(0.35, 1.0, size=n) * (WORLD_START + WORLD_SECONDS - start)).astype(np.int64)
    pause = (rng.uniform(0.5, 3.0, size=n) * DAY).astype(np.int64)
    sw = k_switch > 0
    cut = np.where(sw, span * np.maximum(k_switch, 0) // np.maximum(length, 1), 0)
    p_user = np.concatenate([np.arange(n), np.flatnonzero(sw)])
    p_two = np.concatenate([np.zeros(n, dtype=bool), np.ones(int(sw.sum()), dtype=bool)])
    order = np.lexsort((p_two, p_user))
    p_user, p_two = p_user[order], p_two[order]
    u = p_user
    p_n = np.where(p_two, length[u] - k_switch[u], np.where(sw[u], k_switch[u], length[u]))
    p_start = np.where(p_two, start[u] + cut[u], start[u])
    p_span = np.where(p_two, span[u] - cut[u], np.where(sw[u], np.maximum(cut[u] - pause[u], HOUR), span[u]))
    e_piece = np.repeat(np.arange(len(p_n)), p_n)
    off = _starts(p_n)
    i = np.arange(len(e_piece)) - off[e_piece]
    e = len(e_piece)
    gaps = rng.integers(120, 2_700, size=e).astype(np.int64)
    brk = (i > 0) & (rng.random(e) < 1.0 / np.asarray(SEGMENT_SESSION)[seg[p_user[e_piece]]])
    brk |= (i == p_n[e_piece] // 2) & (p_n[e_piece] >= 2)  # at least two sessions per piece
    g = rng.gamma(SESSION_REGULARITY, size=e)
    gaps[i == 0] = 0
    busy = np.bincount(e_piece, weights=np.where(brk, 0, gaps), minlength=len(p_n))
    nb = np.bincount(e_piece, weights=brk.astype(np.float64), minlength=len(p_n))
    free = np.maximum(p_span - busy - nb * 4 * HOUR, nb * HOUR)
    gsum = np.bincount(e_piece, weights=np.where(brk, g, 0.0), minlength=len(p_n))
    share = np.where(brk, g / np.maximum(gsum[e_piece], 1e-12), 0.0)
    gaps = np.where(brk, 4 * HOUR + (free[e_piece] * share).astype(np.int64), gaps)
    cum = np.cumsum(gaps)
    ts = p_start[e_piece] + cum - cum[off][e_piece]
    # the second piece opens at least an hour after the first ends
    last = ts[off + p_n - 1]
    prev_last = np.concatenate([[0], last[:-1]])
    shift = np.where(p_two, np.maximum(prev_last + HOUR - ts[off], 0), 0)
    return ts + shift[e_piece]


def _occurrences(cat: Catalog, user: np.ndarray, item: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every trigger taken: (reader, pair, B one or two steps later)."""
    pair = cat.pair_of[item]
    at = np.flatnonzero(pair >= 0)
    followed = np.zeros(len(at), dtype=bool)
    for step in (1, 2):
        nxt = np.minimum(at + step, len(item) - 1)
        followed |= (nxt == at + step) & (user[nxt] == user[at]) & (item[nxt] == cat.pair_b[pair[at]])
    return user[at], pair[at], followed


def make_block(spec: WorldSpec, cat: Catalog, b: int) -> Block:
    """Block ``b`` of the world ``spec`` (readers ``b * BLOCK_USERS`` … )."""
    if not 0 <= b < n_blocks(spec):
        raise ValueError(f"block {b} out of range 0 … {n_blocks(spec) - 1}")
    rng = block_rng(spec, b)
    first = b * BLOCK_USERS
    n = min(BLOCK_USERS, spec.users - first)
    seg, age, region, taste, want = _readers(rng, n, cat, spec.events / BASE_EVENTS)
    o_user, o_item, o_phase = _organic(rng, cat, taste, want)
    pending = _pending(rng, cat, taste, o_user, o_item)
    user, item, phase = _with_followups(rng, cat, o_user, o_item, o_phase, pending)
    length = np.bincount(user, minlength=n)
    starts = _starts(length)
    k_first = np.full(n, -1, dtype=np.int64)
    two = np.flatnonzero(phase == 1)
    readers, at = np.unique(user[two], return_index=True)  # each reader's first phase-two pick
    k_first[readers] = two[at] - starts[readers]
    k_switch = np.where(k_first > 0, k_first, -1)
    ts = _timestamps(rng, seg, length, k_switch)
    change = np.where(k_switch > 0, ts[starts + np.maximum(k_switch, 0)], -1)
    taste = np.where((k_switch > 0)[:, None, None] | (np.arange(2) == 0)[None, :, None], taste, -1)
    occ_user, occ_pair, occ_followed = _occurrences(cat, user, item)
    g = np.int32(first)
    return Block(
        first_user=first, user=(user + g).astype(np.int32), item=item.astype(np.int32), ts=ts,
        segment=seg.astype(np.int8), age=age.astype(np.int8), region=region.astype(np.int8),
        taste=taste.astype(np.int8), change_ts=change, length=length.astype(np.int64), pending=pending,
        occ_user=(occ_user + g).astype(np.int32), occ_pair=occ_pair.astype(np.int32), occ_followed=occ_followed,
    )  # fmt: skip
