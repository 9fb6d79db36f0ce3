"""What the trainer needs to run as one of several data-parallel processes.

The :class:`~recsys.models.transformer.trainer.Trainer` takes a :class:`Sync`: its
``rank`` and ``world`` say which share of every batch this process trains on, and two
collectives keep the processes in step — :meth:`Sync.all_sum` (validation and loss
totals) and :meth:`Sync.from_rank0` (rank 0's early-stopping decision). :class:`LocalSync`
is the single process (no collectives); :class:`TorchSync` uses ``torch.distributed``
(gloo on CPU, nccl on GPU — whatever process group the launcher set up, e.g. Ray Train's
``TorchTrainer``; see :mod:`recsys.train_ray`). Gradients are synchronised by the
``DistributedDataParallel`` wrapper, not here.

How the data is split: each process holds only a shard of the users
(:class:`UserShard`: the users whose stable id hash, :func:`user_owners`, falls on its
rank — cut by the driver with :func:`user_shards`), plus the few global facts that let
every process draw the same training windows and the same batches (one generator, the
same seed): every user's sequence length and the item counts. Each *global* batch of
``batch_size`` windows — exactly the batch a single process would train on — is split
by owner: a process trains the rows whose user it holds (:func:`held_rows`; one of its
own windows with weight 0 when it holds none, so it still joins the synchronisation).
So every process runs the same number of steps (DDP needs that), the learning rate of a
single process applies unchanged, and — each process's loss being its positions' sum
times ``world`` / the batch's positions (:func:`window_targets`) — the gradient averaged
by DDP is the single process's gradient of the batch (up to rounding). The shares of a
batch are balanced in expectation only (a hash split: 64 ± 6 rows of a 128-row batch on
two processes), so a step waits for the larger share. :func:`shard` (rows ``rank,
rank + world, …``) is the split for processes that hold every user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch


class Sync(Protocol):
    rank: int
    world: int

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of ``values`` over all processes (every process gets them)."""
        ...

    def from_rank0(self, values: list[float]) -> list[float]:
        """Rank 0's ``values`` on every process."""
        ...


class LocalSync:
    """One process: rank 0 of 1, the collectives are the identity."""

    rank, world = 0, 1

    def all_sum(self, values: list[float]) -> list[float]:
        return list(values)

    def from_rank0(self, values: list[float]) -> list[float]:
        return list(values)


class TorchSync:
    """Collectives over the default ``torch.distributed`` process group (already initialised)."""

    def __init__(self, device: torch.device | str = "cpu"):
        import torch.distributed as dist

        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.device = torch.device(device)

    def _tensor(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float64, device=self.device)

    def all_sum(self, values: list[float]) -> list[float]:
        t = self._tensor(values)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def from_rank0(self, values: list[float]) -> list[float]:
        t = self._tensor(values)
        self.dist.broadcast(t, src=0)
        return t.cpu().tolist()


def shard(batch: np.ndarray, rank: int, world: int) -> tuple[np.ndarray, bool]:
    """(this process's rows of a global batch, whether they carry weight): rows ``rank::world``;
    a process left without a row (a batch smaller than ``world``) takes the first row with
    weight 0, so it still joins the gradient synchronisation."""
    part = batch[rank::world]
    if len(part):
        return part, True
    return batch[:1], False


