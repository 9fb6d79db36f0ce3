"""Training that scales: --device, the sampled softmax (--loss/--negatives), and
data-parallel training on Ray Train (--workers), whose artifact is the ordinary one."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest
import torch

from recsys.cli import main
from recsys.data.types import DataError
from recsys.evaluation import leave_one_out
from recsys.models.base import recommend
from recsys.models.transformer import TransformerConfig, TransformerRecommender
from recsys.models.transformer.loss import (
    DEFAULT_NEGATIVES,
    DEFAULT_SAMPLER,
    SAMPLED_ABOVE_ITEMS,
    LossSpec,
    choose_loss,
)
from recsys.models.transformer.parallel import shard, window_targets
from recsys.models.transformer.sampled import sampled_cross_entropy
from recsys.models.transformer.trainer import Trainer
from recsys.runtime import resolve_device
from recsys.train import train_model
from tests.test_transformer_helpers import chain_world

SMALL = dict(d_model=32, n_heads=2, max_len=16, eval_every=1, patience=3, min_epochs=1, batch_size=16, lr=5e-3,
             dropout=0.1, emb_dropout=0.1)
NO_NOISE = dict(dropout=0.0, emb_dropout=0.0, time_dropout=0.0)  # so two workers equal one


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


# ---- choosing the loss and the device ------------------------------------------------
def test_auto_picks_full_up_to_the_threshold_and_sampled_above():
    assert choose_loss("auto", SAMPLED_ABOVE_ITEMS).kind == "full"
    assert choose_loss("auto", SAMPLED_ABOVE_ITEMS + 1).kind == "sampled"
    assert choose_loss("auto", 1000).kind == "full"
    spec = choose_loss("auto", 50_000, 512, "popularity")
    assert spec == LossSpec("sampled", 512, "popularity")
    assert spec.describe() == {"loss": "sampled", "negatives": 512, "sampler": "popularity"}
    # negatives covering the catalogue: nothing to gain from sampling
    assert choose_loss("auto", SAMPLED_ABOVE_ITEMS + 5, SAMPLED_ABOVE_ITEMS + 5).kind == "full"
    # an explicit choice is kept whatever the size
    assert choose_loss("sampled", 100).kind == "sampled" and choose_loss("full", 10**6).kind == "full"
    assert choose_loss("full", 10).describe() == {"loss": "full", "negatives": None, "sampler": None}
    assert choose_loss("auto", 10).negatives == DEFAULT_NEGATIVES


@pytest.mark.parametrize("args, problem", [(("softmax", 10), "--loss"), (("full", 10, 0), "--negatives"),
                                           (("full", 10, 8, "hard"), "--sampler")])
def test_bad_loss_options(args, problem):
    with pytest.raises(DataError, match=problem):
        choose_loss(*args)


def test_resolve_device():
    assert resolve_device("cpu", cuda_available=True) == "cpu"
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("cuda", cuda_available=True) == "cuda"
    with pytest.raises(DataError, match="no CUDA GPU"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(DataError, match="--device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_one_error_line(capsys):
    assert main(["train", "--data", "demo-small", "--device", "cuda", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda") and "GPU" in err[0]


@pytest.mark.parametrize("argv, problem", [(["--workers", "0"], "--workers"), (["--negatives", "0"], "--negatives")])
def test_bad_scale_options_exit_2(argv, problem, capsys):
    assert main(["train", "--data", "demo-small", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and problem in err[0]


def test_workers_without_ray_is_one_error_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    assert main(["train", "--data", "demo-small", "--no-progress", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --workers needs Ray")


def test_an_address_nobody_listens_on_is_one_error_line(capsys):
    """`ray.init(address=…)` retries a dead address for minutes; the command checks first."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["train", "--data", "demo-small", "--no-progress", "--workers", "2",
                 "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach Ray at 127.0.0.1:{port}")


def test_a_refused_cluster_connection_names_token_authentication(monkeypatch):
    from recsys.train_ray import ray_init_problem

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    msg = ray_init_problem("10.0.0.5:6379", ConnectionError("Failed to connect\nmore detail"))
    assert "\n" not in msg and msg.startswith("cannot start or reach Ray at 10.0.0.5:6379: Failed to connect")
    assert "RAY_AUTH_MODE=token" in msg
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert "RAY_AUTH_MODE" not in ray_init_problem("10.0.0.5:6379", ConnectionError("x"))
    assert "RAY_AUTH_MODE" not in ray_init_problem(None, RuntimeError("y"))


