"""What the trainer needs to run as one of several data-parallel processes.

The :class:`~recsys.models.transformer.trainer.Trainer` takes a :class:`Sync`: its
``rank`` and ``world`` say which share of every batch this process trains on, and two
collectives keep the processes in step — :meth:`Sync.all_sum` (validation and loss
totals) and :meth:`Sync.from_rank0` (rank 0's early-stopping decision). :class:`LocalSync`
is the single process (no collectives); :class:`TorchSync` uses ``torch.distributed``
(gloo on CPU, nccl on GPU — whatever process group the launcher set up, e.g. Ray Train's
``TorchTrainer``; see :mod:`recsys.train_ray`). Gradients are synchronised by the
``DistributedDataParallel`` wrapper, not here.

How the data is split: every process loads the same training sequences and draws the
same training windows and the same batches (one generator, the same seed). Each
*global* batch of ``batch_size`` windows — exactly the batch a single process would
train on — is split by position: process ``rank`` takes rows ``rank, rank + world, ...``
(:func:`shard`). So every process runs the same number of steps (DDP needs that), the
batches are balanced in size and length, the learning rate of a single process applies
unchanged, and — each process's loss being its positions' sum times ``world`` / the
batch's positions (:func:`window_targets`) — the gradient averaged by DDP is the single
process's gradient of the batch (up to rounding).
"""

from __future__ import annotations

from typing import Protocol

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


def window_targets(ends: np.ndarray, max_len: int) -> np.ndarray:
    """Target positions each training window ``seq[max(0, end - max_len):end]`` trains:
    all its items, except the first one of a window that starts inside a history."""
    ends = np.asarray(ends, dtype=np.int64)
    start = np.maximum(ends - max_len, 0)
    return ends - start - (start > 0)
