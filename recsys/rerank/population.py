"""Population mode: re-rank every evaluated user at once and measure the trade-offs.

:func:`prepare_population` scores every evaluated user of the leave-one-out split once
(the expensive part) and keeps each user's top-N candidates; :func:`evaluate_population`
re-ranks all of them in one vectorised pass (:func:`recsys.rerank.core.rerank_batch`)
and returns NDCG@10 against the test targets, the per-list metrics averaged over users,
coverage, Gini of exposure and NDCG@10 per user group. :func:`sweep` produces the
λ-sweep table behind the trade-off curves (one DataFrame per model; cache it, or store it
beside the model with :func:`save_sweep`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from recsys.data.types import DataError
from recsys.evaluation.split import Split, Stage, leave_one_out
from recsys.rerank.context import RerankContext
from recsys.rerank.core import (
    DEFAULT_CANDIDATES,
    rerank_batch,
    select_candidates,
)
from recsys.rerank.metrics import coverage, exposure_gini, group_share, list_metrics_batch, ndcg_at_k
from recsys.rerank.weights import FairGroup, Weights

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset
    from recsys.models.base import Scorer

SWEEP_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
SWEEP_TERMS = ("diversity", "calibration", "fairness")
SWEEP_FILE = "rerank_sweep.json"
MAX_GROUP_VALUES = 30
Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class Population:
    """Candidate pools of every evaluated user (computed once per model)."""

    users: np.ndarray  # (U,) user indices
    cand_items: np.ndarray  # (U, N) int64, model order, -1 padding
    cand_scores: np.ndarray  # (U, N) float64
    hist_dist: np.ndarray  # (U, C) history category mixes
    targets: np.ndarray  # (U,) held-out target item per user
    user_groups: dict[str, np.ndarray] = field(default_factory=dict)  # attribute -> (U,) labels
    score_seconds: float = 0.0

    @property
    def n_users(self) -> int:
        return int(self.users.shape[0])


AGE_EDGES = (0, 18, 25, 35, 45, 50, 56)  # bands [edge, next edge), the last one open
AGE_LABELS = ("<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")


def _age_bands(values: np.ndarray) -> np.ndarray:
    """Band label of each number (``"unknown"`` below the first edge)."""
    idx = np.searchsorted(np.asarray(AGE_EDGES, dtype=np.float64), values, side="right") - 1
    return np.where(idx >= 0, np.asarray(AGE_LABELS)[np.maximum(idx, 0)], "unknown")


def user_groups(ds: Dataset, users: np.ndarray) -> dict[str, np.ndarray]:
    """Group labels per user attribute usable for fairness (at most 30 distinct values and
    at most one per two users, so ids such as zip codes are left out).
    Integer attributes with many values (e.g. age) are binned into bands."""
    out: dict[str, np.ndarray] = {}
    attrs = ds.user_attrs
    if attrs is None:
        return out
    for col in attrs.columns:
        vals = attrs[col].iloc[users].astype(str).to_numpy()
        nums = pd.Series(pd.to_numeric(pd.Series(vals), errors="coerce"), dtype="float64").to_numpy()
        if not np.isnan(nums).any() and len(np.unique(vals)) > 12:
            out[str(col)] = _age_bands(nums)
        elif 1 < len(np.unique(vals)) <= min(MAX_GROUP_VALUES, len(vals) // 2):
            out[str(col)] = np.where(vals == "", "unknown", vals)
    return out


def prepare_population(
    ds: Dataset,
    scorer: Scorer,
    ctx: RerankContext,
    *,
    split: Split | None = None,
    stage: Stage = "test",
    n_candidates: int = DEFAULT_CANDIDATES,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> Population:
    """Score every evaluated user of the leave-one-out split (``stage`` "test": history =
    training input + validation item, target = test item) and keep the top-N pools."""
    import time

    if split is None:
        split = leave_one_out(ds)
    hist, ts, targets = split.inputs(stage)
    users = np.asarray(split.eval_users, dtype=np.int64)
    if users.shape[0] == 0:
        raise DataError("no user has the 3 interactions the evaluation split needs")
    t0 = time.perf_counter()
    items_parts, score_parts = [], []
    for start in range(0, len(hist), batch_size):
        hb, tb = hist[start : start + batch_size], ts[start : start + batch_size]
        s = np.asarray(scorer.score(hb, tb), dtype=np.float64)
        c, v = select_candidates(s, hb, n_candidates)
        items_parts.append(c)
        score_parts.append(v)
        if progress is not None:
            done = min(start + batch_size, len(hist))
            progress(done / len(hist), f"scoring users {done}/{len(hist)}")
    elapsed = time.perf_counter() - t0
    return Population(
        users=users,
        cand_items=np.concatenate(items_parts),
        cand_scores=np.concatenate(score_parts),
        hist_dist=ctx.history_distribution(hist),
        targets=np.asarray(targets, dtype=np.int64),
        user_groups=user_groups(ds, users),
        score_seconds=elapsed,
    )


def rerank_population(
    ctx: RerankContext, pop: Population, weights: Weights, k: int = 10, group: FairGroup | None = None
) -> np.ndarray:
    """(U, k) re-ranked lists of every user in ``pop``."""
    return rerank_batch(ctx, pop.cand_items, pop.cand_scores, pop.hist_dist, weights, k, group).items


def evaluate_population(
    ctx: RerankContext,
    pop: Population,
    weights: Weights,
    k: int = 10,
    group: FairGroup | None = None,
    lists: np.ndarray | None = None,
) -> dict:
    """Population metrics of the re-ranked lists at ``weights``: ``ndcg@10``, mean
    ``ild``/``long_tail_share``/``miscalibration``/``avg_popularity``, ``coverage``,
    ``gini``, ``group_share`` (of the fairness group) and ``ndcg_by_group``
    ({attribute: {value: ndcg}}) with ``ndcg_gap`` (max − min per attribute)."""
    group = group or FairGroup()
    if lists is None:
        lists = rerank_population(ctx, pop, weights, k, group)
    nd = ndcg_at_k(lists, pop.targets, k)
    per = list_metrics_batch(ctx, lists, pop.hist_dist)
    mask, _ = ctx.group_mask(group)
    out: dict = {f"ndcg@{k}": float(nd.mean())}
    out.update({m: float(v.mean()) for m, v in per.items()})
    out["coverage"] = coverage(lists, ctx.n_items)
    out["gini"] = exposure_gini(lists, ctx.n_items)
    out["group_share"] = float(group_share(mask, lists).mean())
    by_group: dict[str, dict[str, float]] = {}
    gaps: dict[str, float] = {}
    for attr, labels in pop.user_groups.items():
        vals = {str(g): float(nd[labels == g].mean()) for g in sorted(np.unique(labels))}
        by_group[attr] = vals
        gaps[attr] = max(vals.values()) - min(vals.values()) if vals else 0.0
    out["ndcg_by_group"] = by_group
    out["ndcg_gap"] = gaps
    return out


def group_ndcg_table(result: dict) -> pd.DataFrame:
    """Long table (attribute, group, ndcg) from :func:`evaluate_population`'s output."""
    rows = [
        {"attribute": a, "group": g, "ndcg": v} for a, vals in result.get("ndcg_by_group", {}).items() for g, v in vals.items()
    ]
    return pd.DataFrame(rows, columns=["attribute", "group", "ndcg"])


