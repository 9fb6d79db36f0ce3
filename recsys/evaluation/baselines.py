"""Non-neural baselines under the same protocol: MostPopular, ItemKNN (cosine), EASE,
and a content-based TextSimilarity (the only one that can rank never-seen items).

All are :class:`~recsys.models.base.Scorer` s. ``fit`` takes a binary (n_users,
n_items) interaction matrix — normally ``split.train_matrix(which)``, i.e. every
interaction available as input at that stage — or a ``Split`` plus the stage.
``score`` is vectorised over the batch (sparse history matrix times an item model).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from recsys.data.types import DataError
from recsys.evaluation.neighbours import cosine_neighbours, n_columns
from recsys.evaluation.split import Split, Stage

EASE_MAX_ITEMS = 20_000  # the dense (n_items x n_items) inverse beyond this would not fit in memory
EASE_FLOAT64_MAX_ITEMS = 5_000  # above this EASE is solved in float32 to halve memory


def _as_matrix(data: sp.spmatrix | np.ndarray | Split, which: Stage) -> sp.csr_matrix:
    if isinstance(data, Split):
        return data.train_matrix(which)
    m = sp.csr_matrix(data, dtype=np.float64)
    m.sum_duplicates()
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


def history_matrix(histories: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary (B, n_items) CSR matrix of the histories (repeats count once)."""
    lens = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    rows = np.repeat(np.arange(len(histories)), lens)
    cols = (
        np.concatenate([np.asarray(h, dtype=np.int64).ravel() for h in histories])
        if lens.sum()
        else np.zeros(0, dtype=np.int64)
    )
    if cols.size and (cols.min() < 0 or cols.max() >= n_items):
        raise DataError(f"history holds an item index outside 0..{n_items - 1}")
    m = sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(len(histories), n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


class _Fitted:
    name = "baseline"
    n_items = 0

    def _check_fitted(self) -> None:
        if not self.n_items:
            raise RuntimeError(f"{type(self).__name__} is not fitted")


class MostPopular(_Fitted):
    """Scores every item by its number of training users, whatever the history."""

    name = "popularity"

    def __init__(self) -> None:
        self.popularity = np.zeros(0, dtype=np.float32)

    def fit(self, data: sp.spmatrix | np.ndarray | Split, which: Stage = "test") -> "MostPopular":
        x = _as_matrix(data, which)
        self.n_items = n_columns(x)
        self.popularity = np.asarray(x.sum(axis=0), dtype=np.float32).ravel()
        return self

    def score(self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.popularity, (len(histories), 1))


class ItemKNN(_Fitted):
    """Item-based k-nearest neighbours with cosine similarity of binary item columns.

    ``sim[i, j] = |U_i ∩ U_j| / sqrt(|U_i| |U_j|)`` (0 on the diagonal). ``similarity``
    keeps, in row i, item i's ``k`` most similar items (ties to the smaller index;
    found by :func:`recsys.evaluation.neighbours.cosine_neighbours`).
    A history h scores item j by ``sum_{i in h} w[i, j]`` where, with
    ``neighbourhood="candidate"`` (default; Sarwar et al. 2001, as in RecBole), ``w[:, j]``
    holds candidate j's k nearest neighbours, and with ``neighbourhood="history"``
    ``w[i, :]`` holds history item i's k nearest neighbours. With k >= n_items - 1 both
    are the plain sum of cosine similarities.
    """

    name = "itemknn"

    def __init__(
        self, k: int = 100, neighbourhood: str = "candidate", block: int = 2048, num_threads: int = 0
    ) -> None:
        if k < 1:
            raise DataError(f"ItemKNN needs k >= 1, got {k}")
        if neighbourhood not in ("candidate", "history"):
            raise DataError(f"ItemKNN neighbourhood must be 'candidate' or 'history', not {neighbourhood!r}")
        self.k = k
        self.neighbourhood = neighbourhood
        self.block = block  # rows per block when some rows are recomputed exactly
        self.num_threads = num_threads  # for the all-pairs search; 0 = every core
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.weights = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, data: sp.spmatrix | np.ndarray | Split, which: Stage = "test") -> "ItemKNN":
        x = _as_matrix(data, which).tocsr()
        self.similarity = cosine_neighbours(x, self.k, self.num_threads, self.block)
        self.weights = self.similarity.T.tocsr() if self.neighbourhood == "candidate" else self.similarity
        self.n_items = n_columns(x)
        return self

    def score(self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None) -> np.ndarray:
        self._check_fitted()
        h = history_matrix(histories, self.n_items).astype(np.float32)
        return np.asarray(sp.csr_matrix(h @ self.weights).toarray(), dtype=np.float32)


