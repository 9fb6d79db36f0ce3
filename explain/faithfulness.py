"""Faithfulness: do the items an explanation ranks highest really carry the target?

Deletion: remove explained items in attribution order (largest weight first) and
track the target's reciprocal rank; insertion: start from the profile without any
explained item and add them back in that order. A faithful attribution makes the
deletion curve fall faster (lower area) and the insertion curve rise faster (higher
area) than random orders do. Reciprocal ranks are taken among the masked scorer's
fixed candidate set (every item not in the full history), so curves of different
orders are comparable point by point. All curves are scored in one batched pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from explain.explanation import Attribution, Faithfulness
from explain.masked import MaskedScorer

if TYPE_CHECKING:
    from explain.units import GroupedScorer

DEFAULT_RANDOM_ORDERS = 3


def _auc(curve: np.ndarray) -> float:
    """Trapezoid area of a curve sampled evenly on [0, 1]."""
    if curve.shape[0] < 2:
        return float(curve[0]) if curve.shape[0] else 0.0
    return float(np.trapezoid(curve, dx=1.0 / (curve.shape[0] - 1)))


def order_masks(order: np.ndarray, n: int, *, insertion: bool) -> np.ndarray:
    """(n+1, n) masks: row j has the first j features of ``order`` removed (deletion)
    or only those present (insertion)."""
    masks = np.zeros((n + 1, n)) if insertion else np.ones((n + 1, n))
    for j in range(1, n + 1):
        masks[j] = masks[j - 1]
        masks[j, order[j - 1]] = 1.0 if insertion else 0.0
    return masks


def faithfulness(
    f: MaskedScorer | GroupedScorer,
    attribution: Attribution,
    *,
    n_random: int = DEFAULT_RANDOM_ORDERS,
    seed: int = 0,
) -> Faithfulness:
    """Deletion/insertion curves and AUCs for ``attribution`` and for ``n_random``
    seeded random orders (their mean curve)."""
    n = f.n_features
    rng = np.random.default_rng(seed)
    orders = [attribution.order()] + [rng.permutation(n) for _ in range(max(1, n_random))]
    blocks = []
    for o in orders:
        blocks.append(order_masks(o, n, insertion=False))
        blocks.append(order_masks(o, n, insertion=True))
    rr = 1.0 / f.ranks_from_scores(f.scores(np.vstack(blocks))).astype(np.float64)
    curves = rr.reshape(len(blocks), n + 1)
    dele, ins = curves[0], curves[1]
    rdel = curves[2::2].mean(axis=0)
    rins = curves[3::2].mean(axis=0)
    return Faithfulness(
        deletion_curve=dele,
        insertion_curve=ins,
        random_deletion_curve=rdel,
        random_insertion_curve=rins,
        deletion_auc=_auc(dele),
        insertion_auc=_auc(ins),
        random_deletion_auc=float(np.mean([_auc(c) for c in curves[2::2]])),
        random_insertion_auc=float(np.mean([_auc(c) for c in curves[3::2]])),
        n_random=len(orders) - 1,
    )
