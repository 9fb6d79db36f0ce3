"""Hyper-parameters of the transformer recommender and their checks (no torch here).

A stored configuration (``config.json``'s ``"model"``) holds every key of this class:
:meth:`TransformerConfig.from_dict` refuses unknown and missing keys instead of
guessing what an older artifact meant. Adding a field therefore bumps
``artifact.SCHEMA_VERSION`` and adds a step to ``migrate`` that writes, into older
artifacts, the value that reproduces how they were trained and scored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from recsys.data.types import DataError

LONG_HISTORY_MODES = ("last", "windows")
LR_DECAYS = ("none", "cosine", "plateau")


@dataclass
class TransformerConfig:
    """Hyper-parameters of the sequence model (all JSON-serialisable)."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 50  # context (and training-window) length
    dropout: float = 0.5  # residual dropout inside the transformer
    emb_dropout: float = 0.5  # dropout on the input embeddings
    use_text: bool = True
    use_time: bool = True
    # 6e-3 with patience 4: the same 3-seed test NDCG@10 as 3e-3 with patience 8 (ML-100K,
    # hash order: 0.1172 vs 0.1159) in half the epochs (50 vs 99; docs/RESULTS.md)
    lr: float = 6e-3
    weight_decay: float = 0.1
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 4  # evaluations without improvement before stopping
    eval_every: int = 2  # epochs between validation evaluations
    min_epochs: int = 10
    time_dropout: float = 0.1  # share of gap buckets replaced by "unknown" in training
    label_smoothing: float = 0.0
    finetune_text_layers: int = 0
    grad_clip: float = 5.0
    # long histories: "windows" trains on every part of a history longer than max_len
    # (the latest window plus earlier windows at a random offset, fresh each epoch);
    # "last" trains on the latest max_len items only
    long_history: str = "windows"
    warmup_epochs: int = 0  # linear learning-rate warm-up
    lr_decay: str = "plateau"  # "none", "cosine" (to 0 at max_epochs) or "plateau" (below)
    # lr_decay="plateau": after plateau_patience evaluations without a better validation
    # score, training goes back to the best state with the learning rate times
    # plateau_factor, at most plateau_decays times; then it stops after plateau_patience
    # more evaluations without a gain. plateau_patience 0 = patience. The default (one
    # decay, the same patience) is a "polish": the constant-rate run unchanged up to where
    # it would stop, then one pass from its best state at 0.3x the rate, kept only where
    # validation improves (measured on ML-100K and ml-latest-small: docs/RESULTS.md)
    plateau_patience: int = 0
    plateau_factor: float = 0.3
    plateau_decays: int = 1
    # text vectors enter through their top principal components only (0 = all 384
    # dimensions): a low-rank view carries shared structure (genre, topic) without
    # becoming a second per-item id
    text_rank: int = 64
    # text as a prior for rarely seen items: an item's text vector is weighted by
    # c / (c + n), n = its training interactions, c this value (0 = always full weight)
    text_prior_count: float = 20.0
    # items with no training interaction are left out of the training softmax and get
    # a newcomer's id vector and bias (the mean of the rarest tenth of seen items'):
    # nothing in the data says anything about them, so they are not pushed down as
    # negatives at every step; their text tells them apart (without text they tie)
    skip_unseen_items: bool = False
    # with skip_unseen_items: added to the newcomers' bias — an exposure policy, not a
    # fit (validation holds no new items): 0 = as likely as the rarest seen items, below
    # 0 = new items enter lower (benchmarks/bench_newcomers.py measures the trade-off)
    newcomer_offset: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerConfig:
        """The configuration stored in an artifact: exactly the keys of this class."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise DataError(f"unknown model configuration key(s): {', '.join(unknown)}")
        missing = [k for k in names if k not in d]
        if missing:
            raise DataError(f"model configuration lacks key(s) {', '.join(missing)} "
                            "(an older artifact: run `python -m recsys migrate DIR`)")
        return cls(**d)

    @property
    def stop_patience(self) -> int:
        """Evaluations without a gain before training stops (or, with the plateau
        schedule, before the rate is lowered)."""
        if self.lr_decay == "plateau":
            return self.plateau_patience or self.patience
        return self.patience

    def check(self) -> None:
        """Raise DataError for a setting training cannot run with."""
        if self.long_history not in LONG_HISTORY_MODES:
            raise DataError(f"long_history must be 'last' or 'windows', not {self.long_history!r}")
        if self.lr_decay not in LR_DECAYS:
            raise DataError(f"lr_decay must be 'none', 'cosine' or 'plateau', not {self.lr_decay!r}")
        if self.lr_decay == "plateau" and not (
            self.plateau_patience >= 0 and 0 < self.plateau_factor < 1 and self.plateau_decays >= 0
        ):
            raise DataError("lr_decay='plateau' needs plateau_patience >= 0, 0 < plateau_factor < 1, "
                            "plateau_decays >= 0")
        if self.patience < 1:
            raise DataError(f"patience must be at least 1, not {self.patience}")
