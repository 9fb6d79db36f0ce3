"""Simulate the feedback loop: what a ranking policy does to users and catalogue over rounds.

``simulate --data SRC [--model DIR] --rounds T --users N [-k 10] [--diversity W
--calibration W --fairness W] [--policies model,random,popular] [--seed S] --json``
-> ``{"policies": {NAME: {"rounds": [{"round", "homogenization", "gini_consumption",
"gini_exposure", "coverage", "long_tail_share", "ild", "miscalibration", "satisfaction",
"ctr", "utility", "jaccard", "jaccard_new", "satisfaction_by_group"}, …]}},
"preference", "settings", "data", "users", "elapsed_s"}``; round 0 is the state before
the first recommendation (list metrics are null there). Every round each user gets a
top-k list from the policy (``model``: the trained model through the re-ranker at the
given weights), picks one item or none by their true preference (the demo world's
planted truth, else an independent EASE model: ``"preference"`` says which), the pick
joins their history and their preferences drift towards it (:mod:`recsys.simulate`).
Policies: ``model``, ``random``, ``popular``, ``oracle``. Progress on stderr unless
``--json`` or ``--no-progress``. The sequence model reads each user's grown history at
inference time; ``--retrain-every R`` also trains it further (``--retrain-epochs E``
epochs from the current artifact) on the log grown by the simulated choices after every
R rounds (``"retrained_at"`` lists those rounds).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recsys.commands.options import add_min_count, load_data, load_model
from recsys.data.types import DataError
from recsys.rerank import add_rerank_arguments, rerank_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recsys.simulate import DEFAULT_DRIFT, DEFAULT_POLICIES, PREFERENCE_KINDS
    from recsys.simulate.retrain import DEFAULT_RETRAIN_EPOCHS

    parser.add_argument("--model", default=None, metavar="DIR",
                        help="trained artifact (default: $RECSYS_HOME/models/<data fingerprint>)")
    parser.add_argument("--rounds", type=int, default=20, metavar="T", help="recommendation rounds (default 20)")
    parser.add_argument("--users", type=int, default=600, metavar="N",
                        help="simulated users, drawn by a seeded per-user key (default 600; all if fewer)")
    parser.add_argument("-k", type=int, default=10, help="list length (default 10)")
    parser.add_argument("--policies", default=",".join(DEFAULT_POLICIES), metavar="P,P,...",
                        help="comma-separated policies: model, random, popular, oracle (default "
                             f"{','.join(DEFAULT_POLICIES)})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--drift", type=float, default=DEFAULT_DRIFT, metavar="ETA",
                        help=f"preference drift step per consumed item, in [0, 1] (default {DEFAULT_DRIFT:g})")
    parser.add_argument("--preference", choices=PREFERENCE_KINDS, default=None,
                        help="true-preference model (default: demo-truth where the data has planted truth, else ease)")
    parser.add_argument("--retrain-every", type=int, default=0, metavar="R",
                        help="retrain the model (--init-from the current one) on the log grown by the simulated "
                             "choices after every R rounds (default 0: never; the model reads the grown histories "
                             "at inference either way)")
    parser.add_argument("--retrain-epochs", type=int, default=DEFAULT_RETRAIN_EPOCHS, metavar="E",
                        help=f"epochs of each retraining (default {DEFAULT_RETRAIN_EPOCHS})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_min_count(parser)
    add_rerank_arguments(parser)  # --diversity/--calibration/--fairness W, --fair-group, --candidates


def parse_policies(text: str) -> tuple[str, ...]:
    from recsys.simulate import POLICIES

    names = tuple(p.strip().lower() for p in str(text).split(",") if p.strip())
    if not names:
        raise DataError(f"--policies: no policy given (choose from: {', '.join(POLICIES)})")
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise DataError(f"--policies: unknown policy {bad[0]!r} (choose from: {', '.join(POLICIES)})")
    if len(set(names)) != len(names):
        raise DataError("--policies: a policy is listed twice")
    return names


def _text(res: Any) -> str:
    from recsys.simulate import ROUND_METRICS

    lines = [f"{len(res.users)} users, {res.config.rounds} rounds, k={res.config.k}; true preference: "
             f"{res.preference['kind']} ({res.preference['description']})",
             "final round: " + "  ".join(ROUND_METRICS)]
    for name, run in res.policies.items():
        vals = ["-" if run.final(m) is None else f"{run.final(m):.4f}" for m in ROUND_METRICS]
        lines.append(f"{name:8s} " + "  ".join(vals))
    for name, run in res.policies.items():
        if run.retrained_at:
            lines.append(f"{name} retrained after round(s) {', '.join(map(str, run.retrained_at))}")
    lines.append(f"{res.elapsed_s:.1f} s")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.commands.train import progress_bar
    from recsys.simulate import SimConfig, simulate

    weights, group, n_cand = rerank_options(args)
    cfg = SimConfig(rounds=args.rounds, users=args.users, k=args.k, weights=weights, group=group,
                    policies=parse_policies(args.policies), seed=args.seed, n_candidates=n_cand,
                    drift=args.drift, preference=args.preference, retrain_every=args.retrain_every,
                    retrain_epochs=args.retrain_epochs)
    cfg.check()  # bad numbers fail before the data and the model are loaded
    if not 0.0 <= args.drift <= 1.0:
        raise DataError(f"--drift must be between 0 and 1, not {args.drift:g}")
    ds = load_data(args)
    scorer = load_model(ds, args.model) if "model" in cfg.policies else None
    if group.kind == "category" and group.category not in ds.categories:
        raise DataError(f"--fair-group: unknown category {group.category!r}")
    model_dir = None
    if scorer is not None and cfg.retrain_every:
        from recsys.updates import resolve_model_dir

        model_dir = Path(args.model) if args.model else resolve_model_dir(ds)
    progress, close = progress_bar(not (args.json or args.no_progress))
    try:
        res = simulate(ds, scorer, cfg, progress=progress, model_dir=model_dir)
    finally:
        close()
    out = res.to_json()
    out["_text"] = _text(res)
    return out
