"""Score one group of users: the per-user rows a serving-table shard is made of.

:class:`GroupScorer` holds the dataset and the model (loaded once per worker) and turns
a group of consecutive user indices into an Arrow table with **one row per user**:

* ``item_id``/``score`` (lists): the top ``pool`` items after the user's whole history,
  seen items excluded — exactly what ``recommend`` with default options lists (same
  scorer call, the same :func:`~recsys.evaluation.metrics.top_k_lists`);
* ``test_item_id``/``test_rank``: for a user of the leave-one-out split, the held-out
  test item and its rank when the split's test input (the history without it) is scored,
  ranked by :func:`~recsys.evaluation.metrics.rank_of_targets` as ``evaluate`` does;
* ``eval_item_id``/``eval_score`` (lists): that test input's top ``pool`` candidates
  (:func:`~recsys.rerank.core.select_candidates`), the pools of the population
  re-ranking (:mod:`recsys.rerank.population`);
* ``shap`` (list, aligned with ``item_id``): a JSON explanation for the first
  ``explain_top`` items, null after — made by the ``explainer`` the command line passes
  (``recsys`` itself never imports ``explain``).

The whole group is one model batch for each of the two histories (see
:mod:`recsys.precompute.plan` for why the group is fixed).

Where the histories come from: in one process, from the loaded dataset. On Ray the
driver, which has loaded the data, sends each group's histories with the work
(:func:`group_table`: one Arrow row per group, the users' ids, lengths, items and
timestamps), and a worker holds only the item catalogue (:func:`catalog_of`: the
dataset without users or interactions, enough to load the model and to explain) — so
a worker's memory does not grow with the log, and workers on other machines need the
model artifact but not the data.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence

import numpy as np
import pyarrow as pa

from recsys.data.types import Dataset, History
from recsys.evaluation.metrics import rank_of_targets, top_k_lists
from recsys.evaluation.split import MIN_EVAL_INTERACTIONS
from recsys.precompute.plan import Job
from recsys.rerank.core import select_candidates

if TYPE_CHECKING:  # pragma: no cover
    from recsys.models.transformer import TransformerRecommender


class Explainer(Protocol):
    """Makes the ``shap`` JSON of one (history, item): ``explainer(ds, model, history,
    item, seed=..., budget=...) -> str``."""

    def __call__(self, ds: Dataset, model: Any, history: History, item: int, *, seed: int, budget: int) -> str: ...


USER_SCHEMA = pa.schema([
    ("shard", pa.int32()),
    ("user_index", pa.int64()),
    ("user_id", pa.string()),
    ("item_id", pa.list_(pa.string())),
    ("score", pa.list_(pa.float32())),
    ("test_item_id", pa.string()),
    ("test_rank", pa.int32()),
    ("shap", pa.list_(pa.string())),
    ("eval_item_id", pa.list_(pa.string())),
    ("eval_score", pa.list_(pa.float32())),
])


GROUP_SCHEMA = pa.schema([
    ("shard", pa.int32()),
    ("start", pa.int64()),
    ("stop", pa.int64()),
    ("user_id", pa.list_(pa.string())),
    ("length", pa.list_(pa.int64())),
    ("item", pa.list_(pa.int32())),
    ("timestamp", pa.list_(pa.int64())),
])

#: One group's users as a worker receives them: (user ids, item sequences, timestamps).
GroupRows = tuple[Sequence[str], list[np.ndarray], list[np.ndarray]]


def load_data(job: Job) -> Dataset:
    """The job's dataset, loaded from its source as the model was trained on it."""
    from recsys.data import load

    return load(job.source, min_count=job.min_count, tie_order=job.tie_order)


def load_job(job: Job) -> tuple[Dataset, TransformerRecommender]:
    """The job's dataset and model, loaded from the job's source and artifact."""
    from recsys.models.transformer import TransformerRecommender

    ds = load_data(job)
    return ds, TransformerRecommender.load(job.model_dir, ds)


