"""train_model: artifact layout, evaluation table, atomic replacement, continued training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.data.types import DataError
from recsys.models.transformer import TransformerRecommender
from recsys.train import load_evaluation, train_model
from tests.test_transformer_helpers import chain_world

SMALL = dict(d_model=32, n_heads=2, max_len=16, max_epochs=12, eval_every=2, patience=3, min_epochs=2,
             batch_size=16, lr=5e-3, dropout=0.1, emb_dropout=0.1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = chain_world()
    out = tmp_path_factory.mktemp("train") / "model"
    out.mkdir()
    (out / "stale.txt").write_text("from an older artifact")
    seen = []
    res = train_model(ds, out, seed=3, progress=lambda f, m: seen.append((f, m)), **SMALL)
    return ds, out, res, seen


def test_result_and_files(trained):
    ds, out, res, _ = trained
    assert res["model_dir"] == str(out)
    assert 1 <= res["epochs"] <= SMALL["max_epochs"] and res["train_seconds"] > 0
    for stage in ("valid", "test"):
        assert 0.0 <= res[stage]["ndcg@10"] <= res[stage]["hr@10"] <= 1.0
    assert res["test"]["ndcg@10"] > 0.3  # the chain world is learnable
    for d in (out, out / "no_text"):
        for f in ("model.safetensors", "config.json", "manifest.json"):
            assert (d / f).is_file()
    assert not (out / "stale.txt").exists()  # the old artifact was replaced, not merged
    assert not list(out.parent.glob(".model.tmp*"))
    man = json.loads((out / "manifest.json").read_text())
    assert man["seed"] == 3 and man["metrics"]["test"]["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"])


def test_evaluation_table(trained):
    ds, out, res, _ = trained
    ev = load_evaluation(out)
    assert set(ev["models"]) == {"transformer", "transformer_no_text", "popularity", "itemknn", "ease", "text_similarity"}
    assert ev["dataset"]["fingerprint"] == ds.fingerprint
    for name, m in ev["models"].items():
        assert {"ndcg@10", "hr@10", "mrr@10"} <= set(m), name
    assert ev["models"]["transformer"]["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"])
    assert ev["models"]["transformer"]["ndcg@10"] > ev["models"]["popularity"]["ndcg@10"]


def test_progress_is_monotone_and_complete(trained):
    _, _, _, seen = trained
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and fr[-1] == pytest.approx(1.0)
    assert any("epoch" in m for _, m in seen)


def test_artifacts_load(trained):
    ds, out, res, _ = trained
    m = TransformerRecommender.load(out, ds)
    a = TransformerRecommender.load(out / "no_text", ds)
    assert m.name == "transformer" and a.name == "transformer_no_text"
    assert m.text_emb is not None and m.text_emb.shape == (ds.n_items, 384)


def test_init_from_and_no_ablation(trained, tmp_path):
    ds, out, _, _ = trained
    grown = chain_world(extra_item=True)
    res = train_model(grown, tmp_path / "m2", init_from=out, ablation=False, baselines=False,
                      **{**SMALL, "max_epochs": 2, "min_epochs": 1})
    assert not (tmp_path / "m2" / "no_text").exists()
    # starting from the trained model, two epochs already predict the chain
    assert res["valid"]["ndcg@10"] > 0.3
    man = json.loads((tmp_path / "m2" / "manifest.json").read_text())
    assert man["init_from"] == str(out) and man["n_items"] == grown.n_items


def test_bad_options(tmp_path):
    ds = chain_world(n_users=10)
    with pytest.raises(DataError, match="unknown training option"):
        train_model(ds, tmp_path / "x", bogus=1)
    with pytest.raises(DataError, match="finetune-text-layers"):
        train_model(ds, tmp_path / "x", finetune_text_layers=9)
    with pytest.raises(DataError, match="epochs must be at least 1"):
        train_model(ds, tmp_path / "x", epochs=0, ablation=False, baselines=False)


def test_finetune_text_layers_trains_the_top_encoder_layer(tmp_path):
    ds = chain_world(n_users=20, length=6)
    from recsys.text import item_embeddings

    frozen = item_embeddings(ds)
    res = train_model(ds, tmp_path / "ft", finetune_text_layers=1, ablation=False, baselines=False,
                      **{**SMALL, "max_epochs": 2, "min_epochs": 1})
    m = TransformerRecommender.load(tmp_path / "ft", ds)
    assert m.config.finetune_text_layers == 1 and res["epochs"] == 2
    te = m.text_emb
    assert te.shape == frozen.shape and not np.allclose(te, frozen, atol=1e-6)  # the encoder moved
    np.testing.assert_allclose(np.linalg.norm(te, axis=1), 1.0, atol=1e-4)  # still unit-norm text vectors
