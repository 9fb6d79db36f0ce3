"""Fairness & diversity re-ranking: greedy MMR + calibration + exposure
fairness over the model's top-N candidates, list and population metrics, λ-sweeps.

Typical use::

    ctx = build_context(ds, emb=model.text_emb)          # once per dataset + model
    res = rerank(ctx, scores, history, Weights(diversity=0.3), k=10)
    res.items, res.contributions, res.reasons, res.metrics

    pop = prepare_population(ds, model, ctx)             # scores every user once
    evaluate_population(ctx, pop, Weights(fairness=0.5)) # NDCG@10, ILD, per-group, …
    sweep(ctx, pop)                                       # the trade-off table

No streamlit here; chart builders live in ``ui/lab/charts.py``.
"""

from recsys.rerank.cli import add_rerank_arguments, rerank_from_args, rerank_options
from recsys.rerank.context import RerankContext, build_context, long_tail_mask, training_popularity
from recsys.rerank.core import ALPHA, DEFAULT_CANDIDATES, TERMS, BatchRerank, rerank_batch, select_candidates
from recsys.rerank.metrics import (
    LIST_METRICS,
    avg_popularity,
    coverage,
    exposure_gini,
    ild,
    list_metrics,
    list_metrics_batch,
    long_tail_share,
    miscalibration,
    ndcg_at_k,
)
from recsys.rerank.population import (
    SWEEP_TERMS,
    SWEEP_WEIGHTS,
    Population,
    evaluate_population,
    group_ndcg_table,
    load_sweep,
    prepare_population,
    rerank_population,
    save_sweep,
    sweep,
)
from recsys.rerank.user import RerankResult, rerank
from recsys.rerank.weights import FairGroup, Weights

__all__ = [
    "ALPHA",
    "DEFAULT_CANDIDATES",
    "LIST_METRICS",
    "SWEEP_TERMS",
    "SWEEP_WEIGHTS",
    "TERMS",
    "BatchRerank",
    "FairGroup",
    "Population",
    "RerankContext",
    "RerankResult",
    "Weights",
    "add_rerank_arguments",
    "avg_popularity",
    "build_context",
    "coverage",
    "evaluate_population",
    "exposure_gini",
    "group_ndcg_table",
    "ild",
    "list_metrics",
    "list_metrics_batch",
    "load_sweep",
    "long_tail_mask",
    "long_tail_share",
    "miscalibration",
    "ndcg_at_k",
    "prepare_population",
    "rerank",
    "rerank_batch",
    "rerank_from_args",
    "rerank_options",
    "rerank_population",
    "save_sweep",
    "select_candidates",
    "sweep",
    "training_popularity",
]
