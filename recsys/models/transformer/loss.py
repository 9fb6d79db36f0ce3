"""Which training loss to use: the full softmax or the sampled softmax (no torch here).

The losses themselves are in :mod:`recsys.models.transformer.sampled` (the sampled one)
and :mod:`recsys.models.transformer.trainer` (the full one). The choice is a training
option recorded in the manifest (``loss``, ``negatives``, ``sampler``), not a key of the
stored configuration: an artifact scores the same whichever loss trained it.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.data.types import DataError

LOSSES = ("auto", "full", "sampled")
SAMPLERS = ("uniform", "popularity")
DEFAULT_NEGATIVES = 2048
# The sampled softmax's default sampler. At 40,000 items on the 1M demo world (seed 0,
# 10 epochs, 2,048 negatives; docs/RESULTS.md) popularity negatives with the log-Q
# correction reached test NDCG@10 0.0754 against 0.0532 for uniform ones (and 0.0682 for
# the full softmax in 5 epochs), and ranked the planted follow-ups in the top 10 for
# 32.6% of pending users against 8.0%: uniform negatives are mostly tail items the
# model already ranks low and carry little gradient.
DEFAULT_SAMPLER = "popularity"
# loss="auto" trains with the full softmax up to this many items and with the sampled
# softmax above. CPU seconds of one training step (defaults: d_model 64, 2 layers,
# max_len 50, batch 64, text on; 2048 negatives; one thread; benchmarks/bench_softmax.py):
#     items       2,000  5,000  10,000  20,000  40,000
#     full         0.13   0.28    0.65    1.38    2.74
#     sampled      0.16   0.17    0.15    0.19    0.17
# The two cost the same near 2,500 items; above, the full softmax grows linearly (and
# holds several copies of 3,200 x items logits, 0.5 GB each at 40,000) while the sampled
# one stays flat. Up to 10,000 items the exact loss costs at most ~4x a cheap step (< 1 s),
# and the catalogues RecLens has measured quality on (ML-100K: 1,682 items,
# ml-latest-small: 9,742) keep it.
SAMPLED_ABOVE_ITEMS = 10_000


@dataclass(frozen=True)
class LossSpec:
    """The training loss: ``kind`` ``"full"`` or ``"sampled"`` (already resolved, never
    ``"auto"``); ``negatives`` and ``sampler`` apply to ``"sampled"`` only."""

    kind: str = "full"
    negatives: int = DEFAULT_NEGATIVES
    sampler: str = DEFAULT_SAMPLER

    def describe(self) -> dict[str, object]:
        """What a training run records: ``{"loss", "negatives", "sampler"}`` (``None``
        for the two sampling keys under the full softmax)."""
        sampled = self.kind == "sampled"
        return {"loss": self.kind, "negatives": self.negatives if sampled else None,
                "sampler": self.sampler if sampled else None}


def choose_loss(loss: str, n_items: int, negatives: int = DEFAULT_NEGATIVES,
                sampler: str = DEFAULT_SAMPLER) -> LossSpec:
    """Resolve ``--loss`` for a catalogue of ``n_items``: ``"auto"`` is the full softmax up
    to :data:`SAMPLED_ABOVE_ITEMS` items (or when ``negatives`` would cover the catalogue)
    and the sampled softmax above. DataError for an unknown loss or sampler or
    ``negatives < 1``."""
    if loss not in LOSSES:
        raise DataError(f"--loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    if sampler not in SAMPLERS:
        raise DataError(f"--sampler must be one of {', '.join(SAMPLERS)}, not {sampler!r}")
    if int(negatives) < 1:
        raise DataError(f"--negatives must be at least 1, not {negatives}")
    kind = loss
    if loss == "auto":
        kind = "sampled" if n_items > SAMPLED_ABOVE_ITEMS and negatives < n_items else "full"
    return LossSpec(kind, int(negatives), sampler)