class EASE(_Fitted):
    """EASE (Steck 2019): ``P = (X^T X + lambda I)^-1``, ``B = I - P / diag(P)`` (column-wise),
    so ``diag(B) = 0``; a history h scores items by ``h B``."""

    name = "ease"

    def __init__(self, lam: float = 100.0) -> None:
        if lam <= 0:
            raise DataError(f"EASE needs lambda > 0, got {lam}")
        self.lam = float(lam)
        self.weights = np.zeros((0, 0), dtype=np.float32)

    def fit(self, data: sp.spmatrix | np.ndarray | Split, which: Stage = "test") -> "EASE":
        x = _as_matrix(data, which)
        n = n_columns(x)
        if n > EASE_MAX_ITEMS:
            raise DataError(f"EASE: {n} items is too many for a dense item-item model (max {EASE_MAX_ITEMS})")
        dtype = np.float64 if n <= EASE_FLOAT64_MAX_ITEMS else np.float32
        g = np.asarray((x.T @ x).toarray(), dtype=dtype)
        g[np.diag_indices(n)] += self.lam
        p = np.linalg.inv(g)
        del g
        p /= -np.diag(p).copy()[None, :]  # B = I - P / diag(P), column-wise, in place
        p[np.diag_indices(n)] = 0.0
        b = p
        self.weights = b.astype(np.float32, copy=False)
        self.n_items = n
        return self

    def score(self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None) -> np.ndarray:
        self._check_fitted()
        h = history_matrix(histories, self.n_items).astype(np.float32)
        return np.asarray(h @ self.weights, dtype=np.float32)


# how people call the baselines (progress messages, the model card)
BASELINE_LABELS = {"popularity": "MostPopular", "itemknn": "ItemKNN", "ease": "EASE",
                   "text_similarity": "Text similarity"}


def baseline_scorers(text_emb: np.ndarray | None = None) -> list[tuple[str, Callable[[Split], _Fitted]]]:
    """The baselines every evaluation reports, as ``(name, fit)`` with ``fit(split)``
    returning the fitted scorer for the test stage: MostPopular, ItemKNN (k = 100), EASE
    (λ = 100) and, given the items' text embeddings, TextSimilarity."""
    out: list[tuple[str, Callable[[Split], _Fitted]]] = [
        ("popularity", lambda s: MostPopular().fit(s, "test")),
        ("itemknn", lambda s: ItemKNN(k=100).fit(s, "test")),
        ("ease", lambda s: EASE(lam=100.0).fit(s, "test")),
    ]
    if text_emb is not None:
        out.append(("text_similarity", lambda s: TextSimilarity().fit(text_emb)))
    return out


class TextSimilarity(_Fitted):
    """Content-based: an item's score is the cosine between its text vector and the mean
    text vector of the user's last ``window`` items. It ignores who interacted with
    what, so it ranks items nobody has seen as readily as popular ones — the reference
    for a new-item (cold-start) evaluation. ``fit`` takes the (n_items, dim) text
    embeddings (rows L2-normalised here)."""

    name = "text_similarity"

    def __init__(self, window: int = 20) -> None:
        if window < 1:
            raise DataError(f"window must be at least 1, not {window}")
        self.window = int(window)
        self.emb = np.zeros((0, 0), dtype=np.float32)

    def fit(self, text_emb: np.ndarray) -> "TextSimilarity":
        e = np.asarray(text_emb, dtype=np.float32)
        if e.ndim != 2 or e.shape[0] == 0:
            raise DataError(f"text embeddings must be an (n_items, dim) array, got shape {e.shape}")
        norms = np.linalg.norm(e, axis=1, keepdims=True)
        self.emb = e / np.where(norms > 0, norms, 1.0)
        self.n_items = e.shape[0]
        return self

    def score(self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None) -> np.ndarray:
        self._check_fitted()
        profile = np.zeros((len(histories), self.emb.shape[1]), dtype=np.float32)
        for b, h in enumerate(histories):
            h = np.asarray(h, dtype=np.int64)[-self.window:]
            if h.size:
                v = self.emb[h].mean(axis=0)
                n = float(np.linalg.norm(v))
                profile[b] = v / n if n > 0 else v
        return profile @ self.emb.T
