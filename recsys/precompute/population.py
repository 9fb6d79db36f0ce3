"""The population trade-offs stored with the serving table: ``<table>/_population.json``.

The Fairness lab's population view needs, over every evaluated user of the table, the
λ-sweep (one row per re-ranking term and weight) and the population metrics of the
model's own order (NDCG@10, list metrics, coverage, Gini, NDCG@10 per user group).
Computing them from the table is a chunked pass over every evaluation pool
(:mod:`recsys.rerank.table`): 35 s at 1M interactions, 334 s at 10M — too long for the
first analyst who opens the page after a precompute. So ``precompute`` runs that pass
once, after the shards and before the manifest, and writes the results here (JSON, a
few KiB: the full metrics of each of the sweep's 10 distinct settings, and the sweep
rows), recording the job it belongs to: model and data fingerprints, event-log
position, pool, k, terms and weights. The page (``ui/serving/tables.py``) uses it when
it matches the table's manifest and computes the same numbers from the table when it is
absent or stale; both are the output of the same functions, so they are equal.

Resumable like the shards: a rerun that finds a summary of the same job keeps it (the
table of one job is byte-identical however often it is computed). The name starts with
``_``, so Parquet readers of the serving folder ignore it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from recsys.jsonutil import json_default
from recsys.rerank.population import SWEEP_TERMS, SWEEP_WEIGHTS
from recsys.rerank.weights import Weights

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset
    from recsys.precompute.plan import Job
    from recsys.rerank.context import RerankContext

POPULATION_FILE = "_population.json"
KIND = "reclens-population"
SCHEMA_VERSION = 1
K = 10  # the Fairness lab's list length
Log = Callable[[str], None]


def population_path(path: str | Path) -> Path:
    """The stored population trade-offs of the serving table at ``path``."""
    return Path(path) / POPULATION_FILE


def identity(model_fingerprint: str, data_fingerprint: str, log_position: int | None, pool: int) -> dict[str, Any]:
    """What a stored summary must record to belong to a table (and to a rerun's job)."""
    return {"kind": KIND, "schema_version": SCHEMA_VERSION, "model_fingerprint": model_fingerprint,
            "data_fingerprint": data_fingerprint, "log_position": int(log_position or 0), "pool": int(pool),
            "k": K, "terms": list(SWEEP_TERMS), "weights": [float(w) for w in SWEEP_WEIGHTS], "group": None}


def job_identity(job: Job) -> dict[str, Any]:
    return identity(job.model_fingerprint, job.data_fingerprint, job.log_position, job.pool)


def context_for(ds: Dataset, model: Any) -> RerankContext:
    """The re-ranking context the app builds for this data and model
    (``ui.core.recs.context_for``): the model's text vectors when it has them for every
    item, else the cached sentence encoding; training popularity."""
    from recsys.rerank.context import build_context

    emb = getattr(model, "text_emb", None)
    if not isinstance(emb, np.ndarray) or emb.shape[0] != ds.n_items:
        emb = None
    return build_context(ds, emb=None if emb is None else np.array(emb, dtype=np.float32, copy=True))


def compute(path: str | Path, ds: Dataset, ctx: RerankContext, pool: int, progress: Any = None) -> dict[str, Any]:
    """``{"settings": [{"weights": [d, c, f], "result": evaluate_population's dict}], "sweep": rows,
    "seconds"}`` over every evaluated user of the table: one chunked pass
    (:func:`recsys.rerank.table.evaluate_population_from_table`)."""
    from recsys.rerank.table import evaluate_population_from_table, sweep_frame, sweep_settings

    t0 = time.perf_counter()
    settings = sweep_settings(SWEEP_TERMS, SWEEP_WEIGHTS)
    results = evaluate_population_from_table(path, ds, ctx, settings, K, n_candidates=pool, progress=progress)
    frame = sweep_frame(SWEEP_TERMS, SWEEP_WEIGHTS, settings, results)
    return {
        "settings": [{"weights": [w.diversity, w.calibration, w.fairness], "result": r}
                     for w, r in zip(settings, results)],
        "sweep": frame.to_dict(orient="records"),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def write(path: str | Path, ident: dict[str, Any], body: dict[str, Any]) -> Path:
    """Write the summary atomically (a temporary sibling, then a rename)."""
    f = population_path(path)
    tmp = f.with_name(f".{POPULATION_FILE}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({**ident, "created": _now(), **body}, indent=1, default=json_default),
                   encoding="utf-8")
    os.replace(tmp, f)
    return f


def read(path: str | Path, ident: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The stored summary of the table at ``path`` when it belongs to ``ident`` (default:
    the identity the table's manifest gives); None when absent, damaged or of another job."""
    if ident is None:
        from recsys.serving import read_manifest

        m = read_manifest(path)
        if m is None:
            return None
        try:
            ident = identity(str(m["model_fingerprint"]), str(m["data_fingerprint"]), m.get("log_position"),
                             int(m["pool"]))
        except (KeyError, TypeError, ValueError):
            return None
    try:
        obj = json.loads(population_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or any(obj.get(k) != v for k, v in ident.items()):
        return None
    if not isinstance(obj.get("settings"), list) or not isinstance(obj.get("sweep"), list):
        return None
    return obj


def sweep(summary: dict[str, Any]) -> pd.DataFrame:
    """The stored λ-sweep: the DataFrame of :func:`recsys.rerank.table.sweep_from_table`."""
    return pd.DataFrame(summary["sweep"])


def result(summary: dict[str, Any], weights: Weights) -> dict | None:
    """The stored population metrics at ``weights`` (a setting of the sweep), else None."""
    want = [weights.diversity, weights.calibration, weights.fairness]
    for s in summary["settings"]:
        if [float(x) for x in s["weights"]] == want:
            return dict(s["result"])
    return None


def store(job: Job, path: Path, ds: Dataset, model: Any, log: Log) -> dict[str, Any]:
    """Compute and write the summary of ``job``'s table unless one of the same job is
    there (resumable); returns the manifest's ``population`` entry."""
    from recsys.data.types import DataError

    ident = job_identity(job)
    old = read(path, ident)
    if old is not None:
        log(f"precompute: population trade-offs kept ({POPULATION_FILE})")
        return {"file": POPULATION_FILE, "seconds": old.get("seconds"), "kept": True}
    population_path(path).unlink(missing_ok=True)
    log("precompute: population trade-offs (λ-sweep over every evaluated user)…")
    last = [0.0]

    def progress(frac: float, msg: str) -> None:
        if frac - last[0] >= 0.1 or frac >= 1.0:
            last[0] = frac
            log(f"precompute: {msg}")

    try:
        body = compute(path, ds, context_for(ds, model), job.pool, progress)
    except DataError as e:  # e.g. no user has the 3 interactions the evaluation needs
        log(f"precompute: no population trade-offs stored: {e.problem}")
        return {"file": None, "seconds": None, "kept": False, "problem": e.problem}
    write(path, ident, body)
    log(f"precompute: population trade-offs written in {body['seconds']:.1f} s")
    return {"file": POPULATION_FILE, "seconds": body["seconds"], "kept": False}


def _now() -> str:
    from recsys.serving import now_utc

    return now_utc()