def sweep(
    ctx: RerankContext,
    pop: Population,
    *,
    weights: Sequence[float] = SWEEP_WEIGHTS,
    terms: Sequence[str] = SWEEP_TERMS,
    k: int = 10,
    group: FairGroup | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """λ-sweep: one row per (term, weight) with the other weights 0. Columns: term,
    weight, ndcg@k, ild, long_tail_share, miscalibration, avg_popularity, coverage, gini,
    group_share, seconds (re-ranking time of the whole population)."""
    import time

    rows = []
    base: dict | None = None
    total = len(terms) * len(weights)
    for ti, term in enumerate(terms):
        if term not in SWEEP_TERMS:
            raise DataError(f"unknown re-ranking term {term!r} (known: {', '.join(SWEEP_TERMS)})")
        for wi, w in enumerate(weights):
            wts = Weights(**{term: float(w)})
            t0 = time.perf_counter()
            if wts.is_zero and base is not None:
                res, secs = base, base["_seconds"]
            else:
                res = evaluate_population(ctx, pop, wts, k, group)
                secs = time.perf_counter() - t0
                res["_seconds"] = secs
                if wts.is_zero:
                    base = res
            row = {"term": term, "weight": float(w)}
            row.update({m: v for m, v in res.items() if isinstance(v, float) and not m.startswith("_")})
            row["seconds"] = secs
            rows.append(row)
            if progress is not None:
                progress((ti * len(weights) + wi + 1) / total, f"re-ranking sweep {term}={w:g}")
    return pd.DataFrame(rows)


def save_sweep(df: pd.DataFrame, model_dir: str | Path, meta: dict | None = None) -> Path:
    """Write the sweep table beside a model as JSON (``rerank_sweep.json``)."""
    path = Path(model_dir) / SWEEP_FILE
    payload = {"meta": meta or {}, "rows": df.to_dict(orient="records")}
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
    return path


def load_sweep(model_dir: str | Path) -> pd.DataFrame | None:
    """The sweep table stored beside a model, or None when there is none (or it is damaged)."""
    path = Path(model_dir) / SWEEP_FILE
    if not path.is_file():
        return None
    try:
        return pd.DataFrame(json.loads(path.read_text())["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
