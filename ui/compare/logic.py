"""Tables of the per-user model comparison (pure: no streamlit). The numbers come from
:mod:`recsys.evaluation.compare`, the same code as ``recommend --compare``."""

from __future__ import annotations

import pandas as pd

from recsys.data.types import Dataset
from recsys.evaluation.compare import LABELS, NO_ABLATION, Comparison

__all__ = ["LABELS", "NO_ABLATION", "held_out_frame", "label", "overlap_frame", "rank_frame", "side_by_side",
           "skipped_notes"]


def label(name: str) -> str:
    return LABELS.get(name, name)


def side_by_side(ds: Dataset, comp: Comparison) -> pd.DataFrame:
    """One row per rank, one column of titles per model (blank where a list is shorter)."""
    cols: dict[str, list] = {"rank": list(range(1, comp.k + 1))}
    for name, items in comp.lists.items():
        titles = [ds.titles[int(i)] for i in items]
        cols[label(name)] = titles + [""] * (comp.k - len(titles))
    return pd.DataFrame(cols)


def rank_frame(ds: Dataset, comp: Comparison) -> pd.DataFrame:
    """Every listed item once (best place first) with its place in each model's full
    ranking (the list order; seen items excluded) and in how many top-k lists it is."""
    union = comp.union()
    df = pd.DataFrame({"item_id": [ds.item_ids[i] for i in union], "title": [ds.titles[i] for i in union]})
    for name in comp.lists:
        pos = comp.positions.get(name, {})
        df[label(name)] = pd.array([pos.get(i) for i in union], dtype="Int64")
    listed = [set(int(x) for x in items) for items in comp.lists.values()]
    df["in lists"] = [sum(i in s for s in listed) for i in union]
    return df


def overlap_frame(comp: Comparison) -> pd.DataFrame:
    """The pairwise Jaccard matrix of the top-k sets, rows and columns by model label."""
    ov = comp.overlap()
    names = list(ov)
    return pd.DataFrame([[ov[a][b] for b in names] for a in names],
                        index=[label(n) for n in names], columns=[label(n) for n in names])


def held_out_frame(comp: Comparison) -> pd.DataFrame | None:
    """Per model: the held-out item's rank, whether it is in that model's top-k
    (None when the user is not in the evaluation split)."""
    h = comp.held_out
    if h is None:
        return None
    rows = [{"model": label(n), "rank": r, f"in top {comp.k}": None if r is None else r <= comp.k}
            for n, r in h.ranks.items()]
    df = pd.DataFrame(rows)
    df["rank"] = pd.array(df["rank"].tolist(), dtype="Int64")
    return df


def skipped_notes(comp: Comparison) -> list[str]:
    """One plain sentence per model that could not be compared."""
    out = []
    for name, why in comp.skipped.items():
        if name == "transformer_no_text" and why == NO_ABLATION:
            out.append("No no-text ablation in this artifact (it was trained without one), so the "
                       "transformer is compared with the baselines only.")
        else:
            out.append(f"{label(name)} is not compared: {why}.")
    return out