def catalog_of(ds: Dataset) -> Dataset:
    """``ds`` without users and interactions: the item catalogue (ids, titles,
    categories, text), the fingerprint, tie order and event-log facts — what loading
    the model (:meth:`TransformerRecommender.load` checks these) and explaining an item
    need. O(items), whatever the size of the log."""
    e32 = np.zeros(0, dtype=np.int32)
    return dataclasses.replace(ds, user_ids=(), user=e32, item=e32, timestamp=np.zeros(0, dtype=np.int64),
                               rating=None, user_attrs=None, truth=None, _uindex={})


def group_table(ds: Dataset, groups: Iterable[tuple[int, int, int]]) -> pa.Table:
    """One row per group (:data:`GROUP_SCHEMA`): its place and its users' histories,
    cut from ``ds``'s arrays without copying them user by user."""
    groups = list(groups)
    off = ds.user_offsets
    per_group: dict[str, list[Any]] = {k: [] for k in ("user_id", "length", "item", "timestamp")}
    for _, a, b in groups:
        per_group["user_id"].append(ds.user_ids[a:b])
        per_group["length"].append(np.diff(off[a : b + 1]))
        per_group["item"].append(ds.item[off[a] : off[b]])
        per_group["timestamp"].append(ds.timestamp[off[a] : off[b]])
    cols: dict[str, Any] = {
        "shard": pa.array([g[0] for g in groups], type=pa.int32()),
        "start": pa.array([g[1] for g in groups], type=pa.int64()),
        "stop": pa.array([g[2] for g in groups], type=pa.int64()),
    }
    for name in per_group:
        typ = GROUP_SCHEMA.field(name).type.value_type
        vals = per_group[name]
        lens = np.fromiter((len(v) for v in vals), dtype=np.int64, count=len(vals))
        offsets = pa.array(np.concatenate([[0], np.cumsum(lens)]).astype(np.int32))
        if name == "user_id":
            flat = pa.array([u for v in vals for u in v], type=typ)
        else:
            flat = pa.array(np.concatenate(vals) if vals else np.zeros(0), type=typ)
        cols[name] = pa.ListArray.from_arrays(offsets, flat)
    return pa.Table.from_pydict(cols, schema=GROUP_SCHEMA)


def group_rows(table: pa.Table, j: int) -> tuple[int, int, int, GroupRows]:
    """Row ``j`` of a :func:`group_table`: (shard, start, stop, its users' rows)."""
    s, a, b = (int(table.column(c)[j].as_py()) for c in ("shard", "start", "stop"))
    users = table.column("user_id")[j].values.to_pylist()
    lengths = table.column("length")[j].values.to_numpy()
    cuts = np.cumsum(lengths)[:-1]
    items = np.split(table.column("item")[j].values.to_numpy(zero_copy_only=False).astype(np.int64), cuts)
    ts = np.split(table.column("timestamp")[j].values.to_numpy(zero_copy_only=False).astype(np.int64), cuts)
    if len(users) != b - a or len(items) != b - a:
        raise ValueError(f"group {s}:{a}-{b} arrived with {len(users)} users")
    return s, a, b, (users, items, ts)


def _lists(rows: list[np.ndarray], values: list[np.ndarray], typ: pa.DataType) -> pa.Array:
    lens = np.fromiter((len(r) for r in rows), dtype=np.int32, count=len(rows))
    offsets = pa.array(np.concatenate([[0], np.cumsum(lens)]).astype(np.int32))
    flat = np.concatenate(values) if values else np.zeros(0)
    return pa.ListArray.from_arrays(offsets, pa.array(flat, type=typ))


