"""Counterfactual: which history items, removed, drop the target out of the top-k?

Greedy then prune, every step verified by *re-ranking* the edited profile the way the
served list is built (all items except those still in the edited profile):

1. remove explained items in attribution order (largest weight first) and take the
   shortest prefix after which the target is no longer in the top-k (all prefixes are
   scored in one batch);
2. prune: try putting each removed item back, smallest weight first; keep it back if
   the target still stays out of the top-k. The result is irreducible (no single item
   can be restored), a small but not necessarily the minimum set;
3. verify the final set by re-ranking once more.

Only explained items are removed; the older fixed context always stays.
"""

from __future__ import annotations

import numpy as np

from explain.explanation import Attribution, Counterfactual
from explain.faithfulness import order_masks
from explain.masked import MaskedScorer

DEFAULT_CF_BUDGET = 200


def _mask_without(n: int, removed: list[int]) -> np.ndarray:
    m = np.ones((1, n))
    m[0, removed] = 0.0
    return m


def counterfactual(
    f: MaskedScorer, attribution: Attribution, k: int, *, budget: int = DEFAULT_CF_BUDGET
) -> Counterfactual:
    """The counterfactual set for ``attribution``'s order within ``budget`` re-rankings."""
    n = f.n_features
    start = f.evaluations
    order = attribution.order()
    ranks = f.rerank(order_masks(order, n, insertion=False))
    rank_before = int(ranks[0])

    def result(found: bool, removed: list[int], rank_after: int | None) -> Counterfactual:
        feats = sorted(removed)
        return Counterfactual(
            k=int(k),
            found=found,
            removed=tuple(int(f.features[j]) for j in feats),
            positions=tuple(int(f.positions[j]) for j in feats),
            rank_before=rank_before,
            rank_after=rank_after,
            evaluations=int(f.evaluations - start),
        )

    if rank_before > k:  # already outside the top-k: nothing to remove
        return result(True, [], rank_before)
    out = np.flatnonzero(ranks > k)
    if out.size == 0:
        return result(False, [], None)
    length = int(out[0])
    removed = [int(j) for j in order[:length]]
    for j in reversed(list(removed)):  # smallest weight first
        if f.evaluations - start >= budget or len(removed) == 1:
            break
        trial = [r for r in removed if r != j]
        if int(f.rerank(_mask_without(n, trial))[0]) > k:
            removed = trial
    rank_after = int(f.rerank(_mask_without(n, removed))[0])
    if rank_after <= k:  # cannot happen with a deterministic scorer; never claim an unverified set
        return result(False, [], None)
    return result(True, removed, rank_after)
