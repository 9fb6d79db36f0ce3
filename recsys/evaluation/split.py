"""Leave-one-out split by time (a contract: every model is evaluated on it).

Per user, interactions are ordered by timestamp, same-second ties by the dataset's tie
order (``ds.tie_order``: a blake2b key of user and item id, or item-id order; see
:mod:`recsys.data.order`) — the order the :class:`~recsys.data.types.Dataset` arrays are
already in. The last interaction is the
test target, the second-to-last the validation target, the rest is training input.
Users with fewer than 3 interactions are not evaluated; all of their interactions stay
training input (for the baselines' fit and the transformer's training sequences).

Stages:

* ``"valid"``: input = ``train[u]``, target = the validation item;
* ``"test"``: input = ``train[u]`` + the validation item (with its timestamp),
  target = the test item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys.data.types import DataError, Dataset

Stage = Literal["valid", "test"]
MIN_EVAL_INTERACTIONS = 3


def _check_stage(which: str) -> None:
    if which not in ("valid", "test"):
        raise DataError(f"evaluation stage must be 'valid' or 'test', not {which!r}")


@dataclass(frozen=True, eq=False)
class Split:
    """A leave-one-out split. Arrays of ``eval_users`` order are aligned with it."""

    n_users: int
    n_items: int
    eval_users: np.ndarray  # int64 (E,) user indices with >= 3 interactions, ascending
    train: list[np.ndarray]  # per ALL users: item indices of the training input, oldest first
    train_ts: list[np.ndarray]  # per ALL users: their timestamps
    valid_target: np.ndarray  # int64 (E,)
    valid_ts: np.ndarray  # int64 (E,) timestamps of the validation items
    test_target: np.ndarray  # int64 (E,)
    test_ts: np.ndarray  # int64 (E,) timestamps of the test items
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_eval(self) -> int:
        return int(self.eval_users.shape[0])

    def inputs(self, which: Stage) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """(histories, timestamps, targets) for the evaluated users at stage ``which``.

        "valid": histories are ``train[u]``; "test": ``train[u]`` followed by the
        validation item. Targets are the validation / test items.
        """
        _check_stage(which)
        key = ("inputs", which)
        if key not in self._cache:
            users = self.eval_users
            if which == "valid":
                hist = [self.train[u] for u in users]
                ts = [self.train_ts[u] for u in users]
                targets = self.valid_target
            else:
                hist = [np.append(self.train[u], self.valid_target[j]) for j, u in enumerate(users)]
                ts = [np.append(self.train_ts[u], self.valid_ts[j]) for j, u in enumerate(users)]
                targets = self.test_target
            self._cache[key] = (hist, ts, targets)
        hist, ts, targets = self._cache[key]
        return list(hist), list(ts), targets

    def train_matrix(self, which: Stage) -> sp.csr_matrix:
        """Binary (n_users, n_items) CSR matrix of every interaction available as input
        at stage ``which``: all users' training input, plus, for "test", the evaluated
        users' validation items. Never contains a target of that stage."""
        _check_stage(which)
        key = ("matrix", which)
        if key not in self._cache:
            lens = np.fromiter((len(t) for t in self.train), dtype=np.int64, count=self.n_users)
            rows = [np.repeat(np.arange(self.n_users, dtype=np.int64), lens)]
            cols = [np.concatenate(self.train).astype(np.int64) if self.n_users else np.zeros(0, np.int64)]
            if which == "test":
                rows.append(self.eval_users.astype(np.int64))
                cols.append(self.valid_target.astype(np.int64))
            r, c = np.concatenate(rows), np.concatenate(cols)
            m = sp.csr_matrix(
                (np.ones(r.shape[0], dtype=np.float32), (r, c)), shape=(self.n_users, self.n_items)
            )
            m.sum_duplicates()
            m.data[:] = 1.0  # binary: repeated interactions count once
            self._cache[key] = m
        return self._cache[key]

    def train_popularity(self, which: Stage) -> np.ndarray:
        """Training interactions per item at stage ``which`` (users counted once)."""
        return np.asarray(self.train_matrix(which).sum(axis=0)).ravel().astype(np.int64)


def leave_one_out(ds: Dataset) -> Split:
    """Split ``ds``: last = test, second-to-last = validation, rest = train."""
    off = ds.user_offsets
    counts = np.diff(off)
    eval_users = np.flatnonzero(counts >= MIN_EVAL_INTERACTIONS).astype(np.int64)
    train: list[np.ndarray] = []
    train_ts: list[np.ndarray] = []
    for u in range(ds.n_users):
        a, b = int(off[u]), int(off[u + 1])
        end = b - 2 if b - a >= MIN_EVAL_INTERACTIONS else b
        train.append(ds.item[a:end].astype(np.int64))
        train_ts.append(ds.timestamp[a:end].astype(np.int64))
    last = off[eval_users + 1] - 1
    return Split(
        n_users=ds.n_users,
        n_items=ds.n_items,
        eval_users=eval_users,
        train=train,
        train_ts=train_ts,
        valid_target=ds.item[last - 1].astype(np.int64),
        valid_ts=ds.timestamp[last - 1].astype(np.int64),
        test_target=ds.item[last].astype(np.int64),
        test_ts=ds.timestamp[last].astype(np.int64),
    )


def tied_test_share(ds: Dataset) -> float:
    """The share of the evaluated users (those with >= 3 interactions, as
    :func:`leave_one_out` selects them) whose test item has the same timestamp as the
    item before it (their validation item): for them the tie order picks the test item.
    The same under every tie order; 0.0 when no user is evaluated."""
    off = ds.user_offsets
    users = np.flatnonzero(np.diff(off) >= MIN_EVAL_INTERACTIONS)
    if not users.size:
        return 0.0
    last = off[users + 1] - 1
    return float(np.mean(ds.timestamp[last] == ds.timestamp[last - 1]))


def cold_item_world(ds: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """A new-item scenario on a real log: a seeded random ``fraction`` of the items lose
    every interaction except those that are some user's last one (their test target
    under :func:`leave_one_out`), so these items are in the catalogue but have never
    been seen in training or validation — like titles released after the model's data.

    Returns ``(dataset, cold)`` with ``cold`` a boolean mask over the returned
    dataset's items. Cold items that were nobody's last interaction leave the
    catalogue; users left with fewer than 3 interactions are not evaluated.
    """
    from recsys.data.filtering import subset_interactions

    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise DataError(f"cold item fraction must be in (0, 1), got {fraction!r}")
    rng = np.random.default_rng(seed)
    n = max(1, int(round(fraction * ds.n_items)))
    chosen = np.zeros(ds.n_items, dtype=bool)
    chosen[rng.choice(ds.n_items, size=n, replace=False)] = True
    last = np.zeros(ds.n_interactions, dtype=bool)
    last[ds.user_offsets[1:][np.diff(ds.user_offsets) > 0] - 1] = True
    out = subset_interactions(ds, ~chosen[ds.item] | last)
    cold_ids = {ds.item_ids[k] for k in np.flatnonzero(chosen)}
    return out, np.array([x in cold_ids for x in out.item_ids], dtype=bool)
