"""Item-item cosine neighbours of a binary interaction matrix, for :class:`ItemKNN`.

``sim[i, j] = |U_i ∩ U_j| / sqrt(|U_i| |U_j|)``; row i keeps item i's ``k`` most similar
other items with ``sim > 0``, ties going to the smaller item index.

The all-pairs search is the ``implicit`` package's (``ItemItemRecommender`` over
L2-normalised item columns; compiled, multi-threaded), asked for ``2k + 1``
neighbours so that ties and its single-precision arithmetic cannot push a true
neighbour out. Its values only pick the candidates: the overlap counts
``|U_i ∩ U_j|`` are recovered from them (they are integers) and every kept value is
recomputed in float64 exactly as ``count * (1/sqrt|U_i|) * (1/sqrt|U_j|)``, so the
neighbours and their values do not depend on the library's rounding. A row whose k-th
value is too close to the smallest candidate the library returned for it to rule out
a tie beyond its list is recomputed exactly from the sparse product (rare), and so is
every row when the lists would hold more than half of the catalogue.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import top_k_mask

_REL_TOL = 1e-4  # bound on the library's relative error (it works in single precision)


def n_columns(m: sp.spmatrix) -> int:
    """Number of columns of a sparse matrix (its ``shape`` is typed as optional)."""
    shape = m.shape
    assert shape is not None
    return int(shape[1])


def _library_candidates(x: sp.csr_matrix, inv: np.ndarray, n_cand: int, num_threads: int) -> sp.csr_matrix:
    """Each item's ``n_cand`` nearest items (itself included) by implicit's all-pairs kNN."""
    from implicit.nearest_neighbours import ItemItemRecommender

    xn = sp.csr_matrix(x.multiply(inv[None, :]), dtype=np.float64)
    knn = ItemItemRecommender(K=n_cand, num_threads=num_threads)
    knn.fit(xn, show_progress=False)
    assert knn.similarity is not None
    return sp.csr_matrix(knn.similarity)


def _exact_rows(
    x: sp.csr_matrix, rows: np.ndarray, inv: np.ndarray, k: int, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of the k nearest neighbours of ``rows``, from the sparse product."""
    xt = x.T.tocsr()
    out_r, out_c, out_v = [], [], []
    for a in range(0, rows.size, block):
        rb = rows[a : a + block]
        co = np.asarray((xt[rb] @ x).toarray(), dtype=np.float64)
        s = co * inv[rb, None] * inv[None, :]
        s[np.arange(rb.size), rb] = 0.0
        r, c = np.nonzero(top_k_mask(s, k) & (s > 0))
        out_r.append(rb[r])
        out_c.append(c)
        out_v.append(s[r, c])
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)


def _padded_rows(m: sp.csr_matrix, rows: slice, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, columns) of CSR ``rows`` as (R, width) arrays padded with NaN / -1."""
    sub = m[rows]
    counts = np.diff(sub.indptr)
    r = np.repeat(np.arange(counts.size), counts)
    pos = np.arange(sub.nnz) - np.repeat(sub.indptr[:-1], counts)
    vals = np.full((counts.size, width), np.nan)
    cols = np.full((counts.size, width), -1, dtype=np.int64)
    vals[r, pos] = sub.data
    cols[r, pos] = sub.indices
    return vals, cols


def _select_block(
    approx: np.ndarray, cols: np.ndarray, first: int, norm: np.ndarray, inv: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From one block of candidate rows (items ``first`` ..): (row, col, exact value) of
    each row's k best other items, and a bool per row that needs an exact recomputation."""
    n_rows = approx.shape[0]
    items = first + np.arange(n_rows)
    safe = np.maximum(cols, 0)
    co_f = approx * norm[items, None] * norm[safe]
    co = np.rint(co_f)
    exact = co * inv[items, None] * inv[safe]  # the exact cosine, computed as the hand-written one was
    ok = (cols >= 0) & (cols != items[:, None]) & (exact > 0)
    key = np.where(ok, -exact, np.inf)
    order = np.lexsort((cols, key), axis=1)[:, :k]  # by value descending, then item index
    top = np.take_along_axis(key, order, axis=1)
    # a full candidate list may have been cut among ties at its end: then the k-th value
    # must be clearly above the smallest candidate for the row to be certain
    lowest = np.min(np.where(cols >= 0, approx, np.inf), axis=1)
    doubt = (cols[:, -1] >= 0) & (-top[:, -1] <= lowest * (1 + _REL_TOL))
    doubt |= np.abs(np.where(cols >= 0, co_f - co, 0.0)).max(axis=1) > 0.25  # a count not recovered
    r, j = np.nonzero(np.isfinite(top))
    return items[r], np.take_along_axis(cols, order, axis=1)[r, j], -top[r, j], doubt


def cosine_neighbours(x: sp.csr_matrix, k: int, num_threads: int = 0, block: int = 2048) -> sp.csr_matrix:
    """(n_items, n_items) float32 CSR: row i holds item i's ``k`` nearest neighbours by
    cosine of the binary columns of ``x`` (n_users, n_items); see the module docstring."""
    x = sp.csr_matrix(x, dtype=np.float64)
    n = n_columns(x)
    k = min(int(k), max(n - 1, 0))
    if k == 0 or x.nnz == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    norm = np.sqrt(np.asarray(x.sum(axis=0), dtype=np.float64).ravel())  # binary: sqrt |U_i|
    inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    n_cand = min(n, 2 * k + 1)
    if 2 * n_cand > n:  # the lists hold most of the catalogue: the search would save nothing
        r, c, v = _exact_rows(x, np.arange(n), inv, k, block)
        return sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n, n))
    cand = _library_candidates(x, inv, n_cand, num_threads).tocsr()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    doubt = np.zeros(n, dtype=bool)
    for a in range(0, n, block):
        approx, cols = _padded_rows(cand, slice(a, min(n, a + block)), n_cand)
        r, c, v, d = _select_block(approx, cols, a, norm, inv, k)
        parts.append((r, c, v))
        doubt[a : a + d.size] = d
    r, c, v = (np.concatenate(z) for z in zip(*parts))
    if doubt.any():
        keep = ~doubt[r]
        er, ec, ev = _exact_rows(x, np.flatnonzero(doubt), inv, k, block)
        r, c, v = np.concatenate([r[keep], er]), np.concatenate([c[keep], ec]), np.concatenate([v[keep], ev])
    return sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n, n))
