"""The closed feedback loop: recommend, choose, append, drift — round after round.

:func:`simulate` runs each policy on its own copy of the same starting world:

1. **Recommend.** Every simulated user gets a top-k list. ``model``: the trained model
   scores the user's *current* history (real history + everything chosen in the
   simulation so far; the sequence model reads it at inference, no retraining), the
   top-N candidates go through the Lab's re-ranker (:func:`recsys.rerank.rerank_batch`,
   same weights and fairness group) — scored in batches, and only for users whose
   history changed since the last round. ``random``: k unseen items uniformly.
   ``popular``: the k most popular unseen items (training popularity). ``oracle``: the
   k unseen items of highest true preference. Seen items are never recommended.
2. **Choose.** Each user picks one item or nothing (:class:`ChoiceModel`) according to
   their true preference (:mod:`recsys.simulate.preference`).
3. **Append and drift.** The choice joins the user's history (time-stamped one round
   after their previous round) and the user's preferences drift towards it.
4. **Optionally retrain** (``retrain_every`` R > 0): after every R-th round the model is
   trained ``retrain_epochs`` more epochs from its current artifact on the log grown by
   the simulated choices (:mod:`recsys.simulate.retrain`), then every user is rescored.

Randomness: each (user, policy) has its own stream (:func:`recsys.seeds.user_rng` with
purpose ``simulate/<policy>``) that draws the choice (and the random policy's list), so
a policy's trajectory is the same whichever other policies run beside it, and a user's
trajectory does not depend on the other users' draws.

Metrics per round (round 0 = before the first recommendation; list metrics are ``None``
there):

* ``homogenization`` — mean pairwise Jaccard overlap of the users' consumed sets (real
  history + simulated choices) over a fixed set of user pairs (all pairs up to 200,000,
  else a seeded sample) minus its round-0 value; ``jaccard`` is the raw mean and
  ``jaccard_new`` the same over the items consumed *during the simulation* only (Chaney
  et al.'s view: 0 at round 0; it is not diluted by the real histories, so it separates
  policies more sharply).
* ``gini_consumption`` — Gini of how often each item has been consumed (consumed sets).
* ``gini_exposure``, ``coverage`` — Gini of how often each item is recommended this
  round, and the share of the catalogue recommended this round.
* ``long_tail_share``, ``ild``, ``miscalibration`` — the Lab's list metrics, averaged
  over this round's lists (miscalibration against the user's current history).
* ``satisfaction`` — mean true preference of the chosen items (clicks only; ``None``
  when nobody clicked); ``satisfaction_by_group`` the same per user attribute value.
* ``ctr`` — share of users who chose an item.
* ``utility`` — expected true preference of the choice (no click = 0) under the
  policy's lists, over the same for the oracle's lists *in the same state* (the
  policy's users, histories and drifted preferences); the oracle's utility is 1.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from recsys.data.types import DataError
from recsys.evaluation.metrics import coverage, exposure_gini, gini
from recsys.rerank.context import RerankContext, build_context
from recsys.rerank.core import DEFAULT_CANDIDATES, rerank_batch, select_candidates
from recsys.rerank.metrics import list_metrics_batch
from recsys.rerank.population import user_groups
from recsys.rerank.weights import FairGroup, Weights
from recsys.seeds import user_rng, user_seed
from recsys.simulate.choice import ChoiceModel
from recsys.simulate.preference import DEFAULT_DRIFT, Preferences, build_preferences
from recsys.simulate.retrain import DEFAULT_RETRAIN_EPOCHS
from recsys.simulate.world import World, topk_masked, user_pairs

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset
    from recsys.models.base import Scorer

POLICIES = ("model", "random", "popular", "oracle")
DEFAULT_POLICIES = ("model", "random", "popular")
ROUND_METRICS = ("homogenization", "gini_consumption", "gini_exposure", "coverage", "long_tail_share", "ild",
                 "miscalibration", "satisfaction", "ctr", "utility")
SCORE_BATCH = 256
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class SimConfig:
    """Settings of one simulation (all validated by :meth:`check`)."""

    rounds: int = 20
    users: int = 600
    k: int = 10
    weights: Weights = field(default_factory=Weights)
    group: FairGroup = field(default_factory=FairGroup)
    policies: tuple[str, ...] = DEFAULT_POLICIES
    seed: int = 0
    n_candidates: int = DEFAULT_CANDIDATES
    drift: float = DEFAULT_DRIFT
    choice: ChoiceModel = field(default_factory=ChoiceModel)
    preference: str | None = None  # None: demo-truth where planted, else ease
    retrain_every: int = 0  # retrain the model every R rounds on the grown log (0 = never)
    retrain_epochs: int = DEFAULT_RETRAIN_EPOCHS

    def check(self) -> SimConfig:
        if self.rounds < 1:
            raise DataError(f"--rounds must be at least 1, not {self.rounds}")
        if self.users < 2:
            raise DataError(f"--users must be at least 2 (homogenization compares pairs), not {self.users}")
        if self.k < 1:
            raise DataError(f"-k must be at least 1, not {self.k}")
        if self.n_candidates < 1:
            raise DataError(f"--candidates must be at least 1, not {self.n_candidates}")
        if not self.policies:
            raise DataError("no policy to simulate (choose from: " + ", ".join(POLICIES) + ")")
        bad = [p for p in self.policies if p not in POLICIES]
        if bad:
            raise DataError(f"unknown policy {bad[0]!r} (known: {', '.join(POLICIES)})")
        if len(set(self.policies)) != len(self.policies):
            raise DataError("a policy is listed twice in --policies")
        if self.retrain_every < 0:
            raise DataError(f"--retrain-every must be 0 (never) or more, not {self.retrain_every}")
        if self.retrain_epochs < 1:
            raise DataError(f"--retrain-epochs must be at least 1, not {self.retrain_epochs}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "users": self.users, "k": self.k, "weights": self.weights.to_dict(),
                "fair_group": self.group.spec, "policies": list(self.policies), "seed": self.seed,
                "candidates": self.n_candidates, "drift": self.drift, "retrain_every": self.retrain_every,
                "retrain_epochs": self.retrain_epochs,
                "choice": {"beta": self.choice.beta, "no_click": self.choice.no_click}}


@dataclass(frozen=True, eq=False)
class PolicyRun:
    """One policy's trajectory: per-round metrics, choices and lists."""

    name: str
    rounds: list[dict[str, Any]]
    choices: np.ndarray  # (U, T) int64 chosen item per round, -1 = no click
    lists: np.ndarray  # (U, T, k) int32 recommended lists, -1 = padding
    retrained_at: tuple[int, ...] = ()  # rounds after which the model was retrained

    def final(self, metric: str) -> float | None:
        return self.rounds[-1].get(metric)


