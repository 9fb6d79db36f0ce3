"""The catalogue of a scale demo world (:mod:`recsys.data.demo_scale`), drawn with numpy
array operations: books on the 15 shelves of :mod:`recsys.data.demo_words` with readable
titles (numbered ", Volume k" where the vocabulary repeats itself) and one-sentence
descriptions, Zipf-like popularity, the follow-up pairs A -> B, and the sampling tables
the readers draw from.

Everything here comes from one random stream, ``SeedSequence(seed, spawn_key=(0,))``,
so the catalogue does not depend on how the readers are generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.demo_readers import AGE_TILT
from recsys.data.demo_spec import WorldSpec
from recsys.data.demo_words import CATEGORIES, CATEGORY_WORDS, NEIGHBOURS
from recsys.data.types import DataError

N_CAT = len(CATEGORY_WORDS)
ZIPF = 1.0
SECOND_SHELF = 0.3  # share of books with a secondary shelf
TRIGGER_BAND = (0.03, 0.20)  # popularity-rank band (share of the catalogue) of the triggers A


@dataclass(frozen=True, eq=False)
class Catalog:
    """The books by item index (= id order: ids are zero-padded) and the sampling tables.

    ``pool_item``/``cdf``: every shelf's sampleable books (follow-up targets B excluded)
    one shelf after the other; shelf ``c`` occupies ``pool_start[c]:pool_end[c]`` and
    its cumulative popularity runs from ``c`` to ``c + 1`` in ``cdf``, so one
    ``searchsorted(cdf, c + u)`` draws a book of shelf ``c``. ``pair_of[i]`` is the pair
    whose trigger A is book ``i`` (-1 for others); ``trig_order``/``trig_start`` list the
    pairs by the shelf of their trigger.
    """

    ids: np.ndarray  # object str
    titles: list[str]
    categories: list[tuple[str, ...]]
    text: list[str]
    primary: np.ndarray  # int64 shelf per book
    weight: np.ndarray  # organic popularity weight, 0 for B
    pool_item: np.ndarray
    cdf: np.ndarray
    pool_start: np.ndarray
    pool_end: np.ndarray
    shelf_p: np.ndarray  # shelf popularity (noise picks)
    taste_prior: np.ndarray  # (4 age bands, N_CAT) prior of a reader's shelves
    pair_a: np.ndarray
    pair_b: np.ndarray
    pair_of: np.ndarray
    trig_order: np.ndarray
    trig_start: np.ndarray  # (N_CAT + 1,)

    @property
    def n_items(self) -> int:
        return len(self.ids)


def id_width(n: int, minimum: int) -> int:
    return max(minimum, len(str(n)))


def _pick(rng: np.random.Generator, size: np.ndarray) -> np.ndarray:
    """One uniform index in ``range(size[k])`` per entry."""
    return np.floor(rng.random(len(size)) * size).astype(np.int64)


def _vocab(name: str) -> list[tuple[str, ...]]:
    return [getattr(w, name) for w in CATEGORY_WORDS]


def _titles(rng: np.random.Generator, primary: np.ndarray) -> list[str]:
    """Readable titles from the shelf's templates and words; repeats get ", Volume k"."""
    tpls, adjs, nouns = _vocab("templates"), _vocab("adjectives"), _vocab("nouns")
    n_t = np.array([len(x) for x in tpls])[primary]
    n_a = np.array([len(x) for x in adjs])[primary]
    n_n = np.array([len(x) for x in nouns])[primary]
    t, a, n = _pick(rng, n_t), _pick(rng, n_a), _pick(rng, n_n)
    m = (n + 1 + _pick(rng, n_n - 1)) % n_n  # a second, different noun
    base = [
        tpls[c][ti].format(a=adjs[c][ai], n=nouns[c][ni], m=nouns[c][mi])
        for c, ti, ai, ni, mi in zip(primary.tolist(), t.tolist(), a.tolist(), n.tolist(), m.tolist())
    ]
    volume = pd.Series(base).groupby(base, sort=False).cumcount().to_numpy()
    return [b if k == 0 else f"{b}, Volume {k + 1}" for b, k in zip(base, volume.tolist())]


def _texts(rng: np.random.Generator, primary: np.ndarray, second: np.ndarray) -> list[str]:
    opens, topics, sets = _vocab("openers"), _vocab("topics"), _vocab("settings")
    o = _pick(rng, np.array([len(x) for x in opens])[primary]).tolist()
    t = _pick(rng, np.array([len(x) for x in topics])[primary]).tolist()
    s = _pick(rng, np.array([len(x) for x in sets])[primary]).tolist()
    flav = [w.flavour for w in CATEGORY_WORDS]
    out = []
    for c, c2, oi, ti, si in zip(primary.tolist(), second.tolist(), o, t, s):
        touch = f", with a touch of {flav[c2]}" if c2 >= 0 else ""
        out.append(f"{opens[c][oi]} {topics[c][ti]} {sets[c][si]}{touch}.")
    return out


