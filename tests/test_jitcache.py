"""shap's numba code is compiled once per machine: the on-disk cache under RECSYS_HOME
is written by the first process and used, unchanged, by the next (explain.jitcache).
Each case runs in fresh subprocesses: a process that has already compiled shap's
functions never reads the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explain import jitcache

REPO = Path(__file__).resolve().parents[1]


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECSYS_HOME": str(home), "OMP_NUM_THREADS": "1"}
    for var in ("RECSYS_DEBUG", "NUMBA_CACHE_DIR", "NUMBA_DEBUG_CACHE"):
        env.pop(var, None)
    return env


def _snapshot(d: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(d)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(d.rglob("*"))
            if p.is_file()}


def _shap_tree_nbi() -> set[str]:
    import shap

    return {str(p) for p in Path(shap.__file__).parent.rglob("*.nbi")}


@pytest.fixture(scope="module")
def case(tiny_model):
    """(user, item) on demo-small: the longest history (more than Exact's 10 features, so
    shap's Permutation explainer and its link-function argument are exercised)."""
    from recsys.data import load
    from recsys.models.base import recommend
    from recsys.models.transformer import TransformerRecommender

    ds = load("demo-small")
    model = TransformerRecommender.load(tiny_model, ds)
    u = int(np.argmax(np.diff(ds.user_offsets)))
    h, ts = ds.sequence(u)
    assert len(h) > 10
    return ds.user_ids[u], ds.item_ids[int(recommend(model, h, 5, ts).items[0])]


def _explain(home: Path, model_dir: Path, user: str, item: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "recsys", "explain", "--data", "demo-small", "--model", str(model_dir), "--user",
         user, "--item", item, "--method", "shap", "--budget", "300", "--json"],
        cwd=REPO, env=_env(home), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_second_process_uses_the_first_ones_compiled_code(tmp_path, tiny_model, case):
    user, item = case
    home = tmp_path / "home"  # a fresh RECSYS_HOME: no compiled code yet
    outside_before = _shap_tree_nbi()
    first = _explain(home, tiny_model, user, item)
    cache = home / "cache" / "numba"
    files = _snapshot(cache)
    names = list(files)
    assert any(n.endswith(".nbi") for n in names) and any(n.endswith(".nbc") for n in names), names
    assert any("_build_fixed_single_output" in n for n in names), names  # the one taking shap's link function
    assert any("_delta_masking" in n for n in names), names
    assert cache.stat().st_mode & 0o077 == 0  # only the server's user can read or write it
    assert _shap_tree_nbi() == outside_before  # nothing was cached next to shap's sources

    second = _explain(home, tiny_model, user, item)
    # every function came from the cache: no index rewritten, no new object file
    assert _snapshot(cache) == files
    assert [a["weight"] for a in second["attributions"]] == [a["weight"] for a in first["attributions"]]
    assert [a["item_id"] for a in second["attributions"]] == [a["item_id"] for a in first["attributions"]]
    assert second["value"] == first["value"] and second["base_value"] == first["base_value"]


WARM = "from explain import warm_up; warm_up(); print('ok')"


def test_a_damaged_cache_file_is_compiled_again(tmp_path):
    home = tmp_path / "home"
    r = subprocess.run([sys.executable, "-c", WARM], cwd=REPO, env=_env(home), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    cache = home / "cache" / "numba"
    damaged = sorted(cache.rglob("*.nbi")) + sorted(cache.rglob("*.nbc"))
    assert damaged
    for p in damaged:
        p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])  # a half-written file
    r = subprocess.run([sys.executable, "-c", WARM], cwd=REPO, env=_env(home), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    # the indexes were written again and load cleanly in a third process
    r = subprocess.run([sys.executable, "-c", WARM], cwd=REPO, env={**_env(home), "NUMBA_DEBUG_CACHE": "1"},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout + r.stderr
    assert "data loaded from" in out and "data saved to" not in out, out[-3000:]


def test_a_cache_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    home = tmp_path / "home"
    d = home / "cache" / "numba"
    d.mkdir(parents=True)
    d.chmod(0o777)
    monkeypatch.setenv("RECSYS_HOME", str(home))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    info = jitcache.enable()
    assert info["functions"] == 0 and "writable by group or others" in info["skipped"]
    assert list(d.iterdir()) == []


def test_the_cache_lives_under_recsys_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)  # restored after the test (enable() sets it)
    assert jitcache.cache_dir() == (tmp_path / "h" / "cache" / "numba").resolve()
    info = jitcache.enable()
    assert info["skipped"] is None and info["functions"] >= 10
    assert os.environ["NUMBA_CACHE_DIR"] == str(jitcache.cache_dir())
