"""The app's big-data logic without a page: the first-start limit, the command lines,
the serving-table status, the Item view's table numbers and the Evaluation page's table
tiles (ui/serving/logic.py, ui/item/logic.py, ui/model_card/logic.py)."""

from __future__ import annotations

import logging
import shlex

import numpy as np
import pandas as pd
import pytest

from recsys import serving
from ui.serving import logic

# ---- the first-start limit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [(None, 200_000), ("", 200_000), ("  ", 200_000), ("5000", 5000), (" 1_000_000 ", 1_000_000), ("0", 0)],
)
def test_first_start_limit_reads_whole_numbers(raw, want):
    env = {} if raw is None else {logic.LIMIT_ENV: raw}
    assert logic.first_start_limit(env) == (want, None)


@pytest.mark.parametrize("raw", ["abc", "-5", "1.5", "1e6", "12k"])
def test_first_start_limit_falls_back_to_the_default_with_a_warning(raw):
    limit, warning = logic.first_start_limit({logic.LIMIT_ENV: raw})
    assert limit == logic.DEFAULT_FIRST_START_LIMIT == 200_000
    assert warning is not None and logic.LIMIT_ENV in warning and repr(raw) in warning and "200,000" in warning


def test_the_app_logs_an_invalid_limit_once_and_keeps_running(monkeypatch, caplog):
    from ui.core import loaders

    monkeypatch.setenv(logic.LIMIT_ENV, "lots")
    loaders._warned.clear()
    with caplog.at_level(logging.WARNING, logger="ui.core.loaders"):
        assert loaders.first_start_limit() == 200_000
        assert loaders.first_start_limit() == 200_000
    hits = [r for r in caplog.records if logic.LIMIT_ENV in r.getMessage()]
    assert len(hits) == 1 and hits[0].levelno == logging.WARNING
    monkeypatch.setenv(logic.LIMIT_ENV, "10")
    assert loaders.first_start_limit() == 10


def test_above_limit_is_strict():
    assert logic.above_limit(201, 200) and not logic.above_limit(200, 200)
    assert logic.above_limit(1, 0)  # 0: never train in the app


# ---- command lines ---------------------------------------------------------------------------


def test_commands_use_the_source_as_typed_and_the_model_dir():
    c = logic.commands("demo-small", "artifacts/models/0123456789abcdef")
    assert c.train == "python -m recsys train --data demo-small --out artifacts/models/0123456789abcdef"
    assert c.precompute == "python -m recsys precompute --data demo-small --model artifacts/models/0123456789abcdef"
    assert c.both == c.train + "\n" + c.precompute and not c.uploaded


def test_commands_quote_paths_and_carry_the_filter_and_tie_order():
    c = logic.commands("/data/my log.parquet", "/srv/home dir/models/ab", min_count=5, tie_order="id")
    assert shlex.split(c.train) == ["python", "-m", "recsys", "train", "--data", "/data/my log.parquet", "--out",
                                    "/srv/home dir/models/ab", "--min-count", "5", "--tie-order", "id"]
    # precompute reads the filter and tie order from the model's manifest
    assert shlex.split(c.precompute)[-4:] == ["--data", "/data/my log.parquet", "--model", "/srv/home dir/models/ab"]


def test_commands_for_an_upload_name_a_placeholder_not_the_temp_folder():
    c = logic.commands("upload:/tmp/reclens-upload-x1y2/files#abc", "artifacts/models/ab")
    assert c.uploaded
    assert "/tmp/reclens-upload" not in c.both and "abc" not in c.both
    assert f"--data {logic.UPLOAD_PLACEHOLDER} " in c.train and f"--data {logic.UPLOAD_PLACEHOLDER} " in c.precompute


def test_relative_model_dirs_get_a_where_to_run_note():
    assert logic.relative_home_note("artifacts/models/ab") is not None
    assert logic.relative_home_note("/srv/models/ab") is None


# ---- table status ---------------------------------------------------------------------------


def _tiny_table(model_dir, model_fp="m" * 64, data_fp="d" * 64, created="2026-01-01T00:00:00+00:00"):
    path = serving.serving_path(model_dir)
    serving.start_run(path)
    cols = {"user_id": ["1", "1", "2", "2"], "rank": [1, 2, 1, 2], "item_id": ["a", "b", "b", "c"],
            "score": [2.0, 1.0, 3.0, 0.5], "test_item_id": ["b", "b", None, None], "test_rank": [2, 2, None, None]}
    serving.write_shard(path, 0, serving.shard_table(cols, {"shard": 0}))
    info = serving.ServingInfo(path=path, users=2, rows=4, pool=2, explain_top=0, workers=1,
                               model_fingerprint=model_fp, data_fingerprint=data_fp, log_position=None,
                               created=created)  # fmt: skip
    serving.write_manifest(path, info, {"shards": 1})
    return path


