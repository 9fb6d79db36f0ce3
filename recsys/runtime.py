"""Torch thread counts for the two kinds of work RecLens does on a CPU, and the
training device (:func:`resolve_device`: ``train --device auto|cpu|cuda``).

- **Scoring and explaining** run many small batches (tens to a thousand short
  sequences): one intra-op thread is fastest, and on a machine where another process
  holds a core, two threads are several times *slower* (they wait for each other).
  :func:`serving_threads` is 1.
- **Training** runs larger batches but is just as fragile: two threads on a 2-core
  machine train ML-100K 1.5x faster alone, yet 3x *slower* beside one busy process and
  6x slower beside a second training (benchmarks/results/train_speed_before.json). So the
  rule is fixed, not measured: :func:`training_threads` is half the cores, at least 1
  (``RECSYS_TRAIN_THREADS`` or ``train --threads`` override it). One other CPU-bound
  process or a second training then fits beside it without oversubscribing, and the
  count does not depend on the load: torch's results change with the thread count, so
  a seed gives the same model on a busy machine as on an idle one.

Torch's intra-op setting is per OS thread (OpenMP), so set it in the thread that does
the work — e.g. at the top of each Streamlit script run, or inside a background
training thread — with :func:`set_threads` or the :func:`torch_threads` context.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Mapping

SERVING_THREADS = 1


def serving_threads() -> int:
    """Threads for scoring and explanations (small batches): 1."""
    return SERVING_THREADS


TRAIN_THREADS_ENV = "RECSYS_TRAIN_THREADS"


def training_threads(cores: int | None = None, env: Mapping[str, str] | None = None) -> int:
    """Threads for one training: ``$RECSYS_TRAIN_THREADS`` when set (a positive integer),
    else half the cores, at least 1 (see the module docstring for why)."""
    source: Mapping[str, str] = os.environ if env is None else env
    raw = source.get(TRAIN_THREADS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            from recsys.data.types import DataError

            raise DataError(f"{TRAIN_THREADS_ENV} must be a positive integer, not {raw!r}")
        return n
    cores = int(cores or os.cpu_count() or 1)
    return max(1, cores // 2)


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


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, cuda_available: bool | None = None) -> str:
    """The torch device for ``train --device``: ``"cpu"`` or ``"cuda"``. ``"auto"`` is
    ``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``; ``"cuda"`` without one is a
    DataError. ``cuda_available`` overrides ``torch.cuda.is_available()`` (e.g. with the
    answer of a Ray cluster instead of this machine)."""
    from recsys.data.types import DataError

    if name not in DEVICES:
        raise DataError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "cpu":
        return "cpu"
    if cuda_available is None:
        import torch

        cuda_available = bool(torch.cuda.is_available())
    if cuda_available:
        return "cuda"
    if name == "cuda":
        raise DataError("--device cuda: no CUDA GPU is available (torch.cuda.is_available() is false)")
    return "cpu"
