"""Population re-ranking, the λ-sweep and the evaluation from the serving table, in chunks.

The in-memory population code (:mod:`recsys.rerank.population`) holds every evaluated
user's candidate pool at once (U × 200 scores: about 380 KiB per user past 6k items with
the dense score rows it starts from). Here the pools come from the serving table
(:mod:`recsys.serving`; its ``_eval/`` part holds each evaluated user's top candidates
after the split's test input, exactly the pools :func:`~recsys.rerank.population.prepare_population`
builds) ``users_per_chunk`` users at a time: every chunk is re-ranked by the same
vectorised core (:func:`~recsys.rerank.core.rerank_batch`, row by row identical) and only
sums, per-item exposure counts and per-group sums are kept across chunks. Memory is
bounded by one chunk plus O(users + items) accumulators.

* :func:`evaluate_population_from_table` — :func:`~recsys.rerank.population.evaluate_population`'s
  dict for one or several weight settings in one pass over the table;
* :func:`sweep_from_table` — the λ-sweep DataFrame of :func:`~recsys.rerank.population.sweep`
  (same columns, same rows);
* :func:`exposure_from_table` — how many users get each item in their served top k;
* :func:`evaluation_from_table` — HR/NDCG/MRR@k from the recorded test ranks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from recsys.data.types import DataError
from recsys.evaluation.metrics import accuracy_metrics, gini
from recsys.evaluation.split import MIN_EVAL_INTERACTIONS
from recsys.rerank.context import RerankContext
from recsys.rerank.core import rerank_batch
from recsys.rerank.metrics import group_share, list_metrics_batch, ndcg_at_k
from recsys.rerank.population import SWEEP_TERMS, SWEEP_WEIGHTS, Progress, user_groups
from recsys.rerank.weights import FairGroup, Weights
from recsys.serving import eval_path, iter_chunks

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset

DEFAULT_USERS_PER_CHUNK = 20_000


# ---- reading pools ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PoolChunk:
    """Candidate pools of a chunk of evaluated users (arrays as in ``Population``)."""

    users: np.ndarray  # (U,) user indices
    cand_items: np.ndarray  # (U, N) int64, -1 padding
    cand_scores: np.ndarray  # (U, N) float64, -inf padding
    hist_dist: np.ndarray  # (U, C)
    targets: np.ndarray  # (U,)


class _Population:
    """The evaluated users of ``ds`` (>= 3 interactions) and their fairness groups,
    computed once over all of them as the in-memory population does."""

    def __init__(self, ds: Dataset, n_candidates: int):
        counts = np.diff(ds.user_offsets)
        self.ds = ds
        self.eval_users = np.flatnonzero(counts >= MIN_EVAL_INTERACTIONS).astype(np.int64)
        self.n = min(max(int(n_candidates), 1), ds.n_items)
        groups = user_groups(ds, self.eval_users)
        self.labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # attr -> (values, codes per eval user)
        for attr, lab in groups.items():
            values, codes = np.unique(lab, return_inverse=True)
            self.labels[attr] = (values, codes.astype(np.int32))
        self.user_index = pd.Index(ds.user_ids)
        self.item_index = pd.Index(ds.item_ids)

    def chunk(self, ctx: RerankContext, df: pd.DataFrame) -> PoolChunk:
        users = np.asarray(self.user_index.get_indexer(pd.unique(df["user_id"].to_numpy())), dtype=np.int64)
        if (users < 0).any():
            raise DataError("the serving table lists users the data does not have: it is of other data")
        starts = np.flatnonzero(np.r_[True, df["user_id"].to_numpy()[1:] != df["user_id"].to_numpy()[:-1]])
        row_user = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(df)]))
        col = df["rank"].to_numpy().astype(np.int64) - 1
        keep = col < self.n
        items = np.full((len(users), self.n), -1, dtype=np.int64)
        scores = np.full((len(users), self.n), -np.inf)
        items[row_user[keep], col[keep]] = self.item_index.get_indexer(df["item_id"].to_numpy()[keep])
        scores[row_user[keep], col[keep]] = df["score"].to_numpy().astype(np.float64)[keep]
        off = self.ds.user_offsets
        hist = [np.asarray(self.ds.item[off[u] : off[u + 1] - 1], dtype=np.int64) for u in users]
        # one history takes a dense shortcut in history_distribution; pad to keep the batch path
        hist_dist = ctx.history_distribution(hist if len(hist) != 1 else hist * 2)[: len(hist)]
        return PoolChunk(users, items, scores, hist_dist, np.asarray(self.ds.item[off[users + 1] - 1], dtype=np.int64))

    def codes(self, users: np.ndarray) -> dict[str, np.ndarray]:
        pos = np.searchsorted(self.eval_users, users)
        return {attr: codes[pos] for attr, (_, codes) in self.labels.items()}


# ---- accumulating metrics --------------------------------------------------------------
@dataclass
class _Acc:
    """Sums of one weight setting over the chunks seen so far."""

    n_items: int
    users: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    exposure: np.ndarray | None = None
    groups: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # attr -> (ndcg sums, counts)
    seconds: float = 0.0

    def add(self, name: str, values: np.ndarray) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(np.sum(values))

    def result(self, k: int, labels: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
        """The dict of :func:`~recsys.rerank.population.evaluate_population`."""
        n = max(self.users, 1)
        out: dict = {name: v / n for name, v in self.sums.items()}
        exp = self.exposure if self.exposure is not None else np.zeros(self.n_items, dtype=np.int64)
        out["coverage"] = float(np.count_nonzero(exp) / self.n_items) if self.n_items else 0.0
        out["gini"] = gini(exp)
        out["group_share"] = out.pop("group_share")
        by_group: dict[str, dict[str, float]] = {}
        gaps: dict[str, float] = {}
        for attr, (values, _) in labels.items():
            s, c = self.groups[attr]
            vals = {str(values[j]): float(s[j] / c[j]) for j in range(len(values)) if c[j] > 0}
            by_group[attr] = vals
            gaps[attr] = max(vals.values()) - min(vals.values()) if vals else 0.0
        out["ndcg_by_group"] = by_group
        out["ndcg_gap"] = gaps
        return {f"ndcg@{k}": out.pop(f"ndcg@{k}"), **out}


def _accumulate(acc: _Acc, ctx: RerankContext, pc: PoolChunk, lists: np.ndarray, k: int, mask: np.ndarray,
                codes: dict[str, np.ndarray], n_labels: dict[str, int]) -> None:
    nd = ndcg_at_k(lists, pc.targets, k)
    acc.users += len(pc.users)
    acc.add(f"ndcg@{k}", nd)
    for name, v in list_metrics_batch(ctx, lists, pc.hist_dist).items():
        acc.add(name, v)
    acc.add("group_share", group_share(mask, lists))
    valid = lists[lists >= 0]
    counts = np.bincount(valid, minlength=acc.n_items).astype(np.int64)
    acc.exposure = counts if acc.exposure is None else acc.exposure + counts
    for attr, c in codes.items():
        s, n = acc.groups.get(attr, (np.zeros(n_labels[attr]), np.zeros(n_labels[attr], dtype=np.int64)))
        acc.groups[attr] = (s + np.bincount(c, weights=nd, minlength=n_labels[attr]),
                            n + np.bincount(c, minlength=n_labels[attr]))


# ---- public ----------------------------------------------------------------------------
def evaluate_population_from_table(
    path: str | Path,
    ds: Dataset,
    ctx: RerankContext,
    weights: Sequence[Weights] | Weights,
    k: int = 10,
    group: FairGroup | None = None,
    *,
    n_candidates: int | None = None,
    users_per_chunk: int = DEFAULT_USERS_PER_CHUNK,
    progress: Progress | None = None,
) -> list[dict]:
    """:func:`~recsys.rerank.population.evaluate_population` of each weight setting over
    the evaluated users of the serving table at ``path`` (one pass, chunked). The pools are
    the table's evaluation pools, cut to ``n_candidates`` (default: all the table keeps,
    at most the catalogue). Each dict also has ``"_seconds"`` (re-ranking time)."""
    settings = [weights] if isinstance(weights, Weights) else list(weights)
    group = group or FairGroup()
    mask, _ = ctx.group_mask(group)
    n_cand = n_candidates if n_candidates is not None else _table_pool(path)
    pop = _Population(ds, n_cand)
    n_labels = {attr: len(values) for attr, (values, _) in pop.labels.items()}
    accs = [_Acc(ctx.n_items) for _ in settings]
    done = 0
    cols = ["user_id", "rank", "item_id", "score"]
    for df in iter_chunks(eval_path(path), columns=cols, users_per_chunk=users_per_chunk):
        pc = pop.chunk(ctx, df)
        codes = pop.codes(pc.users)
        for acc, w in zip(accs, settings):
            t0 = time.perf_counter()
            lists = rerank_batch(ctx, pc.cand_items, pc.cand_scores, pc.hist_dist, w, k, group).items
            _accumulate(acc, ctx, pc, lists, k, mask, codes, n_labels)
            acc.seconds += time.perf_counter() - t0
        done += len(pc.users)
        if progress is not None:
            progress(done / max(len(pop.eval_users), 1), f"re-ranking users {done}/{len(pop.eval_users)}")
    if not accs or accs[0].users == 0:
        raise DataError("the serving table holds no evaluation pools (no user has 3 interactions)")
    return [{**acc.result(k, pop.labels), "_seconds": acc.seconds} for acc in accs]


def sweep_from_table(
    path: str | Path,
    ds: Dataset,
    ctx: RerankContext,
    *,
    weights: Sequence[float] = SWEEP_WEIGHTS,
    terms: Sequence[str] = SWEEP_TERMS,
    k: int = 10,
    group: FairGroup | None = None,
    n_candidates: int | None = None,
    users_per_chunk: int = DEFAULT_USERS_PER_CHUNK,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The λ-sweep of :func:`~recsys.rerank.population.sweep` (same columns and rows: term,
    weight, ndcg@k, ild, long_tail_share, miscalibration, avg_popularity, coverage, gini,
    group_share, seconds) from the serving table, every setting in one chunked pass."""
    distinct = sweep_settings(terms, weights)
    results = evaluate_population_from_table(path, ds, ctx, distinct, k, group, n_candidates=n_candidates,
                                             users_per_chunk=users_per_chunk, progress=progress)
    return sweep_frame(terms, weights, distinct, results)


