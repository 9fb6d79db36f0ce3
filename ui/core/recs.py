"""Recommendation glue shared by the pages: scoring a (possibly edited) history and
re-ranking it with the session's weights. Shared objects are only read."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from ui import loaders
from ui.state import Weights


@st.cache_resource(max_entries=4, show_spinner="Preparing the re-ranker…")
def rerank_context(fingerprint: str, model_key: str, _ds: Dataset, _model: Any) -> Any:
    """The re-ranker's item-side context (embeddings, popularity, long tail) per
    dataset + model; built once per process and only read afterwards."""
    from recsys.rerank import build_context

    emb = loaders.item_embeddings(fingerprint, _ds, _model)
    return build_context(_ds, emb=emb)


def model_key(model: Any) -> str:
    man = getattr(model, "manifest", None) or {}
    return str(man.get("created") or man.get("created_at") or id(model))


def context_for(ds: Dataset, model: Any) -> Any:
    return rerank_context(ds.fingerprint, model_key(model), ds, model)


def user_history(ds: Dataset, user: str) -> tuple[np.ndarray, np.ndarray]:
    items, ts = ds.sequence(ds.user_index(user))
    return np.asarray(items, dtype=np.int64), np.asarray(ts, dtype=np.int64)


def score_history(model: Any, items: Sequence[int], timestamps: Sequence[int] | None) -> np.ndarray:
    """Model scores over all items for one history (oldest first; may be empty)."""
    h = np.asarray(items, dtype=np.int64)
    t = None if timestamps is None else [np.asarray(timestamps, dtype=np.int64)]
    return np.asarray(model.score([h], t)[0], dtype=np.float32)


def to_weights(w: Weights) -> Any:
    from recsys.rerank import Weights as RW

    return RW(diversity=w.div, calibration=w.cal, fairness=w.fair)


def recommend(
    ds: Dataset,
    model: Any,
    items: Sequence[int],
    timestamps: Sequence[int] | None,
    k: int,
    weights: Weights,
    *,
    user: str = "",
    fair_group: str | None = None,
) -> Any:
    """A :class:`recsys.rerank.RerankResult` for a history: the model's top-k
    (``baseline_items``) and the list re-ranked with ``weights`` (``items``; identical
    to the model's order when all weights are 0)."""
    from recsys.rerank import FairGroup, rerank

    scores = score_history(model, items, timestamps)
    group = FairGroup.parse(fair_group) if fair_group else None
    return rerank(context_for(ds, model), scores, np.asarray(items, dtype=np.int64), to_weights(weights), k=k,
                  group=group, user=user)


def rec_frame(ds: Dataset, res: Any) -> pd.DataFrame:
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
def population_pools(fingerprint: str, mkey: str, _ds: Dataset, _model: Any, n_candidates: int = 100) -> Any:
    """Every user's current candidate pool (full history, seen items excluded):
    (cand_items (U, N), cand_scores (U, N), hist_dist (U, C)) — read-only arrays."""
    from recsys.rerank import select_candidates

    ds = _ds
    ctx = context_for(ds, _model)
    seqs = [np.asarray(s, dtype=np.int64) for s in ds.sequences()]
    off = ds.user_offsets
    tss = [ds.timestamp[off[u] : off[u + 1]] for u in range(ds.n_users)]
    items_parts, score_parts = [], []
    for start in range(0, ds.n_users, 256):
        hb, tb = seqs[start : start + 256], tss[start : start + 256]
        s = np.asarray(_model.score(hb, tb), dtype=np.float64)
        c, v = select_candidates(s, hb, n_candidates)
        items_parts.append(c)
        score_parts.append(v)
    cand = np.concatenate(items_parts)
    vals = np.concatenate(score_parts)
    dist = ctx.history_distribution(seqs)
    for a in (cand, vals, dist):
        a.setflags(write=False)
    return cand, vals, dist


@st.cache_data(max_entries=16, show_spinner="Re-ranking every user…")
def population_lists(fingerprint: str, mkey: str, k: int, div: float, cal: float, fair: float,
                     _ds: Dataset, _model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(model top-k lists, re-ranked top-k lists), each (U, k) with -1 padding."""
    from recsys.rerank import rerank_batch

    cand, vals, dist = population_pools(fingerprint, mkey, _ds, _model)
    base = np.array(cand[:, :k], copy=True)
    w = Weights(div, cal, fair)
    if not w.any:
        return base, base.copy()
    out = rerank_batch(context_for(_ds, _model), cand, vals, dist, to_weights(w), k).items
    return base, np.asarray(out)


def similar_items(emb: np.ndarray, i: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The n items with the highest text-embedding cosine to item i (itself excluded)."""
    sims = emb @ emb[i]
    sims = np.asarray(sims, dtype=np.float64).copy()
    sims[i] = -np.inf
    idx = np.argsort(-sims, kind="stable")[:n]
    return idx, sims[idx]
