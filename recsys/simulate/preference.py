"""The simulated users' *true* preferences, which the policies are graded against.

Two sources, never the policy's own scores (the model must not be graded against
itself):

* ``demo-truth`` — the demo world's planted user model (``ds.truth``, a
  :class:`~recsys.data.demo.DemoTruth` or a scale world's ``ScaleTruth``). A reader's
  taste is the shelves of their current (last) interest phase; the generator draws a
  fraction ``noise`` of picks from any shelf. So

      pref(u, i) = noise + (1 − noise − ι) · match(u, i) + ι · ε(u, i)

  with ``match`` the share of the item's shelf mass on the reader's current shelves
  (``θ_u · c_i`` with θ_u = 1 on those shelves, ``c_i`` the item's category mix) and ε
  an idiosyncratic per-(user, item) taste drawn uniformly from [0, 1) on the user's own
  random stream (ι = 0.2), so that two books of the same shelf are not exactly tied.
* ``ease`` — for data without planted truth (e.g. MovieLens): an EASE model (λ = 100,
  closed form) fitted on the training interactions of the leave-one-out split — a
  different model family from the policy. The user's EASE scores of their whole history
  are turned into a percentile p ∈ [0, 1] among all items and ``pref = p ** γ``
  (γ = 8: the top 1% of items ≈ 0.92, the top 10% ≈ 0.43, the median ≈ 0.004).

**Drift.** Consuming item j moves the user's preferences towards it:

    pref(u, ·) ← (1 − η) · pref(u, ·) + η · aff(j, ·)

with step size η (default 0.05 per consumed item) and ``aff(j, i)`` the cosine of the
two items' category vectors (in [0, 1]; items without categories use their text
embeddings' cosine, clipped at 0). After 20 clicks a user keeps (0.95)²⁰ ≈ 36% of
their starting preferences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from recsys.data.types import DataError
from recsys.seeds import user_rng

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset

IDIOSYNCRATIC = 0.2
EASE_GAMMA = 8.0
DEFAULT_DRIFT = 0.05
PREFERENCE_KINDS = ("demo-truth", "ease")
MAX_CELLS = 60_000_000  # users × items of the dense preference matrix (~240 MB float32)


@dataclass(frozen=True, eq=False)
class Preferences:
    """Starting true preferences of the simulated users and the drift rule."""

    kind: str  # "demo-truth" or "ease"
    description: str
    base: np.ndarray  # (U, n_items) float32 in [0, 1]
    affinity_features: np.ndarray  # (n_items, F) float32, non-negative unit rows (or 0)
    clip_affinity: bool  # True when features may have negative cosines (text embeddings)
    drift: float

    def to_dict(self) -> dict:
        return {"kind": self.kind, "description": self.description, "drift": self.drift}

    def affinity(self, items: np.ndarray) -> np.ndarray:
        """(len(items), n_items) affinity of each item in ``items`` to every item, in [0, 1]."""
        a = self.affinity_features[np.asarray(items, dtype=np.int64)] @ self.affinity_features.T
        return np.clip(a, 0.0, 1.0) if self.clip_affinity else np.minimum(a, 1.0)

    def drift_towards(self, pref: np.ndarray, rows: np.ndarray, items: np.ndarray) -> None:
        """In place: rows ``rows`` of ``pref`` move a step η towards ``items`` (one per row)."""
        if self.drift <= 0 or len(rows) == 0:
            return
        pref[rows] = (1.0 - self.drift) * pref[rows] + self.drift * self.affinity(items).astype(np.float32)


def _affinity_features(ds: Dataset, emb: np.ndarray | None) -> tuple[np.ndarray, bool]:
    cm = np.asarray(ds.category_matrix, dtype=np.float32)
    has = cm.sum(axis=1) > 0
    if (cm.shape[1] and has.mean() >= 0.5) or emb is None:
        norms = np.linalg.norm(cm, axis=1, keepdims=True)
        return np.divide(cm, norms, out=np.zeros_like(cm), where=norms > 0), False
    e = np.asarray(emb, dtype=np.float32)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return np.divide(e, norms, out=np.zeros_like(e), where=norms > 0), True


def _check_size(n_users: int, n_items: int) -> None:
    if n_users * n_items > MAX_CELLS:
        raise DataError(f"simulating {n_users} users over {n_items} items needs a {n_users}×{n_items} preference "
                        f"matrix; use fewer --users (at most {max(MAX_CELLS // max(n_items, 1), 2)})")


def demo_truth_preferences(
    ds: Dataset, users: np.ndarray, seed: int, drift: float = DEFAULT_DRIFT, emb: np.ndarray | None = None
) -> Preferences:
    """``demo-truth`` preferences of ``users`` (row indices of ``ds``); see the module doc."""
    truth = ds.truth
    if truth is None or not hasattr(truth, "phases"):
        raise DataError(f"{ds.source} has no planted ground truth (only the demo worlds do)")
    _check_size(len(users), ds.n_items)
    cats = {c: j for j, c in enumerate(ds.categories)}
    cm = np.asarray(ds.category_matrix, dtype=np.float32)
    theta = np.zeros((len(users), len(cats)), dtype=np.float32)
    for r, u in enumerate(users):
        phases = truth.phases.get(ds.user_ids[int(u)]) or []
        if phases:
            for c in phases[-1].categories:
                if c in cats:
                    theta[r, cats[c]] = 1.0
    noise = float(getattr(truth, "noise", 0.1))
    match = theta @ cm.T  # (U, I): share of the item's shelf mass on the current shelves
    eps = np.stack([user_rng(seed, ds.user_ids[int(u)], "simulate/taste").random(ds.n_items, dtype=np.float32)
                    for u in users]) if len(users) else np.zeros((0, ds.n_items), np.float32)
    base = (noise + (1.0 - noise - IDIOSYNCRATIC) * match + IDIOSYNCRATIC * eps).astype(np.float32)
    feats, clip = _affinity_features(ds, emb)
    return Preferences("demo-truth", "the demo world's planted reader model (current shelves, noise "
                       f"{noise:g}, idiosyncratic share {IDIOSYNCRATIC:g})", base, feats, clip, float(drift))


def ease_preferences(
    ds: Dataset, users: np.ndarray, histories: Sequence[np.ndarray], drift: float = DEFAULT_DRIFT,
    emb: np.ndarray | None = None,
) -> Preferences:
    """``ease`` preferences: percentile of an EASE model's scores, raised to γ (module doc)."""
    from recsys.evaluation.baselines import EASE
    from recsys.evaluation.split import leave_one_out

    _check_size(len(users), ds.n_items)
    model = EASE().fit(leave_one_out(ds), "test")
    n = ds.n_items
    base = np.zeros((len(users), n), dtype=np.float32)
    for start in range(0, len(users), 512):
        s = model.score(list(histories[start : start + 512]))
        order = np.argsort(-s, axis=1, kind="stable")
        pct = np.empty_like(s)
        np.put_along_axis(pct, order, np.linspace(1.0, 0.0, n, dtype=np.float32)[None, :].repeat(len(s), 0), axis=1)
        base[start : start + len(s)] = pct ** EASE_GAMMA
    feats, clip = _affinity_features(ds, emb)
    return Preferences("ease", f"an independent EASE model (λ = 100) fitted on the training interactions, "
                       f"percentile^{EASE_GAMMA:g}", base, feats, clip, float(drift))


def build_preferences(
    ds: Dataset, users: np.ndarray, histories: Sequence[np.ndarray], seed: int, *,
    kind: str | None = None, drift: float = DEFAULT_DRIFT, emb: np.ndarray | None = None,
) -> Preferences:
    """The true preferences of ``users``: ``demo-truth`` where the data has planted truth,
    else ``ease`` (or the ``kind`` asked for)."""
    if not (0.0 <= drift <= 1.0):
        raise DataError(f"drift step must be between 0 and 1, not {drift!r}")
    if kind is None:
        kind = "demo-truth" if getattr(ds.truth, "phases", None) is not None else "ease"
    if kind == "demo-truth":
        return demo_truth_preferences(ds, users, seed, drift, emb)
    if kind == "ease":
        return ease_preferences(ds, users, histories, drift, emb)
    raise DataError(f"unknown preference model {kind!r} (known: {', '.join(PREFERENCE_KINDS)})")
