"""Shared fixtures. Real-data tests skip without ../shared/data/ml-100k unless
RECSYS_REQUIRE_REAL_DATA=1 (CI), in which case its absence is a failure."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def ml100k_dir() -> Path:
    env = os.environ.get("RECSYS_ML100K")
    return Path(env) if env else REPO.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(scope="session")
def ml100k_path() -> Path:
    p = ml100k_dir()
    if not (p / "u.data").is_file():
        if os.environ.get("RECSYS_REQUIRE_REAL_DATA") == "1":
            pytest.fail(f"RECSYS_REQUIRE_REAL_DATA=1 but MovieLens-100K is missing at {p}")
        pytest.skip(f"MovieLens-100K not found at {p}")
    return p


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own RECSYS_HOME unless it sets one; the text-embedding cache
    is shared across the session so the encoder runs once per dataset."""
    home = tmp_path_factory.getbasetemp() / "recsys_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("RECSYS_HOME", str(home))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny transformer for the small demo world, trained once per test session into
    the session's RECSYS_HOME (where the app and the CLI look for it)."""
    from tests.app_support import ensure_tiny_model

    home = tmp_path_factory.getbasetemp() / "recsys_home"
    home.mkdir(exist_ok=True)
    return ensure_tiny_model(home, "demo-small")


@pytest.fixture(scope="session")
def small_ds(tiny_model):
    from recsys.data import load

    return load("demo-small")



@pytest.fixture(scope="session")
def small_model16(tmp_path_factory):
    """A small transformer trained on demo-small with 16 epochs (model defaults otherwise),
    good enough to show the effects of ranking on the simulated feedback loop."""
    import torch

    from recsys.data import load
    from recsys.train import train_model

    home = tmp_path_factory.getbasetemp() / "recsys_home"  # the session's home: its embedding cache
    home.mkdir(exist_ok=True)
    old_home = os.environ.get("RECSYS_HOME")
    os.environ["RECSYS_HOME"] = str(home)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("small_model16") / "model"
        train_model(load("demo-small"), out, seed=0, epochs=16, ablation=False, baselines=False)
    finally:
        torch.set_num_threads(threads)
        if old_home is None:
            os.environ.pop("RECSYS_HOME", None)
        else:
            os.environ["RECSYS_HOME"] = old_home
    return out


@pytest.fixture(scope="session", autouse=True)
def _drain_work_queue():
    """Let the server work queue's jobs (trainings the app tests started) finish before
    the interpreter exits: a daemon worker inside torch at exit aborts the process once
    Ray's terminate handler is installed."""
    yield
    mod = sys.modules.get("ui.core.workqueue")
    if mod is None or mod._DEFAULT is None:
        return
    deadline = time.monotonic() + 600
    while not mod._DEFAULT.status().idle and time.monotonic() < deadline:
        time.sleep(0.5)
