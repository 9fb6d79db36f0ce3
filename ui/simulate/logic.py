"""Long-term lab logic (no streamlit): run settings, result tables, export, timelines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.rerank import Weights
from recsys.simulate import ROUND_METRICS, SimConfig, SimulationResult

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset

METRIC_LABELS = {
    "homogenization": "Homogenization (Δ Jaccard vs round 0)",
    "jaccard_new": "Overlap of simulated consumption (Jaccard)",
    "gini_consumption": "Gini of consumption",
    "gini_exposure": "Gini of exposure",
    "coverage": "Catalogue coverage",
    "long_tail_share": "Long-tail share",
    "ild": "ILD (list diversity)",
    "miscalibration": "Miscalibration (KL)",
    "satisfaction": "Satisfaction (chosen-item preference)",
    "ctr": "Click-through",
    "utility": "Utility (vs oracle)",
}
SHORT_LABELS = {"homogenization": "Homogenization", "gini_consumption": "Consumption Gini", "utility": "Utility",
                "ctr": "Click-through", "coverage": "Coverage", "ild": "ILD"}
CURVE_METRICS = (*ROUND_METRICS[:1], "jaccard_new", *ROUND_METRICS[1:])
POLICY_LABELS = {"model": "Model", "random": "Random", "popular": "Most popular", "oracle": "Oracle"}
#: the extra weight settings of the small-multiples view (model policy only)
COMPARE_SETTINGS = (Weights(diversity=0.5), Weights(calibration=0.5), Weights(fairness=0.5))


def weights_label(w: Weights) -> str:
    """``"weights 0"`` or e.g. ``"diversity 0.5 · fairness 0.2"``."""
    parts = [f"{n} {v:g}" for n, v in w.to_dict().items() if v]
    return " · ".join(parts) if parts else "weights 0"


@dataclass(frozen=True)
class RunSpec:
    """One Long-term lab run: the main setting (all chosen policies) and, for the small
    multiples, extra weight settings run for the model policy only."""

    data_key: str  # the dataset's content key (base fingerprint + event-log position)
    model_key: str
    policies: tuple[str, ...]
    rounds: int
    users: int
    k: int
    weights: Weights
    seed: int = 0
    compare: tuple[Weights, ...] = ()

    def key(self) -> str:
        return json.dumps({"data": self.data_key, "model": self.model_key, "policies": self.policies,
                           "rounds": self.rounds, "users": self.users, "k": self.k, "w": self.weights.to_dict(),
                           "seed": self.seed, "compare": [w.to_dict() for w in self.compare]}, sort_keys=True)

    def configs(self) -> dict[str, SimConfig]:
        """{setting label: config}; the main setting first."""
        out = {weights_label(self.weights): SimConfig(rounds=self.rounds, users=self.users, k=self.k,
                                                      weights=self.weights, policies=self.policies, seed=self.seed)}
        for w in self.compare:
            label = weights_label(w)
            if label not in out:
                out[label] = SimConfig(rounds=self.rounds, users=self.users, k=self.k, weights=w,
                                       policies=("model",), seed=self.seed)
        return out


def long_table(results: Mapping[str, SimulationResult]) -> pd.DataFrame:
    """One row per (setting, policy, round, metric): the CSV export and the charts' input."""
    rows = []
    for setting, res in results.items():
        for pol, run in res.policies.items():
            for r in run.rounds:
                for m in CURVE_METRICS:
                    v = r.get(m)
                    rows.append({"setting": setting, "policy": pol, "round": int(r["round"]), "metric": m,
                                 "value": None if v is None else float(v)})
    return pd.DataFrame(rows, columns=["setting", "policy", "round", "metric", "value"])