def test_table_status_none_matching_and_mismatched(tmp_path):
    st0 = logic.table_status(tmp_path, "m" * 64, "d" * 64)
    assert st0.info is None and not st0.usable and st0.key == ("", "", "", "")
    _tiny_table(tmp_path)
    ok = logic.table_status(tmp_path, "m" * 64, "d" * 64)
    assert ok.usable and ok.problem is None
    assert ok.key == (str(serving.serving_path(tmp_path)), "2026-01-01T00:00:00+00:00", "m" * 64, "d" * 64)
    bad = logic.table_status(tmp_path, "m" * 64, "e" * 64)
    assert not bad.usable and bad.problem is not None and "data" in bad.problem
    assert str(tmp_path) not in bad.problem  # never a server path
    _tiny_table(tmp_path, created="2026-01-02T00:00:00+00:00")
    assert logic.table_status(tmp_path, "m" * 64, "d" * 64).key != ok.key  # a rewrite is a new cache entry


# ---- the item view from a table -------------------------------------------------------------


def test_item_numbers_from_a_table(tmp_path, small_ds):
    from ui.item import logic as item_logic

    ds = small_ds
    users, items = ds.user_ids[:3], ds.item_ids[:4]
    path = serving.serving_path(tmp_path)
    serving.start_run(path)
    cols: dict[str, list] = {"user_id": [], "rank": [], "item_id": [], "score": []}
    lists = {users[0]: [items[0], items[1], items[2]], users[1]: [items[1], items[0], items[3]],
             users[2]: [items[2], items[3], items[1]]}  # fmt: skip
    for u, lst in lists.items():
        for r, it in enumerate(lst, start=1):
            cols["user_id"].append(u)
            cols["rank"].append(r)
            cols["item_id"].append(it)
            cols["score"].append(1.0 / r)
    serving.write_shard(path, 0, serving.shard_table(cols, {}))

    aud = item_logic.table_audience(str(path), items[1], 2)  # item 1 in the top 2 of users 0 and 1
    assert aud["user_id"].tolist() == [users[1], users[0]] and aud["rank"].tolist() == [1, 2]
    assert item_logic.rank_counts(aud["rank"].to_numpy(), 3).tolist() == [1, 1, 0]
    who = item_logic.who_gets_from_table(ds, aud)
    assert who["user_id"].tolist() == [users[1], users[0]] and who["rank (model)"].tolist() == [1, 2]
    assert who["history length"].tolist() == [int(np.diff(ds.user_offsets)[ds.user_index(u)]) for u in who["user_id"]]
    assert item_logic.who_gets_from_table(ds, aud, limit=1)["user_id"].tolist() == [users[1]]  # best rank first
    stranger = pd.concat([aud, pd.DataFrame({"user_id": ["no-such-user"], "rank": [2]})], ignore_index=True)
    assert item_logic.who_gets_from_table(ds, stranger)["user_id"].tolist() == [users[1], users[0]]

    exposure = pd.DataFrame({"item_id": list(items), "exposure": [2, 3, 1, 0]})
    i = ds.item_index(items[1])
    view = item_logic.item_from_table(ds, i, exposure, aud, 2)
    assert view.users == 3 and view.listed == 2 and view.exposure_rank == 1 and view.rank_counts.tolist() == [1, 1]
    assert item_logic.item_exposure(exposure, "no-such-item") == 0
    cat = list(ds.item_categories[i])[0]
    expect = sum(n for it, n in zip(items, [2, 3, 1, 0]) if cat in ds.item_categories[ds.item_index(it)]) / 6
    assert view.categories == list(ds.item_categories[i])
    assert view.category_shares[0] == pytest.approx(expect)


# ---- evaluation tiles -----------------------------------------------------------------------


def test_table_metric_tiles_order_and_labels():
    from ui.model_card import logic as card_logic

    res = {"hr@20": 0.5, "ndcg@10": 0.25, "hr@10": 0.4, "users": 120, "ndcg@20": 0.3, "flag": True}
    assert card_logic.table_metric_tiles(res) == [("NDCG@10", "0.2500"), ("HR@10", "0.4000"),
                                                 ("NDCG@20", "0.3000"), ("HR@20", "0.5000")]  # fmt: skip
    assert card_logic.table_users(res) == 120 and card_logic.table_users({}) is None
