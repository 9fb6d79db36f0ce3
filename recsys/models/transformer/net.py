"""The ``nn.Module`` of the transformer recommender: tensors in, tensors out.

Token ids: ``0`` = padding, ``1`` = start token, ``i + 2`` = item index ``i``. Item
ids, training and artifacts live elsewhere in the package; :func:`encode_batch` is the
one bridge from numpy histories to the module's input tensors.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from recsys.data.types import DataError
from recsys.models.transformer.config import TransformerConfig

N_GAP_BUCKETS = 20  # bucket 0: start token / unknown time; 1..19: log2 of the gap in minutes


def gap_buckets(ts: np.ndarray) -> np.ndarray:
    """Log-bucketised gap of each interaction to the previous one (first -> bucket 0)."""
    ts = np.asarray(ts, dtype=np.int64)
    out = np.zeros(ts.shape[0], dtype=np.int64)
    if ts.shape[0] > 1:
        gap_min = np.maximum(np.diff(ts), 0) / 60.0
        out[1:] = 1 + np.minimum(np.floor(np.log2(1.0 + gap_min)), N_GAP_BUCKETS - 2).astype(np.int64)
    return out


def pca_basis(text_emb: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
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


class FastDropout(nn.Module):
    """Inverted dropout whose mask comes from 16-bit slices of 64-bit random integers.

    ``nn.Dropout`` draws one Bernoulli sample per element, which on a CPU cost 11% of a
    training epoch (ML-100K, one thread; docs/RESULTS.md). Three 16-bit slices of each
    random 62-bit integer give the same kind of mask (``p`` rounded to 1/65536) at about
    a fifth of the cost. Identity in evaluation mode or with ``p = 0``.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {p}")
        self.p = float(p)
        # an int16 slice v is uniform on [-32768, 32767]; P(v >= threshold) = 1 - p
        self.threshold = -32768 + round(self.p * 65536)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        n = x.numel()
        words = torch.empty((n + 2) // 3, dtype=torch.int64, device=x.device).random_(0, 2**62)
        bits = words.view(torch.int16).view(-1, 4)[:, :3].reshape(-1)[:n]  # the low 48 bits
        keep = (bits >= self.threshold).view(x.shape)
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _use_fast_dropout(encoder: nn.Module) -> None:
    """Swap every ``nn.Dropout`` inside ``encoder`` for :class:`FastDropout` (same ``p``)."""
    for name, child in list(encoder.named_children()):
        if isinstance(child, nn.Dropout):
            setattr(encoder, name, FastDropout(child.p))
        else:
            _use_fast_dropout(child)


def _gpt2(cfg: TransformerConfig) -> nn.Module:
    from transformers import GPT2Config, GPT2Model

    d = cfg.d_model
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
    encoder = GPT2Model(gcfg)
    encoder.wte = None  # inputs_embeds only; no token table
    _use_fast_dropout(encoder)
    return encoder


class SeqRecNet(nn.Module):
    """Item/gap embeddings, the text projection and a GPT-2 causal transformer."""

    text_emb: torch.Tensor | None
    text_mean: torch.Tensor | None
    text_basis: torch.Tensor | None
    item_count: torch.Tensor | None
    text_proj: nn.Linear | None

    def __init__(self, n_items: int, cfg: TransformerConfig, text_emb: torch.Tensor | None):
        super().__init__()
        d = cfg.d_model
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 2, d, padding_idx=0)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.gap_emb = nn.Embedding(N_GAP_BUCKETS, d)
        self.text_prior_count = float(cfg.text_prior_count)
        if cfg.use_text:
            if text_emb is None:
                raise ValueError("use_text=True needs text embeddings")
            self._init_text(n_items, cfg, text_emb)
        else:
            self.text_emb = self.text_mean = self.text_basis = self.item_count = None
            self.text_proj = None
        self.emb_drop = FastDropout(cfg.emb_dropout)
        self.emb_norm = nn.LayerNorm(d)
        self.encoder = _gpt2(cfg)
        nn.init.normal_(self.item_emb.weight, std=1.0 / math.sqrt(d))
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        nn.init.normal_(self.gap_emb.weight, std=0.02)

    def _init_text(self, n_items: int, cfg: TransformerConfig, text_emb: torch.Tensor) -> None:
        self.register_buffer("text_emb", text_emb.float().clone(), persistent=True)
        r = cfg.text_rank if 0 < cfg.text_rank < text_emb.shape[1] else 0
        if r:
            mean, basis = pca_basis(text_emb.float(), r)
            self.register_buffer("text_mean", mean, persistent=True)
            self.register_buffer("text_basis", basis, persistent=True)
        else:
            self.text_mean = self.text_basis = None
        self.text_proj = nn.Linear(r or text_emb.shape[1], cfg.d_model, bias=False)
        if self.text_prior_count > 0:  # training interactions per item (set by training)
            self.register_buffer("item_count", torch.zeros(n_items), persistent=True)
        else:
            self.item_count = None

    def item_matrix(self, text_emb: torch.Tensor | None = None) -> torch.Tensor:
        """(n_items + 2, d) representation of every token (padding, start, items)."""
        e = self.item_emb.weight
        te = self.text_emb if text_emb is None else text_emb
        if self.text_proj is None or te is None:
            return e
        if self.text_basis is not None and self.text_mean is not None:
            te = (te - self.text_mean) @ self.text_basis
        proj = self.text_proj(te)
        if self.item_count is not None:
            c = self.text_prior_count
            proj = proj * (c / (c + self.item_count))[:, None]
        return torch.cat([e[:2], e[2:] + proj], dim=0)

    def item_rows(self, tokens: torch.Tensor, text_emb: torch.Tensor | None = None) -> torch.Tensor:
        """(len(tokens), d): the rows ``tokens`` of :meth:`item_matrix`, computed for those
        tokens only (the sampled softmax needs a few thousand of a large catalogue's rows)."""
        e = self.item_emb(tokens)
        te = self.text_emb if text_emb is None else text_emb
        if self.text_proj is None or te is None:
            return e
        items = (tokens - 2).clamp(min=0)
        t = te[items]
        if self.text_basis is not None and self.text_mean is not None:
            t = (t - self.text_mean) @ self.text_basis
        proj = self.text_proj(t)
        if self.item_count is not None:
            c = self.text_prior_count
            proj = proj * (c / (c + self.item_count[items]))[:, None]
        return e + proj * (tokens >= 2).to(proj.dtype)[:, None]

    def forward(
        self, tokens: torch.Tensor, gaps: torch.Tensor, item_matrix: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`hidden` — the module's call, so that a ``DistributedDataParallel``
        wrapper sees every training step (it synchronises gradients only after a forward)."""
        return self.hidden(tokens, gaps, item_matrix)

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


def encode_batch(
    histories: Sequence[np.ndarray],
    timestamps: Sequence[np.ndarray | None] | None,
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
        if not n:
            continue
        tokens[b, width - n :] = h + 2
        t = None if not use_time or timestamps is None else timestamps[b]
        if t is not None:
            t = np.asarray(t, dtype=np.int64)
            if len(t) != len(histories[b]):
                raise DataError(f"history {b} has {len(histories[b])} items but {len(t)} timestamps")
            gaps[b, width - n :] = gap_buckets(t)[-n:]
    return torch.from_numpy(tokens), torch.from_numpy(gaps)