def sweep_settings(terms: Sequence[str] = SWEEP_TERMS, weights: Sequence[float] = SWEEP_WEIGHTS) -> list[Weights]:
    """The distinct weight settings of a λ-sweep (one per term and weight, the other
    weights 0; the all-zero setting once, as the in-memory sweep reuses it)."""
    for term in terms:
        if term not in SWEEP_TERMS:
            raise DataError(f"unknown re-ranking term {term!r} (known: {', '.join(SWEEP_TERMS)})")
    distinct: list[Weights] = []
    for term in terms:
        for w in weights:
            wts = Weights(**{term: float(w)})
            key = Weights() if wts.is_zero else wts
            if key not in distinct:
                distinct.append(key)
    return distinct


def sweep_frame(terms: Sequence[str], weights: Sequence[float], settings: Sequence[Weights],
                results: Sequence[dict]) -> pd.DataFrame:
    """The λ-sweep DataFrame from the population results of :func:`sweep_settings`."""
    rows = []
    for term in terms:
        for w in weights:
            wts = Weights(**{term: float(w)})
            res = results[list(settings).index(Weights() if wts.is_zero else wts)]
            row = {"term": term, "weight": float(w)}
            row.update({m: v for m, v in res.items() if isinstance(v, float) and not m.startswith("_")})
            row["seconds"] = res["_seconds"]
            rows.append(row)
    return pd.DataFrame(rows)


