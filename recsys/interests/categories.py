"""What an item is "about": dataset categories, or topics found from item text.

A :class:`CategoryAssignment` is the Dataset-like pair (``categories``,
``category_matrix``) the timeline works on. Every row of its matrix sums to 1: an item
of several categories splits its weight equally, and items without any category go to
an ``"other"`` column (added only when some item needs it), so per-window shares always
sum to 1.

Datasets without categories get *topics*: k-means (scikit-learn) over the L2-normalised
item text embeddings (:func:`recsys.text.item_embeddings`), each topic named by its most
characteristic words (class-based TF-IDF over the titles and texts of its items).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from recsys.data.types import DataError, Dataset

OTHER = "other"


@dataclass(frozen=True, eq=False)
class CategoryAssignment:
    """Item -> category weights, usable in place of ``ds.categories`` / ``ds.category_matrix``.

    ``category_matrix`` is (n_items, n_categories) float32 with rows summing to 1.
    ``source`` is ``"categories"`` (the dataset's own) or ``"topics"`` (text clustering).
    """

    categories: tuple[str, ...]
    category_matrix: np.ndarray
    source: str = "categories"

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.setflags(write=False)
    return a


def _with_other(names: tuple[str, ...], m: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Append an ``other`` column for items whose row is empty (only if any is)."""
    empty = m.sum(axis=1) <= 0
    if not empty.any():
        return names, m
    name = OTHER
    while name in names:  # a real category literally called "other": keep them apart
        name = f"({name})"
    extra = empty.astype(np.float32)[:, None]
    return names + (name,), np.concatenate([m, extra], axis=1)


def dataset_assignment(ds: Dataset) -> CategoryAssignment:
    """The dataset's own categories (``ds.category_matrix``) plus ``other`` if needed."""
    names, m = _with_other(tuple(ds.categories), np.asarray(ds.category_matrix, dtype=np.float32))
    return CategoryAssignment(names, _readonly(m), "categories")


def default_n_topics(n_items: int) -> int:
    """A readable number of topics for a catalogue: sqrt(n_items / 8), clipped to 4..16."""
    return int(np.clip(round(np.sqrt(max(n_items, 1) / 8.0)), 4, 16))


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 4, max_iter: int = 100) -> np.ndarray:
    """Cluster labels (n,) of the rows of ``x``: scikit-learn's k-means (k-means++
    seeding, best of ``n_init`` runs by inertia); deterministic given ``seed``. ``k`` is
    capped at the number of distinct rows (one cluster: all labels 0)."""
    from sklearn.cluster import KMeans  # lazy: only datasets without categories need it

    x = np.asarray(x, dtype=np.float64)
    k = int(min(k, len(np.unique(x, axis=0))))
    if k <= 1:
        return np.zeros(x.shape[0], dtype=np.int64)
    km = KMeans(n_clusters=k, max_iter=max_iter, random_state=seed).set_params(n_init=n_init)
    return np.asarray(km.fit_predict(x), dtype=np.int64)


STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each even ever every
    few for from further get got had has have having he her here hers herself him himself his how
    i if in into is it its itself just like made make many me more most much must my myself new
    no nor not now of off on once one only or other our ours ourselves out over own part same she
    should so some such than that the their theirs them themselves then there these they this
    those through to too two under until up upon us very was way we were what when where which
    while who whom why will with within without would yet you your yours yourself yourselves
    story book film movie series edition vol volume ii iii iv
    la le les de des du un une et el los las en il lo di der die das und""".split()
)


def _tokens(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]{2,}", text.lower()) if w not in STOP_WORDS]


def topic_names(texts_per_topic: list[list[str]], n_words: int = 3) -> list[str]:
    """Name each topic by its top class-based TF-IDF terms.

    ``texts_per_topic[t]`` holds the texts (title + description) of topic t's items; a
    word counts once per item. score(t, w) = tf(t, w) * log(1 + A / f(w)), with tf the
    share of the topic's items using the word, A the mean number of word uses per topic
    and f(w) the word's uses over all topics: a word scores high when many of the
    topic's items use it and few others do. Words used by a single item are only taken
    when nothing better is left. Names are made unique; a wordless topic is ``topic <k>``.
    """
    counts = []
    for texts in texts_per_topic:
        c: Counter = Counter()
        for t in texts:
            c.update(set(_tokens(t)))
        counts.append(c)
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    mean_words = max(sum(total.values()) / max(len(counts), 1), 1.0)
    names: list[str] = []
    for k, c in enumerate(counts):
        size = max(len(texts_per_topic[k]), 1)
        scored = sorted(
            (n < 2 and size > 1, -(n / size) * np.log1p(mean_words / total[w]), w) for w, n in c.items()
        )
        words = [w for _, _, w in scored[:n_words]]
        names.append(" · ".join(words) if words else f"topic {k + 1}")
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def topic_assignment(
    ds: Dataset,
    embeddings: np.ndarray | None = None,
    n_topics: int | None = None,
    seed: int = 0,
    n_words: int = 3,
) -> CategoryAssignment:
    """Topics for a dataset: k-means over item text embeddings, named by TF-IDF terms.

    ``embeddings`` (n_items, d) defaults to :func:`recsys.text.item_embeddings` (the
    sentence encoder; cached per dataset). Each item belongs to one topic (one-hot rows).
    """
    if embeddings is None:
        from recsys.text import item_embeddings

        embeddings = item_embeddings(ds)
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != ds.n_items:
        raise DataError(f"item embeddings must have shape (n_items={ds.n_items}, d), got {emb.shape}")
    if not np.isfinite(emb).all():
        raise DataError("item embeddings contain NaN or infinite values")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb / np.maximum(norms, 1e-12)
    k = default_n_topics(ds.n_items) if n_topics is None else int(n_topics)
    if k < 1:
        raise DataError(f"number of topics must be >= 1, got {k}")
    labels = kmeans(emb, k, seed=seed)
    used = np.unique(labels)  # k-means may merge duplicates: keep used clusters only
    remap = {int(c): j for j, c in enumerate(used)}
    labels = np.asarray([remap[int(c)] for c in labels], dtype=np.int64)
    texts = [[f"{ds.titles[i]} {ds.item_text[i]}" for i in np.flatnonzero(labels == j)] for j in range(len(used))]
    names = tuple(topic_names(texts, n_words=n_words))
    m = np.zeros((ds.n_items, len(names)), dtype=np.float32)
    m[np.arange(ds.n_items), labels] = 1.0
    return CategoryAssignment(names, _readonly(m), "topics")


_TOPIC_CACHE: dict[tuple[str, int | None, int], CategoryAssignment] = {}
_TOPIC_CACHE_SIZE = 4


def category_assignment(
    ds: Dataset,
    embeddings: np.ndarray | None = None,
    n_topics: int | None = None,
    seed: int = 0,
) -> CategoryAssignment:
    """The dataset's categories when it has any, else text topics (see :func:`topic_assignment`).

    Topics from the encoder's embeddings are memoised per (dataset fingerprint, n_topics,
    seed) for the process (a pure function of those), so repeated timelines are cheap.
    """
    if ds.categories:
        return dataset_assignment(ds)
    if embeddings is not None:
        return topic_assignment(ds, embeddings=embeddings, n_topics=n_topics, seed=seed)
    key = (ds.content_key, n_topics, seed)
    if key not in _TOPIC_CACHE:
        while len(_TOPIC_CACHE) >= _TOPIC_CACHE_SIZE:
            _TOPIC_CACHE.pop(next(iter(_TOPIC_CACHE)))
        _TOPIC_CACHE[key] = topic_assignment(ds, n_topics=n_topics, seed=seed)
    return _TOPIC_CACHE[key]
