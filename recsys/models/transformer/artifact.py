"""The transformer's artifact directory: ``model.safetensors``, ``config.json``, ``manifest.json``.

* ``model.safetensors`` — the network's state (weights and buffers, text vectors included);
* ``config.json`` — ``{"kind", "model": <every TransformerConfig key>, "n_items", "item_ids"}``;
* ``manifest.json`` — ``schema_version``, ``kind``, the data it was trained on
  (``dataset_fingerprint``, ``dataset_source``, sizes), ``item_ids_sha256``, ``seed``,
  ``created``, the training facts, ``versions``, ``metrics``, ``text_encoder``, what
  ``train_model`` adds (``min_count``, ``history``, ``new_items``, ...),
  ``tie_order`` (how the data's same-second ties were ordered, :func:`manifest_tie_order`)
  and ``model_fingerprint`` (:func:`artifact_fingerprint`).

This module is light on purpose: reading a manifest (:func:`read_manifest`) imports
neither torch nor transformers, so the dashboard and the command line can look at an
artifact before they decide to load it; :func:`write_artifact` and
:func:`read_artifact` import torch and safetensors when called. An artifact of an
older schema is refused with the command that upgrades it (``recsys.models.transformer.migrate``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from recsys.data.order import LEGACY_TIE_ORDER, TIE_ORDERS
from recsys.data.types import DataError, Dataset
from recsys.jsonutil import json_default
from recsys.models.transformer.config import TransformerConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

# 2: config.json holds every configuration key (no defaults guessed at load time) and
#    the manifest records model_fingerprint; `python -m recsys migrate DIR` upgrades 1
SCHEMA_VERSION = 2
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"
ARTIFACT_KIND = "reclens-transformer"
TIE_ORDER_KEY = "tie_order"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; DataError naming the file (and line) when unreadable."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"damaged JSON: {e.msg}", file=str(path), line=e.lineno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read: {e}", file=str(path)) from None
    if not isinstance(obj, dict):
        raise DataError("damaged JSON: expected an object", file=str(path))
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (a sibling file, then a rename)."""
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=False, default=json_default), encoding="utf-8")
    os.replace(tmp, path)


def _read_member(model_dir: str | Path, name: str, missing_ok: bool) -> dict[str, Any]:
    d = Path(model_dir)
    p = d / name
    if not p.is_file():
        if missing_ok:
            return {}
        if not d.is_dir():
            raise DataError("model directory not found", file=str(d))
        raise DataError(f"artifact is incomplete: {name} is missing", file=str(d))
    return read_json(p)


