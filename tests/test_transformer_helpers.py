"""Tiny synthetic worlds for the transformer/train/recommend tests (no tests here).

``chain_world``: items 0..n_items-1 in a ring; each user walks the ring from a random
start (item i is always followed by item i+1), so the next item is fully predictable
from the last one while popularity is flat — a sequence model must beat popularity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.types import Dataset, build_dataset

GENRES = ("Action", "Comedy", "Drama", "Horror")


def chain_frames(n_users: int = 60, n_items: int = 30, length: int = 12, seed: int = 0,
                 extra_item: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(n_items))
        t0 = 1_000_000 + int(rng.integers(10_000))
        for k in range(length):
            rows.append((f"u{u}", str((start + k) % n_items + 1), t0 + 3600 * k + int(rng.integers(60)), 4.0))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    n_all = n_items + (1 if extra_item else 0)
    items = pd.DataFrame({
        "item_id": [str(i + 1) for i in range(n_all)],
        "title": [f"Film number {i + 1}" for i in range(n_all)],
        "categories": [(GENRES[i % len(GENRES)],) for i in range(n_all)],
        "text": [f"A {GENRES[i % len(GENRES)].lower()} story, part {i + 1}" for i in range(n_all)],
    })
    return inter, items


def chain_world(**kw) -> Dataset:
    inter, items = chain_frames(**kw)
    return build_dataset("chain", inter, items)


def write_chain_dir(path: Path, **kw) -> Path:
    """The chain world as a generic data directory (interactions.csv + items.csv)."""
    inter, items = chain_frames(**kw)
    path.mkdir(parents=True, exist_ok=True)
    inter.to_csv(path / "interactions.csv", index=False)
    it = items.copy()
    it["categories"] = it["categories"].map(lambda c: "|".join(c))
    it.to_csv(path / "items.csv", index=False)
    return path
