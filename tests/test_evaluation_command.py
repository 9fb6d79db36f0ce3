"""The ``evaluate`` command: JSON contract, errors, aggregation over seeds."""

from __future__ import annotations

import json

import pytest

from recsys.cli import main
from recsys.commands.evaluate import aggregate, render_table


def _last_json(capsys) -> tuple[dict, str]:
    cap = capsys.readouterr()
    return json.loads(cap.out.strip().splitlines()[-1]), cap.err


def test_evaluate_baselines_only_json_contract(capsys):
    code = main(["evaluate", "--data", "demo-small", "--baselines-only", "--no-ild", "--json"])
    out, err = _last_json(capsys)
    assert code == 0
    assert "[evaluate]" in err  # progress on stderr
    assert set(out["models"]) == {"popularity", "itemknn", "ease"}
    assert out["protocol"]["summary"] == "leave-one-out by time, full ranking, seen items excluded"
    assert out["users"] >= out["evaluated_users"] > 0 and out["items"] > 0
    for m in out["models"].values():
        for k in ("ndcg@10", "hr@10", "mrr@10", "ndcg@5", "coverage@10", "gini"):
            assert isinstance(m[k], float) and 0.0 <= m[k] <= 1.0
        assert "ndcg@10_std" not in m and "ild@10" not in m  # one seed, --no-ild
        assert m["users"] == out["evaluated_users"]
    # a real model beats popularity on a world with planted structure
    assert out["models"]["ease"]["ndcg@10"] > out["models"]["popularity"]["ndcg@10"]
    # the demo world's timestamps strictly increase per reader: no test item is tied
    assert out["tie_order"] == out["protocol"]["tie_order"] == "hash" and out["tied_test_share"] == 0.0