# ---- the sampled softmax -------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sampled_loss_over_every_item_is_the_full_softmax(smoothing):
    g = torch.Generator().manual_seed(0)
    n, t, d = 12, 7, 5
    h, items, bias = torch.randn(t, d, generator=g), torch.randn(n, d, generator=g), torch.randn(n, generator=g)
    y = torch.randint(n, (t,), generator=g)
    neg = torch.arange(n)  # every item once: the positive among them is an accidental hit, masked
    got = sampled_cross_entropy(h, y, neg, (items[y], items), bias, None, smoothing)
    want = torch.nn.functional.cross_entropy(h @ items.T + bias, y, label_smoothing=smoothing)
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    # the log-Q correction shifts each item's logit by its own constant
    logq = torch.randn(n, generator=g)
    got_q = sampled_cross_entropy(h, y, neg, (items[y], items), bias, logq)
    want_q = torch.nn.functional.cross_entropy(h @ items.T + bias - logq, y)
    assert float(got_q) == pytest.approx(float(want_q), rel=1e-5)


def test_item_rows_are_rows_of_the_item_matrix():
    ds = chain_world()
    te = np.random.default_rng(0).standard_normal((ds.n_items, 384)).astype(np.float32)
    model = TransformerRecommender(ds.item_ids, TransformerConfig(**SMALL, text_rank=8), te)
    model.net.item_count.copy_(torch.arange(ds.n_items, dtype=torch.float32))  # the text prior weights count
    tokens = torch.tensor([0, 1, 2, 5, ds.n_items + 1])
    with torch.no_grad():
        assert torch.allclose(model.net.item_rows(tokens), model.net.item_matrix()[tokens], atol=1e-6)


@pytest.mark.parametrize("sampler, extra", [("uniform", {}), ("popularity", {"label_smoothing": 0.1}),
                                            ("uniform", {"skip_unseen_items": True})])
def test_a_sampled_step_has_finite_gradients_everywhere(sampler, extra):
    ds = chain_world(n_items=30, extra_item=True)  # the extra item is never seen in training
    split = leave_one_out(ds)
    seqs = split.train
    te = np.random.default_rng(1).standard_normal((ds.n_items, 384)).astype(np.float32)
    model = TransformerRecommender(ds.item_ids, TransformerConfig(**{**SMALL, **extra}), te)
    trainer = Trainer(model, seqs, split.train_ts, None, epochs=1, loss=LossSpec("sampled", 8, sampler))
    model.net.train()
    users = np.arange(16)
    ends = np.array([len(seqs[u]) for u in users])
    loss, n_tok = trainer._batch_loss(users, ends)
    loss.backward()
    assert n_tok == int(window_targets(ends, SMALL["max_len"]).sum())
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    for name, p in model.net.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.net.item_emb.weight.grad.abs().sum() > 0


def test_user_shards_are_disjoint_and_hold_exactly_their_users_data():
    from recsys.data import load
    from recsys.models.transformer.parallel import user_owners, user_shards

    ds = load("demo-small")
    split = leave_one_out(ds)
    owners = user_owners(ds.user_ids, 3)
    assert np.array_equal(owners, user_owners(ds.user_ids, 3))  # stable (blake2b, not hash())
    assert np.array_equal(owners[5:], user_owners(ds.user_ids[5:], 3))  # a user's shard ignores the others
    parts = user_shards(split.train, split.train_ts, split.eval_users, split.valid_target, owners, 3,
                        ds.n_items, None)
    held = [set(p.users.tolist()) for p in parts]
    assert all(held) and not (held[0] & held[1] or held[0] & held[2] or held[1] & held[2])
    assert set().union(*held) == {u for u, s in enumerate(split.train) if len(s)}
    counts = np.bincount(np.concatenate(split.train), minlength=ds.n_items)
    for p in parts:
        assert np.array_equal(p.counts, counts) and p.lengths.tolist() == [len(s) for s in split.train]
        seqs, tss = p.sequences()
        for u in p.users.tolist():
            assert np.array_equal(seqs[u], split.train[u]) and np.array_equal(tss[u], split.train_ts[u])
        other = next(u for u in range(ds.n_users) if u not in held[p.rank])
        with pytest.raises(KeyError):
            seqs[other]  # another worker's user is not here
        hist, _, tgt = p.valid()
        assert set(p.valid_users.tolist()) <= held[p.rank] and len(hist) == len(tgt) == len(p.valid_users)
    assert sorted(np.concatenate([p.valid_users for p in parts]).tolist()) == split.eval_users.tolist()


