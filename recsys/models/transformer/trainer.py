"""Training of the transformer recommender: epochs, learning-rate schedule, newcomer
policy, validation and early stopping.

One :class:`Trainer` is one call of ``TransformerRecommender.fit``. Per epoch it cuts
every user's sequence into training windows (:func:`training_windows`), batches
windows of similar length (:func:`length_batches`), and minimises cross-entropy at
every position with AdamW — over the full catalogue, or over each batch's shared
sampled negatives (:mod:`recsys.models.transformer.sampled`). The rate follows a
linear warm-up and then stays constant or decays along a cosine
(``torch.optim.lr_scheduler.LambdaLR``); with
``lr_decay="plateau"`` training goes back to the best state at a lower rate when
validation NDCG@10 stalls. Torch's ``ReduceLROnPlateau`` does not fit that step: it
neither restores the best state nor caps the number of decays, so the trainer scales
the scheduler's base rates itself. Validation ranks the targets with
:mod:`recsys.evaluation.metrics` — the protocol every evaluation in RecLens uses.

Data-parallel training runs one Trainer per process with a
:class:`~recsys.models.transformer.parallel.Sync` and the network wrapped for gradient
synchronisation (``wrap``, e.g. ``DistributedDataParallel``); how batches are split is
described in :mod:`recsys.models.transformer.parallel`. Validation is shared out as
well (each process ranks every world-th user; the sums are combined) and rank 0's
early-stopping decision is broadcast. With one process
(:class:`~recsys.models.transformer.parallel.LocalSync`, the default) training is the
single-process loop, step for step.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from recsys.data.types import DataError
from recsys.evaluation.metrics import ndcg_of_ranks, rank_of_targets
from recsys.models.transformer.config import TransformerConfig
from recsys.models.transformer.loss import LossSpec
from recsys.models.transformer.net import encode_batch
from recsys.models.transformer.parallel import (
    LocalSync,
    Sync,
    UserShard,
    check_cover,
    held_rows,
    shard,
    window_targets,
)
from recsys.models.transformer.sampled import SampledSoftmax
from recsys.models.transformer.windows import length_batches, training_windows

if TYPE_CHECKING:  # pragma: no cover
    from recsys.models.transformer.recommender import TransformerRecommender

Progress = Callable[[float, str], None]
# (histories, timestamps, targets) of a validation stage
ValidData = tuple[Sequence[np.ndarray], Sequence[np.ndarray] | None, np.ndarray]

TEXT_LR_SCALE = 0.05  # learning-rate factor for fine-tuned text-encoder layers
VALID_K = 10  # early stopping watches validation NDCG@10
VALID_BATCH = 512


@dataclass
class TrainLog:
    epochs: int = 0
    best_epoch: int = 0
    best_valid_ndcg: float = float("nan")
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    samples: int = 0  # target positions trained on (all processes together)
    step_seconds: float = 0.0  # time in training epochs (no validation)
    worker_users: list[int] = field(default_factory=list)  # users held per process (data-parallel shards)

    @property
    def samples_per_s(self) -> float:
        """Training target positions per second of training time, over all epochs."""
        return self.samples / self.step_seconds if self.step_seconds > 0 else 0.0


def lr_scale(cfg: TransformerConfig, step: int, steps_per_epoch: int, max_epochs: int) -> float:
    """Learning-rate factor at optimisation ``step``: linear warm-up, then constant or
    cosine decay to 0 at ``max_epochs``."""
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    if cfg.lr_decay == "cosine":
        total = max(max_epochs * steps_per_epoch - warm, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min((step - warm) / total, 1.0)))
    return 1.0


@dataclass(frozen=True)
class Newcomers:
    """Items with no training interaction under ``skip_unseen_items``: left out of the
    training softmax, they take the mean id vector and bias of the rarest tenth of the
    seen items (plus ``newcomer_offset`` on the bias) after every epoch."""

    seen: torch.Tensor  # indices of the items seen in training
    remap: torch.Tensor  # item index -> position among the seen items (-1: unseen)
    new: torch.Tensor  # indices of the unseen items
    rare: torch.Tensor  # the rare seen items whose mean they take

    @classmethod
    def of(cls, counts: np.ndarray, device: torch.device) -> Newcomers:
        seen = np.flatnonzero(counts > 0)
        remap = np.full(counts.shape[0], -1, dtype=np.int64)
        remap[seen] = np.arange(seen.size)
        rare = np.flatnonzero((counts > 0) & (counts <= np.quantile(counts[counts > 0], 0.1)))
        return cls(*(torch.from_numpy(a).to(device) for a in (seen, remap, np.flatnonzero(counts == 0), rare)))


class Trainer:
    """One training run of a :class:`TransformerRecommender` (see the module docstring)."""

    def __init__(
        self,
        model: TransformerRecommender,
        train: Sequence[np.ndarray],
        train_ts: Sequence[np.ndarray] | None,
        valid: ValidData | None = None,
        *,
        epochs: int | None = None,
        progress: Progress | None = None,
        text_finetuner: Any | None = None,
        loss: LossSpec | None = None,
        sync: Sync | None = None,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
        users: UserShard | None = None,
    ):
        cfg = self.cfg = model.config
        self.max_epochs = int(epochs if epochs is not None else cfg.max_epochs)
        if self.max_epochs < 1:
            raise DataError(f"epochs must be at least 1, not {self.max_epochs}")
        cfg.check()
        self.model, self.net = model, model.net
        self.valid, self.progress, self.finetuner = valid, progress, text_finetuner
        self.users = users  # data-parallel with a shard of the users: only theirs are here
        self.held: np.ndarray | None = None
        if users is not None:  # train / train_ts are ignored: the shard holds this process's sequences
            self.seqs, self.tss = users.sequences()
            self.lengths = users.lengths
            self.held = users.held()
            counts = users.counts
        else:
            seqs = [np.asarray(s, dtype=np.int64) for s in train]
            counts = np.bincount(np.concatenate(seqs), minlength=model.n_items)[: model.n_items]
            self.seqs = seqs
            self.tss = [None if t is None else np.asarray(t, dtype=np.int64)
                        for t in (train_ts if train_ts is not None else [None] * len(self.seqs))]
            self.lengths = np.array([len(s) for s in self.seqs], dtype=np.int64)
        if not (self.lengths >= 1).any():
            raise DataError("no training sequences")
        self.sync = sync or LocalSync()
        self.rank, self.world = self.sync.rank, self.sync.world
        if self.world > 1 and text_finetuner is not None:
            raise DataError("fine-tuning text layers does not run data-parallel (use one worker)")
        # the same windows and batches in every process; dropout, time dropout and
        # negatives differ per process (one process: one generator, as always)
        torch.manual_seed(model.seed + 7919 * self.rank)
        self.gen = torch.Generator().manual_seed(model.seed)
        self.noise = self.gen if self.world == 1 else torch.Generator().manual_seed(model.seed + 7919 * self.rank)
        if self.net.text_proj is not None and self.net.item_count is not None:
            self.net.item_count.copy_(torch.from_numpy(counts.astype(np.float32)))
        self.newcomers = (Newcomers.of(counts, model.device)
                          if cfg.skip_unseen_items and (counts == 0).any() else None)
        self.loss = loss or LossSpec()
        self.sampled = None
        if self.loss.kind == "sampled":  # negatives: the items the full softmax would run over
            cand = np.flatnonzero(counts > 0) if self.newcomers is not None else np.arange(model.n_items)
            self.sampled = SampledSoftmax(self.loss, counts, cand, model.device, cfg.label_smoothing)
        self.fwd = wrap(self.net) if wrap is not None else self.net  # the training forward
        self.params, self.opt = self._optimizer()
        self.sched: torch.optim.lr_scheduler.LambdaLR | None = None  # made once an epoch's steps are known
        self.best_state = copy.deepcopy(self.net.state_dict())
        self.best, self.bad, self.decays, self.lr_mult = -1.0, 0, 0, 1.0
        self.log = TrainLog()
        if users is not None and self.world > 1:
            self.log.worker_users = check_cover(self.sync, users)

    def _optimizer(self) -> tuple[list[nn.Parameter], torch.optim.AdamW]:
        """AdamW with weight decay on matrices only; fine-tuned text layers move slowly."""
        cfg = self.cfg
        params = [p for p in self.net.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        if self.finetuner is not None:
            tparams = [p for p in self.finetuner.parameters() if p.requires_grad]
            groups.append({"params": tparams, "weight_decay": 0.01, "lr": cfg.lr * TEXT_LR_SCALE})
            params = params + tparams
        return params, torch.optim.AdamW(groups, lr=cfg.lr)

    # ---- the run -------------------------------------------------------------------
    def run(self) -> TrainLog:
        t0 = time.perf_counter()
        for epoch in range(1, self.max_epochs + 1):
            t_epoch = time.perf_counter()
            rec: dict[str, float] = {"epoch": epoch, "loss": self._train_epoch()}
            self.log.step_seconds += time.perf_counter() - t_epoch
            self._end_epoch()
            self.log.epochs = epoch
            stop = self._validate(epoch, rec)
            self.log.history.append(rec)
            self._report(epoch, rec)
            if stop:
                break
        if self.valid is not None:
            self.net.load_state_dict(self.best_state)
            self.log.best_valid_ndcg = self.best
        else:
            self.log.best_epoch = self.log.epochs
        self.net.eval()
        self.model.clear_cache()
        self.log.train_seconds = time.perf_counter() - t0
        return self.log

    def _train_epoch(self) -> float:
        """One pass over this epoch's training windows; returns the mean token loss."""
        cfg = self.cfg
        self.net.train()
        self.model.clear_cache()
        wins = training_windows(self.lengths, cfg.max_len, cfg.long_history, self.gen)
        users = np.array([u for u, _ in wins], dtype=np.int64)
        ends = np.array([e for _, e in wins], dtype=np.int64)
        batches = length_batches(np.arange(len(wins), dtype=np.int64), np.minimum(ends, cfg.max_len),
                                 cfg.batch_size, self.gen)
        if self.sched is None:  # the schedule counts steps in epochs of the first epoch's size
            n, top = len(batches), self.max_epochs
            self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: lr_scale(cfg, step, n, top))
        targets = window_targets(ends, cfg.max_len)
        total, count = 0.0, 0
        mine = self.held[users] if self.held is not None and self.world > 1 else None  # windows of the users held here
        spare = np.flatnonzero(mine)[:1] if mine is not None else None
        for idx in batches:
            if self.world == 1:
                loss, n_tok = self._batch_loss(users[idx], ends[idx])
                total += float(loss.detach()) * n_tok
            else:  # this process's share; its loss summed, scaled so the averaged gradient is the batch mean's
                part, weight = shard(idx, self.rank, self.world) if mine is None else held_rows(idx, mine, spare)
                loss, n_tok = self._batch_loss(users[part], ends[part], "sum")
                total += float(loss.detach()) if weight else 0.0
                loss = loss * (self.world / int(targets[idx].sum()) if weight else 0.0)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
            self.opt.step()
            self.sched.step()
            count += n_tok
        self.log.samples += int(targets.sum())
        if self.world > 1:
            total = self.sync.all_sum([total])[0]
            count = int(targets.sum())
        return total / max(count, 1)

    def _batch_loss(self, users: np.ndarray, ends: np.ndarray, reduction: str = "mean") -> tuple[torch.Tensor, int]:
        """Cross-entropy (mean or sum) over every position of a batch of training windows
        (``seq[u][max(0, end - max_len):end]``) and the number of positions. A window that
        starts inside a history does not train the prediction from the start token alone
        (its first target)."""
        tok, gaps, target = self._encode(users, ends)
        text = self.finetuner.embed_all() if self.finetuner is not None else None
        if self.sampled is not None:
            loss = self.sampled.loss(self.net, self.fwd, (tok, gaps, target), self.noise, text, reduction)
            return loss, int((target >= 0).sum())
        net, cfg = self.net, self.cfg
        em = net.item_matrix(text)
        h = self.fwd(tok, gaps, em)
        sel = target >= 0
        logits, y = net.logits(h[sel], em), target[sel]
        if self.newcomers is not None:  # the softmax runs over the items seen in training only
            logits, y = logits[:, self.newcomers.seen], self.newcomers.remap[y]
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing, reduction=reduction)
        return loss, int(sel.sum())

    def _encode(self, users: np.ndarray, ends: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens, gap buckets, targets) of a batch of training windows, on the device."""
        cfg, device = self.cfg, self.model.device
        hist: list[np.ndarray] = []
        hts: list[np.ndarray | None] = []
        tgts: list[np.ndarray] = []
        for u, end in zip(users.tolist(), ends.tolist()):
            a = max(0, end - cfg.max_len)
            s, t = self.seqs[u][a:end], self.tss[u]
            hist.append(s[:-1])
            hts.append(None if t is None else t[a:end][:-1])
            tgts.append(s if a == 0 else np.concatenate([[-100], s[1:]]))
        tok, gaps = encode_batch(hist, hts if cfg.use_time else None, cfg.max_len, cfg.use_time)
        width = tok.shape[1]
        target = torch.full((len(tgts), width), -100, dtype=torch.long)
        for b, s in enumerate(tgts):
            target[b, width - len(s) :] = torch.from_numpy(s)
        if cfg.use_time and cfg.time_dropout > 0:
            drop = torch.rand(gaps.shape, generator=self.noise) < cfg.time_dropout
            gaps = gaps.masked_fill(drop, 0)
        return tok.to(device), gaps.to(device), target.to(device)

    def _end_epoch(self) -> None:
        """Evaluation mode; fine-tuned text vectors and newcomers' vectors brought up to date."""
        net = self.net
        net.eval()
        with torch.no_grad():
            if self.finetuner is not None and net.text_emb is not None:
                net.text_emb.copy_(self.finetuner.embed_all())
            if self.newcomers is not None:
                new, rare = self.newcomers.new, self.newcomers.rare
                net.item_bias[new] = net.item_bias[rare].mean() + float(self.cfg.newcomer_offset)
                net.item_emb.weight[new + 2] = net.item_emb.weight[rare + 2].mean(0)
        self.model.clear_cache()

    # ---- validation, schedule, stopping --------------------------------------------
    def _validate(self, epoch: int, rec: dict[str, float]) -> bool:
        """Evaluate when due, keep the best state, lower the rate on a plateau; True when
        training should stop."""
        cfg = self.cfg
        if self.valid is None or not (epoch % cfg.eval_every == 0 or epoch == self.max_epochs):
            return False
        nd = self._valid_ndcg(*self.valid)
        rec["valid_ndcg@10"] = nd
        if nd > self.best:
            self.best, self.bad = nd, 0
            self.best_state = copy.deepcopy(self.net.state_dict())
            self.log.best_epoch = epoch
        else:
            self.bad += 1
            self._plateau_step(rec)
        stop = self.bad >= cfg.stop_patience and epoch >= cfg.min_epochs
        # every process reached the same decision from the same score; rank 0's is the one that counts
        return bool(self.sync.from_rank0([float(stop)])[0]) if self.world > 1 else stop

    def _plateau_step(self, rec: dict[str, float]) -> None:
        """With ``lr_decay="plateau"``, after ``stop_patience`` evaluations without a gain
        (at most ``plateau_decays`` times): back to the best state at a lower rate."""
        cfg = self.cfg
        if cfg.lr_decay != "plateau" or self.bad < cfg.stop_patience or self.decays >= cfg.plateau_decays:
            return
        self.decays, self.bad, self.lr_mult = self.decays + 1, 0, self.lr_mult * cfg.plateau_factor
        self.net.load_state_dict(self.best_state)
        if self.sched is not None:
            self.sched.base_lrs = [lr * cfg.plateau_factor for lr in self.sched.base_lrs]
        for g in self.opt.param_groups:
            g["lr"] *= cfg.plateau_factor
        rec["lr_factor"] = self.lr_mult

    def _valid_ndcg(self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None,
                    targets: np.ndarray) -> float:
        """:meth:`valid_ndcg`; data-parallel, each process ranks its share of the users and
        the sums are combined, so every process gets the same score."""
        if self.world == 1:
            return self.valid_ndcg(histories, timestamps, targets)
        # with a shard of the users, the validation data given is this process's own
        idx = range(len(histories)) if self.users is not None else range(self.rank, len(histories), self.world)
        part = self.valid_ndcg([histories[i] for i in idx], None if timestamps is None else [timestamps[i] for i in idx],
                               np.asarray(targets)[list(idx)])
        total, n = self.sync.all_sum([part * len(idx), float(len(idx))])
        return self.sync.from_rank0([total / max(n, 1.0)])[0]

    def valid_ndcg(
        self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None, targets: np.ndarray
    ) -> float:
        """Mean NDCG@10 of ``targets`` under full ranking, history items excluded,
        pessimistic ties (:func:`recsys.evaluation.metrics.rank_of_targets`)."""
        n = len(histories)
        if n == 0:
            return 0.0
        ranks = np.zeros(n, dtype=np.int64)
        for a in range(0, n, VALID_BATCH):
            b = min(n, a + VALID_BATCH)
            s = self.model.score(histories[a:b], None if timestamps is None else timestamps[a:b])
            ranks[a:b] = rank_of_targets(s, np.asarray(targets[a:b]), histories[a:b])
        return float(ndcg_of_ranks(ranks, VALID_K).mean())

    def _report(self, epoch: int, rec: dict[str, float]) -> None:
        if self.progress is None:
            return
        msg = f"epoch {epoch}: loss {rec['loss']:.3f}"
        if "valid_ndcg@10" in rec:
            msg += f", valid NDCG@10 {rec['valid_ndcg@10']:.4f} (best {self.best:.4f})"
        self.progress(epoch / self.max_epochs, msg)
