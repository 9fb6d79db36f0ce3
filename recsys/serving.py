"""The serving table: every user's precomputed candidate pool, beside the model artifact.

Written by ``python -m recsys precompute`` and read by the app's population pages.

**Layout.** ``serving_path(model_dir)`` = ``<model_dir>/serving``, a folder holding only
Parquet shards ``part-00000.parquet``, ``part-00001.parquet``, ... and ``_``/``.``-prefixed
markers (``_manifest.json``, temp files ``.part-*.tmp*``, the ``_eval/`` folder of
evaluation candidate pools), so ``pandas.read_parquet(serving_path(d))`` opens the whole
table. Shard ``s`` holds the
users with dataset user index in ``[s * shard_size, (s + 1) * shard_size)`` — a fixed
block, independent of workers and batch sizes — in user-index order, then by rank.

**Columns** (:data:`SCHEMA`): ``user_id`` (str), ``rank`` (int32, 1-based), ``item_id``
(str), ``score`` (float32) — the top ``pool`` items of the user under the default options
of ``recommend`` (seen items excluded as ``recommend`` does) — plus per-user columns
repeated on each of the user's rows: ``test_item_id`` (str or null), ``test_rank``
(int32 or null: the 1-based rank of the held-out test item under the evaluation protocol,
null when the user is not in the evaluation split) and ``shap`` (a JSON string on rows
with ``rank <= explain_top``, null otherwise).

**Completeness.** Each shard is written to a temp file and renamed; its Parquet footer
carries the shard's metadata (:func:`shard_meta`: shard number, user range, model and
data fingerprints, pool, explain_top). ``_manifest.json`` is written last (atomically)
and removed first when a rerun starts, so :func:`read_info` returns None for a table
that is missing or being (re)built.

This module imports pyarrow and pandas only; never ray, torch or streamlit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.data.types import DataError, id_sort_key
from recsys.jsonutil import json_default

SERVING_DIR = "serving"
MANIFEST = "_manifest.json"
KIND = "reclens-serving"
SCHEMA_VERSION = 1
META_KEY = b"reclens"
ROW_GROUP_ROWS = 20_000  # small row groups: read_users prunes by user_id statistics
BATCH_ROWS = 65_536  # rows per Parquet read batch in iter_chunks

SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("rank", pa.int32()),
        ("item_id", pa.string()),
        ("score", pa.float32()),
        ("test_item_id", pa.string()),
        ("test_rank", pa.int32()),
        ("shap", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)

# The evaluation candidate pools: per user of the evaluation split, the top ``pool`` items
# scored from the split's test input (history without the held-out test item), the pools
# the population re-ranking and its λ-sweep need. Same shard numbering, in ``_eval/``
# (ignored by Parquet readers of the serving folder).
EVAL_DIR = "_eval"
EVAL_SCHEMA = pa.schema([("user_id", pa.string()), ("rank", pa.int32()), ("item_id", pa.string()),
                         ("score", pa.float32())])


@dataclass(frozen=True)
class ServingInfo:
    """What ``_manifest.json`` says about a complete serving table."""

    path: Path
    users: int
    rows: int
    pool: int
    explain_top: int
    workers: int
    model_fingerprint: str
    data_fingerprint: str
    log_position: int | None
    created: str  # ISO-8601 UTC


# ---- paths and identities ------------------------------------------------------------


def serving_path(model_dir: str | Path) -> Path:
    """The serving table of an artifact: ``<model_dir>/serving`` (a Parquet folder)."""
    return Path(model_dir) / SERVING_DIR


def eval_path(path: str | Path) -> Path:
    """The folder of the evaluation candidate pools of a serving table (``<path>/_eval``)."""
    return Path(path) / EVAL_DIR


def shard_name(shard: int) -> str:
    """File name of shard ``shard``: ``part-00003.parquet``."""
    return f"part-{shard:05d}.parquet"


def model_fingerprint(model_dir: str | Path) -> str:
    """The artifact's fingerprint (sha256 hex of the weights file and canonical
    config.json): the ``model_fingerprint`` its manifest records — the same value as
    ``recsys.models.base.model_key`` of the loaded model — or, for a manifest without
    one, computed from the files. DataError when the artifact is missing."""
    from recsys.models.transformer.artifact import artifact_fingerprint, read_manifest

    fp = read_manifest(model_dir).get("model_fingerprint")
    if isinstance(fp, str) and fp:
        return fp
    return artifact_fingerprint(model_dir)


def now_utc() -> str:
    """The current time as ISO-8601 UTC (seconds), e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# ---- writing ---------------------------------------------------------------------------


