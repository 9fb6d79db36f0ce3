"""Recommendations shared by the pages: scoring a (possibly edited) history and
re-ranking it with the session's weights, one user or the whole population.
Cached objects are shared across sessions and only read."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.types import Dataset, History
from recsys.models.base import Scorer, model_key
from recsys.rerank import FairGroup, RerankContext, RerankResult, Weights, build_context, rerank, rerank_batch
from recsys.rerank import select_candidates as _select_candidates
from ui.core import loaders


@st.cache_resource(max_entries=4, show_spinner="Preparing the re-ranker…")
def rerank_context(fingerprint: str, mkey: str, _ds: Dataset, _model: Scorer) -> RerankContext:
    """The re-ranker's item-side context (embeddings, popularity, long tail) per
    dataset + model; built once per process and only read afterwards."""
    emb = loaders.item_embeddings(fingerprint, _ds, _model)
    return build_context(_ds, emb=emb)


def context_for(ds: Dataset, model: Scorer) -> RerankContext:
    return rerank_context(ds.content_key, model_key(model), ds, model)


def score_history(model: Scorer, history: History) -> np.ndarray:
    """Model scores over all items for one history (oldest first; may be empty)."""
    t = None if history.timestamps is None else [history.timestamps]
    return np.asarray(model.score([history.items], t)[0], dtype=np.float32)


def recommend(
    ds: Dataset, model: Scorer, history: History, k: int, weights: Weights, *, fair_group: str | None = None,
) -> RerankResult:
    """A :class:`recsys.rerank.RerankResult` for a history: the model's top-k
    (``baseline_items``) and the list re-ranked with ``weights`` (``items``; identical
    to the model's order when all weights are 0)."""
    scores = score_history(model, history)
    group = FairGroup.parse(fair_group) if fair_group else None
    return rerank(context_for(ds, model), scores, history.items, weights, k=k, group=group, user=history.user)


def rec_frame(ds: Dataset, res: RerankResult) -> pd.DataFrame:
    """Display/CSV table of a re-ranked list."""
    items = [int(i) for i in res.items]
    moves = res.moves
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(items) + 1),
            "item_id": [ds.item_ids[i] for i in items],
            "title": [ds.titles[i] for i in items],
            "categories": [", ".join(ds.item_categories[i]) for i in items],
            "model score": np.round(res.model_scores.astype(float), 4),
            "model rank": res.original_ranks.astype(int),
            "move": [f"▲{m}" if m > 0 else (f"▼{-m}" if m < 0 else "–") for m in moves],
            "why": list(res.reasons),
        }
    )


Pools = tuple[np.ndarray, np.ndarray, np.ndarray]


def _score_pools(ds: Dataset, model: Scorer, ctx: RerankContext, n_candidates: int,
                 progress: Callable[[float, str], None]) -> Pools:
    """Every user's current candidate pool (full history, seen items excluded):
    (cand_items (U, N), cand_scores (U, N), hist_dist (U, C)) — read-only arrays."""
    seqs = [np.asarray(s, dtype=np.int64) for s in ds.sequences()]
    off = ds.user_offsets
    tss = [ds.timestamp[off[u] : off[u + 1]] for u in range(ds.n_users)]
    items_parts, score_parts = [], []
    for start in range(0, ds.n_users, 256):
        hb, tb = seqs[start : start + 256], tss[start : start + 256]
        s = np.asarray(model.score(hb, tb), dtype=np.float64)
        c, v = _select_candidates(s, hb, n_candidates)
        items_parts.append(c)
        score_parts.append(v)
        done = min(start + 256, ds.n_users)
        progress(done / max(ds.n_users, 1), f"scoring users {done:,}/{ds.n_users:,}")
    cand = np.concatenate(items_parts)
    vals = np.concatenate(score_parts)
    dist = ctx.history_distribution(seqs)
    for a in (cand, vals, dist):
        a.setflags(write=False)
    return cand, vals, dist


def population_pools(ds: Dataset, model: Scorer, n_candidates: int = 100) -> Pools | None:
    """Every user's candidate pool, scored once per data + model on the server's work
    queue (:mod:`ui.core.queued`); None while it is queued or running (the page shows its
    progress and reruns when it is done)."""
    from ui.core import queued, state

    ctx = context_for(ds, model)

    def work(progress: Callable[[float, str], None]) -> Pools:
        return _score_pools(ds, model, ctx, n_candidates, progress)

    return queued.result(f"pools:{ds.content_key}:{model_key(model)}:{n_candidates}",
                         f"scoring every user of {queued.source_label(state.data_source())}", work,
                         kind="sweep", failed="Scoring every user failed")


def population_lists(ds: Dataset, model: Scorer, k: int, weights: Weights) -> tuple[np.ndarray, np.ndarray] | None:
    """Every user's (model top-k list, re-ranked top-k list), each (U, k) with -1 padding;
    None while the population is being scored (:func:`population_pools`)."""
    pools = population_pools(ds, model)
    if pools is None:
        return None
    return _population_lists(ds.content_key, model_key(model), k, weights.diversity, weights.calibration,
                             weights.fairness, ds, model, pools)


@st.cache_data(max_entries=16, show_spinner="Re-ranking every user…")
def _population_lists(fingerprint: str, mkey: str, k: int, div: float, cal: float, fair: float,
                      _ds: Dataset, _model: Scorer, _pools: Pools) -> tuple[np.ndarray, np.ndarray]:
    """Re-ranking the scored pools at one setting (numpy only: stays on the request path)."""
    cand, vals, dist = _pools
    base = np.array(cand[:, :k], copy=True)
    w = Weights(div, cal, fair)
    if not w.any:
        return base, base.copy()
    out = rerank_batch(context_for(_ds, _model), cand, vals, dist, w, k).items
    return base, np.asarray(out)
