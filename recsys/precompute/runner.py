"""Run a precompute: pending shards, scoring (in-process or on Ray Data), shard writing.

:func:`run` is the entry point: it prepares the serving folder (the manifest is removed
first, stale temp files of a killed run too), keeps every shard whose recorded job
matches (:func:`recsys.precompute.plan.shard_done`), scores the users of the other
shards group by group, writes each shard as soon as all its users are in
(:class:`ShardWriter`: ``_eval/part-s`` then ``part-s``, each a temp file renamed), and
writes ``_manifest.json`` last.

Scoring engines, identical results (every group is one model batch either way):

* ``in-process``: one :class:`~recsys.precompute.scoring.GroupScorer` in this process
  (no Ray needed) — ``precompute --workers 1`` without ``--address``;
* ``ray``: a Ray Data pipeline ``from_arrow(group tables).map_batches(ScorerActor,
  compute=ActorPoolStrategy(size=workers))``. The driver, which has loaded the data,
  cuts the pending groups' histories into Arrow blocks of ``batch_groups`` groups
  (:func:`~recsys.precompute.scoring.group_table`); each actor loads the model once in
  ``__init__`` against the item catalogue (:func:`~recsys.precompute.scoring.catalog_of`,
  put into Ray's object store once) and never the log; the driver streams the per-user
  rows back and writes shards.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from recsys import serving
from recsys.data.types import DataError, Dataset
from recsys.precompute.plan import Job, shard_done
from recsys.precompute.scoring import GroupScorer, catalog_of, group_rows, group_table, load_data

OBJECT_STORE_BYTES = 512 * 1024**2  # local Ray: cap the object store (memory budget)
Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class RunResult:
    users: int
    rows: int
    scored_users: int
    shards: int
    shards_kept: int
    seconds: float
    engine: str
    first_result_seconds: float | None = None  # start-up: run start to the first scored rows
    population: dict[str, Any] | None = None  # the stored trade-offs (population.store's entry)


# ---- writing ---------------------------------------------------------------------------
def _list_array(t: pa.Table, name: str) -> pa.ListArray:
    arr = t.column(name).combine_chunks()
    assert isinstance(arr, pa.ListArray)
    return arr


def _explode(t: pa.Table, items: str, scores: str) -> dict[str, Any]:
    """One row per (user, listed item) from per-user list columns: ``user_id``, ``rank``
    (1-based position in the list), ``item_id``, ``score`` and the per-user columns."""
    lists = _list_array(t, items)
    lens = np.asarray(lists.value_lengths().fill_null(0), dtype=np.int64)
    parents = np.repeat(np.arange(t.num_rows), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    rank = (np.arange(int(lens.sum())) - np.repeat(starts, lens) + 1).astype(np.int32)
    take = pa.array(parents, type=pa.int64())
    return {
        "user_id": t.column("user_id").take(take),
        "rank": pa.array(rank),
        "item_id": lists.flatten(),
        "score": _list_array(t, scores).flatten(),
        "test_item_id": t.column("test_item_id").take(take),
        "test_rank": t.column("test_rank").take(take),
    }


class ShardWriter:
    """Collects per-user rows and writes a shard once all of its users are in."""

    def __init__(self, job: Job, path: Path, shards: list[int], log: Log = _stderr):
        self.job, self.path, self.log = job, path, log
        self.expected = {s: job.shard_range(s)[1] - job.shard_range(s)[0] for s in shards}
        self.parts: dict[int, list[pa.Table]] = {s: [] for s in shards}
        self.got = dict.fromkeys(shards, 0)
        self.rows = 0
        self.written = 0
        self.users = 0
        self.t0 = time.perf_counter()

    def add(self, table: pa.Table) -> None:
        """Take a batch of per-user rows (any shards, any order)."""
        shard_col = np.asarray(table.column("shard"), dtype=np.int64)
        for s in np.unique(shard_col):
            s = int(s)
            if s not in self.parts:
                raise RuntimeError(f"rows for shard {s}, which this run does not compute")
            part = table.filter(pa.array(shard_col == s))
            self.parts[s].append(part)
            self.got[s] += part.num_rows
            if self.got[s] == self.expected[s]:
                self._write(s)

    def _write(self, s: int) -> None:
        t = pa.concat_tables(self.parts.pop(s))
        t = t.sort_by("user_index")
        meta = {**self.job.shard_key(s), "users": t.num_rows, "created": serving.now_utc()}
        ev = _explode(t, "eval_item_id", "eval_score")
        del ev["test_item_id"], ev["test_rank"]
        serving.write_shard(serving.eval_path(self.path), s, serving.shard_table(ev, meta, serving.EVAL_SCHEMA))
        cols = _explode(t, "item_id", "score")
        cols["shap"] = _list_array(t, "shap").flatten()
        main = serving.shard_table(cols, {**meta, "rows": len(cols["rank"])})
        serving.write_shard(self.path, s, main)  # last: its presence marks the shard done
        self.rows += main.num_rows
        self.users += t.num_rows
        self.written += 1
        secs = time.perf_counter() - self.t0
        self.log(f"precompute: shard {s + 1}/{self.job.n_shards} written "
                 f"({self.written}/{len(self.expected)} this run, {self.users} users, "
                 f"{self.users / max(secs, 1e-9):.0f} users/s)")

    def check_complete(self) -> None:
        if self.parts:
            missing = ", ".join(str(s) for s in sorted(self.parts))
            raise RuntimeError(f"precompute ended with shards {missing} incomplete")


# ---- engines ---------------------------------------------------------------------------
def run_in_process(scorer: GroupScorer, groups: Iterable[tuple[int, int, int]]) -> Iterator[pa.Table]:
    for s, a, b in groups:
        yield scorer.score_group(s, a, b)


class ScorerActor:
    """The Ray Data UDF: loads the model once per actor (``__init__``) against the item
    catalogue, then scores each batch of groups — which carries the users' histories —
    into per-user rows."""

    def __init__(self, job: dict[str, Any], catalog: Any, explainer: Callable[..., str] | None = None):
        import ray

        from recsys.models.transformer import TransformerRecommender

        ds: Dataset = ray.get(catalog) if isinstance(catalog, ray.ObjectRef) else catalog
        j = Job(**job)
        self.scorer = GroupScorer(j, explainer, ds=ds, model=TransformerRecommender.load(j.model_dir, ds))

    def __call__(self, batch: pa.Table) -> pa.Table:
        tables = []
        for j in range(batch.num_rows):
            s, a, b, rows = group_rows(batch, j)
            tables.append(self.scorer.score_group(s, a, b, rows))
        return pa.concat_tables(tables)


def _ray_init(workers: int, address: str | None, py_modules: list[str] | None = None) -> bool:
    """Initialise Ray unless it already is; True when this call did it (and must shut down).
    With ``address``, ``py_modules`` (package folders) are shipped to the cluster's workers."""
    try:
        import ray
    except ImportError:
        raise DataError("--workers/--address need Ray: pip install 'ray[data]'") from None
    if ray.is_initialized():
        return False
    if address:
        import recsys

        modules = py_modules or [str(Path(recsys.__file__).parent)]
        from recsys.train_ray import check_reachable, ray_init_problem

        check_reachable(address)
        try:
            ray.init(address=address, runtime_env={"py_modules": modules}, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise DataError(ray_init_problem(address, e)) from None
    else:
        ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                 log_to_driver=False)
    return True


