"""Change points in a user's interest mix: binary segmentation with a permutation test.

Each interaction is a category distribution (a row of a
:class:`~recsys.interests.categories.CategoryAssignment` matrix). For a segment of ``m``
interactions and a candidate split ``k`` the statistic is the two-sample likelihood
ratio of "one category mix" against "one mix before, another after"::

    D(k) = k * KL(p_before || p_all) + (m - k) * KL(p_after || p_all)     (bits)

which is ``m`` times the count-weighted Jensen-Shannon divergence of the two sides
(the G-test of homogeneity). The best split maximises ``D``. It is accepted when

* it is *significant*: a permutation test — shuffling the order of the segment's
  interactions is exactly the null "taste never changes" — gives p <= ``alpha`` for the
  maximum of ``D`` over all splits (so scanning many splits and short or multi-category
  histories are all accounted for, no asymptotics), and
* it *matters*: the plain Jensen-Shannon divergence between the two sides is at least
  ``min_effect`` bits (1 bit = the user moved to entirely different categories), so a
  long history does not get marks for tiny but significant wobbles, and
* both sides have at least ``min_size`` interactions.

Accepted splits are searched again on both sides (binary segmentation); at most
``max_change_points`` are kept (the largest effects). Deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG2 = np.log(2.0)

DEFAULT_ALPHA = 0.01
DEFAULT_MIN_EFFECT = 0.15
DEFAULT_MIN_SEGMENT = 5
DEFAULT_MIN_FRACTION = 0.1
DEFAULT_MAX_CHANGE_POINTS = 3
DEFAULT_N_PERM = 199
MAX_GRID = 120


@dataclass(frozen=True)
class ChangePoint:
    """A detected shift: interactions ``[.., index)`` before, ``[index, ..)`` after."""

    index: int  # position in the (time-ordered) sequence of the first "after" interaction
    ts: int  # seconds: midpoint between the last "before" and the first "after" interaction
    js: float  # Jensen-Shannon divergence (bits) between the adjacent segments' mixes
    p_value: float  # permutation p-value of the split when it was accepted
    before: tuple[float, ...]  # category mix of the segment before (final segmentation)
    after: tuple[float, ...]  # category mix of the segment after


def min_permutations(alpha: float, n_perm: int) -> int:
    """At least enough permutations for a p-value of ``alpha`` to be reachable with one
    exceedance to spare: max(n_perm, 2/alpha - 1)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return int(max(n_perm, np.ceil(2.0 / alpha) - 1))


