"""The demo world's catalogue: books with readable titles, one-sentence descriptions,
one or two shelves (categories), Zipf-like popularity, and the follow-up targets B that
are never picked organically. Used by :func:`recsys.data.demo.generate`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.data.demo_words import CATEGORIES, CATEGORY_WORDS, NEIGHBOURS, CategoryWords


@dataclass(frozen=True)
class Items:
    """The catalogue, by item position (the order books were drawn in)."""

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


def make_items(rng: np.random.Generator, n_items: int, n_followups: int, zipf: float) -> Items:
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
    return Items(ids, titles, cats, text, weight, pools, b_items)