def test_one_shard_of_every_user_trains_exactly_what_the_whole_log_does():
    from recsys.models.transformer.parallel import user_shards

    ds = chain_world()
    split = leave_one_out(ds)
    from recsys.models.transformer.recommender import training_gap_counts

    (whole,) = user_shards(split.train, split.train_ts, split.eval_users, split.valid_target,
                           np.zeros(ds.n_users, dtype=np.int32), 1, ds.n_items, training_gap_counts(split.train_ts))
    cfg = TransformerConfig(use_text=False, use_time=True, **{**SMALL, "max_epochs": 3})
    a = TransformerRecommender(ds.item_ids, cfg, seed=3)
    b = TransformerRecommender(ds.item_ids, cfg, seed=3)
    log_a = a.fit(split.train, split.train_ts, split.inputs("valid"), epochs=3)
    log_b = b.fit([], None, whole.valid(), epochs=3, users=whole)
    assert [h["loss"] for h in log_b.history] == [h["loss"] for h in log_a.history]
    assert [h["valid_ndcg@10"] for h in log_b.history] == [h["valid_ndcg@10"] for h in log_a.history]
    assert np.array_equal(a.gap_counts, b.gap_counts)
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert torch.equal(va, vb), k


def test_shard_splits_every_batch_and_never_leaves_a_worker_idle():
    batch = np.arange(7)
    parts = [shard(batch, r, 3) for r in range(3)]
    assert sorted(np.concatenate([p for p, _ in parts]).tolist()) == batch.tolist()
    assert all(w for _, w in parts) and [len(p) for p, _ in parts] == [3, 2, 2]
    part, weight = shard(np.arange(1), 1, 2)  # a one-window batch: rank 1 joins with weight 0
    assert part.tolist() == [0] and not weight
    assert window_targets(np.array([3, 16, 17, 40]), 16).tolist() == [3, 16, 15, 15]


@pytest.fixture(scope="module")
def full_and_sampled(tmp_path_factory):
    ds = chain_world()
    root = tmp_path_factory.mktemp("scale")
    runs = {}
    for loss in ("full", "sampled"):
        res = train_model(ds, root / loss, seed=1, epochs=4, ablation=False, baselines=False, device="cpu",
                          loss=loss, negatives=8, **SMALL)
        runs[loss] = res
    return ds, root, runs


def test_sampled_training_learns_and_records_its_loss(full_and_sampled):
    ds, root, runs = full_and_sampled
    res = runs["sampled"]
    assert (res["loss"], res["negatives"], res["sampler"], res["device"], res["workers"]) == \
        ("sampled", 8, DEFAULT_SAMPLER, "cpu", 1)
    assert runs["full"]["loss"] == "full" and runs["full"]["negatives"] is None
    man = json.loads((root / "sampled" / "manifest.json").read_text())
    assert (man["loss"], man["negatives"], man["device"], man["workers"]) == ("sampled", 8, "cpu", 1)
    losses = [h["loss"] for h in man["history"]]
    assert losses[-1] < losses[0] and all(np.isfinite(losses))
    assert res["samples_per_s"] > 0 and man["samples_per_s"] == res["samples_per_s"]
    assert res["valid"]["ndcg@10"] > 0.3  # the chain world is learnt from sampled negatives too


def test_sampled_artifact_is_an_ordinary_artifact(full_and_sampled):
    ds, root, _ = full_and_sampled
    full, sampled = root / "full", root / "sampled"
    assert sorted(p.name for p in full.iterdir()) == sorted(p.name for p in sampled.iterdir())
    cf, cs = (json.loads((d / "config.json").read_text()) for d in (full, sampled))
    assert cf.keys() == cs.keys() and cf["model"] == cs["model"]  # the loss is not a configuration key
    assert set(cf["model"]) == set(TransformerConfig().__dict__)
    model = TransformerRecommender.load(sampled, ds)
    assert model.score([np.array([0, 1, 2])]).shape == (1, ds.n_items)