def test_evaluate_bad_input_is_a_clean_error(capsys, tmp_path):
    assert main(["evaluate", "--data", "demo-small", "--seeds", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --seeds")
    assert main(["evaluate", "--data", "demo-small", "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert main(["evaluate", "--data", str(tmp_path / "missing.csv"), "--baselines-only"]) == 2


def test_aggregate_mean_std_and_groups():
    runs = [
        {"users": 5, "ndcg@10": 0.1, "ndcg@10_by": {"g": {"a": 0.2, "b": 0.0}}, "users_by": {"g": {"a": 2}}},
        {"users": 5, "ndcg@10": 0.3, "ndcg@10_by": {"g": {"a": 0.4, "b": 0.2}}, "users_by": {"g": {"a": 2}}},
    ]
    agg = aggregate(runs)
    assert agg["users"] == 5
    assert agg["ndcg@10"] == pytest.approx(0.2)
    assert agg["ndcg@10_std"] == pytest.approx(0.1414213, rel=1e-5)  # sample std
    assert agg["ndcg@10_by"] == {"g": {"a": pytest.approx(0.3), "b": pytest.approx(0.1)}}
    assert agg["users_by"] == {"g": {"a": 2}}
    one = aggregate(runs[:1])
    assert one["ndcg@10"] == 0.1 and "ndcg@10_std" not in one


def test_render_table_lists_every_model():
    res = {
        "data": "x", "users": 3, "evaluated_users": 2, "items": 4, "seconds": 0.1,
        "protocol": {"summary": "p"},
        "models": {"ease": {"ndcg@10": 0.5, "ndcg@10_std": 0.01}, "popularity": {"ndcg@10": 0.25}},
    }  # fmt: skip
    text = render_table(res)
    assert "ease" in text and "0.5000 ±0.0100" in text and "popularity" in text


def _untrained_artifact(model_dir, ds, with_ablation: bool) -> None:
    """A real (randomly initialised, untrained) artifact: tests the --model path fast."""
    import numpy as np

    from recsys.models.transformer import TransformerConfig, TransformerRecommender

    rng = np.random.default_rng(0)
    te = rng.normal(size=(ds.n_items, 384)).astype(np.float32)
    te /= np.linalg.norm(te, axis=1, keepdims=True)
    cfg = TransformerConfig(d_model=16, n_layers=1, n_heads=1, max_len=20)
    TransformerRecommender(ds.item_ids, cfg, te, seed=0).save(model_dir, ds)
    if with_ablation:
        cfg_nt = TransformerConfig(d_model=16, n_layers=1, n_heads=1, max_len=20, use_text=False)
        TransformerRecommender(ds.item_ids, cfg_nt, None, seed=1).save(model_dir / "no_text", ds)


def test_evaluate_model_dir_scores_artifact_and_ablation(capsys, tmp_path):
    from recsys.data import load

    ds = load("demo-small")
    _untrained_artifact(tmp_path / "m", ds, with_ablation=True)
    code = main(["evaluate", "--data", "demo-small", "--model", str(tmp_path / "m"), "--no-ild", "--json"])
    out, _ = _last_json(capsys)
    assert code == 0
    assert list(out["models"]) == ["transformer", "transformer_no_text", "popularity", "itemknn", "ease"]
    t = out["models"]["transformer"]
    assert t["users"] == out["evaluated_users"] and 0.0 <= t["ndcg@10"] <= t["hr@10"] <= 1.0
    assert t["seeds"] == 1 and t["model_dir"].endswith("m")
    assert out["models"]["transformer_no_text"]["model_dir"].endswith("no_text")
    # an untrained model is far below a fitted baseline: the numbers are real
    assert t["ndcg@10"] < out["models"]["ease"]["ndcg@10"]


def test_evaluate_model_of_other_data_is_a_clean_error(capsys, tmp_path):
    from recsys.data import load

    _untrained_artifact(tmp_path / "m", load("demo-small"), with_ablation=False)
    assert main(["evaluate", "--data", "demo", "--model", str(tmp_path / "m"), "--no-ild"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_evaluate_reports_the_tie_order_and_tied_test_share(capsys, tmp_path):
    rows = [f"u{u},i{(u * 7 + k) % 30},{1000 * u + k // 2}" for u in range(30) for k in range(8)]
    f = tmp_path / "i.csv"
    f.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    outs = {}
    for order in ("hash", "id"):
        code = main(["evaluate", "--data", str(f), "--baselines-only", "--no-ild", "--tie-order", order, "--json"])
        assert code == 0
        outs[order], _ = _last_json(capsys)
        assert outs[order]["tie_order"] == outs[order]["protocol"]["tie_order"] == order
    # every user's last two interactions share a second (k = 6, 7): all test items tied, under both orders
    assert outs["hash"]["tied_test_share"] == outs["id"]["tied_test_share"] == 1.0
    assert outs["hash"]["fingerprint"] != outs["id"]["fingerprint"]
    assert "tie order hash: 100.0%" in render_table(outs["hash"])
    assert main(["evaluate", "--data", str(f), "--tie-order", "bad"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: argument --tie-order")


def test_an_artifact_without_tie_order_opens_under_item_id_order(capsys, tmp_path):
    from recsys.data import load
    from recsys.models.transformer.artifact import read_manifest

    new, old = tmp_path / "new", tmp_path / "old"
    _untrained_artifact(new, load("demo-small"), with_ablation=False)
    assert read_manifest(new)["tie_order"] == "hash"
    _untrained_artifact(old, load("demo-small", tie_order="id"), with_ablation=False)
    man = json.loads((old / "manifest.json").read_text())
    del man["tie_order"]  # as written before tie orders were recorded
    (old / "manifest.json").write_text(json.dumps(man))
    for d, order in ((new, "hash"), (old, "id")):
        code = main(["evaluate", "--data", "demo-small", "--model", str(d), "--no-ild", "--json"])
        out, err = _last_json(capsys)
        assert code == 0 and out["tie_order"] == order
        assert ("using --tie-order id" in err) == (order == "id")
    assert main(["evaluate", "--data", "demo-small", "--model", str(old), "--tie-order", "hash"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained under --tie-order id" in err


def test_evaluate_trains_seeds_and_reports_std(capsys):
    code = main(["evaluate", "--data", "demo-small", "--seeds", "2", "--epochs", "1", "--no-ild", "--json"])
    out, err = _last_json(capsys)
    assert code == 0 and "training seed 2/2" in err
    for name in ("transformer", "transformer_no_text"):
        m = out["models"][name]
        assert m["seeds"] == 2 and len(m["training"]) == 2
        assert m["ndcg@10_std"] >= 0.0 and "hr@10_std" in m and "mrr@10_std" in m
    assert out["models"]["ease"]["ndcg@10_std"] == 0.0  # deterministic baseline
    assert out["protocol"]["seeds"] == 2
