"""The serving-table format and reader (recsys.serving) on hand-made tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys import serving
from recsys.data.types import DataError

POOL = 4
SHARD = 4  # users per shard


def _users(n: int) -> list[str]:
    return [str(i) for i in range(1, n + 1)]  # integer ids: dataset order is numeric


def _write_table(model_dir, n_users=10, explain_top=2, workers=1):
    path = serving.serving_path(model_dir)
    serving.start_run(path)
    ids = _users(n_users)
    n_shards = -(-n_users // SHARD)
    rows = 0
    for s in range(n_shards):
        users = ids[s * SHARD : (s + 1) * SHARD]
        cols: dict[str, list] = {k: [] for k in ("user_id", "rank", "item_id", "score", "test_item_id", "test_rank", "shap")}
        for u in users:
            for r in range(1, POOL + 1):
                cols["user_id"].append(u)
                cols["rank"].append(r)
                cols["item_id"].append(f"i{int(u) * 10 + r}")
                cols["score"].append(np.float32(1.0 / r))
                cols["test_item_id"].append(None if u == "3" else f"t{u}")
                cols["test_rank"].append(None if u == "3" else int(u))
                cols["shap"].append(json.dumps({"u": u, "r": r}) if r <= explain_top else None)
        rows += len(cols["user_id"])
        meta = {"shard": s, "model_fingerprint": "m" * 64, "data_fingerprint": "d" * 64}
        serving.write_shard(path, s, serving.shard_table(cols, meta))
    info = serving.ServingInfo(
        path=path, users=n_users, rows=rows, pool=POOL, explain_top=explain_top, workers=workers,
        model_fingerprint="m" * 64, data_fingerprint="d" * 64, log_position=None, created=serving.now_utc(),
    )
    serving.write_manifest(path, info, {"shards": n_shards, "shard_size": SHARD})
    return path, info


def test_table_opens_with_pandas_and_ignores_markers(tmp_path):
    path, info = _write_table(tmp_path)
    (path / ".part-00001.parquet.tmp999").write_bytes(b"not parquet")  # a killed run's temp file
    df = pd.read_parquet(path)
    assert list(df.columns) == list(serving.COLUMNS)
    assert len(df) == info.rows == 10 * POOL
    assert str(df["rank"].dtype) == "int32" and str(df["score"].dtype) == "float32"
    assert sorted(p.name for p in path.iterdir() if not p.name.startswith((".", "_"))) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]


def test_read_info_roundtrip_and_incomplete(tmp_path):
    assert serving.read_info(tmp_path) is None
    path, info = _write_table(tmp_path, workers=2)
    got = serving.read_info(tmp_path)
    assert got == info
    assert got is not None and got.workers == 2 and got.log_position is None and got.created.endswith("+00:00")
    (path / serving.shard_name(1)).unlink()
    assert serving.read_info(tmp_path) is None  # a listed shard is gone
    _write_table(tmp_path)
    serving.start_run(path)  # a rerun starts: manifest removed first
    assert serving.read_info(tmp_path) is None
    assert (path / serving.shard_name(0)).is_file()  # finished shards stay


def test_shard_meta_and_extra_shards(tmp_path):
    path, _ = _write_table(tmp_path)
    meta = serving.shard_meta(path, 2)
    assert meta is not None and meta["shard"] == 2 and meta["model_fingerprint"] == "m" * 64
    assert serving.shard_meta(path, 7) is None
    (path / serving.shard_name(5)).write_bytes(b"junk")
    assert serving.shard_meta(path, 5) is None  # unreadable counts as not done
    serving.remove_extra_shards(path, 3)
    assert not (path / serving.shard_name(5)).exists() and (path / serving.shard_name(2)).exists()
    assert not list(path.glob(".part-*"))  # no temp file left by write_shard


def test_mismatch_names_what_differs_without_paths(tmp_path):
    _, info = _write_table(tmp_path)
    assert serving.mismatch(info, "m" * 64, "d" * 64) is None
    msg = serving.mismatch(info, "x" * 64, "d" * 64)
    assert msg is not None and "model" in msg and "data" not in msg and str(tmp_path) not in msg
    both = serving.mismatch(info, "x" * 64, "y" * 64)
    assert both is not None and "model" in both and "data" in both


def test_read_users_filters_and_sorts(tmp_path):
    path, _ = _write_table(tmp_path, n_users=12)
    df = serving.read_users(path, ["10", "2", "nobody", "9"])
    assert list(dict.fromkeys(df["user_id"])) == ["2", "9", "10"]  # numeric id order, not string order
    assert df.groupby("user_id")["rank"].apply(list).to_dict() == {u: [1, 2, 3, 4] for u in ("2", "9", "10")}
    assert df.loc[df["user_id"] == "9", "item_id"].tolist() == ["i91", "i92", "i93", "i94"]
    sub = serving.read_users(path, ["3"], columns=["item_id", "test_rank"])
    assert list(sub.columns) == ["item_id", "test_rank"] and len(sub) == POOL and sub["test_rank"].isna().all()
    assert serving.read_users(path, ["nobody"]).empty
    assert serving.read_users(path, []).empty
    with pytest.raises(DataError):
        serving.read_users(tmp_path / "missing", ["1"])


@pytest.mark.parametrize("batch_rows", [3, 5, 1000])
@pytest.mark.parametrize("per", [1, 3, 4, 100])
def test_iter_chunks_holds_whole_users(tmp_path, monkeypatch, batch_rows, per):
    monkeypatch.setattr(serving, "BATCH_ROWS", batch_rows)
    path, _ = _write_table(tmp_path, n_users=11)
    chunks = list(serving.iter_chunks(path, columns=["user_id", "item_id"], users_per_chunk=per))
    assert all(list(c.columns) == ["user_id", "item_id"] for c in chunks)
    assert all(0 < c["user_id"].nunique() <= per for c in chunks)
    users = [u for c in chunks for u in dict.fromkeys(c["user_id"])]
    assert users == _users(11)  # every user exactly once, in table order: never split
    whole = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(whole, pd.read_parquet(path, columns=["user_id", "item_id"]))
    with pytest.raises(DataError):
        next(serving.iter_chunks(path, users_per_chunk=0))


def test_model_fingerprint(tmp_path):
    from recsys.models.transformer.artifact import artifact_fingerprint

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text(json.dumps({"kind": "x", "n_items": 1}))
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "x"}))
    fp = serving.model_fingerprint(tmp_path)
    assert fp == artifact_fingerprint(tmp_path) and len(fp) == 64
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert serving.model_fingerprint(tmp_path) != fp  # content, not names
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "x", "model_fingerprint": "f" * 64}))
    assert serving.model_fingerprint(tmp_path) == "f" * 64  # the recorded one (= model_key)
