"""Precompute every user's candidate pool into the serving table (Ray Data for workers > 1).

``precompute --data SRC [--model DIR] [--workers N] [--address ADDR] [--explain N]
[--pool 200] [--json]`` scores every user of the data with the artifact and writes the
Parquet serving table ``<DIR>/serving`` (:mod:`recsys.serving`): per user the top
``--pool`` items with scores, exactly as ``recommend`` lists them with default options
(seen items excluded), the rank of the held-out test item under the evaluation protocol,
the evaluation candidate pools for the population re-ranking, and with ``--explain N``
SHAP attributions of the top N items — the ``explain`` command's numbers for the same
user, item, ``--seed`` and ``--budget`` (each explanation is seeded on its own, so it
does not depend on chunking).

Resumable per shard (a fixed block of ``--shard-users`` user indices): a rerun keeps
every shard written for the same model, data and options and computes only the rest.

Once every shard is in, the Fairness lab's population trade-offs (the λ-sweep and the
metrics of each of its settings over every evaluated user) are computed from the table in
chunks and stored beside it as ``_population.json`` (:mod:`recsys.precompute.population`;
kept by a rerun of the same job; ``--no-population`` skips it and the app computes them on
its first visit instead).

``--workers 1`` without ``--address`` scores in this process (no Ray); more workers,
``--ray`` or ``--address`` run a Ray Data actor pool (local Ray: ``num_cpus=N``, object
store capped at 512 MiB). Both give the same table. Progress goes to stderr; the JSON
ends with ``users`` (in the table), ``rows``, ``path``, ``users_per_s`` (users scored by
this run per second of wall time, start-up included; null when every shard was kept)
and ``workers``; before them ``first_result_s`` (start-up: Ray and the actors' loading,
until the first scored rows), ``seconds`` (scoring and writing), ``population_s`` (the
stored trade-offs; null when kept or skipped), ``scored_users``, ``shards``/``shards_kept``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from recsys.commands.options import add_min_count, load_data, load_model, resolve_min_count
from recsys.data.types import DataError, Dataset, History
from recsys.precompute.plan import (
    DEFAULT_EXPLAIN_BUDGET,
    DEFAULT_GROUP_USERS,
    DEFAULT_POOL,
    DEFAULT_SHARD_USERS,
    Job,
    local_source,
)

DEFAULT_BATCH_USERS = 256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="trained artifact (default: $RECSYS_HOME/models/<data fingerprint>); "
                             "the table is written to DIR/serving")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="scoring actors (default 1: in this process, without Ray; N > 1: Ray Data)")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="run on this Ray cluster (e.g. ray://head:10001 or auto) instead of a local Ray")
    parser.add_argument("--ray", action="store_true", help="use Ray even for --workers 1")
    parser.add_argument("--explain", type=int, default=0, metavar="N",
                        help="SHAP attributions for each user's top N items (default 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the SHAP explainer (as explain --seed; default 0)")
    parser.add_argument("--budget", type=int, default=DEFAULT_EXPLAIN_BUDGET,
                        help=f"SHAP model evaluations per item (as explain --budget; default {DEFAULT_EXPLAIN_BUDGET})")
    parser.add_argument("--pool", type=int, default=DEFAULT_POOL, metavar="N",
                        help=f"items kept per user (default {DEFAULT_POOL})")
    parser.add_argument("--batch-users", type=int, default=DEFAULT_BATCH_USERS, metavar="N",
                        help=f"users per Ray batch (rounded to whole scoring groups; default {DEFAULT_BATCH_USERS})")
    parser.add_argument("--shard-users", type=int, default=DEFAULT_SHARD_USERS, metavar="N",
                        help=f"users per shard, the unit of resumption (default {DEFAULT_SHARD_USERS})")
    parser.add_argument("--no-population", action="store_true",
                        help="do not store the population trade-offs (the Fairness lab's λ-sweep) with the "
                             "table; the app then computes them on the first visit")
    add_min_count(parser)


def shap_json(ds: Dataset, model: Any, history: History, item: int, *, seed: int, budget: int) -> str:
    """The ``shap`` cell of a serving row: the ``explain`` command's SHAP attribution of
    ``item`` for ``history`` (same seed and budget, hence the same numbers) as JSON
    ``{"value", "base_value", "seed", "budget", "attributions": [{"item_id", "weight",
    "position"}]}`` (largest weight first)."""
    from explain import explain_item

    e = explain_item(ds, model, history, item, method="shap", seed=seed, budget=budget, extras=False, cache=None)
    a = e.attribution
    rows = [{"item_id": ds.item_ids[int(a.features[j])], "weight": float(a.values[j]),
             "position": int(a.positions[j])} for j in a.order()]
    return json.dumps({"value": float(a.value), "base_value": float(a.base_value), "seed": seed,
                       "budget": budget, "attributions": rows}, separators=(",", ":"))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> None:
    for name, least in (("workers", 1), ("pool", 1), ("batch_users", 1), ("shard_users", 1), ("explain", 0),
                        ("budget", 1)):
        v = getattr(args, name)
        if v < least:
            raise DataError(f"--{name.replace('_', '-')} must be at least {least}, got {v}")
    if args.explain > args.pool:
        raise DataError(f"--explain {args.explain} exceeds --pool {args.pool}")
    if args.address:
        from recsys.train_ray import check_reachable

        check_reachable(args.address)  # a typo fails now, not after loading data and model


def _py_modules() -> list[str]:
    import explain
    import recsys

    return [str(Path(m.__file__).parent) for m in (recsys, explain) if m.__file__]


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    _check(args)
    ds = load_data(args)
    from recsys import serving
    from recsys.precompute.runner import run as run_job
    from recsys.precompute.scoring import GroupScorer

    model = load_model(ds, args.model)  # checks the artifact against the data before any worker starts
    from recsys.updates import resolve_model_dir

    model_dir = Path(args.model) if args.model else resolve_model_dir(ds)
    job = Job(
        source=local_source(args.data), model_dir=str(model_dir.resolve()), n_users=ds.n_users,
        model_fingerprint=serving.model_fingerprint(model_dir), data_fingerprint=ds.fingerprint,
        min_count=resolve_min_count(args), tie_order=ds.tie_order, pool=args.pool, explain_top=args.explain,
        explain_seed=args.seed, explain_budget=args.budget, shard_users=args.shard_users,
        group_users=DEFAULT_GROUP_USERS, log_position=ds.log.position if ds.log is not None else 0,
    )
    explainer = shap_json if args.explain else None
    in_process = args.workers == 1 and not args.ray and not args.address
    scorer = GroupScorer(job, explainer, ds=ds, model=model) if in_process else None
    if not in_process:
        del model  # the workers load their own
    path = serving.serving_path(model_dir)

    def population() -> dict[str, Any]:  # once every shard is in: the Fairness lab's trade-offs
        from recsys.precompute.population import store

        return store(job, path, ds, scorer.model if scorer is not None else load_model(ds, args.model), _log)

    res = run_job(job, path, workers=args.workers, use_ray=args.ray, address=args.address,
                  batch_groups=max(1, args.batch_users // job.group_users), explainer=explainer, scorer=scorer, data=ds,
                  py_modules=_py_modules() if args.address else None,
                  population=None if args.no_population else population)
    rate = res.scored_users / res.seconds if res.scored_users else None
    out: dict[str, Any] = {
        "engine": res.engine, "shards": res.shards, "shards_kept": res.shards_kept,
        "scored_users": res.scored_users, "seconds": round(res.seconds, 3),
        "first_result_s": None if res.first_result_seconds is None else round(res.first_result_seconds, 3),
        "total_seconds": round(time.perf_counter() - t0, 3), "pool": job.pool, "explain_top": job.explain_top,
        "population_s": None if not res.population or res.population.get("kept") else res.population.get("seconds"),
        "model_fingerprint": job.model_fingerprint, "data_fingerprint": job.data_fingerprint,
        "users": res.users, "rows": res.rows, "path": str(path),
        "users_per_s": None if rate is None else round(rate, 1), "workers": args.workers,
    }
    out["_text"] = (f"serving table {path}: {res.users} users, {res.rows} rows "
                    f"({res.scored_users} users scored in {res.seconds:.1f} s on {res.engine} with {args.workers} "
                    f"worker(s), {res.shards_kept}/{res.shards} shards kept)")
    return out
