"""The sampled softmax: the training loss for large catalogues.

The full softmax scores every target position against every item: per step
``T x n_items x d`` multiply-adds (T = target positions of a batch, ~3,200 with the
defaults) and several copies of ``T x n_items`` logits for the backward pass — 0.5 GB
each at 40,000 items, 13 GB at 1M. The **sampled softmax** draws, per batch,
``negatives`` item indices shared by every position of the batch and takes the
cross-entropy over ``[positive, negatives]`` at every target position (Jean et al. 2015;
SASRec trained with a few thousand shared negatives at ML-20M scale). Its cost does not
grow with the catalogue, apart from drawing the sample.

* ``uniform`` sampler: every candidate item equally likely; the log-Q correction is a
  constant and is left out.
* ``popularity`` sampler (default, :data:`~recsys.models.transformer.loss.DEFAULT_SAMPLER`): an item is drawn with probability proportional to its training
  interactions + 1 (the + 1 keeps items never seen in training reachable, so they are
  still pushed down as negatives); every logit — positive and negatives — is corrected by
  ``- log(expected count of the item in the sample)`` (log-Q correction, Bengio &
  Senécal 2008; Yi et al. 2019), which makes the sampled loss an estimate of the full one.
* A negative that equals a position's positive ("accidental hit") is masked out of that
  position's softmax.

Only training uses it: validation, evaluation and scoring always rank the full
catalogue. Which loss a run uses (:func:`~recsys.models.transformer.loss.choose_loss`)
is a training option, not part of the stored configuration, so the artifact format does
not depend on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from recsys.models.transformer.loss import LossSpec

if TYPE_CHECKING:  # pragma: no cover
    from recsys.models.transformer.net import SeqRecNet

class NegativeSampler:
    """Draws a batch's shared negatives (item indices) from ``candidates`` (the items that
    may be negatives: all, or the items seen in training under ``skip_unseen_items``)."""

    def __init__(self, spec: LossSpec, counts: np.ndarray, candidates: np.ndarray, device: torch.device):
        self.n = int(spec.negatives)
        self.device = device
        self.pool = torch.from_numpy(np.asarray(candidates, dtype=np.int64))
        self.prob: torch.Tensor | None = None
        self.logq: torch.Tensor | None = None  # log expected count per item index
        if spec.sampler == "popularity":
            w = np.asarray(counts, dtype=np.float64)[candidates] + 1.0
            p = w / w.sum()
            self.prob = torch.from_numpy(p)
            logq = np.full(len(counts), np.inf)  # positives are always candidates
            logq[candidates] = np.log(self.n * p)
            self.logq = torch.from_numpy(logq.astype(np.float32)).to(device)

    def draw(self, gen: torch.Generator) -> torch.Tensor:
        """(negatives,) item indices on the device, drawn with replacement."""
        if self.prob is None:
            k = torch.randint(len(self.pool), (self.n,), generator=gen)
        else:
            k = torch.multinomial(self.prob, self.n, replacement=True, generator=gen)
        return self.pool[k].to(self.device)


def sampled_cross_entropy(
    h: torch.Tensor,
    y: torch.Tensor,
    neg: torch.Tensor,
    rows: tuple[torch.Tensor, torch.Tensor],
    bias: torch.Tensor,
    logq: torch.Tensor | None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of each position over ``[its positive, the shared negatives]``.

    ``h`` (T, d) hidden states, ``y`` (T,) positive item indices, ``neg`` (N,) negative
    item indices, ``rows`` = (item vectors of ``y`` (T, d), of ``neg`` (N, d)), ``bias``
    the (n_items,) item bias, ``logq`` the (n_items,) log-Q correction or None. Label
    smoothing spreads its mass over the candidates a position really has (masked hits
    excluded), as ``nn.functional.cross_entropy`` does over all classes.
    """
    pos_rows, neg_rows = rows
    pos = (h * pos_rows).sum(-1) + bias[y]
    negl = h @ neg_rows.T + bias[neg]
    if logq is not None:
        pos, negl = pos - logq[y], negl - logq[neg]
    hit = y[:, None] == neg[None, :]
    logits = torch.cat([pos[:, None], negl.masked_fill(hit, float("-inf"))], dim=1)
    zero = torch.zeros(len(y), dtype=torch.long, device=h.device)
    if label_smoothing <= 0:
        return nn.functional.cross_entropy(logits, zero, reduction=reduction)
    logp = torch.log_softmax(logits, dim=1)
    valid = torch.cat([torch.ones_like(hit[:, :1]), ~hit], dim=1)
    smooth = -logp.masked_fill(~valid, 0.0).sum(1) / valid.sum(1)
    per = (1.0 - label_smoothing) * -logp[:, 0] + label_smoothing * smooth
    return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per


class SampledSoftmax:
    """The sampled-softmax loss of one training run: its sampler and label smoothing."""

    def __init__(self, spec: LossSpec, counts: np.ndarray, candidates: np.ndarray, device: torch.device,
                 label_smoothing: float = 0.0):
        self.sampler = NegativeSampler(spec, counts, candidates, device)
        self.label_smoothing = float(label_smoothing)

    def loss(
        self,
        net: SeqRecNet,
        forward: Callable[..., torch.Tensor],
        batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        gen: torch.Generator,
        text_emb: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """The loss of a batch ``(tokens, gaps, targets)`` (targets ``-100`` = none) of a
        :class:`~recsys.models.transformer.net.SeqRecNet` ``net`` run through ``forward``
        (the net, or its data-parallel wrapper). Item vectors are computed for the tokens
        the batch uses only — its inputs, positives and negatives — renumbered in sorted
        order, so padding (0) and the start token (1) keep their ids."""
        tok, gaps, target = batch
        neg = self.sampler.draw(gen)
        sel = target >= 0
        y = target[sel]
        special = torch.tensor([0, 1], dtype=torch.long, device=tok.device)
        used = torch.unique(torch.cat([special, tok.flatten(), y + 2, neg + 2]))  # sorted
        rows = net.item_rows(used, text_emb)
        h = forward(torch.searchsorted(used, tok), gaps, rows)[sel]
        pos_rows, neg_rows = rows[torch.searchsorted(used, y + 2)], rows[torch.searchsorted(used, neg + 2)]
        return sampled_cross_entropy(h, y, neg, (pos_rows, neg_rows), net.item_bias, self.sampler.logq,
                                     self.label_smoothing, reduction)
