"""Browser uploads: several files or one zip, stored flat in a per-session temporary
directory (never outside it), size-capped, then opened like any other data source."""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from recsys.data.types import DataError

MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # keep in line with .streamlit/config.toml


@dataclass(frozen=True)
class UploadResult:
    source: str  # "upload:<dir>#<token>" for load_dataset
    names: tuple[str, ...]


def _safe_extract(data: bytes, dest: Path) -> list[str]:
    """Extract a zip of data files flat into ``dest`` (no paths, no traversal, size cap)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError("the uploaded .zip file is damaged or not a zip archive") from None
    total = 0
    names: list[str] = []
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            base = Path(info.filename).name
            if not base or base.startswith(".") or info.filename.startswith("__MACOSX"):
                continue
            total += info.file_size
            if total > MAX_UNZIPPED_BYTES:
                raise DataError(f"the zip unpacks to more than {MAX_UNZIPPED_BYTES // 2**20} MB; refused")
            if base in names:
                raise DataError(f"the zip holds two files named {base!r}; upload one dataset per zip")
            with zf.open(info) as fsrc, open(dest / base, "wb") as fdst:
                shutil.copyfileobj(fsrc, fdst)
            names.append(base)
    if not names:
        raise DataError("the uploaded zip holds no files")
    return names


def save_uploads(files: Sequence[Any], session_dir: str | None) -> tuple[UploadResult, str]:
    """Write uploaded files (``UploadedFile``-like: ``.name``, ``.getvalue()``) into a
    fresh per-session temp directory and return the source string for
    :func:`load_dataset` plus the directory (stored in session state, removed on the
    next upload). Raises DataError for oversize or unusable uploads."""
    if not files:
        raise DataError("no files uploaded")
    total = sum(len(f.getvalue()) for f in files)
    if total > MAX_UPLOAD_BYTES:
        raise DataError(f"upload is {total / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    if session_dir and Path(session_dir).is_dir():
        shutil.rmtree(session_dir, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix="reclens-upload-"))
    h = hashlib.sha256()
    names: list[str] = []
    for f in sorted(files, key=lambda f: f.name):
        data = f.getvalue()
        base = Path(f.name).name
        h.update(base.encode() + b"\0" + data)
        if base.lower().endswith(".zip"):
            if len(files) > 1:
                raise DataError("upload either one .zip or several data files, not both")
            names.extend(_safe_extract(data, root))
        else:
            if not base or base.startswith("."):
                raise DataError(f"unusable file name {f.name!r}")
            (root / base).write_bytes(data)
            names.append(base)
    # a single interactions file is loaded as the file itself; otherwise the directory
    target: Path = root
    if len(names) == 1 and not names[0].lower().startswith(("items", "users")):
        target = root / names[0]
    return UploadResult(f"upload:{target}#{h.hexdigest()[:16]}", tuple(names)), str(root)