def _take(rng: np.random.Generator, groups: list[np.ndarray], used: np.ndarray, m: int) -> np.ndarray:
    """``m`` unused books, from the first group that still has some (each group shuffled)."""
    got: list[np.ndarray] = []
    left = m
    for g in groups:
        if left == 0:
            break
        g = rng.permutation(g[~used[g]])[:left]
        used[g] = True
        got.append(g)
        left -= len(g)
    return np.concatenate(got) if got else np.zeros(0, dtype=np.int64)


def _pairs(rng: np.random.Generator, primary: np.ndarray, rank: np.ndarray, n_pairs: int) -> tuple[np.ndarray, ...]:
    """Follow-up pairs (A, B), spread over the shelves in a random order: B is a tail book
    of the shelf, A a moderately popular book of the same shelf."""
    n = len(primary)
    shelf_of_pair = rng.permutation(N_CAT)[np.arange(n_pairs) % N_CAT]
    used = np.zeros(n, dtype=bool)
    used[:N_CAT] = True  # the first book of every shelf stays sampleable
    lo, hi = int(TRIGGER_BAND[0] * n), int(TRIGGER_BAND[1] * n)
    everyone = np.arange(n)
    pair_a = np.empty(n_pairs, dtype=np.int64)
    pair_b = np.empty(n_pairs, dtype=np.int64)
    for c in range(N_CAT):
        k = np.flatnonzero(shelf_of_pair == c)
        if not len(k):
            continue
        on = everyone[primary == c]
        b = _take(rng, [on[rank[on] > n // 3], on, everyone[rank > n // 3]], used, len(k))
        band = on[(rank[on] >= lo) & (rank[on] < hi)]
        a = _take(rng, [band, on, everyone[(rank >= lo) & (rank < hi)], everyone], used, len(k))
        if len(a) < len(k) or len(b) < len(k):
            raise DataError(f"the catalogue of {n} items is too small for {n_pairs} follow-ups")
        pair_a[k], pair_b[k] = a, b
    return pair_a, pair_b


def _pools(primary: np.ndarray, second: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-shelf sampling tables (see :class:`Catalog`)."""
    items = np.arange(len(primary))
    has2 = second >= 0
    shelf = np.concatenate([primary, second[has2]])
    item = np.concatenate([items, items[has2]])
    ok = weight[item] > 0
    shelf, item = shelf[ok], item[ok]
    order = np.lexsort((item, shelf))
    shelf, item = shelf[order], item[order]
    w = weight[item]
    total = np.bincount(shelf, weights=w, minlength=N_CAT)
    end = np.cumsum(np.bincount(shelf, minlength=N_CAT))
    start = end - np.bincount(shelf, minlength=N_CAT)
    cum = np.cumsum(w)
    before = np.concatenate([[0.0], cum])[start][shelf]  # weight of earlier shelves
    cdf = shelf + (cum - before) / total[shelf]
    return item, cdf, start, end, total / total.sum()


def make_catalog(spec: WorldSpec) -> Catalog:
    """The catalogue of the world ``spec`` (deterministic in the spec)."""
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(0,)))
    n = spec.items
    share = rng.dirichlet(np.full(N_CAT, 6.0))
    primary = rng.choice(N_CAT, size=n, p=share)
    primary[:N_CAT] = np.arange(N_CAT)  # every shelf has books
    neighbours = np.array([[CATEGORIES.index(x) for x in NEIGHBOURS[c]] for c in CATEGORIES])
    second = np.where(rng.random(n) < SECOND_SHELF, neighbours[primary, _pick(rng, np.full(n, 4))], -1)
    titles = _titles(rng, primary)
    text = _texts(rng, primary, second)
    rank = rng.permutation(n)
    weight = 1.0 / (rank + 1.0) ** ZIPF
    pair_a, pair_b = _pairs(rng, primary, rank, spec.followups)
    weight[pair_b] = 0.0
    pool_item, cdf, start, end, shelf_p = _pools(primary, second, weight)
    prior = rng.dirichlet(np.full(N_CAT, 4.0))
    tilt = np.array([AGE_TILT.get(c, (1.0,) * 4) for c in CATEGORIES]).T  # (4, N_CAT)
    pair_of = np.full(n, -1, dtype=np.int64)
    pair_of[pair_a] = np.arange(len(pair_a))
    trig_order = np.argsort(primary[pair_a], kind="stable")
    trig_start = np.searchsorted(primary[pair_a][trig_order], np.arange(N_CAT + 1))
    w = id_width(n, 4)
    names = [w_.name for w_ in CATEGORY_WORDS]
    cats = [(names[c],) if c2 < 0 else (names[c], names[c2]) for c, c2 in zip(primary.tolist(), second.tolist())]
    return Catalog(
        ids=np.array([f"b{i + 1:0{w}d}" for i in range(n)], dtype=object),
        titles=titles, categories=cats, text=text, primary=primary, weight=weight,
        pool_item=pool_item, cdf=cdf, pool_start=start, pool_end=end, shelf_p=shelf_p,
        taste_prior=prior[None, :] * tilt, pair_a=pair_a, pair_b=pair_b, pair_of=pair_of,
        trig_order=trig_order, trig_start=trig_start,
    )  # fmt: skip
