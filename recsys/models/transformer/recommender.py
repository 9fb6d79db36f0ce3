"""The fine-tuned sequential recommender: a small causal transformer over item histories.

Architecture (DESIGN §3):

* item representation ``E[i] = id_emb[i] + c / (c + n_i) · W·P(text_emb[i])`` — a learned
  id embedding plus a learned projection of the frozen (or top-layer fine-tuned)
  all-MiniLM-L6-v2 text embedding of the item, read through its top ``text_rank``
  principal directions ``P`` and weighted down for items with many (``n_i``) training
  interactions: text is the prior, the id the evidence;
* input token = ``E[item] + gap_emb[bucket(log gap to the previous interaction)]``; every
  sequence starts with a learned start token, so an empty history (cold start) is scored
  from the start token alone;
* a GPT-2 style causal transformer (``transformers.GPT2Model`` via ``inputs_embeds``);
* score of item ``i`` after a history = ``h_last · E[i] + b[i]`` over **all** items (the
  output matrix is tied to the input item representation, SASRec-style);
* training: full-softmax cross-entropy at every position of each user's sequence (one
  sequence per user per epoch; a history longer than ``max_len`` is cut into windows so
  that every interaction is a target, with window borders moving between epochs), AdamW,
  early stopping on validation NDCG@10 with the best state kept. Deterministic given
  ``seed``.

The ``nn.Module`` (:class:`SeqRecNet`) holds tensors only; :class:`TransformerRecommender`
owns the item id map, configuration, training loop, scoring, save and load.
"""

from __future__ import annotations

import copy
import math
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from recsys.data.types import DataError, Dataset
from recsys.models.transformer.artifact import (  # noqa: F401  (re-exported)
    ARTIFACT_KIND,
    CONFIG_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SCHEMA_VERSION,
    artifact_fingerprint,
    item_ids_hash,
    read_config,
    read_manifest,
    replace_dir,
)
from recsys.models.transformer.artifact import write_json as _write_json

Progress = Callable[[float, str], None]
# (histories, timestamps, targets) of a validation stage
ValidData = tuple[Sequence[np.ndarray], Sequence[np.ndarray] | None, np.ndarray]

TEXT_LR_SCALE = 0.05  # learning-rate factor for fine-tuned text-encoder layers
N_GAP_BUCKETS = 20  # bucket 0: start token / unknown time; 1..19: log2 of the gap in minutes


# configuration keys newer than schema version 1's first artifacts, with the value that
# reproduces those artifacts (used when a stored config.json lacks the key)
LEGACY_DEFAULTS: dict[str, Any] = {"text_rank": 0, "text_prior_count": 0.0, "lr_decay": "none"}


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
    lr: float = 3e-3
    weight_decay: float = 0.1
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 8  # evaluations without improvement before stopping
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
    # validation improves (ML-100K and ml-latest-small: README "Measured")
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
    def from_dict(cls, d: dict[str, Any]) -> "TransformerConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataError(f"unknown model configuration key(s): {', '.join(unknown)}")
        # keys added after the first artifacts: absent means the behaviour of that time
        return cls(**{**LEGACY_DEFAULTS, **d})


def gap_buckets(ts: np.ndarray) -> np.ndarray:
    """Log-bucketised gap of each interaction to the previous one (first -> bucket 0)."""
    ts = np.asarray(ts, dtype=np.int64)
    out = np.zeros(ts.shape[0], dtype=np.int64)
    if ts.shape[0] > 1:
        gap_min = np.maximum(np.diff(ts), 0) / 60.0
        out[1:] = 1 + np.minimum(np.floor(np.log2(1.0 + gap_min)), N_GAP_BUCKETS - 2).astype(np.int64)
    return out


