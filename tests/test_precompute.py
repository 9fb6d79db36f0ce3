"""Batch precompute of the serving table (recsys.precompute, `precompute` command) and the
population functions that read it (recsys.rerank.table), on the small demo world with a
tiny model. One local Ray (num_cpus=2) serves the whole module."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from recsys import serving
from recsys.cli import main
from recsys.commands.precompute import shap_json
from recsys.data.types import DataError
from recsys.precompute.plan import Job
from recsys.precompute.runner import pending_shards, run
from recsys.precompute.scoring import GroupScorer

SOURCE = "demo-small"
SHARD = 40  # 150 users -> shards of 40, 40, 40, 30
GROUP = 16  # several scoring groups per shard


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def world(tiny_model, tmp_path_factory):
    """(ds, model, model_dir): a private copy of the tiny artifact, so serving tables
    written here never reach other tests' model directory."""
    from recsys.data import load
    from recsys.models.transformer import TransformerRecommender

    d = tmp_path_factory.mktemp("precompute") / "model"
    shutil.copytree(tiny_model, d)
    ds = load(SOURCE)
    return ds, TransformerRecommender.load(d, ds), d


def _job(world, **kw) -> Job:
    ds, _, d = world
    args = {"source": SOURCE, "model_dir": str(d), "n_users": ds.n_users,
            "model_fingerprint": serving.model_fingerprint(d), "data_fingerprint": ds.fingerprint,
            "shard_users": SHARD, "group_users": GROUP, **kw}
    return Job(**args)


def _run(world, path, job=None, log=None, **kw):
    ds, model, _ = world
    job = job or _job(world)
    if not kw.get("workers", 1) > 1 and not kw.get("use_ray"):
        kw.setdefault("scorer", GroupScorer(job, kw.get("explainer"), ds=ds, model=model))
    else:
        kw.setdefault("data", ds)
    return run(job, path, log=log or (lambda _m: None), **kw)


def _table(path):
    main_part = pd.read_parquet(path)
    eval_part = pd.read_parquet(serving.eval_path(path))
    return main_part, eval_part


@pytest.fixture(scope="module")
def fresh(world, tmp_path_factory):
    """A complete in-process table: the reference the other runs are compared with."""
    path = tmp_path_factory.mktemp("fresh") / "serving"
    res = _run(world, path)
    return path, res