def test_in_process_cli_run_never_imports_ray(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # any `import ray` would fail the run
    out = tmp_path / "m"
    argv = ["train", "--data", "demo-small", "--out", str(out), "--epochs", "1", "--no-ablation", "--no-progress",
            "--device", "cpu", "--workers", "1", "--loss", "sampled", "--negatives", "64", "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (res["device"], res["loss"], res["negatives"], res["workers"]) == ("cpu", "sampled", 64, 1)
    assert res["samples_per_s"] > 0


# ---- data-parallel on Ray Train ------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.train.torch")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def one_and_two_workers(ray_local, tmp_path_factory):
    """demo-small trained for 2 epochs without dropout in this process and on two Ray
    Train workers (one Ray Train run)."""
    from recsys.data import load
    from recsys.train_ray import RayPlan

    # a source no worker could load: the workers get their users' data from the driver
    ds = dataclasses.replace(load("demo-small"), source="built in memory")
    root = tmp_path_factory.mktemp("ray")
    kw = dict(seed=0, epochs=2, ablation=False, baselines=False, device="cpu", loss="full",
              d_model=32, n_layers=1, n_heads=1, max_len=30, batch_size=32, eval_every=1, min_epochs=1, **NO_NOISE)
    seen: list[tuple[float, str]] = []
    one = train_model(ds, root / "one", **kw)
    two = train_model(ds, root / "two", parallel=RayPlan(workers=2), progress=lambda f, m: seen.append((f, m)), **kw)
    return ds, root, one, two, seen


def test_two_workers_train_what_one_does(one_and_two_workers):
    ds, root, one, two, _ = one_and_two_workers
    assert (two["workers"], two["device"], two["loss"], two["threads"]) == (2, "cpu", "full", 1)
    assert two["samples_per_s"] > 0 and two["epochs"] == one["epochs"] == 2
    h1, h2 = (json.loads((root / d / "manifest.json").read_text())["history"] for d in ("one", "two"))
    # the same global batches and the batch-mean gradient: only rounding differs
    assert [h["loss"] for h in h2] == pytest.approx([h["loss"] for h in h1], rel=1e-4)
    assert two["valid"]["ndcg@10"] == pytest.approx(one["valid"]["ndcg@10"], abs=0.02)


def test_the_ray_artifact_loads_and_ranks(one_and_two_workers):
    ds, root, one, two, _ = one_and_two_workers
    man = json.loads((root / "two" / "manifest.json").read_text())
    assert (man["workers"], man["device"], man["loss"]) == (2, "cpu", "full")
    assert sorted(p.name for p in (root / "two").iterdir()) == sorted(p.name for p in (root / "one").iterdir())
    model = TransformerRecommender.load(root / "two", ds)
    ref = TransformerRecommender.load(root / "one", ds)
    items, ts = ds.sequence(0)
    rec = recommend(model, items, k=10, timestamps=ts)
    assert len(rec.items) == 10 and np.all(np.diff(rec.scores) <= 0) and not set(rec.items) & set(items)
    s2, s1 = model.score([items], [ts]), ref.score([items], [ts])
    assert np.corrcoef(s1[0], s2[0])[0, 1] > 0.99  # the same model up to rounding


def test_ray_progress_reaches_the_driver(one_and_two_workers):
    *_, seen = one_and_two_workers
    assert any(m.startswith("epoch 2") for _, m in seen)
    fr = [f for f, _ in seen]
    assert fr == sorted(fr)


def test_each_worker_holds_its_own_users_and_together_all(one_and_two_workers):
    ds, _, one, two, _ = one_and_two_workers
    split = leave_one_out(ds)
    n_train = sum(1 for s in split.train if len(s))
    # every worker checked (one all-reduce) that each training user is held exactly once
    assert len(two["worker_users"]) == 2 and sum(two["worker_users"]) == n_train
    assert min(two["worker_users"]) > 0.3 * n_train  # a hash split: roughly half each
    assert "worker_users" not in one


def test_a_local_ray_too_small_for_the_workers_is_refused(ray_local, tmp_path):
    from recsys.data import load
    from recsys.train_ray import RayPlan

    with pytest.raises(DataError, match="needs 3 CPUs"):  # the fixture's Ray has 2
        train_model(load("demo-small"), tmp_path / "m", epochs=1, ablation=False, baselines=False, device="cpu",
                    parallel=RayPlan(workers=3))
