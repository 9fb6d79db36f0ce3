"""The fine-tuned sequential recommender: a small causal transformer over item histories.

Architecture:

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
* training: cross-entropy at every position of each user's sequence — over the full
  catalogue, or over a batch's shared sampled negatives for large catalogues (one
  sequence per user per epoch; a history longer than ``max_len`` is cut into windows so
  that every interaction is a target, with window borders moving between epochs), AdamW,
  early stopping on validation NDCG@10 with the best state kept. Deterministic given
  ``seed``.

The package is split by concern: ``config`` (the hyper-parameters and their checks),
``net`` (the ``nn.Module``, tensors only), ``trainer`` (epochs, learning-rate schedule,
newcomer policy, early stopping), ``loss`` and ``sampled`` (which loss; the sampled
softmax), ``parallel`` (running as one of several data-parallel processes),
``artifact`` (save, load, manifest, migration) and
``recommender`` (:class:`TransformerRecommender`: item ids, fit, score, save, load).

The public names below are imported lazily (PEP 562), so
``from recsys.models.transformer.artifact import read_manifest`` imports neither torch
nor transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "TransformerRecommender": "recommender",
    "TransformerConfig": "config",
    "SeqRecNet": "net",
    "gap_buckets": "net",
    "N_GAP_BUCKETS": "net",
    "TrainLog": "trainer",
    "TEXT_LR_SCALE": "trainer",
    "SCHEMA_VERSION": "artifact",
    "MODEL_FILE": "artifact",
    "CONFIG_FILE": "artifact",
    "MANIFEST_FILE": "artifact",
    "ARTIFACT_KIND": "artifact",
    "artifact_fingerprint": "artifact",
    "item_ids_hash": "artifact",
    "read_config": "artifact",
    "read_manifest": "artifact",
    "replace_dir": "artifact",
    "migrate_artifact": "migrate",
}

__all__ = [
    "ARTIFACT_KIND",
    "CONFIG_FILE",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "N_GAP_BUCKETS",
    "SCHEMA_VERSION",
    "TEXT_LR_SCALE",
    "SeqRecNet",
    "TrainLog",
    "TransformerConfig",
    "TransformerRecommender",
    "artifact_fingerprint",
    "gap_buckets",
    "item_ids_hash",
    "migrate_artifact",
    "read_config",
    "read_manifest",
    "replace_dir",
]

if TYPE_CHECKING:  # pragma: no cover
    from recsys.models.transformer.artifact import (
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
    from recsys.models.transformer.config import TransformerConfig
    from recsys.models.transformer.migrate import migrate_artifact
    from recsys.models.transformer.net import N_GAP_BUCKETS, SeqRecNet, gap_buckets
    from recsys.models.transformer.recommender import TransformerRecommender
    from recsys.models.transformer.trainer import TEXT_LR_SCALE, TrainLog


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
