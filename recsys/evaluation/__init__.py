"""Evaluation per DESIGN §4: leave-one-out split by time, full-ranking metrics,
beyond-accuracy metrics, per-group NDCG, and the non-neural and content-based baselines."""

from recsys.evaluation.baselines import (
    EASE,
    ItemKNN,
    MostPopular,
    TextSimilarity,
    baseline_scorers,
    history_matrix,
)
from recsys.evaluation.evaluate import (
    PROTOCOL,
    evaluate_scorer,
    group_ndcg,
    ranking_metrics,
    score_ranks,
    target_popularity_ndcg,
)
from recsys.evaluation.metrics import (
    accuracy_metrics,
    average_popularity,
    coverage,
    exposure_gini,
    gini,
    intra_list_diversity,
    long_tail_items,
    long_tail_share,
    miscalibration,
    ndcg_of_ranks,
    rank_of_targets,
    top_k_lists,
)
from recsys.evaluation.split import Split, cold_item_world, leave_one_out

__all__ = [
    "EASE",
    "ItemKNN",
    "MostPopular",
    "PROTOCOL",
    "Split",
    "TextSimilarity",
    "accuracy_metrics",
    "average_popularity",
    "baseline_scorers",
    "cold_item_world",
    "coverage",
    "evaluate_scorer",
    "exposure_gini",
    "gini",
    "group_ndcg",
    "history_matrix",
    "intra_list_diversity",
    "leave_one_out",
    "long_tail_items",
    "long_tail_share",
    "miscalibration",
    "ndcg_of_ranks",
    "rank_of_targets",
    "ranking_metrics",
    "score_ranks",
    "target_popularity_ndcg",
    "top_k_lists",
]