class GroupScorer:
    """Scores groups of users for one job (see the module docstring)."""

    def __init__(self, job: Job, explainer: Explainer | Callable[..., str] | None = None,
                 ds: Dataset | None = None, model: TransformerRecommender | None = None):
        from recsys.runtime import serving_threads, set_threads

        set_threads(serving_threads())  # one torch thread per worker: results do not depend on the engine
        self.job = job
        self.explainer = explainer
        if ds is None or model is None:
            ds, model = load_job(job)
        self.ds = ds
        self.model = model
        self.item_ids = np.asarray(ds.item_ids, dtype=object)
        self.k = min(job.pool, ds.n_items)

    def histories(self, start: int, stop: int) -> GroupRows:
        """The users ``[start, stop)`` of the loaded dataset, as :data:`GroupRows`."""
        seqs = [self.ds.sequence(u) for u in range(start, stop)]
        return (self.ds.user_ids[start:stop], [np.asarray(i, dtype=np.int64) for i, _ in seqs],
                [np.asarray(t, dtype=np.int64) for _, t in seqs])

    def score_group(self, shard: int, start: int, stop: int, rows: GroupRows | None = None) -> pa.Table:
        """One row per user of ``[start, stop)`` (:data:`USER_SCHEMA`); ``rows``: their
        ids and histories when they came with the work, else read from the dataset."""
        user_ids, hist, ts = rows if rows is not None else self.histories(start, stop)
        scores = self.model.score(hist, ts)
        top = top_k_lists(scores, self.k, hist, skip_unscored=True)  # as recommend's top_k
        items = [row[row >= 0] for row in top]
        top_scores = [scores[j, it].astype(np.float32) for j, it in enumerate(items)]
        test_item, test_rank, ev_items, ev_scores = self._evaluation(hist, ts)
        cols: dict[str, Any] = {
            "shard": pa.array(np.full(stop - start, shard, dtype=np.int32)),
            "user_index": pa.array(np.arange(start, stop, dtype=np.int64)),
            "user_id": pa.array(list(user_ids), type=pa.string()),
            "item_id": _lists(items, [self.item_ids[it] for it in items], pa.string()),
            "score": _lists(items, top_scores, pa.float32()),
            "test_item_id": pa.array(test_item, type=pa.string()),
            "test_rank": pa.array(test_rank, type=pa.int32()),
            "shap": self._shap(user_ids, hist, ts, items),
            "eval_item_id": _lists(ev_items, [self.item_ids[it] for it in ev_items], pa.string()),
            "eval_score": _lists(ev_items, ev_scores, pa.float32()),
        }
        return pa.Table.from_pydict(cols, schema=USER_SCHEMA)

    def _evaluation(
        self, hist: list[np.ndarray], ts: list[np.ndarray]
    ) -> tuple[list[str | None], list[int | None], list[np.ndarray], list[np.ndarray]]:
        """Test item, its rank and the evaluation pool of each user (None / empty for a
        user outside the split: fewer than 3 interactions)."""
        n = len(hist)
        sel = [j for j in range(n) if len(hist[j]) >= MIN_EVAL_INTERACTIONS]
        test_item: list[str | None] = [None] * n
        test_rank: list[int | None] = [None] * n
        ev_items = [np.zeros(0, dtype=np.int64)] * n
        ev_scores = [np.zeros(0, dtype=np.float32)] * n
        if not sel:
            return test_item, test_rank, ev_items, ev_scores
        h_in = [hist[j][:-1] for j in sel]  # the split's test input: training part + validation item
        t_in = [ts[j][:-1] for j in sel]
        targets = np.array([hist[j][-1] for j in sel], dtype=np.int64)
        s = self.model.score(h_in, t_in)
        ranks = rank_of_targets(s, targets, h_in)
        cand, vals = select_candidates(s, h_in, self.job.pool)
        for r, j in enumerate(sel):
            ok = cand[r] >= 0
            test_item[j] = self.ds.item_ids[int(targets[r])]
            test_rank[j] = int(ranks[r])
            ev_items[j] = cand[r][ok]
            ev_scores[j] = vals[r][ok].astype(np.float32)
        return test_item, test_rank, ev_items, ev_scores

    def _shap(self, user_ids: Sequence[str], hist: list[np.ndarray], ts: list[np.ndarray],
              items: list[np.ndarray]) -> pa.Array:
        """Per user a list aligned with ``items``: JSON for the first ``explain_top``, null after."""
        rows: list[list[str | None]] = []
        for j, its in enumerate(items):
            n_exp = min(self.job.explain_top, len(its)) if self.explainer is not None and len(hist[j]) else 0
            h = History(str(user_ids[j]), hist[j], ts[j]) if n_exp else None
            row: list[str | None] = [None] * len(its)
            for r in range(n_exp):
                assert self.explainer is not None and h is not None
                row[r] = self.explainer(self.ds, self.model, h, int(its[r]),
                                        seed=self.job.explain_seed, budget=self.job.explain_budget)
            rows.append(row)
        return pa.array(rows, type=pa.list_(pa.string()))