def exposure_from_table(path: str | Path, k: int = 10) -> pd.DataFrame:
    """Columns ``item_id, exposure``: how many users have the item in their served top
    ``k`` (rank <= k), most exposed first (then by item id); items nobody gets are absent.
    Counted batch by batch in Arrow; memory stays O(items)."""
    import pyarrow as pa
    import pyarrow.dataset as pads

    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    parts: list[pa.Table] = []
    held = 0
    for batch in _dataset(path).scanner(columns=["item_id"], filter=pads.field("rank") <= k).to_batches():
        vc = batch.column(0).value_counts()  # struct<values, counts>
        parts.append(pa.table({"item_id": vc.field("values"), "n": vc.field("counts")}))
        held += len(vc)
        if held > 1_000_000:  # fold the partial counts: O(items) however long the table
            parts = [_sum_counts(parts)]
            held = parts[0].num_rows
    counts = _sum_counts(parts).to_pandas() if parts else pd.DataFrame({"item_id": [], "n": []})
    out = pd.DataFrame({"item_id": counts["item_id"].astype(str).to_numpy(),
                        "exposure": counts["n"].to_numpy().astype(np.int64)})
    return out.sort_values(["exposure", "item_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _sum_counts(parts: list) -> Any:  # list[pa.Table] -> pa.Table (item_id, n)
    import pyarrow as pa

    t = pa.concat_tables(parts).group_by("item_id").aggregate([("n", "sum")])
    return t.select(["item_id", "n_sum"]).rename_columns(["item_id", "n"])


def evaluation_from_table(path: str | Path, ks: Sequence[int] = (10, 20)) -> dict:
    """``users`` and ``hr@k``, ``ndcg@k``, ``mrr@k`` for k in ``ks`` (the keys of
    ``evaluate``) over the users with a recorded ``test_rank`` (the evaluation split)."""
    import pyarrow.dataset as pads

    filt = (pads.field("rank") == 1) & pads.field("test_rank").is_valid()
    parts = [np.asarray(b.column(0), dtype=np.int64)
             for b in _dataset(path).scanner(columns=["test_rank"], filter=filt).to_batches()]
    ranks = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if ranks.size == 0:
        raise DataError("the serving table records no test ranks (no user has 3 interactions)")
    return {"users": int(ranks.size), **accuracy_metrics(ranks, ks)}


def _dataset(path: str | Path):  # -> pyarrow.dataset.Dataset
    import pyarrow.dataset as pads

    p = Path(path)
    if not p.exists():
        raise DataError("serving table not found", file=str(p))
    return pads.dataset(str(p), format="parquet")  # ignores "_" and "." entries: markers, _eval/


def _table_pool(path: str | Path) -> int:
    from recsys.serving import read_manifest

    m = read_manifest(path)
    if m is None:
        raise DataError("the serving table is incomplete (no manifest): run precompute", file=str(path))
    return int(m["pool"])
