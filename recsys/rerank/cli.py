"""Command-line glue so ``recommend`` can re-rank in a couple of lines::

    add_rerank_arguments(parser)                      # in add_arguments
    out.update(rerank_from_args(ds, scores, history, args, k=k, emb=model.text_emb))

``rerank_from_args`` always returns ``"items"`` (rows ``{rank, item_id, title, score,
rerank_score, original_rank, contributions, reason}``), ``"dropped"``, ``"metrics"`` (ild, long_tail_share,
miscalibration, avg_popularity), ``"baseline_metrics"``, ``"weights"`` and
``"fair_group"``; with all weights 0 the items are exactly the model's top-k.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from recsys.data.types import DataError
from recsys.rerank.context import RerankContext, build_context
from recsys.rerank.core import DEFAULT_CANDIDATES
from recsys.rerank.user import rerank
from recsys.rerank.weights import FairGroup, Weights

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset


def _weight(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"weight must be a number between 0 and 1, not {text!r}") from None
    if not (0.0 <= v <= 1.0):
        raise argparse.ArgumentTypeError(f"weight must be between 0 and 1, not {text}")
    return v


def add_rerank_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--diversity``, ``--calibration``, ``--fairness``, ``--fair-group`` and
    ``--candidates`` to a command's parser."""
    g = parser.add_argument_group("re-ranking (weights in [0, 1], sum at most 1)")
    g.add_argument("--diversity", type=_weight, default=0.0, metavar="W", help="MMR novelty weight (default 0)")
    g.add_argument("--calibration", type=_weight, default=0.0, metavar="W", help="category calibration weight (default 0)")
    g.add_argument("--fairness", type=_weight, default=0.0, metavar="W", help="exposure fairness weight (default 0)")
    g.add_argument(
        "--fair-group",
        default="longtail",
        metavar="longtail|category=NAME",
        help="item group whose exposure --fairness raises (default longtail)",
    )
    g.add_argument(
        "--candidates",
        type=int,
        default=DEFAULT_CANDIDATES,
        metavar="N",
        help=f"re-rank the model's top N (default {DEFAULT_CANDIDATES})",
    )


def rerank_options(args: argparse.Namespace) -> tuple[Weights, FairGroup, int]:
    """(weights, fair group, candidate count) from parsed arguments (DataError if invalid)."""
    w = Weights(
        diversity=getattr(args, "diversity", 0.0) or 0.0,
        calibration=getattr(args, "calibration", 0.0) or 0.0,
        fairness=getattr(args, "fairness", 0.0) or 0.0,
    )
    n = int(getattr(args, "candidates", DEFAULT_CANDIDATES) or DEFAULT_CANDIDATES)
    if n < 1:
        raise DataError(f"--candidates must be at least 1, not {n}")
    return w, FairGroup.parse(getattr(args, "fair_group", "longtail")), n


def rerank_from_args(
    ds: Dataset,
    scores: np.ndarray,
    history: Sequence[int] | np.ndarray,
    args: argparse.Namespace,
    *,
    k: int = 10,
    exclude: Sequence[int] | np.ndarray | None = None,
    emb: np.ndarray | None = None,
    ctx: RerankContext | None = None,
    user: str = "",
) -> dict[str, Any]:
    """Re-rank one user's scores per the command-line options; a JSON-ready dict with
    external item ids and titles. ``emb`` defaults to the cached item text embeddings."""
    weights, group, n = rerank_options(args)
    if ctx is None:
        ctx = build_context(ds, emb=emb)
    res = rerank(ctx, scores, history, weights, k=k, n_candidates=n, group=group, exclude=exclude, user=user)
    return res.to_dict(item_ids=ds.item_ids, titles=ds.titles)
