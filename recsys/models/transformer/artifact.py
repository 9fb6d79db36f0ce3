"""The transformer's artifact directory: ``model.safetensors``, ``config.json``, ``manifest.json``.

This module is light on purpose: reading a manifest (:func:`read_manifest`) imports
neither torch nor transformers, so the dashboard and the command line can look at an
artifact before they decide to load it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from recsys.data.types import DataError
from recsys.jsonutil import json_default

SCHEMA_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"
ARTIFACT_KIND = "reclens-transformer"


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


def replace_dir(src: Path, dst: Path) -> None:
    """Atomically-ish replace directory ``dst`` by ``src`` (same filesystem)."""
    dst = Path(dst)
    old = dst.with_name(dst.name + f".old{os.getpid()}")
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
