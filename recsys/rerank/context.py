"""The item side of re-ranking: embeddings, categories, training popularity and the
long tail, built once per dataset + model (:func:`build_context`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

from recsys.data.types import DataError
from recsys.evaluation.metrics import long_tail_items
from recsys.rerank.weights import FairGroup

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset

HEAD_FRACTION = 0.2  # the long tail is the bottom 80% of items by popularity
SIM_MATRIX_MAX_ITEMS = 6000  # precompute the item×item cosine matrix up to this catalogue size


def long_tail_mask(popularity: np.ndarray, head_fraction: float = HEAD_FRACTION) -> np.ndarray:
    """Bool (n_items,): True for the long tail = every item outside the ``head_fraction``
    most popular ones (ties at the border go to the smaller item index); see
    :func:`recsys.evaluation.metrics.long_tail_items`."""
    return long_tail_items(popularity, head_fraction)


@dataclass(frozen=True, eq=False)
class RerankContext:
    """Everything item-side the re-ranker and the list metrics need (build once per
    dataset + model with :func:`build_context`)."""

    emb: np.ndarray  # (n_items, d) float32, rows L2-normalised
    category_matrix: np.ndarray  # (n_items, C) float32, rows sum to 1 (or 0)
    categories: tuple[str, ...]
    popularity: np.ndarray  # (n_items,) int64 training interactions
    long_tail: np.ndarray  # (n_items,) bool
    titles: tuple[str, ...]
    item_categories: tuple[tuple[str, ...], ...]
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_items(self) -> int:
        return int(self.emb.shape[0])

    def similarity(self) -> np.ndarray | None:
        """(n_items, n_items) float32 cosine matrix, computed once; None for catalogues
        larger than :data:`SIM_MATRIX_MAX_ITEMS` (then similarities come from dot products)."""
        if self.n_items > SIM_MATRIX_MAX_ITEMS:
            return None
        if "sim" not in self._cache:
            self._cache["sim"] = self.emb @ self.emb.T
        return self._cache["sim"]

    def group_mask(self, group: FairGroup) -> tuple[np.ndarray, float]:
        """(bool mask over items, target share) of a fairness group."""
        key = ("group", group.kind, group.category)
        if key not in self._cache:
            if group.kind == "longtail":
                mask = self.long_tail
            else:
                if group.category not in self.categories:
                    shown = ", ".join(self.categories[:20]) + (" …" if len(self.categories) > 20 else "")
                    raise DataError(f"unknown category {group.category!r} (known: {shown or 'none'})")
                mask = np.array([group.category in cs for cs in self.item_categories], dtype=bool)
            self._cache[key] = mask
        mask = self._cache[key]
        target = float(group.target) if group.target is not None else float(mask.mean()) if mask.size else 0.0
        return mask, target

    def history_distribution(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(U, C) float64 category mix p of each history (sums to 1, or 0 if no category)."""
        u = len(histories)
        if u == 1:  # one user (the interactive path): no sparse matrix needed
            h = np.asarray(histories[0], dtype=np.int64)
            mass = self.category_matrix[h].sum(axis=0, dtype=np.float64)[None, :]
            tot = mass.sum(axis=1, keepdims=True)
            return np.divide(mass, tot, out=np.zeros_like(mass), where=tot > 0)
        lens = np.fromiter((len(h) for h in histories), dtype=np.int64, count=u)
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if u else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(lens)])
        counts = sp.csr_matrix((np.ones(cols.shape[0]), cols, indptr), shape=(u, self.n_items))
        mass = np.asarray(counts @ self.category_matrix.astype(np.float64), dtype=np.float64)
        tot = mass.sum(axis=1, keepdims=True)
        return np.divide(mass, tot, out=np.zeros_like(mass), where=tot > 0)


def build_context(
    ds: Dataset,
    emb: np.ndarray | None = None,
    popularity: np.ndarray | None = None,
    head_fraction: float = HEAD_FRACTION,
) -> RerankContext:
    """Item-side context of ``ds``.

    ``emb``: item text embeddings (default :func:`recsys.text.item_embeddings`, cached
    per dataset; pass a model's ``.text_emb`` to avoid the encoder). ``popularity``:
    interactions per item (default: the training interactions of the leave-one-out
    protocol, i.e. every interaction but the test targets).
    """
    if emb is None:
        from recsys.text import item_embeddings

        emb = item_embeddings(ds)
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != ds.n_items:
        raise DataError(f"item embeddings have shape {emb.shape}, expected ({ds.n_items}, d)")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
    if popularity is None:
        popularity = training_popularity(ds)
    pop = np.asarray(popularity, dtype=np.int64)
    if pop.shape != (ds.n_items,):
        raise DataError(f"popularity has shape {pop.shape}, expected ({ds.n_items},)")
    return RerankContext(
        emb=emb,
        category_matrix=np.asarray(ds.category_matrix, dtype=np.float32),
        categories=tuple(ds.categories),
        popularity=pop,
        long_tail=long_tail_mask(pop, head_fraction),
        titles=tuple(ds.titles),
        item_categories=tuple(ds.item_categories),
    )


def training_popularity(ds: Dataset) -> np.ndarray:
    """Training interactions per item under the leave-one-out protocol at the test stage
    (every user's training input plus validation item; users counted once per item), the
    popularity the evaluation package reports."""
    from recsys.evaluation.split import leave_one_out

    return leave_one_out(ds).train_popularity("test")