def run_on_ray(job: Job, ds: Dataset, groups: list[tuple[int, int, int]], workers: int, batch_groups: int,
               explainer: Callable[..., str] | None, address: str | None,
               py_modules: list[str] | None = None) -> Iterator[pa.Table]:
    """Per-user rows of ``groups`` (users of ``ds``) from a Ray Data actor pool of
    ``workers`` actors; the histories travel in the blocks, one block per Ray batch."""
    started = _ray_init(workers, address, py_modules)
    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own progress lines go to stderr
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        blocks = [group_table(ds, groups[g : g + batch_groups]) for g in range(0, len(groups), batch_groups)]
        catalog = ray.put(catalog_of(ds))
        data = ray.data.from_arrow(blocks).map_batches(
            ScorerActor,
            batch_size=batch_groups,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={"job": job.loader_args(), "catalog": catalog, "explainer": explainer},
            num_cpus=1,
        )
        for batch in data.iter_batches(batch_format="pyarrow", batch_size=None):
            yield batch
    finally:
        if started:
            ray.shutdown()


# ---- the run ---------------------------------------------------------------------------
def pending_shards(job: Job, path: Path) -> list[int]:
    """Shards a run must (re)compute: main or evaluation part missing, unreadable or of another job."""
    return [s for s in range(job.n_shards)
            if not (shard_done(serving.shard_meta(path, s), job.shard_key(s))
                    and shard_done(serving.shard_meta(serving.eval_path(path), s), job.shard_key(s)))]


