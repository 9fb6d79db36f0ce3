"""Torch thread counts for the two kinds of work RecLens does on a CPU.

- **Scoring and explaining** run many small batches (tens to a thousand short
  sequences): one intra-op thread is fastest, and on a machine where another process
  holds a core, two threads are several times *slower* (they wait for each other).
  :func:`serving_threads` is 1.
- **Training** runs larger batches: it uses every core that is idle right now
  (:func:`training_threads`: cores minus the 1-minute load average, at least 1).

Torch's intra-op setting is per OS thread (OpenMP), so set it in the thread that does
the work — e.g. at the top of each Streamlit script run, or inside a background
training thread — with :func:`set_threads` or the :func:`torch_threads` context.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

SERVING_THREADS = 1


def serving_threads() -> int:
    """Threads for scoring and explanations (small batches): 1."""
    return SERVING_THREADS


def training_threads(load: float | None = None, cores: int | None = None) -> int:
    """Threads for training: the cores idle right now (cores − 1-minute load average,
    rounded), between 1 and the number of cores."""
    cores = int(cores or os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            load = 0.0
    return max(1, min(cores, int(cores - float(load) + 0.5)))


def set_threads(n: int) -> int:
    """Set torch's intra-op threads for the calling thread; returns the previous count."""
    import torch

    prev = torch.get_num_threads()
    if prev != int(n):
        torch.set_num_threads(max(1, int(n)))
    return prev


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, restoring the previous count after."""
    prev = set_threads(n)
    try:
        yield
    finally:
        set_threads(prev)
