"""Browser uploads (pure: no streamlit): several data files or one zip, written flat into
the session's own temporary folder and nowhere else, then opened like any other source.

Every upload is hostile until checked. A zip is inspected completely before one byte is
written, and refused with one message naming the first problem: more than
:data:`MAX_ZIP_ENTRIES` entries, a name with ``..`` or an absolute name, a symbolic link,
a zip (or other archive) inside the zip, or declared sizes adding up to more than
:data:`MAX_UNZIPPED_BYTES` (a zip bomb). While extracting, the bytes actually written are
counted against the declared sizes (a lying size header), and a damaged entry (bad
CRC-32, broken deflate stream) is refused; a refused upload leaves nothing behind.

:class:`SessionFolder` is the session's temporary folder. Streamlit has no session-end
hook, and a closed tab's session state is not reliably garbage-collected (measured: a
folder held only by a ``weakref.finalize`` was still there 7 minutes after the browser
closed), so the app sweeps (:func:`sweep_orphans`, at most once a minute from any
session's run): a folder whose session is no longer active and that was idle for 5
minutes goes, and so does every folder of a server process that no longer runs (a crash
or a restart). The finalizer stays as the clean-exit path.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import time
import weakref
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from recsys.data.types import DataError

MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # keep in line with .streamlit/config.toml
MAX_ZIP_ENTRIES = 64  # a dataset is a handful of files (MovieLens-100K's zip holds 24 entries)
MAX_FILES = 64
FOLDER_PREFIX = "reclens-upload-"
ORPHAN_IDLE_SECONDS = 300  # > the ~2 minutes Streamlit keeps a disconnected session
_CHUNK = 1 << 20
_ARCHIVES = (".zip", ".jar", ".7z", ".rar", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
_SID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class UploadResult:
    source: str  # "upload:<dir>#<token>" for load_dataset
    names: tuple[str, ...]


class SessionFolder:
    """A browser session's private temporary folder (mode 0700, unique), named after the
    server process and the session (``reclens-upload-<pid>-<session>.<random>``). Removed
    by :func:`sweep_orphans` once its session is gone, when this object is
    garbage-collected, on :meth:`remove`, or at a clean interpreter exit."""

    def __init__(self, session_id: str | None = None, parent: str | Path | None = None, pid: int | None = None):
        sid = _SID.sub("", session_id or "")[:64] or "nosession"
        self.path = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{pid or os.getpid()}-{sid}.", dir=parent))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def touch(self) -> None:
        """Mark the folder as in use now (its age is the session's idle time)."""
        try:
            os.utime(self.path)
        except OSError:
            pass

    def remove(self) -> None:
        self._finalizer()

    @property
    def usable(self) -> bool:
        return self._finalizer.alive and self.path.is_dir()


def owner_of(folder: Path) -> tuple[int, str] | None:
    """(server pid, session id) of a :class:`SessionFolder` (None for other names)."""
    m = re.fullmatch(re.escape(FOLDER_PREFIX) + r"([0-9]+)-([A-Za-z0-9_-]+)\.[^.]+", folder.name)
    return (int(m.group(1)), m.group(2)) if m else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. permission denied: it exists
        return True
    return True


def sweep_orphans(is_active: Callable[[str], bool], parent: str | Path | None = None,
                  min_idle: float = ORPHAN_IDLE_SECONDS, pid: int | None = None) -> list[Path]:
    """Remove this user's session folders that no session will use again: those of a
    server process that is gone (a crash, a restart), and this process's folders whose
    session is not active and that were idle for ``min_idle`` seconds (Streamlit keeps a
    disconnected session about two minutes for a reconnect). Folders of other running
    servers are left alone. Returns what was removed."""
    base = Path(parent or tempfile.gettempdir())
    me = pid or os.getpid()
    removed: list[Path] = []
    now = time.time()
    uid = os.getuid() if hasattr(os, "getuid") else None
    for d in base.glob(f"{FOLDER_PREFIX}*"):
        owner = owner_of(d)
        try:
            st = d.lstat()
        except OSError:
            continue
        if owner is None or not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
            continue
        server, sid = owner
        if server == me:
            if now - st.st_mtime < min_idle or is_active(sid):
                continue
        elif _process_alive(server):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


# ---- zip checks -----------------------------------------------------------------------
def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is refused before anything is written (None: fine)."""
    name = info.filename.replace("\\", "/")
    shown = info.filename[:80]
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return f"the zip holds an absolute path ({shown!r}); refused"
    if ".." in name.split("/"):
        return f"the zip holds a path that climbs out of its folder ({shown!r}); refused"
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        return f"the zip holds a symbolic link ({shown!r}); refused"
    if not info.is_dir() and Path(name).suffix.lower() in _ARCHIVES:
        return f"the zip holds another archive ({Path(name).name!r}); upload the data files themselves"
    if info.flag_bits & 0x1:
        return f"the zip holds an encrypted file ({shown!r}); upload it without a password"
    return None


def _skipped(info: zipfile.ZipInfo) -> bool:
    base = Path(info.filename.replace("\\", "/")).name
    return info.is_dir() or not base or base.startswith(".") or info.filename.startswith("__MACOSX")


def check_zip(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Every check that needs no extraction; the entries to extract (DataError if refused)."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise DataError(f"the zip holds {len(infos):,} entries; a dataset zip holds a few data files "
                        f"(at most {MAX_ZIP_ENTRIES}); refused")
    keep: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        problem = _entry_problem(info)
        if problem:
            raise DataError(problem)
        if _skipped(info):
            continue
        base = Path(info.filename.replace("\\", "/")).name
        if base in seen:
            raise DataError(f"the zip holds two files named {base!r}; upload one dataset per zip")
        seen.add(base)
        total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise DataError(f"the zip unpacks to more than {MAX_UNZIPPED_BYTES // 2**20} MB; refused")
        keep.append(info)
    if not keep:
        raise DataError("the uploaded zip holds no files")
    return keep


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Stream one checked entry to ``target``, counting the bytes actually written."""
    name = Path(info.filename.replace("\\", "/")).name
    written = 0
    try:
        with zf.open(info) as fsrc, open(target, "xb") as fdst:
            while True:
                chunk = fsrc.read(_CHUNK)
                if not chunk:
                    break
                if written == 0 and chunk.startswith(_ARCHIVE_MAGIC):
                    raise DataError(f"the zip holds another archive ({name!r}); upload the data files themselves")
                written += len(chunk)
                if written > info.file_size:  # zipfile stops at the header's size; never trust it
                    raise DataError(f"{name!r} in the zip is larger than its size header says; refused")
                fdst.write(chunk)
    except zipfile.BadZipFile as e:
        if "CRC" in str(e):
            raise DataError(f"{name!r} in the zip fails its CRC-32 check (damaged, or its size header "
                            "is wrong); refused") from None
        raise DataError(f"the uploaded .zip file is damaged ({name!r}); refused") from None
    except (zlib.error, EOFError):
        raise DataError(f"the uploaded .zip file is damaged ({name!r} does not decompress); refused") from None
    except NotImplementedError:
        raise DataError(f"{name!r} in the zip uses a compression method this app does not read; "
                        "zip it with the standard (deflate) method") from None
    except RuntimeError as e:  # e.g. "File ... is encrypted, password required"
        raise DataError(f"{name!r} in the zip cannot be read ({e}); refused") from None
    if written != info.file_size:
        raise DataError(f"{name!r} in the zip holds {written:,} bytes but its size header says "
                        f"{info.file_size:,}; refused")


def _safe_extract(data: bytes, dest: Path) -> list[str]:
    """Extract a zip of data files flat into ``dest`` (every check in the module docstring)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError):
        raise DataError("the uploaded .zip file is damaged or not a zip archive") from None
    with zf:
        keep = check_zip(zf)
        names = []
        for info in keep:
            base = Path(info.filename.replace("\\", "/")).name
            _extract_one(zf, info, dest / base)
            names.append(base)
    return names


# ---- saving --------------------------------------------------------------------------
def save_uploads(files: Sequence[Any], folder: str | Path) -> UploadResult:
    """Write uploaded files (``UploadedFile``-like: ``.name``, ``.getvalue()``) into a
    fresh subfolder of the session's ``folder`` (earlier uploads there are removed) and
    return the source string for :func:`load_dataset`. Raises DataError for oversize or
    unusable uploads, leaving nothing behind."""
    if not files:
        raise DataError("no files uploaded")
    if len(files) > MAX_FILES:
        raise DataError(f"{len(files):,} files uploaded; a dataset is a few files (at most {MAX_FILES})")
    total = sum(len(f.getvalue()) for f in files)
    if total > MAX_UPLOAD_BYTES:
        raise DataError(f"upload is {total / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    if any(Path(f.name).name.lower().endswith(".zip") for f in files) and len(files) > 1:
        raise DataError("upload either one .zip or several data files, not both")
    base_dir = Path(folder)
    for old in base_dir.iterdir():
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    root = Path(tempfile.mkdtemp(prefix="files-", dir=base_dir))
    try:
        return _write(files, root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _write(files: Sequence[Any], root: Path) -> UploadResult:
    h = hashlib.sha256()
    names: list[str] = []
    for f in sorted(files, key=lambda f: f.name):
        data = f.getvalue()
        base = Path(str(f.name).replace("\\", "/")).name
        h.update(base.encode() + b"\0" + data)
        if base.lower().endswith(".zip"):
            names.extend(_safe_extract(data, root))
            continue
        if not base or base.startswith(".") or base in names:
            raise DataError(f"unusable file name {str(f.name)[:80]!r}")
        if Path(base).suffix.lower() in _ARCHIVES or data.startswith(_ARCHIVE_MAGIC):
            raise DataError(f"{base!r} is an archive; upload one .zip or the data files themselves")
        (root / base).write_bytes(data)
        names.append(base)
    # a single interactions file is loaded as the file itself; otherwise the directory
    target: Path = root
    if len(names) == 1 and not names[0].lower().startswith(("items", "users")):
        target = root / names[0]
    return UploadResult(f"upload:{target}#{h.hexdigest()[:16]}", tuple(names))
