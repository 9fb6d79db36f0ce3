"""The app's two-stage first-start training (recsys.autotrain) and thread counts."""

from __future__ import annotations

import json

from recsys.runtime import torch_threads, training_threads

TINY = dict(d_model=16, n_layers=1, n_heads=1, max_len=30, min_epochs=1)


def test_training_threads_leave_room_for_one_more_job():
    assert training_threads(cores=2, env={}) == 1
    assert training_threads(cores=1, env={}) == 1
    assert training_threads(cores=8, env={}) == 4
    assert training_threads(cores=3, env={}) == 1


def test_training_threads_follow_the_environment():
    import pytest

    from recsys.data.types import DataError

    assert training_threads(cores=2, env={"RECSYS_TRAIN_THREADS": "2"}) == 2
    assert training_threads(cores=8, env={"RECSYS_TRAIN_THREADS": " "}) == 4
    for bad in ("0", "-1", "two"):
        with pytest.raises(DataError, match="RECSYS_TRAIN_THREADS must be a positive integer"):
            training_threads(cores=2, env={"RECSYS_TRAIN_THREADS": bad})


def test_torch_threads_restores_the_count():
    import torch

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_main_model_first_then_ablation(tmp_path):
    from recsys.autotrain import ABLATION_NAME, pending, train_ablation, train_main
    from recsys.data import load
    from recsys.models.transformer import TransformerRecommender

    ds = load("demo-small")
    out = tmp_path / "m"
    messages: list[str] = []
    res = train_main(ds, out, epochs=2, progress=lambda f, m: messages.append(m), **TINY)
    assert res["epochs"] <= 2
    assert any(m.startswith("Step 1 of 3") for m in messages)
    assert any(m.startswith("Step 2 of 3 · training the transformer — epoch 1 of at most 2") for m in messages)
    assert any(m.startswith("Step 3 of 3") for m in messages)
    assert pending(out) == [ABLATION_NAME]
    ev = json.loads((out / "evaluation.json").read_text())
    assert {"transformer", "popularity", "itemknn", "ease"} <= set(ev["models"])
    assert ABLATION_NAME not in ev["models"]
    TransformerRecommender.load(out, ds)  # usable right away

    shown: list[str] = []
    abl = train_ablation(ds, out, epochs=2, progress=lambda f, m: shown.append(m))
    assert "no-text ablation — epoch 1 of at most 2" in shown
    assert 0.0 <= abl["test"]["ndcg@10"] <= 1.0
    assert pending(out) == []
    ev = json.loads((out / "evaluation.json").read_text())
    assert ABLATION_NAME in ev["models"] and ABLATION_NAME in ev["valid"]
    assert "pending" not in ev
    m = TransformerRecommender.load(out / "no_text", ds)
    assert m.name == ABLATION_NAME and m.config.d_model == 16


def test_training_progress_says_how_long_it_has_run_and_the_most_it_can_still_take():
    from recsys.autotrain import _stage_progress

    now = [0.0]
    shown: list[str] = []
    cb = _stage_progress(lambda f, m: shown.append(m), 60, clock=lambda: now[0])
    cb(0.05, "encoding item texts 10/10")
    now[0] = 100.0
    cb(0.2, "training the transformer")  # training starts at t = 100 s
    now[0] = 160.0
    cb(0.3, "epoch 1: loss 7.5")
    now[0] = 700.0
    cb(0.4, "epoch 10: loss 6.1, valid NDCG@10 0.0500 (best 0.0500)")
    assert "epoch 1 of at most 60 · 1 min so far, at most ~59 min more" in shown[-2]
    assert shown[-1].endswith(
        "epoch 10 of at most 60 · validation NDCG@10 0.0500 (best 0.0500) · 10 min so far, "
        "at most ~50 min more (early stopping usually ends sooner)"
    )
