""":class:`TransformerRecommender`: the Scorer around :class:`SeqRecNet`.

It owns what the network does not: the item id map, the configuration, scoring in
chunks, training (delegated to :class:`~recsys.models.transformer.trainer.Trainer`),
continued training from another model, and the artifact (save / load through
:mod:`recsys.models.transformer.artifact`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from recsys.data.types import DataError, Dataset
from recsys.models.transformer.artifact import (
    ARTIFACT_KIND,
    SCHEMA_VERSION,
    check_state,
    item_ids_hash,
    read_artifact,
    versions,
    write_artifact,
)
from recsys.models.transformer.config import TransformerConfig
from recsys.models.transformer.loss import LossSpec
from recsys.models.transformer.net import N_GAP_BUCKETS, SeqRecNet, encode_batch, gap_buckets
from recsys.models.transformer.parallel import Sync, UserShard
from recsys.models.transformer.trainer import Newcomers, Progress, Trainer, TrainLog, ValidData

SHAPE_KEYS = ("d_model", "n_layers", "n_heads", "max_len")  # must match to continue training
#: A gap bucket seen fewer times than this in training has an embedding that learned
#: next to nothing; scoring reads such a gap as bucket 0, "unknown gap" (which training
#: does learn: ``time_dropout`` replaces a share of every batch's gaps by it).
MIN_GAP_COUNT = 20


def training_gap_counts(train_ts: Sequence[np.ndarray] | None) -> np.ndarray | None:
    """How often each gap bucket occurs in the training histories (None without times)."""
    if train_ts is None:
        return None
    counts = np.zeros(N_GAP_BUCKETS, dtype=np.int64)
    for t in train_ts:
        if t is not None and len(t) > 1:
            counts += np.bincount(gap_buckets(np.asarray(t))[1:], minlength=N_GAP_BUCKETS)
    return counts


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
        self.n_items = len(self.item_ids)  # items scored: the model's own, plus any cover()ed
        self.n_known = self.n_items  # items the network knows (its id map)
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
        # the manifest of the artifact these weights were saved to or loaded from ({} when
        # unsaved); recsys.models.base.model_key reads its model_fingerprint
        self.manifest: dict[str, Any] = {}
        self.log = TrainLog()
        # the items the last fit placed as newcomers (skip_unseen_items), or None
        self.newcomers: Newcomers | None = None
        self._em_cache: torch.Tensor | None = None
        # training gap-bucket counts (set by fit, stored in the manifest): a bucket seen
        # fewer than MIN_GAP_COUNT times is read as the "unknown gap" bucket when scoring
        self.gap_counts: np.ndarray | None = None

    def cover(self, n_items: int) -> None:
        """Score ``n_items`` items: the model's own, then items it never saw (e.g. new
        items of an event log, appended after the base data's). Those score -inf (never
        recommended) and are left out of histories, so they cannot break scoring."""
        if n_items < self.n_known:
            raise DataError(f"cannot cover {n_items} items: the model has {self.n_known}")
        self.n_items = int(n_items)

    @property
    def gap_map(self) -> np.ndarray | None:
        """Gap bucket -> the bucket the network reads: itself when training saw it at
        least MIN_GAP_COUNT times, else 0 ("unknown gap"); None when not recorded."""
        if self.gap_counts is None:
            return None
        m = np.arange(N_GAP_BUCKETS, dtype=np.int64)
        m[np.asarray(self.gap_counts) < MIN_GAP_COUNT] = 0
        m[0] = 0
        return m

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
        te = self.net.text_emb.detach().cpu().numpy().astype(np.float32, copy=True)
        if self.n_items > self.n_known:  # covered items: no text vector (zeros)
            te = np.concatenate([te, np.zeros((self.n_items - self.n_known, te.shape[1]), np.float32)])
        return te

    def clear_cache(self) -> None:
        """Forget the cached item matrix (after the weights changed)."""
        self._em_cache = None

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
        if self.n_items > self.n_known:
            histories, timestamps = self._known_only(histories, timestamps)
            out[:, self.n_known:] = -np.inf
        self.net.eval()
        em = self._item_matrix()
        cfg = self.config
        gap_map = self.gap_map
        with torch.inference_mode():
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                ts = None if timestamps is None else timestamps[a:b]
                tok, gaps = encode_batch(histories[a:b], ts, cfg.max_len, cfg.use_time)
                if gap_map is not None:
                    gaps = torch.from_numpy(gap_map)[gaps]
                h = self.net.hidden(tok.to(self.device), gaps.to(self.device), em)[:, -1]
                out[a:b, : self.n_known] = self.net.logits(h, em).float().cpu().numpy()
        return out

    def _known_only(
        self, histories: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Histories (and timestamps) without the items the model does not know."""
        hs, tss = [], [] if timestamps is not None else None
        for b, h in enumerate(histories):
            h = np.asarray(h, dtype=np.int64)
            keep = h < self.n_known
            hs.append(h[keep])
            if tss is not None and timestamps is not None:
                t = np.asarray(timestamps[b], dtype=np.int64)
                if len(t) != len(h):
                    raise DataError(f"history {b} has {len(h)} items but {len(t)} timestamps")
                tss.append(t[keep])
        return hs, tss

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
        loss: LossSpec | None = None,
        sync: Sync | None = None,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
        users: UserShard | None = None,
    ) -> TrainLog:
        """Train on per-user sequences (oldest first); early-stop on ``valid`` NDCG@10.

        ``epochs`` overrides ``config.max_epochs`` (early stopping still applies when
        validation data is given). Keeps the best validation state. The model is
        unsaved afterwards (its manifest is cleared). ``loss`` picks the full (default)
        or sampled softmax; ``sync`` and ``wrap`` make this process one of several
        data-parallel ones (:class:`~recsys.models.transformer.trainer.Trainer`); ``users``: this
        process holds only a shard of the users (``train``/``train_ts`` are then ignored).
        """
        if not self.config.use_time:
            self.gap_counts = None
        else:
            self.gap_counts = users.gap_counts if users is not None else training_gap_counts(train_ts)
        trainer = Trainer(self, train, train_ts, valid, epochs=epochs, progress=progress,
                          text_finetuner=text_finetuner, loss=loss, sync=sync, wrap=wrap, users=users)
        self.manifest = {}
        self.log = trainer.run()
        self.newcomers = trainer.newcomers
        return self.log

    # ---- continued training -------------------------------------------------------
    def init_from(self, other: TransformerRecommender) -> int:
        """Copy weights from a previously trained model; items are matched by id, new
        items keep their fresh embeddings. Returns the number of matched items. The
        architecture (d_model, n_layers, n_heads, max_len) must match."""
        diff = [f"{k} {getattr(other.config, k)} vs {getattr(self.config, k)}"
                for k in SHAPE_KEYS if getattr(other.config, k) != getattr(self.config, k)]
        if diff:
            raise DataError("cannot continue training from a model of another architecture: " + ", ".join(diff))
        src = other.net.state_dict()
        dst = self.net.state_dict()
        pos = {x: k for k, x in enumerate(other.item_ids)}
        new_idx = [k for k, x in enumerate(self.item_ids) if x in pos]
        ni = torch.as_tensor(new_idx, dtype=torch.long)
        oi = torch.as_tensor([pos[self.item_ids[k]] for k in new_idx], dtype=torch.long)
        with torch.no_grad():
            for name, t in dst.items():
                if name in src:
                    _copy_matched(name, t, src[name], ni, oi)
        self.net.load_state_dict(dst)
        self.clear_cache()
        self.manifest = {}
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
        if tuple(ds.item_ids) != self.item_ids:
            raise DataError("cannot save: the model's items differ from the dataset's")
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "kind": ARTIFACT_KIND,
            "name": self.name,
            "dataset_fingerprint": ds.fingerprint,
            "dataset_source": ds.source,
            "tie_order": ds.tie_order,  # read back by artifact.manifest_tie_order ("id" when absent)
            "n_items": self.n_items,
            "n_users": ds.n_users,
            "n_interactions": ds.n_interactions,
            "item_ids_sha256": item_ids_hash(self.item_ids),
            "seed": self.seed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "train_seconds": round(self.log.train_seconds, 3),
            "epochs": self.log.epochs,
            "best_epoch": self.log.best_epoch,
            "versions": versions(),
            "metrics": metrics or {},
            "text_encoder": "all-MiniLM-L6-v2" if self.config.use_text else None,
            # gap buckets of the training histories (scoring reads rare ones as "unknown gap")
            "gap_bucket_counts": None if self.gap_counts is None else [int(x) for x in self.gap_counts],
            **(extra or {}),
        }
        self.manifest = write_artifact(out_dir, self.net.state_dict(), self.config, self.item_ids, manifest)
        return Path(out_dir)

    @classmethod
    def load(cls, model_dir: str | Path, ds: Dataset, device: str | torch.device = "cpu") -> TransformerRecommender:
        """Load an artifact trained on ``ds``; raise DataError saying exactly what is wrong."""
        return cls._load(model_dir, ds, device)

    @classmethod
    def load_any(cls, model_dir: str | Path, device: str | torch.device = "cpu") -> TransformerRecommender:
        """Load an artifact without a dataset check (e.g. ``--init-from`` on grown data)."""
        return cls._load(model_dir, None, device)

    @classmethod
    def _load(cls, model_dir: str | Path, ds: Dataset | None, device: str | torch.device) -> TransformerRecommender:
        art = read_artifact(model_dir, ds)
        te = art.state.get("text_emb")
        model = cls(art.item_ids, art.config, None if te is None else te.numpy(),
                    seed=int(art.manifest.get("seed", 0)), device=device)
        check_state(model_dir, model.net.state_dict(), art.state)
        model.net.load_state_dict(art.state)
        model.net.eval()
        model.manifest = art.manifest
        counts = art.manifest.get("gap_bucket_counts")
        if isinstance(counts, list) and len(counts) == N_GAP_BUCKETS:
            model.gap_counts = np.asarray(counts, dtype=np.int64)
        if ds is not None and ds.n_items > model.n_known:  # an event log's new items
            model.cover(ds.n_items)
        model.log = TrainLog(
            epochs=int(art.manifest.get("epochs", 0)),
            best_epoch=int(art.manifest.get("best_epoch", 0)),
            train_seconds=float(art.manifest.get("train_seconds", 0.0)),
        )
        return model


def _copy_matched(name: str, dst: torch.Tensor, src: torch.Tensor, ni: torch.Tensor, oi: torch.Tensor) -> None:
    """Copy one tensor of an older model into the new one (items matched by id:
    ``dst[ni] = src[oi]``); the current text vectors are kept."""
    if name == "item_emb.weight":
        dst[:2] = src[:2]
        if len(ni):
            dst[ni + 2] = src[oi + 2]
    elif name in ("item_bias", "item_count"):
        if len(ni):
            dst[ni] = src[oi]
    elif name == "text_emb":
        return  # the current dataset's embeddings
    # text_mean / text_basis are copied: the learned projection reads the old
    # model's principal directions, which apply to new items' text as well
    elif src.shape == dst.shape:
        dst.copy_(src)
