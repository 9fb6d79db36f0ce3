"""`train` and `recommend` commands end to end (subprocess): JSON contract and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.commands.recommend import edited_timestamps
from recsys.data import load
from recsys.train import train_model
from tests.test_transformer_helpers import write_chain_dir

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(d_model=32, n_heads=2, max_len=16, max_epochs=16, eval_every=2, patience=3, min_epochs=2,
             batch_size=16, lr=5e-3, dropout=0.1, emb_dropout=0.1)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "recsys", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = write_chain_dir(root / "data")
    ds = load(str(data))
    model = root / "model"
    train_model(ds, model, ablation=False, baselines=False, **SMALL)
    return data, ds, model


def last_json(p: subprocess.CompletedProcess) -> dict:
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_train_command(tmp_path, world):
    data, ds, _ = world
    out = tmp_path / "m"
    p = cli("train", "--data", str(data), "--out", str(out), "--epochs", "2", "--no-ablation", "--json")
    r = last_json(p)
    assert r["model_dir"] == str(out) and r["epochs"] == 2 and r["train_seconds"] > 0
    assert r["lr_lowered_at"] == []  # two epochs: no plateau to lower the rate on
    assert {"ndcg@10", "hr@10"} <= set(r["valid"])
    assert (out / "manifest.json").is_file() and not (out / "no_text").exists()
    assert "%" in p.stderr  # progress bar on stderr


def test_recommend_json(world):
    data, ds, model = world
    user = ds.user_ids[0]
    r = last_json(cli("recommend", "--data", str(data), "--model", str(model), "--user", user, "-k", "5", "--json"))
    assert r["user"] == user and len(r["items"]) == 5 and r["elapsed_ms"] > 0
    seen = {ds.item_ids[i] for i in ds.sequence(ds.user_index(user))[0]}
    assert [it["rank"] for it in r["items"]] == [1, 2, 3, 4, 5]
    scores = [it["score"] for it in r["items"]]
    assert scores == sorted(scores, reverse=True)
    assert not seen & {it["item_id"] for it in r["items"]}
    # the chain world: the item after the user's last one comes first
    last = int(ds.item_ids[ds.sequence(ds.user_index(user))[0][-1]])
    assert r["items"][0]["item_id"] == str(last % ds.n_items + 1)
    assert r["items"][0]["title"] == f"Film number {r['items'][0]['item_id']}"


def test_recommend_history_and_as_of(world):
    data, ds, model = world
    user = ds.user_ids[1]
    r = last_json(cli("recommend", "--data", str(data), "--model", str(model), "--user", user,
                      "--history", "7,8,9", "--json"))
    assert r["edited"] and r["history_length"] == 3
    assert r["items"][0]["item_id"] == "10"
    assert not {"7", "8", "9"} & {it["item_id"] for it in r["items"]}
    items, ts = ds.sequence(ds.user_index(user))
    r2 = last_json(cli("recommend", "--data", str(data), "--model", str(model), "--user", user,
                       "--as-of", str(int(ts[3])), "--json"))
    assert r2["history_length"] == 4
    assert r2["items"][0]["item_id"] == str(int(ds.item_ids[items[3]]) % ds.n_items + 1)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--user", "nobody"], "unknown user id 'nobody'"),
        (["--user", "u0", "--history", "1,x9,y7"], "unknown item id(s): x9, y7"),
        (["--user", "u0", "--as-of", "yesterday-ish"], "--as-of"),
        (["--user", "u0", "-k", "0"], "-k must be at least 1"),
    ],
)
def test_recommend_errors(world, extra, message):
    data, _, model = world
    p = cli("recommend", "--data", str(data), "--model", str(model), *extra)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: ") and message in p.stderr


def test_recommend_with_model_of_other_data(tmp_path, world):
    _, ds, model = world
    other = write_chain_dir(tmp_path / "other", seed=9)
    p = cli("recommend", "--data", str(other), "--model", str(model), "--user", "u0")
    assert p.returncode == 2 and f"trained on data {ds.fingerprint[:12]}" in p.stderr


def test_recommend_missing_model(tmp_path, world):
    data, _, _ = world
    p = cli("recommend", "--data", str(data), "--model", str(tmp_path / "none"), "--user", "u0")
    assert p.returncode == 2 and "model directory not found" in p.stderr


def test_edited_timestamps_keep_known_and_follow_new():
    base_items = np.array([5, 6, 7])
    base_ts = np.array([100, 200, 400])  # median gap 150
    ts = edited_timestamps([6, 9, 7, 11], base_items, base_ts)
    assert ts.tolist() == [200, 350, 400, 550]
    assert edited_timestamps([9], np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == [0]


def test_train_command_init_from_and_finetune_text_layers(tmp_path, world):
    data, ds, model = world  # `model` was trained with a small architecture: init-from keeps it
    out = tmp_path / "m2"
    r = last_json(cli("train", "--data", str(data), "--out", str(out), "--epochs", "1", "--no-ablation",
                      "--init-from", str(model), "--finetune-text-layers", "1", "--no-progress", "--json",
                      "--threads", "1"))
    assert r["epochs"] == 1 and r["threads"] == 1
    man = json.loads((out / "manifest.json").read_text())
    assert man["train_threads"] == 1
    cfg = json.loads((out / "config.json").read_text())["model"]
    src = json.loads((model / "config.json").read_text())["model"]
    assert man["init_from"] == str(model)
    assert cfg["finetune_text_layers"] == 1 and cfg["d_model"] == src["d_model"] == 32


def test_train_command_new_items_by_text(tmp_path):
    # a catalogue item nobody has interacted with yet: with --new-items text it is left
    # out of the training softmax and placed by its text with the newcomer's bias
    data = write_chain_dir(tmp_path / "data")
    with open(data / "items.csv", "a", encoding="utf-8") as f:
        f.write('zz_new,A brand new title,Action,"A action story, brand new"\n')
    out = tmp_path / "m"
    p = cli("train", "--data", str(data), "--out", str(out), "--epochs", "2", "--no-ablation", "--no-progress",
            "--new-items", "text", "--newcomer-offset", "-1.5")
    assert p.returncode == 0, p.stderr
    assert "new items: 1 without a training interaction, placed by their text (newcomer offset -1.5)" in p.stdout
    cfg = json.loads((out / "config.json").read_text())["model"]
    assert cfg["skip_unseen_items"] is True and cfg["newcomer_offset"] == -1.5
    man = json.loads((out / "manifest.json").read_text())
    assert man["new_items"] == {"mode": "text", "offset": -1.5, "items": 1}
    from recsys.models.transformer import TransformerRecommender

    ds = load(str(data))
    m = TransformerRecommender.load(out, ds)
    new = ds.item_index("zz_new")
    assert m.net.item_count[new] == 0
    # its bias: the rarest seen items' mean + the offset (set after every epoch)
    counts = m.net.item_count.numpy()
    rare = (counts > 0) & (counts <= np.quantile(counts[counts > 0], 0.1))
    bias = m.net.item_bias.detach().numpy()
    assert bias[new] == pytest.approx(float(bias[rare].mean()) - 1.5, abs=1e-5)
    # a bad offset is one clear error, before any work
    p = cli("train", "--data", str(data), "--out", str(tmp_path / "m2"), "--newcomer-offset", "nan")
    assert p.returncode == 2 and p.stderr.strip() == "error: --newcomer-offset must be a number between -20 and 20, not nan"
    p = cli("train", "--data", str(data), "--out", str(tmp_path / "m2"), "--threads", "0")
    assert p.returncode == 2 and p.stderr.strip() == "error: --threads must be at least 1, not 0"
    assert not (tmp_path / "m2").exists()


def test_commands_take_the_filter_a_model_was_trained_with(tmp_path):
    # an artifact trained with --min-count opens on the same filtered data in recommend,
    # timeline and evaluate without repeating the flag; --min-count 0 asks for the raw data
    data = write_chain_dir(tmp_path / "data")
    with open(data / "items.csv", "a", encoding="utf-8") as f:
        f.write('zz_never,Never watched,Drama,"A drama nobody saw"\n')  # --min-count 1 drops it
    out = tmp_path / "m"
    p = cli("train", "--data", str(data), "--out", str(out), "--epochs", "1", "--no-ablation", "--no-progress",
            "--min-count", "1")
    assert p.returncode == 0, p.stderr
    assert json.loads((out / "manifest.json").read_text())["min_count"] == 1
    filtered = load(str(data), min_count=1)
    user = filtered.user_ids[0]
    p = cli("recommend", "--data", str(data), "--model", str(out), "--user", user, "--json")
    r = last_json(p)
    assert f"using --min-count 1, the filter {out} was trained with" in p.stderr
    assert len(r["items"]) == 10 and "zz_never" not in {it["item_id"] for it in r["items"]}
    t = last_json(cli("timeline", "--data", str(data), "--model", str(out), "--user", user, "--json"))
    assert t["user"] == user
    e = last_json(cli("evaluate", "--data", str(data), "--model", str(out), "--json"))
    assert e["items"] == filtered.n_items and e["protocol"]["min_count"] == 1
    p = cli("recommend", "--data", str(data), "--model", str(out), "--user", user, "--min-count", "0")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "trained with --min-count 1: pass the same filter" in p.stderr
    p = cli("recommend", "--data", str(data), "--model", str(out), "--user", user, "--min-count", "-1")
    assert p.returncode == 2 and p.stderr.strip() == "error: --min-count must be 0 or more, got -1"
