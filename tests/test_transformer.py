"""The transformer recommender: learning, determinism, padding, cold start, artifacts."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from recsys.data.types import DataError
from recsys.evaluation import MostPopular, leave_one_out, ranking_metrics
from recsys.models.base import Scorer
from recsys.models.transformer import SCHEMA_VERSION, TransformerConfig, TransformerRecommender
from recsys.text import item_embeddings
from tests.test_transformer_helpers import chain_world

TINY = dict(d_model=32, n_heads=2, max_len=16, max_epochs=24, eval_every=2, patience=4, min_epochs=4,
            batch_size=16, lr=5e-3, dropout=0.1, emb_dropout=0.1)


@pytest.fixture(scope="module")
def world():
    ds = chain_world()
    return ds, leave_one_out(ds), item_embeddings(ds)


def fit(world, seed=0, **over):
    ds, split, te = world
    cfg = TransformerConfig(**{**TINY, **over})
    m = TransformerRecommender(ds.item_ids, cfg, te if cfg.use_text else None, seed=seed)
    m.fit(split.train, split.train_ts, split.inputs("valid"))
    return m


@pytest.fixture(scope="module")
def trained(world):
    return fit(world)


def test_is_a_scorer_and_beats_popularity(world, trained):
    ds, split, _ = world
    assert isinstance(trained, Scorer)
    pop = MostPopular().fit(split, "valid")
    nd_model = ranking_metrics(trained, split, "valid")["ndcg@10"]
    nd_pop = ranking_metrics(pop, split, "valid")["ndcg@10"]
    assert nd_model > 0.5 and nd_model > nd_pop + 0.2
    # and it generalises to the unseen test targets
    assert ranking_metrics(trained, split, "test")["ndcg@10"] > 0.5
    assert trained.log.best_epoch >= 1 and trained.log.epochs >= trained.log.best_epoch


def test_no_text_ablation_also_learns(world):
    ds, split, _ = world
    m = fit(world, use_text=False)
    assert m.name == "transformer_no_text" and m.text_emb is None
    assert ranking_metrics(m, split, "valid")["ndcg@10"] > 0.5


def test_deterministic_given_seed(world, trained):
    ds, split, _ = world
    again = fit(world, seed=0)
    hist, ts, _ = split.inputs("test")
    a = trained.score(hist[:10], ts[:10])
    b = again.score(hist[:10], ts[:10])
    np.testing.assert_array_equal(a, b)
    other = fit(world, seed=1, max_epochs=2)
    assert not np.array_equal(other.score(hist[:10], ts[:10]), a)


def test_padding_and_batching_do_not_change_scores(world, trained):
    ds, split, _ = world
    hist, ts, _ = split.inputs("test")
    short, short_ts = hist[0][-3:], ts[0][-3:]
    alone = trained.score([short], [short_ts])
    batched = trained.score([hist[1], short, hist[2][:5]], [ts[1], short_ts, ts[2][:5]])
    np.testing.assert_allclose(alone[0], batched[1], rtol=1e-4, atol=1e-4)
    chunked = trained.score([hist[1], short], [ts[1], short_ts], chunk=1)
    np.testing.assert_allclose(chunked, batched[:2], rtol=1e-4, atol=1e-4)


def test_scores_follow_the_last_item(world, trained):
    ds, _, _ = world
    # in the chain world item i is followed by i+1: the model must have learnt that
    hits = 0
    for i in range(0, ds.n_items - 1, 3):
        h = np.array([i], dtype=np.int64)
        s = trained.score([h], [np.array([1_000_000])])[0]
        s[i] = -np.inf
        hits += int(np.argmax(s) == i + 1)
    assert hits >= 7  # of 10


def test_empty_history_and_no_timestamps(world, trained):
    ds, _, _ = world
    s = trained.score([np.zeros(0, dtype=np.int64), np.array([3, 4])], None)
    assert s.shape == (2, ds.n_items) and s.dtype == np.float32 and np.isfinite(s).all()
    assert trained.score([], None).shape == (0, ds.n_items)


def test_long_history_is_truncated_not_rejected(world, trained):
    long = np.tile(np.arange(10), 10)  # 100 items > max_len
    s = trained.score([long])
    np.testing.assert_allclose(s, trained.score([long[-(TINY["max_len"] - 1):]]), rtol=1e-4, atol=1e-4)


def test_artifact_round_trip(tmp_path, world, trained):
    ds, split, _ = world
    d = trained.save(tmp_path / "m", ds, metrics={"valid": {"ndcg@10": 0.5}})
    for f in ("model.safetensors", "config.json", "manifest.json"):
        assert (d / f).is_file()
    man = json.loads((d / "manifest.json").read_text())
    assert man["schema_version"] == SCHEMA_VERSION and man["dataset_fingerprint"] == ds.fingerprint
    assert man["seed"] == 0 and man["n_items"] == ds.n_items and "torch" in man["versions"]
    loaded = TransformerRecommender.load(d, ds)
    hist, ts, _ = split.inputs("test")
    np.testing.assert_array_equal(loaded.score(hist[:5], ts[:5]), trained.score(hist[:5], ts[:5]))
    np.testing.assert_array_equal(loaded.text_emb, trained.text_emb)
    assert loaded.config == trained.config


@pytest.fixture()
def saved(tmp_path, world, trained):
    ds = world[0]
    return trained.save(tmp_path / "m", ds), ds


def test_load_fingerprint_mismatch(saved):
    d, ds = saved
    other = chain_world(seed=5)
    with pytest.raises(DataError, match=rf"trained on data {ds.fingerprint[:12]}, current data {other.fingerprint[:12]}"):
        TransformerRecommender.load(d, other)


def test_load_fingerprint_mismatch_names_the_training_filter(saved):
    d, ds = saved
    man = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps({**man, "min_count": 5}))
    with pytest.raises(DataError, match=r"trained with --min-count 5: pass the same filter"):
        TransformerRecommender.load(d, chain_world(seed=5))


def test_load_damaged_json(saved):
    d, ds = saved
    (d / "manifest.json").write_text('{"schema_version": 1, "kind": ')
    with pytest.raises(DataError, match=r"manifest.json:1: damaged JSON"):
        TransformerRecommender.load(d, ds)


def test_load_missing_file(saved):
    d, ds = saved
    (d / "model.safetensors").unlink()
    with pytest.raises(DataError, match="model.safetensors is missing"):
        TransformerRecommender.load(d, ds)


def test_load_missing_dir(tmp_path, world):
    with pytest.raises(DataError, match="model directory not found"):
        TransformerRecommender.load(tmp_path / "nope", world[0])


def test_load_wrong_schema(saved):
    d, ds = saved
    man = json.loads((d / "manifest.json").read_text())
    man["schema_version"] = 99
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DataError, match="schema version 99"):
        TransformerRecommender.load(d, ds)


def test_load_damaged_weights(saved):
    d, ds = saved
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match="damaged weights"):
        TransformerRecommender.load(d, ds)


def test_init_from_with_grown_items(world, trained):
    grown = chain_world(extra_item=True)
    assert grown.n_items == world[0].n_items + 1
    te = item_embeddings(grown)
    m = TransformerRecommender(grown.item_ids, trained.config, te, seed=0)
    assert m.init_from(trained) == world[0].n_items
    w_old = trained.net.item_emb.weight.detach()
    w_new = m.net.item_emb.weight.detach()
    np.testing.assert_array_equal(w_new[: world[0].n_items + 2].numpy(), w_old.numpy())
    # continued training starts from the learnt state: it already follows the chain
    split = leave_one_out(grown)
    assert ranking_metrics(m, split, "valid")["ndcg@10"] > 0.5


def test_training_windows_cover_long_histories():
    import torch

    from recsys.models.transformer.trainer import training_windows as _windows

    lengths = np.array([0, 3, 10, 25], dtype=np.int64)
    gen = torch.Generator().manual_seed(0)
    assert _windows(lengths, 8, "last", gen) == [(1, 3), (2, 10), (3, 25)]
    for _ in range(5):
        wins = _windows(lengths, 8, "windows", gen)
        assert (1, 3) in wins and (2, 10) in wins and (3, 25) in wins  # the latest window always
        for u, n in ((2, 10), (3, 25)):
            covered = set()
            for w, end in wins:
                if w == u:
                    assert 1 <= end <= n
                    covered.update(range(max(0, end - 8), end))
            assert covered == set(range(n))  # every item is a training target


def test_windows_and_cosine_schedule_learn(world):
    # histories (10 training items) longer than max_len: trained in windows
    m = fit(world, max_len=6, long_history="windows", warmup_epochs=2, lr_decay="cosine")
    _, split, _ = world
    assert ranking_metrics(m, split, "valid")["ndcg@10"] > 0.5
    from recsys.models.transformer.trainer import lr_scale

    assert lr_scale(m.config, 0, 10, 24) == pytest.approx(0.05) and lr_scale(m.config, 10 * 24 - 1, 10, 24) < 0.01


def test_plateau_schedule_lowers_the_rate_from_the_best_state_then_stops(world):
    m = fit(world, lr_decay="plateau", plateau_patience=1, plateau_factor=0.5, plateau_decays=2, max_epochs=60)
    _, split, _ = world
    hist = m.log.history
    decays = [h for h in hist if "lr_factor" in h]
    assert [h["lr_factor"] for h in decays] == [0.5, 0.25]  # at most plateau_decays times
    evals = [h for h in hist if "valid_ndcg@10" in h]
    # each decay follows an evaluation that did not beat the best so far
    for h in decays:
        before = [e["valid_ndcg@10"] for e in evals if e["epoch"] < h["epoch"]]
        assert h["valid_ndcg@10"] <= max(before)
    # after the last decay it stops at the first evaluation without a gain (patience 1)
    last = evals[-1]
    assert m.log.epochs == last["epoch"] < 60
    assert last["valid_ndcg@10"] <= max(e["valid_ndcg@10"] for e in evals if e["epoch"] < last["epoch"])
    assert m.log.best_valid_ndcg == max(e["valid_ndcg@10"] for e in evals)
    assert ranking_metrics(m, split, "valid")["ndcg@10"] == pytest.approx(m.log.best_valid_ndcg)


def test_default_schedule_is_one_polish_pass_at_the_patience(world):
    # the default: the constant-rate run until `patience` evaluations without a gain, then
    # one pass from the best state at 0.3x the rate, then stop after `patience` more
    cfg = TransformerConfig()
    assert (cfg.lr_decay, cfg.plateau_patience, cfg.plateau_factor, cfg.plateau_decays) == ("plateau", 0, 0.3, 1)
    m = fit(world, lr_decay=cfg.lr_decay, plateau_patience=0, plateau_factor=0.3, plateau_decays=1,
            patience=2, min_epochs=1, max_epochs=80, lr=2e-2)
    hist = m.log.history
    decays = [h for h in hist if "lr_factor" in h]
    assert [h["lr_factor"] for h in decays] == [0.3]
    evals = [h["valid_ndcg@10"] for h in hist if "valid_ndcg@10" in h]
    i = next(n for n, h in enumerate([h for h in hist if "valid_ndcg@10" in h]) if "lr_factor" in h)
    assert all(v <= max(evals[: i - 1]) for v in evals[i - 1 : i + 1])  # two evaluations without a gain
    assert m.log.epochs < 80 and m.log.best_valid_ndcg == max(evals)


def test_stored_configs_must_be_complete():
    # an artifact's config holds every key: a missing one is not guessed (migrate fills it)
    full = dataclasses.asdict(TransformerConfig())
    assert TransformerConfig.from_dict(full) == TransformerConfig()
    with pytest.raises(DataError, match=r"lacks key\(s\) lr_decay .*recsys migrate"):
        TransformerConfig.from_dict({k: v for k, v in full.items() if k != "lr_decay"})
    with pytest.raises(DataError, match="unknown model configuration key"):
        TransformerConfig.from_dict({**full, "bogus": 1})


def test_bad_schedule_options(world):
    with pytest.raises(DataError, match="long_history"):
        fit(world, long_history="all")
    with pytest.raises(DataError, match="lr_decay"):
        fit(world, lr_decay="step")
    with pytest.raises(DataError, match="plateau_factor"):
        fit(world, lr_decay="plateau", plateau_factor=1.5)


def test_init_from_other_architecture_is_refused(world, trained):
    ds, _, te = world
    m = TransformerRecommender(ds.item_ids, TransformerConfig(**{**TINY, "d_model": 16}), te, seed=0)
    with pytest.raises(DataError, match="d_model 32 vs 16"):
        m.init_from(trained)


def test_low_rank_text_view(tmp_path, world):
    # text enters through its top principal directions: unit-variance, uncorrelated
    # coordinates, stored with the artifact and kept when training continues
    ds, split, te = world
    m = fit(world, text_rank=8, max_epochs=4, min_epochs=2)
    net = m.net
    assert tuple(net.text_basis.shape) == (te.shape[1], 8) and net.text_proj.in_features == 8
    import torch

    z = (torch.from_numpy(te) - net.text_mean) @ net.text_basis
    np.testing.assert_allclose(z.std(0).numpy(), 1.0, rtol=1e-3)
    cov = np.cov(z.numpy().T)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-3)
    d = m.save(tmp_path / "m", ds)
    loaded = TransformerRecommender.load(d, ds)
    hist, ts, _ = split.inputs("test")
    np.testing.assert_array_equal(loaded.score(hist[:5], ts[:5]), m.score(hist[:5], ts[:5]))
    # a rank at or above the text's dimension reads the whole vector; a catalogue smaller
    # than the rank has fewer directions
    big = fit(world, text_rank=10_000, max_epochs=1, min_epochs=1)
    assert big.net.text_basis is None and big.net.text_proj.in_features == te.shape[1]
    small = TransformerRecommender(ds.item_ids[:5], TransformerConfig(**{**TINY, "text_rank": 8}), te[:5])
    assert small.net.text_proj.in_features == 8  # 4 directions exist (5 centred points): the rest read 0
    assert int((small.net.text_basis.abs().sum(0) > 0).sum()) == 4


def test_text_prior_weighs_rare_items_text_more(tmp_path, world):
    # text as a prior: an item's projected text vector is scaled by c / (c + n) with n its
    # training interactions, so rarely seen items lean on their text, popular ones on id
    ds, split, _ = world
    m = fit(world, text_prior_count=5.0, max_epochs=2, min_epochs=1)
    counts = np.bincount(np.concatenate(split.train), minlength=ds.n_items)
    np.testing.assert_array_equal(m.net.item_count.numpy(), counts)
    import torch

    with torch.no_grad():
        raw = m.net.text_proj(m.net.text_emb if m.net.text_basis is None
                              else (m.net.text_emb - m.net.text_mean) @ m.net.text_basis)
        used = m.net.item_matrix()[2:] - m.net.item_emb.weight[2:]
    np.testing.assert_allclose(used.numpy(), (raw * (5.0 / (5.0 + torch.from_numpy(counts).float()))[:, None]).numpy(),
                               rtol=1e-5, atol=1e-6)
    d = m.save(tmp_path / "m", ds)
    loaded = TransformerRecommender.load(d, ds)
    np.testing.assert_array_equal(loaded.net.item_count.numpy(), counts)
    hist, ts, _ = split.inputs("test")
    np.testing.assert_array_equal(loaded.score(hist[:5], ts[:5]), m.score(hist[:5], ts[:5]))


def test_unseen_items_can_be_left_out_of_the_training_softmax(world):
    # an item nobody interacted with in training is not a negative at every step with
    # skip_unseen_items: it gets the mean id vector and bias of the rarest seen items, so
    # among new items its text decides; without the option the softmax pushes it down
    ds, split, te = world
    k = int(np.bincount(np.concatenate(split.train), minlength=ds.n_items).argmax())
    train = [t[t != k] for t in split.train]
    ts = [s[t != k] for t, s in zip(split.train, split.train_ts)]
    hist, vts, vt = split.inputs("valid")
    keep = vt != k
    valid = ([h for h, m in zip(hist, keep) if m], [x for x, m in zip(vts, keep) if m], vt[keep])
    out = {}
    for skip in (False, True):
        cfg = TransformerConfig(**{**TINY, "max_epochs": 3, "min_epochs": 1, "skip_unseen_items": skip})
        m = TransformerRecommender(ds.item_ids, cfg, te, seed=0)
        m.fit(train, ts, valid)
        out[skip] = m
        if skip:  # a newcomer: the mean id vector and bias of the rarest tenth of seen items
            counts = np.bincount(np.concatenate(train), minlength=ds.n_items)
            rare = (counts > 0) & (counts <= np.quantile(counts[counts > 0], 0.1))
            assert m.newcomers is not None and m.newcomers.new.tolist() == [k]
            assert sorted(m.newcomers.rare.tolist()) == np.flatnonzero(rare).tolist()
            bias = m.net.item_bias.detach().numpy()
            assert bias[k] == pytest.approx(float(bias[rare].mean()), abs=1e-6)
            ids = m.net.item_emb.weight.detach().numpy()[2:]
            np.testing.assert_allclose(ids[k], ids[rare].mean(0), rtol=1e-5, atol=1e-6)
            net = m.net
            t = net.text_emb[k] if net.text_basis is None else (net.text_emb[k] - net.text_mean) @ net.text_basis
            np.testing.assert_allclose(net.item_matrix()[k + 2].detach().numpy(),  # full text weight: n = 0
                                       ids[k] + net.text_proj(t).detach().numpy(), rtol=1e-5, atol=1e-5)
        else:
            assert m.newcomers is None
            assert float(m.net.item_bias.detach()[k]) < 0.0
            assert float(m.net.item_emb.weight[k + 2].detach().abs().sum()) > 0.0
    # the option only changes training: both models score every item
    s = out[True].score(hist[:3], vts[:3])
    assert s.shape == (3, ds.n_items) and np.isfinite(s).all()


def test_fast_dropout_keeps_the_share_it_should_and_scales():
    import torch

    from recsys.models.transformer.net import FastDropout

    torch.manual_seed(0)
    x = torch.ones(200, 300)
    for p in (0.1, 0.5, 0.9):
        drop = FastDropout(p).train()
        y = drop(x)
        kept = y > 0
        assert abs(float(kept.float().mean()) - (1 - p)) < 0.01
        assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
        assert abs(float(y.mean()) - 1.0) < 0.03  # inverted dropout keeps the expectation
    # the same seed gives the same mask; evaluation mode and p = 0 pass x through
    torch.manual_seed(3)
    a = FastDropout(0.5).train()(x)
    torch.manual_seed(3)
    assert torch.equal(a, FastDropout(0.5).train()(x))
    assert FastDropout(0.5).eval()(x) is x and FastDropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match="dropout must be in"):
        FastDropout(1.0)


def test_the_encoder_uses_fast_dropout_everywhere(trained):
    from torch import nn

    from recsys.models.transformer.net import FastDropout

    mods = list(trained.net.modules())
    assert not any(isinstance(m, nn.Dropout) for m in mods)
    assert sum(isinstance(m, FastDropout) for m in mods) >= 1 + 2 * trained.config.n_layers