def held_rows(batch: np.ndarray, mine: np.ndarray, spare: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """(the windows of a global batch whose users this process holds — ``mine`` per window
    —, whether they carry weight); a process holding none of them trains one of its own
    windows (``spare``) with weight 0, so it still joins the gradient synchronisation."""
    part = batch[mine[batch]]
    if len(part):
        return part, True
    if spare is None or not len(spare):
        raise ValueError("a data-parallel process holds no training window")
    return spare, False


def window_targets(ends: np.ndarray, max_len: int) -> np.ndarray:
    """Target positions each training window ``seq[max(0, end - max_len):end]`` trains:
    all its items, except the first one of a window that starts inside a history."""
    ends = np.asarray(ends, dtype=np.int64)
    start = np.maximum(ends - max_len, 0)
    return ends - start - (start > 0)


# ---- each process holds a shard of the users -------------------------------------------
SHARD_PURPOSE = "train-shard"


def user_owners(user_ids: Sequence[str], world: int) -> np.ndarray:
    """(n_users,) int32: the process that holds each user's data — a stable hash of the
    user id (blake2b, :func:`recsys.seeds.user_seed`) modulo ``world``. The same in every
    process and Python version, and a user keeps its shard when other users are added."""
    from recsys.seeds import user_seed

    if world < 1:
        raise ValueError(f"world must be at least 1, not {world}")
    return np.fromiter((user_seed(0, u, SHARD_PURPOSE) % world for u in user_ids), dtype=np.int32,
                       count=len(user_ids))


@dataclass(frozen=True, eq=False)
class UserShard:
    """One process's share of a data-parallel run's training data, and the few global
    facts every process needs to draw the same windows and batches as one process.

    Global (the same in every shard, O(users + items)): ``lengths`` — training-sequence
    length of every user; ``counts`` — training interactions per item; ``gap_counts`` —
    training gap-bucket counts (None without timestamps). Held here (O(held
    interactions)): ``users`` (ascending user indices), their sequences as CSR
    (``offsets``, ``items``, ``timestamps``), and the evaluated ones among them
    (``valid_users``, with ``valid_target``) for validation."""

    rank: int
    world: int
    lengths: np.ndarray
    counts: np.ndarray
    gap_counts: np.ndarray | None
    users: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    valid_users: np.ndarray
    valid_target: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.lengths.shape[0])

    def held(self) -> np.ndarray:
        """(n_users,) bool: the users this shard holds."""
        mask = np.zeros(self.n_users, dtype=bool)
        mask[self.users] = True
        return mask

    def sequences(self) -> tuple[Rows, Rows]:
        """(training sequences, their timestamps), indexable by global user index (held users only)."""
        pos = np.full(self.n_users, -1, dtype=np.int64)
        pos[self.users] = np.arange(self.users.shape[0])
        return Rows(pos, self.offsets, self.items), Rows(pos, self.offsets, self.timestamps)

    def valid(self) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """(histories, timestamps, targets) of the held evaluated users, as ``Split.inputs("valid")``."""
        seqs, tss = self.sequences()
        users = self.valid_users.tolist()
        return [seqs[u] for u in users], [tss[u] for u in users], self.valid_target


class Rows:
    """Per-user rows of a CSR array, looked up by global user index (a held user's only)."""

    def __init__(self, pos: np.ndarray, offsets: np.ndarray, values: np.ndarray):
        self.pos, self.offsets, self.values = pos, offsets, values

    def __getitem__(self, user: int) -> np.ndarray:
        j = int(self.pos[user])
        if j < 0:
            raise KeyError(f"user {user} is not held by this process")
        return self.values[self.offsets[j] : self.offsets[j + 1]]


def user_shards(
    train: Sequence[np.ndarray],
    train_ts: Sequence[np.ndarray],
    eval_users: np.ndarray,
    valid_target: np.ndarray,
    owners: np.ndarray,
    world: int,
    n_items: int,
    gap_counts: np.ndarray | None,
) -> list[UserShard]:
    """Cut a leave-one-out split's training data into ``world`` shards by ``owners``
    (:func:`user_owners`); every user with training data is in exactly one shard."""
    lengths = np.fromiter((len(s) for s in train), dtype=np.int64, count=len(train))
    counts = np.bincount(np.concatenate([np.asarray(s, dtype=np.int64) for s in train]) if len(train)
                         else np.zeros(0, np.int64), minlength=n_items)[:n_items].astype(np.int64)
    eval_users = np.asarray(eval_users, dtype=np.int64)
    valid_target = np.asarray(valid_target, dtype=np.int64)
    out = []
    for r in range(world):
        users = np.flatnonzero((owners == r) & (lengths > 0)).astype(np.int64)
        offsets = np.zeros(users.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths[users], out=offsets[1:])
        items = np.concatenate([np.asarray(train[u], dtype=np.int64) for u in users.tolist()]) if users.size \
            else np.zeros(0, np.int64)
        ts = np.concatenate([np.asarray(train_ts[u], dtype=np.int64) for u in users.tolist()]) if users.size \
            else np.zeros(0, np.int64)
        keep = owners[eval_users] == r
        out.append(UserShard(r, world, lengths, counts, gap_counts, users, offsets, items, ts,
                             eval_users[keep], valid_target[keep]))
    return out


def check_cover(sync: Sync, users: UserShard) -> list[int]:
    """Every user with training data is held by exactly one process (one all-reduce);
    returns the number of users each process holds. ValueError otherwise."""
    cover = np.asarray(sync.all_sum(users.held().astype(np.float64).tolist()))
    if not np.array_equal(cover, (users.lengths > 0).astype(np.float64)):
        raise ValueError("the data-parallel processes' user shards overlap or miss users")
    per = [float(users.users.shape[0]) if r == sync.rank else 0.0 for r in range(sync.world)]
    return [int(x) for x in sync.all_sum(per)]
