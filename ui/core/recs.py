"""Recommendations shared by the pages: scoring a (possibly edited) history and
re-ranking it with the session's weights, one user or the whole population.
Cached objects are shared across sessions and only read."""

from __future__ import annotations

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


@st.cache_resource(max_entries=2, show_spinner="Scoring every user once (cached afterwards)…")
def population_pools(fingerprint: str, mkey: str, _ds: Dataset, _model: Scorer,
                     n_candidates: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every user's current candidate pool (full history, seen items excluded):
    (cand_items (U, N), cand_scores (U, N), hist_dist (U, C)) — read-only arrays."""
    ds = _ds
    ctx = context_for(ds, _model)
    seqs = [np.asarray(s, dtype=np.int64) for s in ds.sequences()]
    off = ds.user_offsets
    tss = [ds.timestamp[off[u] : off[u + 1]] for u in range(ds.n_users)]
    items_parts, score_parts = [], []
    for start in range(0, ds.n_users, 256):
        hb, tb = seqs[start : start + 256], tss[start : start + 256]
        s = np.asarray(_model.score(hb, tb), dtype=np.float64)
        c, v = _select_candidates(s, hb, n_candidates)
        items_parts.append(c)
        score_parts.append(v)
    cand = np.concatenate(items_parts)
    vals = np.concatenate(score_parts)
    dist = ctx.history_distribution(seqs)
    for a in (cand, vals, dist):
        a.setflags(write=False)
    return cand, vals, dist


def population_lists(ds: Dataset, model: Scorer, k: int, weights: Weights) -> tuple[np.ndarray, np.ndarray]:
    """Every user's (model top-k list, re-ranked top-k list), each (U, k) with -1 padding."""
    return _population_lists(ds.content_key, model_key(model), k, weights.diversity, weights.calibration,
                             weights.fairness, ds, model)


@st.cache_data(max_entries=16, show_spinner="Re-ranking every user…")
def _population_lists(fingerprint: str, mkey: str, k: int, div: float, cal: float, fair: float,
                      _ds: Dataset, _model: Scorer) -> tuple[np.ndarray, np.ndarray]:
    cand, vals, dist = population_pools(fingerprint, mkey, _ds, _model)
    base = np.array(cand[:, :k], copy=True)
    w = Weights(div, cal, fair)
    if not w.any:
        return base, base.copy()
    out = rerank_batch(context_for(_ds, _model), cand, vals, dist, w, k).items
    return base, np.asarray(out)