class SeqRecNet(nn.Module):
    """Tensors only: item/gap embeddings, text projection and a GPT-2 causal transformer.

    Token ids: ``0`` = padding, ``1`` = start token, ``i + 2`` = item index ``i``.
    """

    def __init__(self, n_items: int, cfg: TransformerConfig, text_emb: torch.Tensor | None):
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        d = cfg.d_model
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 2, d, padding_idx=0)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.gap_emb = nn.Embedding(N_GAP_BUCKETS, d)
        if cfg.use_text:
            if text_emb is None:
                raise ValueError("use_text=True needs text embeddings")
            self.register_buffer("text_emb", text_emb.float().clone(), persistent=True)
            r = cfg.text_rank if 0 < cfg.text_rank < text_emb.shape[1] else 0
            if r:
                mean, basis = _pca_basis(text_emb.float(), r)
                self.register_buffer("text_mean", mean, persistent=True)
                self.register_buffer("text_basis", basis, persistent=True)
            else:
                self.text_mean = self.text_basis = None
            self.text_proj = nn.Linear(r or text_emb.shape[1], d, bias=False)
            self.text_prior_count = float(cfg.text_prior_count)
            if self.text_prior_count > 0:  # training interactions per item (set by fit)
                self.register_buffer("item_count", torch.zeros(n_items), persistent=True)
            else:
                self.item_count = None
        else:
            self.text_emb = None
            self.text_proj = None
        self.emb_drop = nn.Dropout(cfg.emb_dropout)
        self.emb_norm = nn.LayerNorm(d)
        gcfg = GPT2Config(
            vocab_size=1,
            n_positions=cfg.max_len + 1,
            n_embd=d,
            n_layer=cfg.n_layers,
            n_head=cfg.n_heads,
            n_inner=4 * d,
            resid_pdrop=cfg.dropout,
            embd_pdrop=0.0,
            attn_pdrop=0.0,  # attention-probability dropout forces the slow attention path
            activation_function="gelu",
            use_cache=False,
            bos_token_id=None,
            eos_token_id=None,
        )
        gcfg._attn_implementation = "sdpa"
        self.encoder = GPT2Model(gcfg)
        self.encoder.wte = None  # inputs_embeds only; no token table
        nn.init.normal_(self.item_emb.weight, std=1.0 / math.sqrt(d))
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        nn.init.normal_(self.gap_emb.weight, std=0.02)

    def item_matrix(self, text_emb: torch.Tensor | None = None) -> torch.Tensor:
        """(n_items + 2, d) representation of every token (padding, start, items)."""
        e = self.item_emb.weight
        if self.text_proj is not None:
            te = self.text_emb if text_emb is None else text_emb
            if self.text_basis is not None:
                te = (te - self.text_mean) @ self.text_basis
            proj = self.text_proj(te)
            if self.item_count is not None:
                c = self.text_prior_count
                proj = proj * (c / (c + self.item_count))[:, None]
            e = torch.cat([e[:2], e[2:] + proj], dim=0)
        return e

    def hidden(
        self, tokens: torch.Tensor, gaps: torch.Tensor, item_matrix: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, L, d) hidden states of left-padded token sequences (B, L)."""
        em = self.item_matrix() if item_matrix is None else item_matrix
        mask = tokens > 0
        x = em[tokens] + self.gap_emb(gaps)
        x = self.emb_drop(self.emb_norm(x))
        pos = (mask.long().cumsum(1) - 1).clamp(min=0)
        out = self.encoder(inputs_embeds=x, attention_mask=mask.long(), position_ids=pos)
        return out.last_hidden_state

    def logits(self, h: torch.Tensor, item_matrix: torch.Tensor | None = None) -> torch.Tensor:
        """Scores over all items for hidden states (..., d) -> (..., n_items)."""
        em = self.item_matrix() if item_matrix is None else item_matrix
        return h @ em[2:].T + self.item_bias


def _pca_basis(text_emb: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (dim,), basis (dim, r)) of the top-``r`` principal directions, each scaled
    so the projected coordinates have unit variance. A catalogue with fewer than ``r``
    items has fewer directions: the remaining columns are zero (the shape never depends
    on the catalogue, so a grown catalogue can continue training from the model)."""
    mean = text_emb.mean(0)
    x = text_emb - mean
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    q = min(r, int((s > 1e-6 * max(float(s[0]), 1e-12)).sum()) if len(s) else 0)
    basis = torch.zeros(text_emb.shape[1], r)
    if q:
        sd = s[:q] / math.sqrt(max(x.shape[0] - 1, 1))
        basis[:, :q] = vt[:q].T / sd
    return mean, basis