def _cli_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# ---- the table's contract ----------------------------------------------------------------
def test_table_has_every_user_and_the_contract_columns(world, fresh):
    ds, _, _ = world
    path, res = fresh
    df, ev = _table(path)
    assert res.engine == "in-process" and res.shards == 4 and res.shards_kept == 0 and res.scored_users == ds.n_users
    assert list(df.columns) == list(serving.COLUMNS)
    assert df["user_id"].nunique() == ds.n_users == res.users and len(df) == res.rows
    assert df.groupby("user_id")["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1))).all()
    sizes = df.groupby("user_id").size()
    assert all(sizes[u] == min(200, ds.n_items - len(set(ds.history(u).items.tolist()))) for u in ds.user_ids)
    # never a seen item, as recommend excludes them
    seen = {(ds.user_ids[u], ds.item_ids[i]) for u, i in zip(ds.user, ds.item)}
    assert not any((u, i) in seen for u, i in zip(df["user_id"], df["item_id"]))
    assert df["shap"].isna().all()
    assert set(ev["user_id"]) <= set(df["user_id"]) and len(ev) > 0


def test_top10_equals_recommend_for_a_sample_of_users(world, fresh, capsys):
    ds, _, d = world
    path, _ = fresh
    sample = [ds.user_ids[u] for u in (0, 1, 39, 40, 77, 120, ds.n_users - 1)]
    table = serving.read_users(path, sample)
    for u in sample:
        r = _cli_json(capsys, ["recommend", "--data", SOURCE, "--model", str(d), "--user", u, "-k", "10", "--json"])
        mine = table[(table["user_id"] == u) & (table["rank"] <= 10)]
        assert mine["item_id"].tolist() == [it["item_id"] for it in r["items"]], u
        np.testing.assert_allclose(mine["score"].to_numpy(), [it["score"] for it in r["items"]], rtol=1e-5, atol=1e-5)


def test_test_rank_is_the_evaluation_rank(world, fresh):
    from recsys.evaluation.evaluate import score_ranks
    from recsys.evaluation.split import leave_one_out

    ds, model, _ = world
    path, _ = fresh
    split = leave_one_out(ds)
    ranks, _ = score_ranks(model, split, "test")
    df = pd.read_parquet(path, columns=["user_id", "rank", "test_item_id", "test_rank"])
    first = df[df["rank"] == 1].set_index("user_id")
    ids = [ds.user_ids[u] for u in split.eval_users]
    assert first.loc[ids, "test_rank"].astype(int).tolist() == ranks.tolist()
    _, _, targets = split.inputs("test")
    assert first.loc[ids, "test_item_id"].tolist() == [ds.item_ids[t] for t in targets]
    others = sorted(set(first.index) - set(ids))
    assert first.loc[others, "test_rank"].isna().all()


def test_same_table_for_one_or_two_workers_and_any_batch_size(world, fresh, ray_local, tmp_path):
    ref_main, ref_eval = _table(fresh[0])
    for workers, batch_groups, use_ray in ((2, 1, False), (1, 3, True)):
        path = tmp_path / f"w{workers}b{batch_groups}" / "serving"
        given = {} if workers > 1 else {"data": None}  # no dataset given: the driver loads the job's source
        res = _run(world, path, workers=workers, batch_groups=batch_groups, use_ray=use_ray, **given)
        assert res.engine == "ray"
        got_main, got_eval = _table(path)
        pd.testing.assert_frame_equal(got_main, ref_main)
        pd.testing.assert_frame_equal(got_eval, ref_eval)
        info = serving.read_info(path.parent)
        assert info is not None and info.workers == workers


def test_ray_workers_get_the_histories_with_the_work_not_the_log(world, fresh, ray_local, tmp_path):
    """Actors hold the item catalogue only: a source they cannot read changes nothing."""
    job = _job(world, source=str(tmp_path / "no-such-data"))
    path = tmp_path / "serving"
    res = _run(world, path, job=job, workers=2, batch_groups=2)
    assert res.engine == "ray" and res.scored_users == world[0].n_users
    for a, b in zip(_table(path), _table(fresh[0])):
        pd.testing.assert_frame_equal(a, b)


def test_group_blocks_carry_each_users_history(world):
    from recsys.models.transformer import TransformerRecommender
    from recsys.precompute.scoring import catalog_of, group_rows, group_table

    ds, model, d = world
    job = _job(world)
    groups = list(job.groups([1, 3]))[:3] + [(3, ds.n_users - 1, ds.n_users)]
    table = group_table(ds, groups)
    assert table.num_rows == len(groups)
    for j, (s, a, b) in enumerate(groups):
        gs, ga, gb, (users, items, ts) = group_rows(table, j)
        assert (gs, ga, gb) == (s, a, b) and list(users) == list(ds.user_ids[a:b])
        for k, u in enumerate(range(a, b)):
            np.testing.assert_array_equal(items[k], ds.sequence(u)[0])
            np.testing.assert_array_equal(ts[k], ds.sequence(u)[1])
    cat = catalog_of(ds)
    assert cat.n_interactions == 0 and cat.n_users == 0 and cat.item_ids == ds.item_ids
    assert cat.fingerprint == ds.fingerprint and ds.n_interactions > 0  # the original is untouched
    on_catalog = GroupScorer(job, ds=cat, model=TransformerRecommender.load(d, cat))
    on_data = GroupScorer(job, ds=ds, model=model)
    s, a, b, rows = group_rows(table, 1)
    assert on_catalog.score_group(s, a, b, rows).equals(on_data.score_group(s, a, b))


# ---- resumption -------------------------------------------------------------------------
def test_rerun_computes_only_a_removed_shard(world, fresh, tmp_path):
    path = tmp_path / "serving"
    shutil.copytree(fresh[0], path)
    (path / serving.shard_name(2)).unlink()
    (path / serving.MANIFEST).unlink()
    (path / ".part-00001.parquet.tmp4242").write_bytes(b"half a shard")  # a killed writer's leftover
    kept = {s: (path / serving.shard_name(s)).stat().st_mtime_ns for s in (0, 1, 3)}
    assert serving.read_info(path.parent) is None
    res = _run(world, path)
    assert res.shards_kept == 3 and res.scored_users == SHARD
    assert {s: (path / serving.shard_name(s)).stat().st_mtime_ns for s in (0, 1, 3)} == kept
    assert not list(path.glob(".part-*"))
    for a, b in zip(_table(path), _table(fresh[0])):
        pd.testing.assert_frame_equal(a, b)
    again = _run(world, path)  # nothing left to do
    assert again.scored_users == 0 and again.shards_kept == 4


def test_a_killed_run_resumes_where_it_stopped(world, fresh, tmp_path):
    ds, model, _ = world
    job = _job(world)

    class Killed(GroupScorer):
        def score_group(self, shard, start, stop):
            if shard == 2:
                raise KeyboardInterrupt  # the process dies while scoring shard 2
            return super().score_group(shard, start, stop)

    path = tmp_path / "serving"
    with pytest.raises(KeyboardInterrupt):
        _run(world, path, job=job, scorer=Killed(job, None, ds=ds, model=model))
    assert serving.read_info(path.parent) is None  # no manifest: the table is incomplete
    assert pending_shards(job, path) == [2, 3]
    res = _run(world, path, job=job)
    assert res.shards_kept == 2 and res.scored_users == ds.n_users - 2 * SHARD
    for a, b in zip(_table(path), _table(fresh[0])):
        pd.testing.assert_frame_equal(a, b)


def test_shards_of_another_job_are_recomputed(world, fresh, tmp_path):
    path = tmp_path / "serving"
    shutil.copytree(fresh[0], path)
    res = _run(world, path, job=_job(world, pool=20))
    assert res.shards_kept == 0 and res.scored_users == world[0].n_users
    assert pd.read_parquet(path).groupby("user_id").size().max() == 20
    other = _job(world, model_fingerprint="0" * 64)
    assert pending_shards(other, path) == [0, 1, 2, 3]


# ---- explanations -------------------------------------------------------------------------
def test_explain_rows_equal_the_explain_command(world, ray_local, tmp_path, capsys):
    ds, _, d = world
    job = _job(world, n_users=12, shard_users=6, group_users=4, explain_top=2, explain_budget=40, explain_seed=3)
    path = tmp_path / "serving"
    _run(world, path, job=job, workers=2, batch_groups=1, explainer=shap_json)  # on Ray: the explainer travels to the actors
    df = pd.read_parquet(path)
    assert df.loc[df["rank"] <= 2, "shap"].notna().all() and df.loc[df["rank"] > 2, "shap"].isna().all()
    for u in (ds.user_ids[0], ds.user_ids[7]):
        for _, row in df[(df["user_id"] == u) & (df["rank"] <= 2)].iterrows():
            mine = json.loads(row["shap"])
            r = _cli_json(capsys, ["explain", "--data", SOURCE, "--model", str(d), "--user", u, "--item",
                                   row["item_id"], "--budget", "40", "--seed", "3", "--json"])
            assert [a["item_id"] for a in mine["attributions"]] == [a["item_id"] for a in r["attributions"]]
            np.testing.assert_allclose([a["weight"] for a in mine["attributions"]],
                                       [a["weight"] for a in r["attributions"]], rtol=1e-6, atol=1e-9)
            assert mine["value"] == pytest.approx(r["value"], rel=1e-6)
            assert mine["base_value"] == pytest.approx(r["base_value"], rel=1e-6)


# ---- population functions -------------------------------------------------------------------
@pytest.fixture(scope="module")
def population(world):
    from recsys.rerank import build_context, prepare_population

    ds, model, _ = world
    ctx = build_context(ds, emb=model.text_emb)
    return ctx, prepare_population(ds, model, ctx)


def test_sweep_from_table_equals_the_in_memory_sweep(world, fresh, population):
    from recsys.rerank import sweep
    from recsys.rerank.table import sweep_from_table

    ds = world[0]
    ctx, pop = population
    want = sweep(ctx, pop)
    got = sweep_from_table(fresh[0], ds, ctx, users_per_chunk=7)
    assert list(got.columns) == list(want.columns) and len(got) == len(want) == 12
    assert got["term"].tolist() == want["term"].tolist() and got["weight"].tolist() == want["weight"].tolist()
    cols = [c for c in want.columns if c not in ("term", "weight", "seconds")]
    np.testing.assert_allclose(got[cols].to_numpy(float), want[cols].to_numpy(float), rtol=1e-9, atol=1e-12)
    assert not np.allclose(got["ild"].iloc[0], got["ild"].iloc[3])  # the weights do change the lists


def test_population_evaluation_from_table_equals_in_memory(world, fresh, population):
    from recsys.rerank import FairGroup, Weights, evaluate_population
    from recsys.rerank.table import evaluate_population_from_table

    ds = world[0]
    ctx, pop = population
    group = FairGroup.parse("longtail")
    for w in (Weights(), Weights(calibration=0.4), Weights(fairness=0.6)):
        want = evaluate_population(ctx, pop, w, 10, group)
        got = evaluate_population_from_table(fresh[0], ds, ctx, w, 10, group, users_per_chunk=1)[0]
        got.pop("_seconds")
        assert list(got) == list(want)
        for key, v in want.items():
            if isinstance(v, dict):
                assert got[key].keys() == v.keys()
                for attr in v:
                    assert got[key][attr] == pytest.approx(v[attr], rel=1e-9, abs=1e-12)
            else:
                assert got[key] == pytest.approx(v, rel=1e-9, abs=1e-12), key


def test_exposure_and_evaluation_from_table(world, fresh):
    from recsys.evaluation.evaluate import ranking_metrics
    from recsys.evaluation.split import leave_one_out
    from recsys.rerank.table import evaluation_from_table, exposure_from_table

    ds, model, _ = world
    path, _ = fresh
    df = pd.read_parquet(path, columns=["user_id", "rank", "item_id"])
    exp = exposure_from_table(path, k=10)
    want = df[df["rank"] <= 10]["item_id"].value_counts()
    assert list(exp.columns) == ["item_id", "exposure"]
    assert dict(zip(exp["item_id"], exp["exposure"])) == want.to_dict()
    assert exp["exposure"].is_monotonic_decreasing and exp["exposure"].sum() == (df["rank"] <= 10).sum()
    ev = evaluation_from_table(path, ks=(10, 20))
    ref = ranking_metrics(model, leave_one_out(ds), "test", ks=(10, 20))
    assert ev["users"] == leave_one_out(ds).n_eval
    for key, v in ref.items():
        assert ev[key] == pytest.approx(v, abs=1e-12), key
    with pytest.raises(DataError):
        exposure_from_table(path, k=0)


def test_stored_population_equals_the_live_computation(world, fresh, tmp_path):
    from recsys.precompute import population
    from recsys.rerank import Weights, build_context
    from recsys.rerank.table import evaluate_population_from_table, sweep_from_table

    ds, model, _ = world
    path = tmp_path / "serving"
    shutil.copytree(fresh[0], path)
    ctx = population.context_for(ds, model)
    assert np.array_equal(ctx.emb, build_context(ds, emb=model.text_emb).emb)  # the app's context
    job = _job(world)
    logged: list[str] = []
    entry = population.store(job, path, ds, model, logged.append)
    assert entry["file"] == population.POPULATION_FILE and not entry["kept"]
    stored = population.read(path)  # checked against the table's manifest
    assert stored is not None
    live = sweep_from_table(path, ds, ctx, users_per_chunk=11)
    got = population.sweep(stored)
    pd.testing.assert_frame_equal(got.drop(columns="seconds"), live.drop(columns="seconds"))
    for w in (Weights(), Weights(diversity=0.25), Weights(fairness=0.75)):
        want = evaluate_population_from_table(path, ds, ctx, w)[0]
        res = population.result(stored, w)
        assert res is not None
        res.pop("_seconds"), want.pop("_seconds")
        assert res == want
    assert population.result(stored, Weights(diversity=0.1, fairness=0.2)) is None  # not a sweep point
    # resumable: the same job keeps it; another model's summary is not this table's
    assert population.store(job, path, ds, model, logged.append)["kept"]
    f = population.population_path(path)
    f.write_text(f.read_text().replace(job.model_fingerprint, "0" * 64))
    assert population.read(path) is None
    assert not population.store(job, path, ds, model, logged.append)["kept"]  # recomputed
    assert population.read(path) is not None
    f.write_text("{not json")
    assert population.read(path) is None  # damaged: ignored, never a crash


# ---- the command --------------------------------------------------------------------------
def test_command_json_contract_and_serving_info(world, capsys):
    ds, _, d = world
    out = _cli_json(capsys, ["precompute", "--data", SOURCE, "--model", str(d), "--pool", "30",
                             "--shard-users", "64", "--json"])
    assert list(out)[-5:] == ["users", "rows", "path", "users_per_s", "workers"]
    assert out["users"] == ds.n_users and out["workers"] == 1 and out["engine"] == "in-process"
    assert out["rows"] == len(pd.read_parquet(out["path"])) and out["users_per_s"] > 0
    info = serving.read_info(d)
    assert info is not None and info.pool == 30 and info.users == ds.n_users and info.log_position == 0
    assert serving.mismatch(info, serving.model_fingerprint(d), ds.fingerprint) is None
    assert out["population_s"] > 0  # the Fairness lab's trade-offs, stored with the table
    man = serving.read_manifest(serving.serving_path(d))
    assert man is not None and man["population"]["file"] == "_population.json"
    from recsys.precompute import population

    assert population.read(serving.serving_path(d)) is not None
    again = _cli_json(capsys, ["precompute", "--data", SOURCE, "--model", str(d), "--pool", "30",
                               "--shard-users", "64", "--json"])
    assert again["shards_kept"] == 3 and again["scored_users"] == 0 and again["users_per_s"] is None
    assert again["population_s"] is None  # kept, like the shards


def _closed_port() -> int:
    """A local TCP port nobody listens on (bound once, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("argv, words", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--explain", "5", "--pool", "3"], "--explain 5 exceeds --pool 3"),
    (["--model", "/nonexistent/model"], "model directory not found"),
    (["--workers", "2", "--address", f"127.0.0.1:{_closed_port()}"], "Connection refused"),
])
def test_command_bad_input_is_one_error_line(world, capsys, argv, words):
    argv = ["precompute", "--data", SOURCE, *(["--model", str(world[2])] if "--model" not in argv else []), *argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


def test_without_ray_only_the_ray_path_fails(world, fresh, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(DataError, match="need Ray"):
        _run(world, tmp_path / "serving", workers=2)
    res = _run(world, tmp_path / "serving")  # in-process still works
    assert res.engine == "in-process" and res.scored_users == world[0].n_users


def test_default_shap_budget_is_the_explain_commands():
    from explain.shap_explain import DEFAULT_SHAP_BUDGET
    from recsys.precompute.plan import DEFAULT_EXPLAIN_BUDGET

    assert DEFAULT_EXPLAIN_BUDGET == DEFAULT_SHAP_BUDGET  # so --explain rows equal `explain` by default