def read_manifest(model_dir: str | Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """The artifact's ``manifest.json`` as a dict.

    A missing directory or file raises :class:`DataError` naming it, or gives ``{}``
    with ``missing_ok``; a file that is there but unreadable (damaged JSON, not an
    object) always raises DataError naming the file (and line)."""
    return _read_member(model_dir, MANIFEST_FILE, missing_ok)


def read_config(model_dir: str | Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """The artifact's ``config.json`` (``kind``, ``model`` = the model configuration,
    ``n_items``, ``item_ids``); the same error rules as :func:`read_manifest`."""
    return _read_member(model_dir, CONFIG_FILE, missing_ok)


def manifest_tie_order(manifest: Mapping[str, Any], model_dir: str | Path | None = None) -> str:
    """The tie order (``"hash"`` or ``"id"``) of the data the artifact was trained on: the
    manifest's ``tie_order``; ``"id"`` when absent (an artifact written before tie orders
    were recorded was trained under item-id order). DataError for any other value."""
    order = manifest.get(TIE_ORDER_KEY, LEGACY_TIE_ORDER)
    if order not in TIE_ORDERS:
        where = str(Path(model_dir) / MANIFEST_FILE) if model_dir is not None else None
        raise DataError(f"unknown tie_order {order!r} (expected one of {', '.join(TIE_ORDERS)})", file=where)
    return str(order)


def item_ids_hash(item_ids: Sequence[str]) -> str:
    """sha256 of the item id list (length-prefixed UTF-8), recorded in the manifest."""
    h = hashlib.sha256()
    for x in item_ids:
        b = x.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(4, "little"))
        h.update(b)
    return h.hexdigest()


def artifact_fingerprint(model_dir: str | Path) -> str:
    """The model's fingerprint: sha256 of the weights file's bytes followed by the
    canonical JSON of ``config.json`` (configuration and item ids). Recorded in the
    manifest as ``model_fingerprint``; :func:`recsys.models.base.model_key` reads it."""
    d = Path(model_dir)
    h = hashlib.sha256()
    with open(d / MODEL_FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    cfg = read_config(d)
    h.update(json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=json_default).encode("utf-8"))
    return h.hexdigest()


def _exchange(src: Path, dst: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False
    where the platform or the file system does not offer it."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # no libc, or glibc < 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn(at_fdcwd, os.fsencode(str(src)), at_fdcwd, os.fsencode(str(dst)), rename_exchange) == 0


def replace_dir(src: Path, dst: Path) -> None:
    """Replace directory ``dst`` by ``src`` (same file system) so that at every instant
    ``dst`` is either the complete old or the complete new directory: one atomic exchange
    on Linux (``renameat2``), after which the old one (now at ``src``) is removed. Where
    that is not available: ``dst`` is first renamed to ``dst.old<pid>`` — a kill between
    the two renames leaves that complete old copy, which :func:`recsys.recovery.clean_leftovers`
    puts back at the next start."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and _exchange(src, dst):
        shutil.rmtree(src, ignore_errors=True)
        return
    old = dst.with_name(dst.name + f".old{os.getpid()}")
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def versions() -> dict[str, str]:
    """Versions of the libraries an artifact was written with."""
    import numpy as np
    import safetensors
    import torch
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


# ---- writing ------------------------------------------------------------------------
def write_artifact(
    out_dir: str | Path,
    state: Mapping[str, torch.Tensor],
    config: TransformerConfig,
    item_ids: Sequence[str],
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write the three files into ``out_dir``; the manifest gets ``model_fingerprint``
    (its other keys are the caller's). Returns the manifest as written."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    save_file(tensors, str(out / MODEL_FILE), metadata={"kind": ARTIFACT_KIND})
    write_json(out / CONFIG_FILE, {"kind": ARTIFACT_KIND, "model": asdict(config), "n_items": len(item_ids),
                                   "item_ids": list(item_ids)})
    manifest = {**manifest, "model_fingerprint": artifact_fingerprint(out)}
    write_json(out / MANIFEST_FILE, manifest)
    return manifest


# ---- reading ------------------------------------------------------------------------
@dataclass
class StoredArtifact:
    """What :func:`read_artifact` found: checked against each other and the data."""

    item_ids: list[str]
    config: TransformerConfig
    state: dict[str, torch.Tensor]
    manifest: dict[str, Any]


def read_artifact(model_dir: str | Path, ds: Dataset | None = None) -> StoredArtifact:
    """Read and check an artifact (trained on ``ds`` unless None); DataError saying
    exactly what is wrong and in which file."""
    d = Path(model_dir)
    if not d.is_dir():
        raise DataError("model directory not found", file=str(d))
    for f in (MODEL_FILE, CONFIG_FILE, MANIFEST_FILE):
        if not (d / f).is_file():
            raise DataError(f"artifact is incomplete: {f} is missing", file=str(d))
    manifest, cfg = read_manifest(d), read_config(d)
    check_schema(d, manifest)
    if manifest.get("kind") != ARTIFACT_KIND or cfg.get("kind") != ARTIFACT_KIND:
        raise DataError(f"not a RecLens transformer artifact (kind {manifest.get('kind')!r})",
                        file=str(d / MANIFEST_FILE))
    item_ids = _item_ids(d, manifest, cfg)
    if ds is not None:
        _check_data(d, manifest, item_ids, ds)
    try:
        config = TransformerConfig.from_dict(dict(cfg["model"]))
    except (TypeError, ValueError, DataError) as e:
        raise DataError(f"bad model configuration: {e}", file=str(d / CONFIG_FILE)) from None
    return StoredArtifact(item_ids, config, _read_weights(d, config), manifest)


def check_schema(d: Path, manifest: dict[str, Any]) -> None:
    """DataError unless the manifest is of this RecLens's schema; an older one names the
    command that upgrades it."""
    sv = manifest.get("schema_version")
    if sv == SCHEMA_VERSION:
        return
    if isinstance(sv, int) and not isinstance(sv, bool) and 1 <= sv < SCHEMA_VERSION:
        raise DataError(f"artifact schema version {sv} is older than this RecLens reads ({SCHEMA_VERSION}); "
                        f"upgrade it with `python -m recsys migrate {d}` (keeps the weights) or retrain",
                        file=str(d / MANIFEST_FILE))
    raise DataError(f"unsupported artifact schema version {sv!r} (this RecLens reads version "
                    f"{SCHEMA_VERSION}); retrain the model", file=str(d / MANIFEST_FILE))


def _item_ids(d: Path, manifest: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
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
    return item_ids


def _check_data(d: Path, manifest: dict[str, Any], item_ids: list[str], ds: Dataset) -> None:
    fp = manifest["dataset_fingerprint"]
    if fp != ds.fingerprint:
        mc = manifest.get("min_count")
        hint = (f" (it was trained with --min-count {mc}: pass the same filter)"
                if isinstance(mc, int) and not isinstance(mc, bool) else "")
        order = manifest_tie_order(manifest, d)
        if order != ds.tie_order:
            hint += f" (it was trained under --tie-order {order}, the data is loaded under {ds.tie_order})"
        raise DataError(
            f"model was trained on data {str(fp)[:12]}, current data {ds.fingerprint[:12]} "
            f"({ds.source}); retrain with `python -m recsys train` or pick the matching data{hint}",
            file=str(d),
        )
    if ds.log is not None and ds.n_items > len(item_ids) and tuple(ds.item_ids[: len(item_ids)]) == tuple(item_ids):
        return  # the event log added items after the base data's: the model scores them -inf
    if ds.n_items != len(item_ids) or tuple(ds.item_ids) != tuple(item_ids):
        raise DataError(f"model has {len(item_ids)} items, data {ds.n_items}", file=str(d))


def _read_weights(d: Path, config: TransformerConfig) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(d / MODEL_FILE))
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"damaged weights file: {e}", file=str(d / MODEL_FILE)) from None
    if config.use_text and state.get("text_emb") is None:
        raise DataError("weights lack the text embeddings (text_emb)", file=str(d / MODEL_FILE))
    return state


def check_state(model_dir: str | Path, expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> None:
    """DataError unless ``state`` has exactly the tensors (names and shapes) of ``expected``."""
    f = str(Path(model_dir) / MODEL_FILE)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise DataError(
            f"weights do not match the configuration (missing {missing[:3]}, unexpected {unexpected[:3]})", file=f
        )
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise DataError(f"tensor {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}", file=f)
