"""Fairness-lab numbers (pure: no streamlit): reading points off a λ-sweep table.

A sweep (``recsys.rerank.sweep`` or ``sweep_from_table``) has one row per (term,
weight) with the other weights 0. When the population numbers come from a serving
table, the page has the sweep but not an evaluation at arbitrary weights, so the
current setting is marked only when it is one of the sweep's points.
"""

from __future__ import annotations

import math

import pandas as pd

from recsys.rerank import Weights

TERMS = ("diversity", "calibration", "fairness")


def _row(sweep: pd.DataFrame, term: str | None, weight: float) -> dict[str, float] | None:
    if sweep.empty or not {"term", "weight"} <= set(sweep.columns):
        return None
    rows = sweep.loc[sweep["weight"].astype(float).sub(weight).abs() < 1e-9]
    if term is not None:
        rows = rows.loc[rows["term"] == term]
    if rows.empty:
        return None
    rec = rows.iloc[0].to_dict()
    return {str(k): float(v) for k, v in rec.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v)) and k != "weight"}  # fmt: skip


def sweep_base(sweep: pd.DataFrame) -> dict[str, float] | None:
    """The population metrics at all weights 0 (the model's own order), if swept."""
    return _row(sweep, None, 0.0)


def sweep_point(sweep: pd.DataFrame, weights: Weights) -> dict[str, float] | None:
    """The population metrics at ``weights`` when the sweep has that point: all weights 0,
    or exactly one term non-zero at one of the swept weights; else None."""
    vals = {t: float(getattr(weights, t)) for t in TERMS}
    nonzero = [t for t, v in vals.items() if v > 0]
    if not nonzero:
        return sweep_base(sweep)
    if len(nonzero) > 1:
        return None
    return _row(sweep, nonzero[0], vals[nonzero[0]])
