"""`python -m recsys timeline` through a subprocess: JSON contract and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DAY = 86400
T0 = 1_600_000_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A generic-layout dataset: user "s" switches from Red/Blue to Green/Gold halfway."""
    d = tmp_path_factory.mktemp("tl_data")
    cats = ["Red", "Blue", "Green", "Gold"]
    with open(d / "items.csv", "w") as f:
        f.write("item_id,title,categories\n")
        for c, cat in enumerate(cats):
            for j in range(40):
                f.write(f"{c * 40 + j},{cat} thing {j},{cat}\n")
    rng = np.random.default_rng(0)
    with open(d / "interactions.csv", "w") as f:
        f.write("user_id,item_id,timestamp\n")
        for uid, phases in (("s", [(0, 1), (2, 3)]), ("c", [(0, 1), (0, 1)])):
            used: set[int] = set()
            t = T0
            for ph in phases:
                for _ in range(30):
                    while True:
                        i = int(rng.choice(ph)) * 40 + int(rng.integers(40))
                        if i not in used:
                            used.add(i)
                            break
                    t += int(rng.integers(1, 5)) * DAY
                    f.write(f"{uid},{i},{t}\n")
    return d


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "recsys", "timeline", *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )


def test_cli_json_contract(data_dir):
    p = run_cli("--data", str(data_dir), "--user", "s", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["user"] == "s"
    assert out["predicted"] == [] and out["forecast"] == {}
    starts = [w["start"] for w in out["windows"]]
    assert starts == sorted(starts) and len(starts) >= 2
    assert sum(w["n"] for w in out["windows"]) == 60
    for w in out["windows"]:
        assert set(w) == {"start", "end", "n", "shares"}
        assert sum(w["shares"].values()) == pytest.approx(1.0, abs=1e-6)
        assert isinstance(w["start"], int) and isinstance(w["end"], int)
    assert len(out["change_points"]) == 1
    first = max(out["windows"][0]["shares"].items(), key=lambda kv: kv[1])[0]
    last = max(out["windows"][-1]["shares"].items(), key=lambda kv: kv[1])[0]
    assert first in ("Red", "Blue") and last in ("Green", "Gold")

    p = run_cli("--data", str(data_dir), "--user", "c", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["change_points"] == []


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """The same command in-process (fast): exit code, stdout, stderr."""
    from recsys.cli import main

    code = main(["timeline", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_as_of_truncates(data_dir, capsys):
    code, out, _ = run_main(capsys, "--data", str(data_dir), "--user", "s", "--json")
    full = json.loads(out.splitlines()[-1])
    cut = full["windows"][1]["start"]
    code, out, err = run_main(capsys, "--data", str(data_dir), "--user", "s", "--as-of", str(cut), "--json")
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["as_of"] == cut
    assert 0 < sum(w["n"] for w in res["windows"]) < 60
    assert all(w["start"] <= cut for w in res["windows"])
    code, out, err = run_main(capsys, "--data", str(data_dir), "--user", "s", "--as-of", "2020-10-01", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["as_of"] == 1601510400


def test_cli_human_output(data_dir, capsys):
    code, out, err = run_main(capsys, "--data", str(data_dir), "--user", "s")
    assert code == 0, err
    assert "change points:" in out and "user s: 60 interactions" in out


def test_cli_unknown_user_subprocess(data_dir):
    p = run_cli("--data", str(data_dir), "--user", "nobody", "--json")
    assert p.returncode == 2
    assert p.stderr.startswith("error:") and "unknown user" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (("--user", "s", "--as-of", "someday"), "--as-of"),
        (("--user", "s", "--as-of", "100"), "no interactions"),
        (("--user", "s", "--model", "/nonexistent/model"), "model directory"),
    ],
)
def test_cli_errors(data_dir, capsys, args, message):
    code, out, err = run_main(capsys, "--data", str(data_dir), *args, "--json")
    assert code == 2
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_cli_with_model_fills_predictions(data_dir, tmp_path, capsys):
    """A real (tiny, untrained) transformer artifact: predicted and forecast are filled."""
    pytest.importorskip("torch")
    from recsys.data import load
    from recsys.models.transformer import TransformerConfig, TransformerRecommender

    ds = load(str(data_dir))
    cfg = TransformerConfig(d_model=16, n_layers=1, n_heads=1, use_text=False, max_len=64)
    TransformerRecommender(ds.item_ids, cfg, seed=0).save(tmp_path / "model", ds)
    code, out, err = run_main(capsys, "--data", str(data_dir), "--user", "s", "--model", str(tmp_path / "model"),
                              "--json")
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert 0 < len(res["predicted"]) <= 32
    assert sum(res["forecast"].values()) == pytest.approx(1.0, abs=1e-6)
    assert res["forecast"] == res["predicted"][-1]["shares"]
    ts = [p["ts"] for p in res["predicted"]]
    assert ts == sorted(ts) and res["windows"][-1]["start"] <= ts[-1] < res["windows"][-1]["end"]
    for p in res["predicted"]:
        assert sum(p["shares"].values()) == pytest.approx(1.0, abs=1e-6)


def test_cli_dataset_without_categories_uses_text_topics(tmp_path, capsys):
    """No categories: topics from the real sentence-encoder embeddings of item titles."""
    d = tmp_path / "nocat"
    d.mkdir()
    themes = {"space": ["rocket", "planet", "galaxy", "astronaut", "orbit", "moon"],
              "cooking": ["bread", "oven", "recipe", "kitchen", "soup", "baking"]}
    with open(d / "items.csv", "w") as f:
        f.write("item_id,title\n")
        k = 0
        for words in themes.values():
            for a in words:
                for b in words[:3]:
                    f.write(f"{k},The {a} and the {b}\n")
                    k += 1
    with open(d / "interactions.csv", "w") as f:
        f.write("user_id,item_id,timestamp\n")
        for j in range(36):
            f.write(f"x,{j},{T0 + j * DAY}\n")
    code, out, err = run_main(capsys, "--data", str(d), "--user", "x", "--json")
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["params"]["categories_source"] == "topics"
    names = res["categories"]
    assert len(names) >= 2 and "other" not in names
    for w in res["windows"]:
        assert sum(w["shares"].values()) == pytest.approx(1.0, abs=1e-6)
    # the user reads the space titles, then the cooking titles: one shift, between them
    assert len(res["change_points"]) >= 1
    assert any(abs(c - (T0 + 17.5 * DAY)) <= 4 * DAY for c in res["change_points"])
    first = max(res["windows"][0]["shares"].items(), key=lambda kv: kv[1])[0]
    last = max(res["windows"][-1]["shares"].items(), key=lambda kv: kv[1])[0]
    assert first != last