def _xlogx_ratio(s: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """Elementwise s * log(s / denom) with 0 log 0 = 0 (natural log)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = s * np.log(s / denom)
    return np.where(s > 0, out, 0.0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = same mix, 1 = disjoint) of two distributions."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / max(p.sum(), 1e-300)
    q = q / max(q.sum(), 1e-300)
    m = 0.5 * (p + q)
    return float(0.5 * (_xlogx_ratio(p, m).sum() + _xlogx_ratio(q, m).sum()) / LOG2)


def _xlogx(a: np.ndarray) -> np.ndarray:
    """a * log(a) (natural log) with 0 log 0 = 0, for a >= 0."""
    return a * np.log(np.maximum(a, np.finfo(a.dtype).tiny))


def split_statistics(x: np.ndarray, min_size: int, dtype: type = np.float64, step: int = 1) -> np.ndarray:
    """D(k) (bits) for every ``step``-th split k = min_size .. m - min_size of segment(s) ``x``.

    ``x`` is (m, C) or a batch (P, m, C) of rows summing to 1; returns
    (m - 2*min_size + 1,) or (P, ...). Uses D(k) = sum_c[S log S + T log T] - k log k
    - (m-k) log(m-k) - sum_c total log(total/m), S/T the masses before/after the split.
    """
    x = np.asarray(x, dtype=dtype)
    m = x.shape[-2]
    ks = np.arange(min_size, m - min_size + 1, step)
    if ks.size == 0:
        return np.zeros(x.shape[:-2] + (0,), dtype=dtype)
    csum = np.cumsum(x, axis=-2)
    total = csum[..., -1:, :]  # (.., 1, C)
    s = csum[..., ks - 1, :]  # mass before each split
    t = total - s  # mass after
    kk = ks.astype(dtype)
    sizes = _xlogx(kk) + _xlogx(m - kk)
    const = (_xlogx(total) - total * dtype(np.log(m))).sum(-1)  # (.., 1)
    d = (_xlogx(s) + _xlogx(np.maximum(t, dtype(0.0)))).sum(-1) - sizes - const
    return np.maximum(d, dtype(0.0)) / dtype(LOG2)


def _best_split(
    x: np.ndarray,
    min_size: int,
    alpha: float,
    min_effect: float,
    n_perm: int,
    rng: np.random.Generator,
) -> tuple[int, float, float] | None:
    """(k, js, p) of the best split of ``x`` if it is accepted, else None."""
    m = x.shape[0]
    if m < 2 * min_size:
        return None
    d = split_statistics(x, min_size)
    j = int(np.argmax(d))
    k = min_size + j
    js = js_divergence(x[:k].sum(0), x[k:].sum(0))
    if js < min_effect:  # too small to matter: skip the (costly) significance test
        return None
    # The test statistic is max D over a grid of at most ~MAX_GRID splits, for the data and
    # the permutations alike (a valid test at any grid; bounds the cost of long histories).
    step = max(1, (m - 2 * min_size + 1) // MAX_GRID)
    xf = x[:, x.sum(0) > 0].astype(np.float32)  # absent categories add nothing to D
    obs = split_statistics(xf, min_size, np.float32, step).max()
    exceed = 0
    # small batches: a split that is not significant is usually rejected after one batch
    chunk = int(np.clip(2_000_000 // max(m * x.shape[1], 1), 1, 40))
    done = 0
    while done < n_perm:
        p = min(chunk, n_perm - done)
        perm = rng.permuted(np.tile(np.arange(m), (p, 1)), axis=1)
        null = split_statistics(xf[perm], min_size, np.float32, step).max(axis=-1)
        exceed += int((null >= obs * (1 - 1e-5)).sum())  # ties (float32 rounding) count
        done += p
        if (1 + exceed) / (n_perm + 1) > alpha:  # cannot become significant any more
            return None
    p_value = (1 + exceed) / (n_perm + 1)
    return (k, js, p_value) if p_value <= alpha else None


def detect_change_points(
    x: np.ndarray,
    ts: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = DEFAULT_MIN_EFFECT,
    min_segment: int = DEFAULT_MIN_SEGMENT,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    max_change_points: int = DEFAULT_MAX_CHANGE_POINTS,
    n_perm: int = DEFAULT_N_PERM,
    seed: int = 0,
) -> list[ChangePoint]:
    """Change points of a sequence of category distributions ``x`` (n, C) at times ``ts``.

    Segments are at least ``max(min_segment, ceil(min_fraction * n))`` interactions long.
    Returns change points in time order (see the module docstring for the test).
    """
    x = np.asarray(x, dtype=np.float64)
    ts = np.asarray(ts, dtype=np.int64)
    n = x.shape[0]
    if n != ts.shape[0]:
        raise ValueError("x and ts must have the same length")
    if n == 0 or max_change_points <= 0:
        return []
    min_size = max(int(min_segment), int(np.ceil(min_fraction * n)), 1)
    n_perm = min_permutations(alpha, n_perm)
    rng = np.random.default_rng(seed)
    found: list[tuple[int, float, float]] = []  # (index, js, p)
    stack = [(0, n)]
    while stack:
        a, b = stack.pop()
        res = _best_split(x[a:b], min_size, alpha, min_effect, n_perm, rng)
        if res is None:
            continue
        k, js, p = res
        found.append((a + k, js, p))
        stack.append((a + k, b))
        stack.append((a, a + k))
    found.sort(key=lambda f: -f[1])
    found = sorted(found[:max_change_points])
    bounds = [0] + [f[0] for f in found] + [n]
    out: list[ChangePoint] = []
    for j, (idx, _js, p) in enumerate(found):
        before = x[bounds[j] : idx].sum(0)
        after = x[idx : bounds[j + 2]].sum(0)
        before = before / max(before.sum(), 1e-300)
        after = after / max(after.sum(), 1e-300)
        mid = int((int(ts[idx - 1]) + int(ts[idx])) // 2)
        out.append(
            ChangePoint(
                index=int(idx),
                ts=mid,
                js=round(js_divergence(before, after), 6),
                p_value=float(p),
                before=tuple(float(v) for v in before),
                after=tuple(float(v) for v in after),
            )
        )
    return out