def final_table(results: Mapping[str, SimulationResult]) -> pd.DataFrame:
    """Final-round values: one row per (setting, policy), one column per metric."""
    rows = []
    for setting, res in results.items():
        for pol, run in res.policies.items():
            last = run.rounds[-1]
            rows.append({"setting": setting, "policy": POLICY_LABELS.get(pol, pol),
                         **{METRIC_LABELS[m]: last.get(m) for m in CURVE_METRICS}})
    return pd.DataFrame(rows)


def group_table(res: SimulationResult, policy: str) -> pd.DataFrame:
    """Satisfaction per user group at the final round (attribute, group, satisfaction)."""
    last = res.policies[policy].rounds[-1].get("satisfaction_by_group") or {}
    rows = [{"attribute": a, "group": g, "satisfaction": v} for a, vals in last.items() for g, v in vals.items()]
    return pd.DataFrame(rows, columns=["attribute", "group", "satisfaction"])


def primary_category(ds: Dataset, item: int) -> str:
    cats = ds.item_categories[int(item)]
    return cats[0] if cats else "(none)"


def user_timeline(ds: Dataset, res: SimulationResult, user: str, n_real: int = 20) -> pd.DataFrame:
    """The user's last ``n_real`` real interactions (steps −n+1..0) and, per policy, the
    item chosen in each simulated round (steps 1..T; no click = no row). Columns: step,
    source ("real history" or the policy), item_id, title, category."""
    r = res.users.index(user)
    items = ds.sequence(ds.user_index(user))[0][-n_real:]
    rows = [{"step": int(s), "source": "real history", "item_id": ds.item_ids[int(i)], "title": ds.titles[int(i)],
             "category": primary_category(ds, int(i))}
            for s, i in zip(range(1 - len(items), 1), items)]
    for pol, run in res.policies.items():
        for t, i in enumerate(run.choices[r].tolist(), start=1):
            if i >= 0:
                rows.append({"step": t, "source": POLICY_LABELS.get(pol, pol), "item_id": ds.item_ids[i],
                             "title": ds.titles[i], "category": primary_category(ds, i)})
    return pd.DataFrame(rows, columns=["step", "source", "item_id", "title", "category"])


def category_shift(ds: Dataset, res: SimulationResult, user: str) -> pd.DataFrame:
    """Category mix of the user's real history against the items chosen under each policy
    (columns: source, category, share)."""
    r = res.users.index(user)
    cm = ds.category_matrix
    parts: list[tuple[str, np.ndarray]] = [("real history", ds.sequence(ds.user_index(user))[0])]
    for pol, run in res.policies.items():
        ch = run.choices[r]
        parts.append((POLICY_LABELS.get(pol, pol), ch[ch >= 0]))
    rows = []
    for source, items in parts:
        mass = cm[np.asarray(items, dtype=np.int64)].sum(axis=0) if len(items) else np.zeros(cm.shape[1])
        tot = float(mass.sum())
        for c, v in zip(ds.categories, mass):
            if v > 0:
                rows.append({"source": source, "category": c, "share": float(v) / tot})
    return pd.DataFrame(rows, columns=["source", "category", "share"])


def describe_preference(pref: Mapping[str, Any]) -> str:
    kind = pref.get("kind")
    if kind == "demo-truth":
        return ("True preferences come from the demo world's planted reader model (each reader's current "
                f"shelves), not from the recommender; they drift {pref.get('drift', 0):g} towards each chosen item.")
    return ("True preferences come from an independent EASE model fitted on the training interactions (this data "
            f"has no planted ground truth); they drift {pref.get('drift', 0):g} towards each chosen item. The "
            "oracle ranks by that model.")


def settings_text(spec: RunSpec, sample: SimulationResult) -> str:
    return (f"{len(sample.users)} simulated users × {spec.rounds} rounds, top-{spec.k} lists, seed {spec.seed}; "
            f"policies {', '.join(spec.policies)}; re-ranking weights {weights_label(spec.weights)}.")


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def metric_options(policies: Sequence[str]) -> list[str]:
    return list(CURVE_METRICS)
