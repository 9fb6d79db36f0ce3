"""Retraining during a simulation (``--retrain-every R``): every R rounds the model is
trained further (``init_from`` the current artifact, a few epochs) on the log grown by the
simulated choices, then the simulation continues with the new model.

The grown log is the original data with each simulated user's history replaced by their
simulated one (the real history + the choices, time-stamped one round apart after their
last real interaction); the other users are unchanged. Item ids, titles, categories, text
and user attributes are the original ones, so item indices stay the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from recsys.data.types import DataError, build_dataset

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset
    from recsys.models.base import Scorer

DEFAULT_RETRAIN_EPOCHS = 5


def grown_dataset(ds: Dataset, users: np.ndarray, hist: Sequence[np.ndarray], ts: Sequence[np.ndarray]) -> Dataset:
    """``ds`` with the histories of ``users`` (row indices) replaced by ``hist``/``ts``."""
    sim = np.zeros(ds.n_users, dtype=bool)
    sim[np.asarray(users, dtype=np.int64)] = True
    keep = ~sim[ds.user]
    u = np.concatenate([ds.user[keep], np.repeat(np.asarray(users, dtype=np.int64), [len(h) for h in hist])])
    i = np.concatenate([ds.item[keep], *[np.asarray(h, dtype=np.int64) for h in hist]])
    t = np.concatenate([ds.timestamp[keep], *[np.asarray(x, dtype=np.int64) for x in ts]])
    uid = np.asarray(ds.user_ids, dtype=object)
    iid = np.asarray(ds.item_ids, dtype=object)
    inter = pd.DataFrame({"user_id": uid[u], "item_id": iid[i], "timestamp": t})
    items = pd.DataFrame({"item_id": list(ds.item_ids), "title": list(ds.titles),
                          "categories": list(ds.item_categories), "text": list(ds.item_text)})
    users_df = None
    if ds.user_attrs is not None:
        users_df = ds.user_attrs.copy()
        users_df.insert(0, "user_id", list(ds.user_ids))
    grown = build_dataset(f"{ds.source} + simulated choices", inter, items, users_df, truth=ds.truth,
                          tie_order=ds.tie_order)
    if grown.item_ids != ds.item_ids or grown.user_ids != ds.user_ids:
        raise DataError("the grown log does not keep the data's user and item ids")
    return grown


def retrain(ds: Dataset, init_from: str | Path, out_dir: str | Path, *, seed: int, epochs: int) -> Scorer:
    """Train ``epochs`` more epochs from ``init_from`` on ``ds`` into ``out_dir``; the new model."""
    from recsys.models.transformer import TransformerRecommender
    from recsys.train import train_model

    train_model(ds, out_dir, seed=seed, epochs=epochs, init_from=init_from, ablation=False, baselines=False,
                min_epochs=1)
    return TransformerRecommender.load(out_dir, ds)
