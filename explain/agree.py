"""Agreement between two attributions that means something: top-k overlap and rank-biased
overlap (RBO) — both weigh the top of the rankings, where an analyst looks, instead of
Kendall τ over every weight, which mostly measures noise among near-zero units — and
the list of units on which the methods disagree."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from explain.explanation import Attribution

TOP = 5
RBO_P = 0.9  # RBO persistence: the top 10 ranks carry ~86% of the weight


def ranking(a: Attribution) -> list[int]:
    """Unit keys (the history position naming each unit) by weight, largest first."""
    return [int(p) for p in a.positions[a.order()]]


def _same_units(a: Attribution, b: Attribution) -> None:
    if a.n_features != b.n_features or not np.array_equal(a.positions, b.positions):
        raise ValueError("attributions explain different units")


def top_overlap(a: Attribution, b: Attribution, n: int = TOP) -> float:
    """|top-n(a) ∩ top-n(b)| / n, n capped at the number of units (1 when there is one)."""
    _same_units(a, b)
    m = max(1, min(n, a.n_features))
    return len(set(ranking(a)[:m]) & set(ranking(b)[:m])) / m


def rbo(x: list[int], y: list[int], p: float = RBO_P) -> float:
    """Extrapolated rank-biased overlap of two rankings (Webber, Moffat & Zobel 2010,
    eq. 32): in [0, 1], 1 for identical rankings, top ranks weighted most."""
    k = min(len(x), len(y))
    if k == 0:
        return 1.0
    seen_x: set[int] = set()
    seen_y: set[int] = set()
    overlap, acc = 0, 0.0
    for d in range(1, k + 1):
        a, b = x[d - 1], y[d - 1]
        if a == b:
            overlap += 1
        else:
            overlap += int(a in seen_y) + int(b in seen_x)
        seen_x.add(a)
        seen_y.add(b)
        acc += overlap / d * p**d
    return float(min(1.0, (1 - p) / p * acc + overlap / k * p**k))


def rank_biased_overlap(a: Attribution, b: Attribution, p: float = RBO_P) -> float:
    _same_units(a, b)
    return rbo(ranking(a), ranking(b), p)


def disagreements(
    shap_a: Attribution, lime_a: Attribution, value_of: Callable[[np.ndarray], np.ndarray],
    describe: Callable[[int], dict[str, Any]], n: int = TOP,
) -> tuple[dict[str, Any], ...]:
    """One row per unit in the top ``n`` of exactly one method: ``describe(j)`` (label,
    items), both 1-based ranks and weights, and ``drop`` = value(full) − value(without
    that unit alone), the model's own answer to "does this unit matter?". ``value_of``
    maps (M, units) masks to values (the masked scorer)."""
    _same_units(shap_a, lime_a)
    m = max(1, min(n, shap_a.n_features))
    rs, rl = shap_a.order(), lime_a.order()
    rank_s = {int(j): r + 1 for r, j in enumerate(rs)}
    rank_l = {int(j): r + 1 for r, j in enumerate(rl)}
    only = [int(j) for j in rs[:m] if rank_l[int(j)] > m] + [int(j) for j in rl[:m] if rank_s[int(j)] > m]
    if not only:
        return ()
    u = shap_a.n_features
    masks = np.ones((len(only) + 1, u))
    for r, j in enumerate(only, start=1):
        masks[r, j] = 0.0
    vals = value_of(masks)
    rows = []
    for r, j in enumerate(only, start=1):
        rows.append({
            **describe(j),
            "top5_of": "shap" if rank_s[j] <= m else "lime",
            "shap_rank": rank_s[j], "lime_rank": rank_l[j],
            "shap_weight": float(shap_a.values[j]), "lime_weight": float(lime_a.values[j]),
            "drop": float(vals[0] - vals[r]),
        })
    return tuple(rows)