def _table_rows(path: Path, n_shards: int) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path / serving.shard_name(s)).metadata.num_rows for s in range(n_shards))


def run(job: Job, path: Path, *, workers: int = 1, use_ray: bool = False, address: str | None = None,
        batch_groups: int = 4, explainer: Callable[..., str] | None = None,
        scorer: GroupScorer | None = None, data: Dataset | None = None, py_modules: list[str] | None = None,
        log: Log = _stderr,
        population: Callable[[], dict[str, Any]] | None = None) -> RunResult:
    """Compute the missing shards of ``job`` into ``path`` and write the manifest.
    ``population`` runs once every shard is in, before the manifest (the stored
    trade-offs, :func:`recsys.precompute.population.store`); its dict goes into the
    manifest as ``population``.

    ``workers`` > 1, ``use_ray`` or ``address`` score on Ray (``batch_groups`` groups per
    Ray batch; ``data``: the loaded dataset whose histories the driver sends, else the
    scorer's or the job's source), else in this process (``scorer``: an already loaded
    one). ``explainer``
    makes the ``shap`` JSON (needed when ``job.explain_top`` > 0)."""
    t0 = time.perf_counter()
    serving.start_run(path)
    for d in (path, serving.eval_path(path)):
        serving.remove_extra_shards(d, job.n_shards)
    todo = pending_shards(job, path)
    log(f"precompute: {job.n_users} users in {job.n_shards} shards; {job.n_shards - len(todo)} done, "
        f"{len(todo)} to compute")
    writer = ShardWriter(job, path, todo, log)
    groups = list(job.groups(todo))
    engine = "ray" if (use_ray or workers > 1 or address) else "in-process"
    if groups and engine == "ray":
        ds = data if data is not None else scorer.ds if scorer is not None else load_data(job)
        stream = run_on_ray(job, ds, groups, workers, batch_groups, explainer, address, py_modules)
    else:
        stream = run_in_process(scorer or GroupScorer(job, explainer), groups)
    first: float | None = None
    for table in stream:
        first = first if first is not None else time.perf_counter() - t0
        writer.add(table)
    writer.check_complete()
    rows = _table_rows(path, job.n_shards)
    seconds = time.perf_counter() - t0  # scoring and writing (users_per_s); the trade-offs come after
    pop = population() if population is not None else None
    info = serving.ServingInfo(
        path=path, users=job.n_users, rows=rows, pool=job.pool, explain_top=job.explain_top, workers=workers,
        model_fingerprint=job.model_fingerprint, data_fingerprint=job.data_fingerprint,
        log_position=job.log_position,
        created=serving.now_utc(),
    )
    serving.write_manifest(path, info, {
        "shards": job.n_shards, "shard_users": job.shard_users, "group_users": job.group_users,
        "eval_dir": serving.EVAL_DIR, "explain_seed": job.explain_seed if job.explain_top else None,
        "explain_budget": job.explain_budget if job.explain_top else None, "source": job.source,
        "min_count": job.min_count, "tie_order": job.tie_order, "engine": engine, "seconds": round(seconds, 3),
        "population": pop,
    })
    return RunResult(users=job.n_users, rows=rows, scored_users=writer.users, shards=job.n_shards,
                     shards_kept=job.n_shards - len(todo), seconds=seconds, engine=engine,
                     first_result_seconds=first, population=pop)