@dataclass(frozen=True, eq=False)
class SimulationResult:
    config: SimConfig
    users: tuple[str, ...]  # external ids of the simulated users (row order of choices/lists)
    preference: dict[str, Any]
    policies: dict[str, PolicyRun]
    elapsed_s: float
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``simulate --json`` object: ``{"policies": {name: {"rounds": [...]}},
        "elapsed_s", "preference", "settings", "users"}``."""
        return {
            "policies": {name: {"rounds": run.rounds, **({"retrained_at": list(run.retrained_at)}
                                                          if run.retrained_at else {})}
                         for name, run in self.policies.items()},
            "preference": self.preference,
            "settings": self.config.to_dict(),
            "data": self.source,
            "users": len(self.users),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def pick_users(ds: Dataset, n: int, seed: int) -> np.ndarray:
    """``n`` user rows of ``ds`` (all when it has fewer): those with the smallest per-user
    key ``user_seed(seed, id, "simulate/users")``, so a larger ``n`` only adds users."""
    keys = np.fromiter((user_seed(seed, uid, "simulate/users") for uid in ds.user_ids), dtype=np.uint64,
                       count=ds.n_users)
    order = np.argsort(keys, kind="stable")
    return np.sort(order[: min(n, ds.n_users)]).astype(np.int64)


class _ModelPolicy:
    """Model scores → top-N candidates → the Lab's re-ranker; rescoring only changed users."""

    def __init__(self, scorer: Scorer, ctx: RerankContext, cfg: SimConfig, n_users: int) -> None:
        self.scorer, self.ctx, self.cfg = scorer, ctx, cfg
        n = min(cfg.n_candidates, ctx.n_items)
        self.cand_items = np.full((n_users, n), -1, dtype=np.int64)
        self.cand_scores = np.full((n_users, n), -np.inf)
        self.dirty = np.ones(n_users, dtype=bool)
        self.score_seconds = 0.0

    def lists(self, world: World, hist_dist: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(self.dirty)
        t0 = time.perf_counter()
        for s in range(0, len(rows), SCORE_BATCH):
            rb = rows[s : s + SCORE_BATCH]
            hb = [world.hist[r] for r in rb]
            scores = np.asarray(self.scorer.score(hb, [world.ts[r] for r in rb]), dtype=np.float64)
            ci, cs = select_candidates(scores, hb, self.cand_items.shape[1])
            self.cand_items[rb, : ci.shape[1]], self.cand_scores[rb, : cs.shape[1]] = ci, cs
        self.score_seconds += time.perf_counter() - t0
        self.dirty[:] = False
        return rerank_batch(self.ctx, self.cand_items, self.cand_scores, hist_dist, self.cfg.weights, self.cfg.k,
                            self.cfg.group).items


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _round_zero(world: World) -> dict[str, Any]:
    row: dict[str, Any] = {"round": 0, **{m: None for m in ROUND_METRICS}}
    j0 = world.jaccard()
    row.update(homogenization=0.0, jaccard=j0, jaccard_new=0.0, gini_consumption=gini(world.counts),
               satisfaction_by_group={})
    return row


def _reference_lists(name: str, world: World, rngs: list[np.random.Generator], pop_key: np.ndarray,
                     k: int) -> np.ndarray:
    """The random, most-popular or oracle lists of this round (seen items excluded)."""
    n_users, n_items = world.consumed.shape
    if name == "random":
        return topk_masked(np.stack([g.random(n_items) for g in rngs]), world.consumed, k)
    if name == "popular":
        return topk_masked(np.broadcast_to(pop_key, (n_users, n_items)), world.consumed, k)
    return topk_masked(world.pref, world.consumed, k)  # oracle


def _choose_and_measure(
    name: str, ctx: RerankContext, cfg: SimConfig, world: World, lists: np.ndarray, hist_dist: np.ndarray,
    uniforms: np.ndarray, groups: dict[str, np.ndarray],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Every user's choice from ``lists`` ((U,), -1 = none) and the round's list and
    choice metrics (the consumption metrics follow after the choices are applied)."""
    n_users, k, n_items = lists.shape[0], cfg.k, ctx.n_items
    rows_all = np.arange(n_users)
    valid = lists >= 0
    lp = np.where(valid, world.pref[rows_all[:, None], np.maximum(lists, 0)], 0.0)
    pick = cfg.choice.choose(cfg.choice.probabilities(lp, valid), uniforms)
    clicked = pick < k
    chosen = np.where(clicked, lists[rows_all, np.minimum(pick, k - 1)], -1)
    chosen_pref = lp[rows_all, np.minimum(pick, k - 1)]
    eu = cfg.choice.expected_preference(lp, valid)
    if name == "oracle":
        eu_best = eu
    else:  # the oracle's lists for the same users in the same state
        ol = topk_masked(world.pref, world.consumed, k)
        ov = ol >= 0
        eu_best = cfg.choice.expected_preference(np.where(ov, world.pref[rows_all[:, None], np.maximum(ol, 0)], 0.0),
                                                 ov)
    per = list_metrics_batch(ctx, lists, hist_dist)
    best = float(eu_best.mean())
    row: dict[str, Any] = {
        "gini_exposure": exposure_gini(lists, n_items),
        "coverage": coverage(lists, n_items),
        "long_tail_share": float(per["long_tail_share"].mean()),
        "ild": float(per["ild"].mean()),
        "miscalibration": float(per["miscalibration"].mean()),
        "satisfaction": _mean(chosen_pref[clicked]),
        "ctr": float(clicked.mean()),
        "utility": float(eu.mean()) / best if best > 0 else None,
        "satisfaction_by_group": {
            attr: {str(g): _mean(chosen_pref[clicked & (labels == g)]) for g in sorted(np.unique(labels))}
            for attr, labels in groups.items()
        },
    }
    return chosen, row


def _run_policy(
    name: str, ds: Dataset, scorer: Scorer | None, ctx: RerankContext, cfg: SimConfig, users: np.ndarray,
    hist: list[np.ndarray], ts: list[np.ndarray], prefs: Preferences, pairs: tuple[np.ndarray, np.ndarray],
    groups: dict[str, np.ndarray], progress: Progress | None, done0: int, total: int,
    model_dir: str | Path | None = None, workdir: str | None = None,
) -> PolicyRun:
    n_users, n_items, k = len(users), ctx.n_items, cfg.k
    world = World(hist, ts, n_items, prefs.base, pairs)
    rngs = [user_rng(cfg.seed, ds.user_ids[int(u)], f"simulate/{name}") for u in users]
    model = None
    if name == "model":
        if scorer is None:
            raise DataError("the model policy needs a trained model")
        model = _ModelPolicy(scorer, ctx, cfg, n_users)
    pop_key = ctx.popularity.astype(np.float64) * (n_items + 1) - np.arange(n_items)  # ties: smaller index first
    rounds = [_round_zero(world)]
    j0 = rounds[0]["jaccard"]
    retrained: list[int] = []
    choices = np.full((n_users, cfg.rounds), -1, dtype=np.int64)
    all_lists = np.full((n_users, cfg.rounds, k), -1, dtype=np.int32)
    for t in range(1, cfg.rounds + 1):
        hist_dist = ctx.history_distribution(world.hist)
        if model is not None:
            lists = model.lists(world, hist_dist)
        else:
            lists = _reference_lists(name, world, rngs, pop_key, k)
        if lists.shape[1] < k:
            lists = np.concatenate([lists, np.full((len(lists), k - lists.shape[1]), -1, dtype=lists.dtype)], axis=1)
        uniforms = np.fromiter((g.random() for g in rngs), dtype=np.float64, count=n_users)
        chosen, row = _choose_and_measure(name, ctx, cfg, world, lists, hist_dist, uniforms, groups)
        row["round"] = t
        choices[:, t - 1] = chosen
        all_lists[:, t - 1] = lists
        changed = world.consume(chosen, t, prefs)
        if model is not None:
            model.dirty[changed] = True
            if cfg.retrain_every and t % cfg.retrain_every == 0 and t < cfg.rounds:
                assert model_dir is not None
                if progress is not None:
                    progress((done0 + t) / total, f"{name}: retraining the model after round {t}")
                model_dir = _retrain_model(model, ds, users, world, cfg, model_dir, t, workdir)
                retrained.append(t)
        jac = world.jaccard()
        row["jaccard"] = jac
        row["homogenization"] = jac - j0
        row["gini_consumption"] = gini(world.counts)
        rounds.append({"round": t, **{m: row.get(m) for m in ROUND_METRICS},
                       "jaccard": jac, "jaccard_new": world.jaccard_new(),
                       "satisfaction_by_group": row["satisfaction_by_group"]})
        if progress is not None:
            progress((done0 + t) / total, f"{name}: round {t}/{cfg.rounds}")
    return PolicyRun(name, rounds, choices, all_lists, tuple(retrained))


def _retrain_model(model: _ModelPolicy, ds: Dataset, users: np.ndarray, world: World, cfg: SimConfig,
                   init_from: str | Path, t: int, workdir: str | None) -> Path:
    """Retrain on the grown log, swap the new model into ``model`` (every user rescored)."""
    from recsys.simulate.retrain import grown_dataset, retrain

    assert workdir is not None
    out = Path(workdir) / f"after_round_{t}"
    grown = grown_dataset(ds, users, world.hist, world.ts)
    model.scorer = retrain(grown, init_from, out, seed=cfg.seed, epochs=cfg.retrain_epochs)
    model.dirty[:] = True
    return out


def simulate(
    ds: Dataset,
    scorer: Scorer | None,
    config: SimConfig,
    *,
    ctx: RerankContext | None = None,
    preferences: Preferences | None = None,
    progress: Progress | None = None,
    model_dir: str | Path | None = None,
) -> SimulationResult:
    """Run every policy of ``config`` for ``config.rounds`` rounds over ``config.users``
    users of ``ds`` (see the module doc). ``scorer`` is needed for the ``model`` policy;
    ``ctx`` defaults to :func:`build_context` with the scorer's text embeddings;
    ``model_dir`` (the scorer's artifact) is needed to retrain (``config.retrain_every``)."""
    t0 = time.perf_counter()
    cfg = config.check()
    if cfg.retrain_every and "model" in cfg.policies and model_dir is None:
        raise DataError("retraining during the simulation needs the model's artifact directory")
    emb = getattr(scorer, "text_emb", None)
    if ctx is None:
        ctx = build_context(ds, emb=None if emb is None else np.asarray(emb))
    users = pick_users(ds, cfg.users, cfg.seed)
    if len(users) < 2:
        raise DataError(f"{ds.source} has {len(users)} user(s); the simulation needs at least 2")
    seqs = [ds.sequence(int(u)) for u in users]
    hist = [np.asarray(s[0], dtype=np.int64) for s in seqs]
    ts = [np.asarray(s[1], dtype=np.int64) for s in seqs]
    if preferences is None:
        if progress is not None:
            progress(0.0, "building the users' true preferences")
        preferences = build_preferences(ds, users, hist, cfg.seed, kind=cfg.preference, drift=cfg.drift,
                                        emb=ctx.emb)
    if preferences.base.shape != (len(users), ds.n_items):
        raise DataError(f"preferences have shape {preferences.base.shape}, expected ({len(users)}, {ds.n_items})")
    cfg = replace(cfg, users=len(users), drift=preferences.drift)
    pairs = user_pairs(len(users), cfg.seed)
    groups = user_groups(ds, users)
    runs: dict[str, PolicyRun] = {}
    total = cfg.rounds * len(cfg.policies)
    with tempfile.TemporaryDirectory(prefix="reclens-sim-") as workdir:  # retrained artifacts, removed after
        for p_i, name in enumerate(cfg.policies):
            runs[name] = _run_policy(name, ds, scorer, ctx, cfg, users, hist, ts, preferences, pairs, groups,
                                     progress, p_i * cfg.rounds, total, model_dir, workdir)
    return SimulationResult(cfg, tuple(ds.user_ids[int(u)] for u in users), preferences.to_dict(), runs,
                            time.perf_counter() - t0, ds.source)


def final_values(result: SimulationResult, metrics: Sequence[str] = ROUND_METRICS) -> dict[str, dict[str, Any]]:
    """{policy: {metric: value at the last round}}."""
    return {name: {m: run.rounds[-1].get(m) for m in metrics} for name, run in result.policies.items()}
