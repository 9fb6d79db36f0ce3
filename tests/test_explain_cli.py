"""The explain command and the real transformer on the demo world (trained once here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explain import explain_item
from recsys.models.base import recommend

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    from recsys.data import load

    return load("demo-small")


@pytest.fixture(scope="module")
def model_dir(demo, tmp_path_factory):
    """A small transformer trained on demo-small (few epochs, no ablation/baselines)."""
    import torch

    from recsys.train import train_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("explain_model") / "model"
        train_model(demo, out, seed=0, epochs=16, ablation=False, baselines=False)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def model(demo, model_dir):
    from recsys.models.transformer import TransformerRecommender

    return TransformerRecommender.load(model_dir, demo)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RECSYS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "recsys", "explain", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "nobody", "--item", "b0001"], "--user: unknown user id 'nobody'"),
        (["--user", "u001", "--item", "zzz"], "--item: unknown item id 'zzz'"),
    ],
)
def test_bad_ids_in_a_subprocess_give_one_error_line_and_exit_2(args, message):
    r = _cli("--data", "demo-small", *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "u001", "--item", "b0001", "--why-not", "nope"], "--why-not: unknown item id 'nope'"),
        (["--history", "b0001,bad", "--item", "b0002"], "--history: unknown item id 'bad'"),
        (["--item", "b0002"], "give --user or --history"),
        (["--user", "u001", "--item", "b0001", "--model", "/nonexistent/model"], "no trained model at"),
        (["--user", "u001", "--item", "b0001", "--method", "anchor"], "invalid choice"),
        (["--user", "u001", "--item", "b0001", "-k", "0"], "-k must be at least 1"),
    ],
)
def test_bad_input_gives_one_error_line_and_exit_2(args, message, capsys):
    from recsys.cli import main

    assert main(["explain", "--data", "demo-small", *args]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert out == ""


def test_item_in_history_is_rejected(demo, capsys):
    from recsys.cli import main

    h, _ = demo.sequence(0)
    code = main(["explain", "--data", "demo-small", "--user", demo.user_ids[0], "--item",
                 demo.item_ids[int(h[-1])], "--model", "/nonexistent"])
    assert code == 2 and "already in the history" in capsys.readouterr().err


def test_explain_json_contract(demo, model, model_dir, capsys):
    from recsys.cli import main

    u = int(np.argmax(np.diff(demo.user_offsets)))
    user = demo.user_ids[u]
    h, ts = demo.sequence(u)
    top = recommend(model, h, 10, ts).items
    item, other = demo.item_ids[int(top[0])], demo.item_ids[int(top[5])]
    code = main(["explain", "--data", "demo-small", "--model", str(model_dir), "--user", user, "--item", item,
                 "--method", "shap", "-k", "10", "--why-not", other, "--budget", "600", "--json"])
    assert code == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("user", "item", "method", "value", "base_value", "attributions", "faithfulness", "counterfactual",
                "why_not", "summary", "elapsed_ms", "total_ms", "provenance", "warmup_ms"):
        assert key in r, key
    assert r["user"] == user and r["item"] == item and r["method"] == "shap"
    w = [a["weight"] for a in r["attributions"]]
    assert len(w) == min(len(h), 50, model.context_length) and w == sorted(w, reverse=True)
    assert {"item_id", "title", "weight"} <= set(r["attributions"][0])
    assert sum(w) == pytest.approx(r["value"] - r["base_value"], abs=1e-4)  # SHAP additivity
    f = r["faithfulness"]
    assert all(0.0 <= f[x] <= 1.0 for x in ("deletion_auc", "insertion_auc", "random_deletion_auc"))
    assert 0 < r["elapsed_ms"] <= r["total_ms"]
    p = r["provenance"]
    assert p["data_fingerprint"] == demo.fingerprint and p["model_fingerprint"] and p["seed"] == 0
    assert p["budget"] == 600 and p["method"] == "shap"
    assert r["why_not"]["item"] == other and len(r["why_not"]["attributions"]) == len(w)
    if r["counterfactual"] is not None:  # verified: re-ranking without those items drops the item
        keep = np.array([i for i, x in enumerate(h) if demo.item_ids[int(x)] not in set(r["counterfactual"])])
        assert int(top[0]) not in recommend(model, h[keep], 10, ts[keep]).items
    assert isinstance(r["summary"]["sentence"], str) and r["summary"]["sentence"]


def test_lime_cli_is_repeatable(demo, model_dir, capsys):
    from recsys.cli import main

    h, ts = demo.sequence(3)
    outs = []
    for _ in range(2):
        args = ["explain", "--data", "demo-small", "--model", str(model_dir), "--user", demo.user_ids[3],
                "--item", "b0001" if 0 not in set(h.tolist()) else "b0002", "--method", "lime", "--seed", "5",
                "--json"]
        assert main(args) == 0
        outs.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert outs[0]["attributions"] == outs[1]["attributions"]
    from recsys.commands.explain import render_text

    text = render_text(outs[0])
    assert text.startswith("LIME explanation of") and outs[0]["attributions"][0]["item_id"] in text


def test_explicit_history_is_explained_without_timestamps(demo, model_dir, capsys):
    from recsys.cli import main

    hist = ",".join(demo.item_ids[i] for i in (3, 7, 11, 19))
    code = main(["explain", "--data", "demo-small", "--model", str(model_dir), "--history", hist, "--item",
                 demo.item_ids[30], "--method", "shap", "--json"])
    assert code == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["user"] == "" and len(r["attributions"]) == 4
    assert r["provenance"]["explainer"] == "shap.explainers.Exact" and r["provenance"]["budget"] == 16
    assert {a["item_id"] for a in r["attributions"]} == set(hist.split(","))
    assert all(a["date"] is None for a in r["attributions"])


def test_transformer_planted_cause_and_additivity(demo, model):
    """Planted follow-ups (A then B): among users with A in their last two items who get
    B in the top-10, removing A must matter most."""
    cases = []
    for a_id, b_id in demo.truth.followups:
        a, b = demo.item_index(a_id), demo.item_index(b_id)
        for u in range(demo.n_users):
            h, ts = demo.sequence(u)
            if a in h[-2:] and b not in h and b in recommend(model, h, 10, ts).items:
                cases.append((h, ts, a, b))
    assert len(cases) >= 3
    hits_shap = hits_cf = 0
    for h, ts, a, b in cases[:10]:
        e = explain_item(demo, model, h, ts, b, method="shap", k=10, cache=None)
        a_ = e.attribution
        assert a_.values.sum() == pytest.approx(a_.value - a_.base_value, abs=1e-6)
        hits_shap += int(a_.top(1)[0] == a)
        hits_cf += int(a in e.counterfactual.removed)
    n = min(len(cases), 10)
    assert hits_shap / n >= 0.75 and hits_cf / n >= 0.75
