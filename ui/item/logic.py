"""Item view numbers (pure: no streamlit): the default item, its popularity rank, who
gets it in their lists, and its nearest neighbours by text embedding."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.types import Dataset


def default_item(ds: Dataset) -> str:
    """The most popular item (used when no item is selected)."""
    return ds.item_ids[int(np.argmax(ds.item_popularity))]


def popularity_rank(ds: Dataset, i: int) -> int:
    pop = ds.item_popularity
    return int((pop > pop[i]).sum()) + 1


def who_gets(ds: Dataset, i: int, base: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """Users with item i in their model top-k and/or re-ranked top-k, with ranks."""
    hb = base == i
    ha = after == i
    users = np.flatnonzero(hb.any(axis=1) | ha.any(axis=1))
    rank_b = np.where(hb[users].any(axis=1), hb[users].argmax(axis=1) + 1, 0)
    rank_a = np.where(ha[users].any(axis=1), ha[users].argmax(axis=1) + 1, 0)
    df = pd.DataFrame(
        {
            "user_id": [ds.user_ids[int(u)] for u in users],
            "rank (model)": [int(r) if r else None for r in rank_b],
            "rank (re-ranked)": [int(r) if r else None for r in rank_a],
            "history length": np.diff(ds.user_offsets)[users].astype(int),
        }
    )
    if ds.user_attrs is not None:
        for c in ds.user_attrs.columns[:4]:
            df[str(c)] = ds.user_attrs[c].iloc[users].astype(str).to_numpy()
    return df.sort_values(["rank (model)", "rank (re-ranked)"], na_position="last").reset_index(drop=True)


def similar_items(emb: np.ndarray, i: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The n items with the highest text-embedding cosine to item i (itself excluded)."""
    sims = emb @ emb[i]
    sims = np.asarray(sims, dtype=np.float64).copy()
    sims[i] = -np.inf
    idx = np.argsort(-sims, kind="stable")[:n]
    return idx, sims[idx]


def similar_table(ds: Dataset, emb: np.ndarray, i: int, n: int = 10) -> pd.DataFrame:
    idx, sims = similar_items(emb, i, n)
    return pd.DataFrame(
        {
            "item_id": [ds.item_ids[int(j)] for j in idx],
            "title": [ds.titles[int(j)] for j in idx],
            "categories": [", ".join(ds.item_categories[int(j)]) for j in idx],
            "cosine": np.round(sims, 3),
            "interactions": ds.item_popularity[idx].astype(int),
        }
    )