def shard_table(columns: dict[str, Any], meta: dict[str, Any], schema: pa.Schema = SCHEMA) -> pa.Table:
    """A shard as an Arrow table of ``schema`` (default :data:`SCHEMA`; missing optional
    columns are null) with ``meta`` (JSON) in its schema metadata under ``reclens``.
    Columns may be Python sequences, numpy arrays or Arrow arrays."""
    n = len(columns["user_id"])
    arrays = [_column(columns[name], f.type) if name in columns else pa.nulls(n, f.type)
              for name, f in zip(schema.names, schema)]
    md = {META_KEY: json.dumps(meta, sort_keys=True, default=json_default).encode()}
    return pa.Table.from_arrays(arrays, schema=schema.with_metadata(md))


def _column(values: Any, typ: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(typ)
    return pa.array(values, type=typ)


def write_shard(path: str | Path, shard: int, table: pa.Table) -> Path:
    """Write one shard atomically: a ``.``-prefixed temp file in ``path`` (ignored by
    Parquet readers), then a rename to ``part-{shard:05d}.parquet``."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    final = d / shard_name(shard)
    tmp = d / f".{final.name}.tmp{os.getpid()}"
    pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS)
    os.replace(tmp, final)
    return final


def shard_meta(path: str | Path, shard: int) -> dict[str, Any] | None:
    """The metadata recorded in shard ``shard``'s footer, or None when the file is
    missing, unreadable or carries none (then the shard counts as not done)."""
    f = Path(path) / shard_name(shard)
    if not f.is_file():
        return None
    try:
        md = pq.read_schema(f).metadata or {}
        meta = json.loads(md[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    return meta if isinstance(meta, dict) else None


def start_run(path: str | Path) -> None:
    """Prepare ``path`` for a (re)run: create it, drop the manifest (the table is
    incomplete from now on) and stale temp files of killed runs (also in ``_eval/``).
    Shards stay."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    (d / MANIFEST).unlink(missing_ok=True)
    for f in [*d.glob(".part-*.tmp*"), *eval_path(d).glob(".part-*.tmp*")]:
        f.unlink(missing_ok=True)


def remove_extra_shards(path: str | Path, n_shards: int) -> None:
    """Delete ``part-*.parquet`` files numbered ``>= n_shards`` (left by an earlier
    run with a different shard count), so the folder holds exactly this table."""
    for f in Path(path).glob("part-*.parquet"):
        stem = f.name[len("part-") : -len(".parquet")]
        if not stem.isdigit() or int(stem) >= n_shards:
            f.unlink(missing_ok=True)


def write_manifest(path: str | Path, info: ServingInfo, extra: dict[str, Any] | None = None) -> None:
    """Write ``_manifest.json`` atomically — last, once every shard is in place."""
    d = Path(path)
    obj = {"kind": KIND, "schema_version": SCHEMA_VERSION, **_info_fields(info), **(extra or {})}
    tmp = d / f".{MANIFEST}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(obj, indent=1, default=json_default), encoding="utf-8")
    os.replace(tmp, d / MANIFEST)


def _info_fields(info: ServingInfo) -> dict[str, Any]:
    return {k: getattr(info, k) for k in ServingInfo.__dataclass_fields__ if k != "path"}


# ---- reading ---------------------------------------------------------------------------


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The raw ``_manifest.json`` of a serving folder, or None when absent/unreadable."""
    f = Path(path) / MANIFEST
    try:
        obj = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) and obj.get("kind") == KIND else None


def read_info(model_dir: str | Path) -> ServingInfo | None:
    """The :class:`ServingInfo` of ``model_dir``'s serving table; None when the table
    is missing or incomplete (no manifest — it is written last — or a listed shard gone)."""
    path = serving_path(model_dir)
    m = read_manifest(path)
    if m is None:
        return None
    try:
        n_shards = int(m.get("shards", 0))
        info = ServingInfo(
            path=path,
            users=int(m["users"]),
            rows=int(m["rows"]),
            pool=int(m["pool"]),
            explain_top=int(m["explain_top"]),
            workers=int(m["workers"]),
            model_fingerprint=str(m["model_fingerprint"]),
            data_fingerprint=str(m["data_fingerprint"]),
            log_position=None if m.get("log_position") is None else int(m["log_position"]),
            created=str(m["created"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if any(not (path / shard_name(s)).is_file() for s in range(n_shards)):
        return None
    return info


def mismatch(
    info: ServingInfo, model_fingerprint: str, data_fingerprint: str, log_position: int | None = None
) -> str | None:
    """None when the table was computed from this model and this data; else one
    sentence for the user saying what differs (short fingerprints, never a path).
    ``log_position``: the events of the data's event log now included (``ingest``); a
    table computed at another position is stale (a table recording none counts as 0)."""
    diffs = []
    if info.model_fingerprint != model_fingerprint:
        diffs.append(f"model {info.model_fingerprint[:12]} (current {model_fingerprint[:12]})")
    if info.data_fingerprint != data_fingerprint:
        diffs.append(f"data {info.data_fingerprint[:12]} (current {data_fingerprint[:12]})")
    if log_position is not None and (info.log_position or 0) != log_position:
        diffs.append(f"event log position {info.log_position or 0} (current {log_position})")
    if not diffs:
        return None
    return f"The serving table was precomputed from a different {' and '.join(diffs)}; run precompute again."


def _parts(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DataError("serving table not found", file=str(p))
    return sorted(p.glob("part-*.parquet"))


def _with_keys(columns: Sequence[str] | None) -> list[str]:
    cols = list(COLUMNS if columns is None else columns)
    return cols + [c for c in ("user_id", "rank") if c not in cols]


def _user_sorted(df: pd.DataFrame) -> pd.DataFrame:
    """Sort by user id as the dataset orders ids (numeric when all are integers), then rank."""
    uniq = list(dict.fromkeys(df["user_id"]))
    keys = id_sort_key(uniq)
    order = {uniq[j]: pos for pos, j in enumerate(sorted(range(len(uniq)), key=lambda j: keys[j]))}
    rank_of_user = np.array([order[u] for u in df["user_id"]], dtype=np.int64)
    return df.assign(_k=rank_of_user).sort_values(["_k", "rank"], kind="stable").drop(columns="_k").reset_index(drop=True)


def read_users(path: str | Path, user_ids: Sequence[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``user_ids`` (unknown ids give no rows), sorted by user then rank;
    ``columns`` (default all) selects columns. Reads with a pyarrow filter, so only
    row groups whose user_id statistics can hold the ids are read."""
    cols = _with_keys(columns)
    ids = [str(u) for u in user_ids]
    tables = [pq.read_table(f, columns=cols, filters=[("user_id", "in", ids)]) for f in _parts(path)] if ids else []
    if tables:
        df = pa.concat_tables(tables).to_pandas()
    else:
        df = pd.DataFrame({c: pd.Series(dtype=SCHEMA.field(c).type.to_pandas_dtype()) for c in cols})
    return _user_sorted(df).reindex(columns=list(COLUMNS if columns is None else columns))


def iter_chunks(
    path: str | Path, columns: Sequence[str] | None = None, users_per_chunk: int = 20_000
) -> Iterator[pd.DataFrame]:
    """The table as DataFrames of at most ``users_per_chunk`` whole users each (every
    row of a user in one chunk), in table order (user index, then rank). Memory stays
    bounded by about one chunk plus one Parquet batch."""
    if users_per_chunk < 1:
        raise DataError(f"users_per_chunk must be at least 1, got {users_per_chunk}")
    cols = _with_keys(columns)
    out = list(COLUMNS if columns is None else columns)
    for f in _parts(path):  # a user's rows never span two shards
        pending: list[pd.DataFrame] = []
        seen = 0  # users in pending, over-counted by at most one per batch boundary
        for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=cols):
            df = batch.to_pandas()
            pending.append(df)
            seen += _n_users(df)
            if seen > users_per_chunk:
                rest = yield from _emit(pd.concat(pending, ignore_index=True), users_per_chunk, out, keep_last=True)
                pending, seen = [rest], _n_users(rest)
        if pending:
            yield from _emit(pd.concat(pending, ignore_index=True), users_per_chunk, out, keep_last=False)


def _n_users(df: pd.DataFrame) -> int:
    u = df["user_id"].to_numpy()
    return int(np.count_nonzero(u[1:] != u[:-1])) + 1 if len(u) else 0


def _emit(buf: pd.DataFrame, per: int, out: list[str], keep_last: bool) -> Generator[pd.DataFrame, None, pd.DataFrame]:
    """Yield chunks of ``per`` whole users from ``buf`` (rows of a user are contiguous)
    and return the rows not yielded. With ``keep_last`` the last user is held back (it
    may continue in the next batch) and only full chunks are yielded; else everything."""
    u = buf["user_id"].to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(u[1:] != u[:-1]) + 1]) if len(u) else np.zeros(0, dtype=np.int64)
    n_users = len(starts)
    i = 0
    while (n_users - i > per) if keep_last else (i < n_users):
        a = int(starts[i])
        b = int(starts[i + per]) if i + per < n_users else len(buf)
        yield buf.iloc[a:b].reset_index(drop=True).reindex(columns=out)
        i += per
    a = int(starts[i]) if i < n_users else len(buf)
    return buf.iloc[a:].reset_index(drop=True)