def _batch(
    histories: Sequence[np.ndarray],
    timestamps: Sequence[np.ndarray] | None,
    max_len: int,
    use_time: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded (tokens, gap buckets) with a start token, trimmed to the batch's longest
    history (at most ``max_len`` - 1 most recent items)."""
    keep = max_len - 1
    hs = [np.asarray(h, dtype=np.int64)[-keep:] if keep > 0 else np.zeros(0, np.int64) for h in histories]
    width = 1 + max((len(h) for h in hs), default=0)
    tokens = np.zeros((len(hs), width), dtype=np.int64)
    gaps = np.zeros((len(hs), width), dtype=np.int64)
    for b, h in enumerate(hs):
        n = len(h)
        tokens[b, width - n - 1] = 1
        if n:
            tokens[b, width - n :] = h + 2
            if use_time and timestamps is not None and timestamps[b] is not None:
                t = np.asarray(timestamps[b], dtype=np.int64)
                if len(t) != len(histories[b]):
                    raise DataError(f"history {b} has {len(histories[b])} items but {len(t)} timestamps")
                gaps[b, width - n :] = gap_buckets(t)[-n:] if n else 0
    return torch.from_numpy(tokens), torch.from_numpy(gaps)


def _length_batches(
    users: np.ndarray, lengths: np.ndarray, batch_size: int, gen: torch.Generator
) -> list[np.ndarray]:
    """Random batches of users with similar sequence lengths (little padding): shuffle,
    sort windows of 8 batches by length, cut into batches, shuffle the batches."""
    perm = users[torch.randperm(len(users), generator=gen).numpy()]
    window = batch_size * 8
    batches: list[np.ndarray] = []
    for a in range(0, len(perm), window):
        w = perm[a : a + window]
        w = w[np.argsort(lengths[w], kind="stable")]
        batches.extend(w[b : b + batch_size] for b in range(0, len(w), batch_size))
    order = torch.randperm(len(batches), generator=gen).numpy()
    return [batches[k] for k in order]


def _windows(lengths: np.ndarray, max_len: int, mode: str, gen: torch.Generator) -> list[tuple[int, int]]:
    """Training windows ``(user, end)``: the items ``seq[max(0, end - max_len):end]``.

    ``"last"``: one window per user ending at the last item. ``"windows"``: histories
    longer than ``max_len`` also contribute earlier windows ending at
    ``n - shift - k * max_len`` (``shift`` random in ``[1, max_len]``, fresh each epoch), so
    every item is a target once or twice per epoch and window borders move between epochs.
    """
    out: list[tuple[int, int]] = []
    for u, n in enumerate(lengths.tolist()):
        if n < 1:
            continue
        out.append((u, n))
        if mode == "windows" and n > max_len:
            shift = 1 + int(torch.randint(max_len, (1,), generator=gen))
            end = n - shift
            while end >= 1:
                out.append((u, end))
                end -= max_len
    return out


def _versions() -> dict[str, str]:
    import safetensors
    import transformers

    import recsys

    return {
        "recsys": recsys.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@dataclass
class TrainLog:
    epochs: int = 0
    best_epoch: int = 0
    best_valid_ndcg: float = float("nan")
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class TransformerRecommender:
    """A :class:`~recsys.models.base.Scorer` wrapping :class:`SeqRecNet`."""

    def __init__(
        self,
        item_ids: Sequence[str],
        config: TransformerConfig | None = None,
        text_emb: np.ndarray | None = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        self.config = config or TransformerConfig()
        self.item_ids = tuple(str(x) for x in item_ids)
        self.n_items = len(self.item_ids)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.name = "transformer" if self.config.use_text else "transformer_no_text"
        if self.config.use_text and text_emb is None:
            raise ValueError("use_text=True needs text embeddings (recsys.text.item_embeddings)")
        if text_emb is not None and text_emb.shape[0] != self.n_items:
            raise ValueError(f"text embeddings have {text_emb.shape[0]} rows for {self.n_items} items")
        torch.manual_seed(self.seed)
        te = torch.from_numpy(np.asarray(text_emb, dtype=np.float32)) if self.config.use_text else None
        self.net = SeqRecNet(self.n_items, self.config, te).to(self.device)
        self.net.eval()
        self.manifest: dict[str, Any] = {}
        self.log = TrainLog()
        self._em_cache: torch.Tensor | None = None
        self._seen: tuple[torch.Tensor, torch.Tensor] | None = None  # skip_unseen_items (training only)
        self._newcomer: tuple[torch.Tensor, torch.Tensor] | None = None

    # ---- accessors ---------------------------------------------------------------
    @property
    def context_length(self) -> int:
        """How many of the most recent history items a score reads (older ones are unseen)."""
        return int(self.config.max_len) - 1

    @property
    def text_emb(self) -> np.ndarray | None:
        """(n_items, 384) float32 text embeddings the model uses, or None (no-text)."""
        if self.net.text_emb is None:
            return None
        return self.net.text_emb.detach().cpu().numpy().astype(np.float32, copy=True)

    def _item_matrix(self) -> torch.Tensor:
        if self._em_cache is None:
            with torch.inference_mode():
                self._em_cache = self.net.item_matrix().detach()
        return self._em_cache

    # ---- scoring (hot path) -----------------------------------------------------
    def score(
        self,
        histories: Sequence[np.ndarray],
        timestamps: Sequence[np.ndarray] | None = None,
        chunk: int = 1024,
    ) -> np.ndarray:
        """(B, n_items) float32 scores (logits) for left-aligned histories, oldest first.

        An empty history is scored from the start token (cold start). Only the most
        recent ``max_len - 1`` items of a history are used.
        """
        n = len(histories)
        out = np.empty((n, self.n_items), dtype=np.float32)
        if n == 0:
            return out
        self.net.eval()
        em = self._item_matrix()
        cfg = self.config
        with torch.inference_mode():
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                ts = None if timestamps is None else timestamps[a:b]
                tok, gaps = _batch(histories[a:b], ts, cfg.max_len, cfg.use_time)
                h = self.net.hidden(tok.to(self.device), gaps.to(self.device), em)[:, -1]
                out[a:b] = self.net.logits(h, em).float().cpu().numpy()
        return out

    # ---- training -----------------------------------------------------------------
    def fit(
        self,
        train: Sequence[np.ndarray],
        train_ts: Sequence[np.ndarray] | None,
        valid: ValidData | None = None,
        *,
        epochs: int | None = None,
        progress: Progress | None = None,
        text_finetuner: Any | None = None,
    ) -> TrainLog:
        """Train on per-user sequences (oldest first); early-stop on ``valid`` NDCG@10.

        ``epochs`` overrides ``config.max_epochs`` (early stopping still applies when
        validation data is given). Keeps the best validation state.
        """
        cfg = self.config
        max_epochs = int(epochs if epochs is not None else cfg.max_epochs)
        if max_epochs < 1:
            raise DataError(f"epochs must be at least 1, not {max_epochs}")
        seqs = [np.asarray(s, dtype=np.int64) for s in train]
        tss = [None if train_ts is None else np.asarray(t, dtype=np.int64) for t in (train_ts or [None] * len(seqs))]
        if cfg.long_history not in ("last", "windows"):
            raise DataError(f"long_history must be 'last' or 'windows', not {cfg.long_history!r}")
        if cfg.lr_decay not in ("none", "cosine", "plateau"):
            raise DataError(f"lr_decay must be 'none', 'cosine' or 'plateau', not {cfg.lr_decay!r}")
        plateau = cfg.lr_decay == "plateau"
        if plateau and not (cfg.plateau_patience >= 0 and 0 < cfg.plateau_factor < 1 and cfg.plateau_decays >= 0):
            raise DataError("lr_decay='plateau' needs plateau_patience >= 0, 0 < plateau_factor < 1, plateau_decays >= 0")
        if cfg.patience < 1:
            raise DataError(f"patience must be at least 1, not {cfg.patience}")
        plateau_patience = cfg.plateau_patience or cfg.patience
        seq_lens = np.array([len(s) for s in seqs], dtype=np.int64)
        if not (seq_lens >= 1).any():
            raise DataError("no training sequences")
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = self.net
        flat = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        counts = np.bincount(flat, minlength=self.n_items)[: self.n_items]
        if net.text_proj is not None and net.item_count is not None:
            net.item_count.copy_(torch.from_numpy(counts.astype(np.float32)))
        self._seen = None  # (seen item indices, item index -> position among them)
        self._newcomer = None  # (unseen item indices, the rare seen items whose bias they take)
        if cfg.skip_unseen_items and (counts == 0).any():
            seen = np.flatnonzero(counts > 0)
            remap = np.full(self.n_items, -1, dtype=np.int64)
            remap[seen] = np.arange(seen.size)
            self._seen = (torch.from_numpy(seen).to(self.device), torch.from_numpy(remap).to(self.device))
            # they are newcomers: their id vector and bias are the mean of the rarest tenth
            # of seen items' (set after every epoch), their text tells them apart
            rare = np.flatnonzero((counts > 0) & (counts <= np.quantile(counts[counts > 0], 0.1)))
            self._newcomer = (torch.from_numpy(np.flatnonzero(counts == 0)).to(self.device),
                              torch.from_numpy(rare).to(self.device))
        params = [p for p in net.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if text_finetuner is not None:  # pretrained layers move slowly
            tparams = [p for p in text_finetuner.parameters() if p.requires_grad]
            groups.append({"params": tparams, "weight_decay": 0.01, "lr": cfg.lr * TEXT_LR_SCALE})
            params = params + tparams
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
        base_lrs = [g["lr"] for g in opt.param_groups]
        n_steps = None  # optimisation steps per epoch (known after the first epoch)
        step = 0
        best_state = copy.deepcopy(net.state_dict())
        best, bad, log = -1.0, 0, TrainLog()
        lr_mult, decays = 1.0, 0  # lr_decay="plateau"
        t0 = time.perf_counter()
        for epoch in range(1, max_epochs + 1):
            net.train()
            self._em_cache = None
            total, count = 0.0, 0
            wins = _windows(seq_lens, cfg.max_len, cfg.long_history, gen)
            win_users = np.array([u for u, _ in wins], dtype=np.int64)
            win_ends = np.array([e for _, e in wins], dtype=np.int64)
            order = np.arange(len(wins), dtype=np.int64)
            batches = _length_batches(order, np.minimum(win_ends, cfg.max_len), cfg.batch_size, gen)
            if n_steps is None:
                n_steps = len(batches)
            for idx in batches:
                scale = self._lr_scale(step, n_steps, max_epochs) * lr_mult
                for g, lr0 in zip(opt.param_groups, base_lrs):
                    g["lr"] = lr0 * scale
                step += 1
                loss, n_tok = self._batch_loss(seqs, tss, win_users[idx], win_ends[idx], gen, text_finetuner)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                total += float(loss.detach()) * n_tok
                count += n_tok
            net.eval()
            if text_finetuner is not None:
                with torch.no_grad():
                    net.text_emb.copy_(text_finetuner.embed_all())
            if self._newcomer is not None:
                with torch.no_grad():
                    new, rare = self._newcomer
                    net.item_bias[new] = net.item_bias[rare].mean() + float(cfg.newcomer_offset)
                    net.item_emb.weight[new + 2] = net.item_emb.weight[rare + 2].mean(0)
            self._em_cache = None
            log.epochs = epoch
            rec: dict[str, float] = {"epoch": epoch, "loss": total / max(count, 1)}
            evaluate = valid is not None and (epoch % cfg.eval_every == 0 or epoch == max_epochs)
            if evaluate:
                nd = self.valid_ndcg(*valid)  # type: ignore[misc]
                rec["valid_ndcg@10"] = nd
                if nd > best:
                    best, bad = nd, 0
                    best_state = copy.deepcopy(net.state_dict())
                    log.best_epoch = epoch
                else:
                    bad += 1
                    if plateau and bad >= plateau_patience and decays < cfg.plateau_decays:
                        decays, bad, lr_mult = decays + 1, 0, lr_mult * cfg.plateau_factor
                        net.load_state_dict(best_state)
                        rec["lr_factor"] = lr_mult
            log.history.append(rec)
            if progress is not None:
                msg = f"epoch {epoch}: loss {rec['loss']:.3f}"
                if "valid_ndcg@10" in rec:
                    msg += f", valid NDCG@10 {rec['valid_ndcg@10']:.4f} (best {best:.4f})"
                progress(epoch / max_epochs, msg)
            if evaluate and bad >= (plateau_patience if plateau else cfg.patience) and epoch >= cfg.min_epochs:
                break
        if valid is not None:
            net.load_state_dict(best_state)
            log.best_valid_ndcg = best
        else:
            log.best_epoch = log.epochs
        net.eval()
        self._em_cache = None
        log.train_seconds = time.perf_counter() - t0
        self.log = log
        return log

    def _lr_scale(self, step: int, steps_per_epoch: int, max_epochs: int) -> float:
        """Learning-rate factor at optimisation ``step``: linear warm-up, then constant or
        cosine decay to 0 at ``max_epochs``."""
        cfg = self.config
        warm = cfg.warmup_epochs * steps_per_epoch
        if step < warm:
            return (step + 1) / warm
        if cfg.lr_decay == "cosine":
            total = max(max_epochs * steps_per_epoch - warm, 1)
            return 0.5 * (1.0 + math.cos(math.pi * min((step - warm) / total, 1.0)))
        return 1.0

    def _batch_loss(
        self,
        seqs: list[np.ndarray],
        tss: list[np.ndarray | None],
        users: np.ndarray,
        ends: np.ndarray,
        gen: torch.Generator,
        text_finetuner: Any | None,
    ) -> tuple[torch.Tensor, int]:
        """Full-softmax cross-entropy over every position of a batch of training windows
        (``seq[u][max(0, end - max_len):end]``). A window that starts inside a history
        does not train the prediction from the start token alone (its first target)."""
        cfg = self.config
        hist, hts, tgts = [], [], []
        for u, end in zip(users.tolist(), ends.tolist()):
            a = max(0, end - cfg.max_len)
            s, t = seqs[u][a:end], tss[u]
            t = None if t is None else t[a:end]
            hist.append(s[:-1])
            hts.append(None if t is None else t[:-1])
            tgts.append(s if a == 0 else np.concatenate([[-100], s[1:]]))
        tok, gaps = _batch(hist, hts if cfg.use_time else None, cfg.max_len, cfg.use_time)
        width = tok.shape[1]
        target = torch.full((len(tgts), width), -100, dtype=torch.long)
        for b, s in enumerate(tgts):
            target[b, width - len(s) :] = torch.from_numpy(s)
        if cfg.use_time and cfg.time_dropout > 0:
            drop = torch.rand(gaps.shape, generator=gen) < cfg.time_dropout
            gaps = gaps.masked_fill(drop, 0)
        tok, gaps, target = tok.to(self.device), gaps.to(self.device), target.to(self.device)
        te = text_finetuner.embed_all() if text_finetuner is not None else None
        em = self.net.item_matrix(te)
        h = self.net.hidden(tok, gaps, em)
        sel = target >= 0
        logits, y = self.net.logits(h[sel], em), target[sel]
        if self._seen is not None:  # the softmax runs over the items seen in training only
            logits, y = logits[:, self._seen[0]], self._seen[1][y]
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        return loss, int(sel.sum())

    def valid_ndcg(
        self,
        histories: Sequence[np.ndarray],
        timestamps: Sequence[np.ndarray] | None,
        targets: np.ndarray,
        k: int = 10,
        batch: int = 512,
    ) -> float:
        """Mean NDCG@k of ``targets`` under full ranking, history items excluded
        (pessimistic ties, as in recsys.evaluation)."""
        total = 0.0
        n = len(histories)
        for a in range(0, n, batch):
            b = min(n, a + batch)
            s = torch.from_numpy(self.score(histories[a:b], None if timestamps is None else timestamps[a:b]))
            rows = torch.arange(b - a)
            t = torch.as_tensor(np.asarray(targets[a:b], dtype=np.int64))
            ts = s[rows, t].clone()
            for r, h in enumerate(histories[a:b]):
                if len(h):
                    s[r, torch.as_tensor(np.asarray(h, dtype=np.int64))] = -torch.inf
            s[rows, t] = -torch.inf
            rank = 1 + (s >= ts[:, None]).sum(1)
            total += float(torch.where(rank <= k, 1.0 / torch.log2(rank.double() + 1), 0.0).sum())
        return total / max(n, 1)

    # ---- continued training -------------------------------------------------------
    def init_from(self, other: "TransformerRecommender") -> int:
        """Copy weights from a previously trained model; items are matched by id, new
        items keep their fresh embeddings. Returns the number of matched items. The
        architecture (d_model, n_layers, n_heads, max_len) must match."""
        diff = [f"{k} {getattr(other.config, k)} vs {getattr(self.config, k)}"
                for k in ("d_model", "n_layers", "n_heads", "max_len") if getattr(other.config, k) != getattr(self.config, k)]
        if diff:
            raise DataError("cannot continue training from a model of another architecture: " + ", ".join(diff))
        src = other.net.state_dict()
        dst = self.net.state_dict()
        pos = {x: k for k, x in enumerate(other.item_ids)}
        new_idx = [k for k, x in enumerate(self.item_ids) if x in pos]
        old_idx = [pos[self.item_ids[k]] for k in new_idx]
        ni = torch.as_tensor(new_idx, dtype=torch.long)
        oi = torch.as_tensor(old_idx, dtype=torch.long)
        with torch.no_grad():
            for name, t in dst.items():
                if name not in src:
                    continue
                s = src[name]
                if name == "item_emb.weight":
                    t[:2] = s[:2]
                    if len(ni):
                        t[ni + 2] = s[oi + 2]
                elif name in ("item_bias", "item_count"):
                    if len(ni):
                        t[ni] = s[oi]
                elif name == "text_emb":
                    continue  # the current dataset's embeddings
                # text_mean / text_basis are copied: the learned projection reads the old
                # model's principal directions, which apply to new items' text as well
                elif s.shape == t.shape:
                    t.copy_(s)
        self.net.load_state_dict(dst)
        self._em_cache = None
        return len(new_idx)

    # ---- artifacts ------------------------------------------------------------------
    def save(
        self,
        out_dir: str | Path,
        ds: Dataset,
        *,
        metrics: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write model.safetensors, config.json and manifest.json into ``out_dir``."""
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if tuple(ds.item_ids) != self.item_ids:
            raise DataError("cannot save: the model's items differ from the dataset's")
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(out / MODEL_FILE), metadata={"kind": ARTIFACT_KIND})
        cfg = {"kind": ARTIFACT_KIND, "model": asdict(self.config), "n_items": self.n_items,
               "item_ids": list(self.item_ids)}
        _write_json(out / CONFIG_FILE, cfg)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "kind": ARTIFACT_KIND,
            "name": self.name,
            "dataset_fingerprint": ds.fingerprint,
            "dataset_source": ds.source,
            "n_items": self.n_items,
            "n_users": ds.n_users,
            "n_interactions": ds.n_interactions,
            "item_ids_sha256": item_ids_hash(self.item_ids),
            "seed": self.seed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "train_seconds": round(self.log.train_seconds, 3),
            "epochs": self.log.epochs,
            "best_epoch": self.log.best_epoch,
            "versions": _versions(),
            "metrics": metrics or {},
            "text_encoder": "all-MiniLM-L6-v2" if self.config.use_text else None,
        }
        if extra:
            manifest.update(extra)
        manifest["model_fingerprint"] = artifact_fingerprint(out)
        _write_json(out / MANIFEST_FILE, manifest)
        self.manifest = manifest
        return out

    @classmethod
    def load(cls, model_dir: str | Path, ds: Dataset, device: str | torch.device = "cpu") -> "TransformerRecommender":
        """Load an artifact trained on ``ds``; raise DataError saying exactly what is wrong."""
        model, _ = cls._load(model_dir, ds, device, check_fingerprint=True)
        return model

    @classmethod
    def load_any(cls, model_dir: str | Path, device: str | torch.device = "cpu") -> "TransformerRecommender":
        """Load an artifact without a dataset check (e.g. ``--init-from`` on grown data)."""
        model, _ = cls._load(model_dir, None, device, check_fingerprint=False)
        return model

    @classmethod
    def _load(
        cls, model_dir: str | Path, ds: Dataset | None, device: str | torch.device, check_fingerprint: bool
    ) -> tuple["TransformerRecommender", dict[str, Any]]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d = Path(model_dir)
        if not d.is_dir():
            raise DataError("model directory not found", file=str(d))
        for f in (MODEL_FILE, CONFIG_FILE, MANIFEST_FILE):
            if not (d / f).is_file():
                raise DataError(f"artifact is incomplete: {f} is missing", file=str(d))
        manifest = read_manifest(d)
        cfg = read_config(d)
        sv = manifest.get("schema_version")
        if sv != SCHEMA_VERSION:
            raise DataError(
                f"unsupported artifact schema version {sv!r} (this RecLens reads version {SCHEMA_VERSION}); "
                "retrain the model",
                file=str(d / MANIFEST_FILE),
            )
        if manifest.get("kind") != ARTIFACT_KIND or cfg.get("kind") != ARTIFACT_KIND:
            raise DataError(f"not a RecLens transformer artifact (kind {manifest.get('kind')!r})",
                            file=str(d / MANIFEST_FILE))
        for key in ("dataset_fingerprint", "n_items", "item_ids_sha256"):
            if key not in manifest:
                raise DataError(f"missing key {key!r}", file=str(d / MANIFEST_FILE))
        for key in ("model", "n_items", "item_ids"):
            if key not in cfg:
                raise DataError(f"missing key {key!r}", file=str(d / CONFIG_FILE))
        item_ids = [str(x) for x in cfg["item_ids"]]
        if len(item_ids) != cfg["n_items"] or cfg["n_items"] != manifest["n_items"]:
            raise DataError("config.json and manifest.json disagree on the number of items", file=str(d))
        if item_ids_hash(item_ids) != manifest["item_ids_sha256"]:
            raise DataError("item id list does not match its recorded hash (damaged artifact)",
                            file=str(d / CONFIG_FILE))
        if check_fingerprint and ds is not None:
            fp = manifest["dataset_fingerprint"]
            if fp != ds.fingerprint:
                mc = manifest.get("min_count")
                hint = (f" (it was trained with --min-count {mc}: pass the same filter)"
                        if isinstance(mc, int) and not isinstance(mc, bool) else "")
                raise DataError(
                    f"model was trained on data {str(fp)[:12]}, current data {ds.fingerprint[:12]} "
                    f"({ds.source}); retrain with `python -m recsys train` or pick the matching data{hint}",
                    file=str(d),
                )
            if ds.n_items != len(item_ids) or tuple(ds.item_ids) != tuple(item_ids):
                raise DataError(f"model has {len(item_ids)} items, data {ds.n_items}", file=str(d))
        try:
            mcfg = TransformerConfig.from_dict(dict(cfg["model"]))
        except (TypeError, DataError) as e:
            raise DataError(f"bad model configuration: {e}", file=str(d / CONFIG_FILE)) from None
        try:
            state = load_file(str(d / MODEL_FILE))
        except (SafetensorError, OSError, ValueError) as e:
            raise DataError(f"damaged weights file: {e}", file=str(d / MODEL_FILE)) from None
        te = state.get("text_emb")
        if mcfg.use_text and te is None:
            raise DataError("weights lack the text embeddings (text_emb)", file=str(d / MODEL_FILE))
        model = cls(item_ids, mcfg, None if te is None else te.numpy(), seed=int(manifest.get("seed", 0)),
                    device=device)
        expected = model.net.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise DataError(
                f"weights do not match the configuration (missing {missing[:3]}, unexpected {unexpected[:3]})",
                file=str(d / MODEL_FILE),
            )
        for k, v in expected.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise DataError(
                    f"tensor {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}",
                    file=str(d / MODEL_FILE),
                )
        model.net.load_state_dict(state)
        model.net.eval()
        model.manifest = manifest
        model.log = TrainLog(
            epochs=int(manifest.get("epochs", 0)),
            best_epoch=int(manifest.get("best_epoch", 0)),
            train_seconds=float(manifest.get("train_seconds", 0.0)),
        )
        return model, manifest
