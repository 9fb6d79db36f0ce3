"""Helpers for the dashboard tests: a tiny model for the small demo world, trained once
per test session into the session's RECSYS_HOME (where the app looks for it)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [
    "pages/home.py",
    "pages/user_explorer.py",
    "pages/recommendations.py",
    "pages/fairness_lab.py",
    "pages/long_term_lab.py",
    "pages/whatif_studio.py",
    "pages/item_view.py",
    "pages/evaluation.py",
    "pages/live.py",
]


def ensure_tiny_model(home: Path, source: str = "demo-small", min_count: int | None = None) -> Path:
    """Train (once) a tiny model for ``source`` (N-core filtered with ``min_count``) under
    ``home`` with few epochs. Returns the artifact directory (the app's default location
    for that data)."""
    os.environ["RECSYS_HOME"] = str(home)
    import torch

    from recsys.data import load
    from recsys.paths import default_model_dir
    from recsys.train import train_model

    torch.set_num_threads(1)
    ds = load(source, min_count=min_count)
    out = default_model_dir(ds)
    if (out / "manifest.json").is_file():
        return out
    train_model(ds, out, seed=0, epochs=2, ablation=False, d_model=32, n_layers=1, n_heads=1, max_len=50,
                min_epochs=1, min_count=min_count)
    return out


def ensure_app_model(home: Path, source: str = "demo-small") -> Path:
    """Train (once) under ``home`` the model the app itself trains on first start (its
    defaults, then the no-text ablation) — for documentation screenshots that should
    show the real model card, not the tiny test model."""
    os.environ["RECSYS_HOME"] = str(home)
    from recsys.autotrain import train_ablation, train_main
    from recsys.data import load
    from recsys.paths import default_model_dir

    ds = load(source)
    out = default_model_dir(ds)
    if not (out / "manifest.json").is_file():
        train_main(ds, out)
        train_ablation(ds, out)
    return out


def hostile_titles_dataset():
    """Two users, seven items whose titles and categories carry HTML (escaping tests)."""
    import pandas as pd

    from recsys.data.types import build_dataset

    inter = pd.DataFrame(
        {"user_id": ["a"] * 5 + ["b"] * 3, "item_id": ["1", "2", "3", "4", "5", "2", "6", "7"],
         "timestamp": [10, 20, 30, 40, 50, 15, 25, 35]}
    )
    items = pd.DataFrame(
        {"item_id": [str(i) for i in range(1, 8)],
         "title": ["<script>alert('x')</script>", "<b>Bold</b> & co", "Plain", "Four", "Five", "Six", "Seven"],
         "categories": [("<i>Cat</i>",), ("A",), ("A", "B"), ("B",), ("B",), ("C",), ("C",)]}
    )
    return build_dataset("test", inter, items)


def open_page(page: str, timeout: float = 180, **params: str):
    """An AppTest of the frame (app.py) with the URL's parameters, then ``page`` opened as a
    sidebar click (st.navigation registers the pages on the first run)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    return at


def assert_clean(at) -> None:
    """No exception and no error element on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def featured(ds) -> str:
    """The demo world's first featured user."""
    return ds.truth.featured_users()[0]

