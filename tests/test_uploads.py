"""Hostile uploads (ui/core/uploads.py): each is refused with one clear message and
leaves nothing behind; the session's folder goes when the session does."""

from __future__ import annotations

import gc
import io
import os
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from recsys.data.types import DataError
from ui.core import uploads
from ui.core.uploads import SessionFolder, save_uploads

CSV = b"user_id,item_id,timestamp\n" + b"".join(b"u%d,i%d,%d\n" % (u, j, 100 + j) for u in range(20) for j in range(30))


class _Up:
    def __init__(self, name: str, data: bytes):
        self.name, self._d = name, data

    def getvalue(self) -> bytes:
        return self._d


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def _patch(data: bytes, local_off: int, central_off: int, value: int) -> bytes:
    """Overwrite one 4-byte field of the (single) entry's local and central headers."""
    b = bytearray(data)
    lo = b.index(b"PK\x03\x04")
    ce = b.index(b"PK\x01\x02")
    struct.pack_into("<I", b, lo + local_off, value)
    struct.pack_into("<I", b, ce + central_off, value)
    return bytes(b)


def _refused(tmp_path: Path, data: bytes, match: str, name: str = "data.zip") -> str:
    """Upload ``data``; it must be refused with ``match`` and leave nothing anywhere."""
    sess = tmp_path / "session"
    sess.mkdir(exist_ok=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(DataError, match=match) as e:
        save_uploads([_Up(name, data)], sess)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written
    return str(e.value)


def test_a_zip_of_a_dataset_folder_is_extracted_flat(tmp_path):
    sess = tmp_path / "session"
    sess.mkdir()
    data = _zip([("ml/interactions.csv", CSV), ("ml/items.csv", b"item_id,title\ni1,T\n"), ("ml/", b""),
                 ("__MACOSX/ml/._items.csv", b"x"), ("ml/.DS_Store", b"x")])
    res = save_uploads([_Up("data.zip", data)], sess)
    (files,) = list(sess.iterdir())
    assert sorted(p.name for p in files.iterdir()) == ["interactions.csv", "items.csv"]
    assert res.source.startswith(f"upload:{files}#") and res.names == ("interactions.csv", "items.csv")
    # the next upload replaces the previous one
    res2 = save_uploads([_Up("interactions.csv", CSV)], sess)
    (files2,) = list(sess.iterdir())
    assert files2 != files and res2.source.startswith(f"upload:{files2 / 'interactions.csv'}#")


def test_lying_size_headers_are_refused(tmp_path):
    good = _zip([("interactions.csv", CSV)])
    # local header: uncompressed size at offset 22; central directory: at offset 24
    smaller = _patch(good, 22, 24, 100)  # claims 100 bytes, holds more
    msg = _refused(tmp_path, smaller, "CRC-32")
    assert "size header" in msg
    larger = _patch(good, 22, 24, len(CSV) * 3)  # claims more than it holds
    msg = _refused(tmp_path, larger, "size header says")
    assert f"{len(CSV):,} bytes" in msg


def test_a_bad_crc_is_refused(tmp_path):
    good = _zip([("interactions.csv", CSV)])
    crc = zipfile.ZipFile(io.BytesIO(good)).infolist()[0].CRC
    _refused(tmp_path, _patch(good, 14, 16, crc ^ 0xFFFF), "fails its CRC-32 check")
    stored = _zip([("interactions.csv", CSV)], zipfile.ZIP_STORED)
    _refused(tmp_path, _patch(stored, 14, 16, 0), "fails its CRC-32 check")


def test_nested_archives_are_refused(tmp_path):
    inner = _zip([("interactions.csv", CSV)])
    _refused(tmp_path, _zip([("inner.zip", inner)]), "another archive")
    _refused(tmp_path, _zip([("interactions.csv", inner)]), "another archive")  # a zip under a .csv name
    _refused(tmp_path, inner, "is an archive", name="interactions.csv")  # not zipped, renamed


@pytest.mark.parametrize("name,match", [
    ("../../evil/interactions.csv", "climbs out"),
    ("data/../../interactions.csv", "climbs out"),
    ("..\\interactions.csv", "climbs out"),
    ("/etc/cron.d/interactions.csv", "absolute path"),
    ("C:/Windows/interactions.csv", "absolute path"),
])
def test_traversal_and_absolute_names_are_refused(tmp_path, name, match):
    _refused(tmp_path, _zip([("items.csv", b"item_id,title\n"), (name, CSV)]), match)


def test_symlinks_are_refused(tmp_path):
    info = zipfile.ZipInfo("interactions.csv")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    _refused(tmp_path, _zip([(info, b"/etc/passwd")]), "symbolic link")


def test_thousands_of_tiny_files_are_refused(tmp_path):
    data = _zip([(f"f{i}.csv", b"x") for i in range(5000)])
    _refused(tmp_path, data, "5,000 entries")
    sess = tmp_path / "session"
    with pytest.raises(DataError, match="at most 64"):
        save_uploads([_Up(f"f{i}.csv", b"x") for i in range(200)], sess)
    assert not any(sess.iterdir())


def test_a_one_gigabyte_expansion_is_refused_before_anything_is_written(tmp_path):
    buf = io.BytesIO()
    zeros = b"\0" * (1 << 24)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("interactions.csv", "w", force_zip64=True) as f:
            for _ in range(64):  # 64 × 16 MiB = 1 GiB of zeros, about 1 MB compressed
                f.write(zeros)
    data = buf.getvalue()
    assert len(data) < uploads.MAX_UPLOAD_BYTES  # it passes the upload-size limit
    _refused(tmp_path, data, "unpacks to more than 500 MB")
    # the same bomb with a lying small size header: zipfile stops at the header's size,
    # the checksum then fails, and at most the declared bytes were ever written
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    assert info.file_size == 1 << 30
    b = bytearray(data)
    ce = zipfile.ZipFile(io.BytesIO(data)).start_dir  # the central directory (what zipfile reads)
    assert b[ce:ce + 4] == b"PK\x01\x02" and struct.unpack_from("<I", b, ce + 24)[0] == 1 << 30
    struct.pack_into("<I", b, ce + 24, 1000)  # uncompressed size: "1000 bytes"
    _refused(tmp_path, bytes(b), "CRC-32|size header|damaged")


def test_damaged_and_oversize_uploads(tmp_path):
    _refused(tmp_path, b"not a zip", "damaged or not a zip")
    _refused(tmp_path, _zip([("README", b"")])[:40], "damaged or not a zip")
    with pytest.raises(DataError, match="limit"):
        save_uploads([_Up("big.csv", b"x" * (uploads.MAX_UPLOAD_BYTES + 1))], tmp_path)
    with pytest.raises(DataError, match="not both"):
        save_uploads([_Up("a.zip", _zip([("interactions.csv", CSV)])), _Up("items.csv", b"")], tmp_path)


def test_the_session_folder_is_private_and_removed_with_its_object(tmp_path):
    folder = SessionFolder("abc-123", parent=tmp_path)
    path = folder.path
    assert path.name.startswith(f"reclens-upload-{os.getpid()}-abc-123.")
    assert uploads.owner_of(path) == (os.getpid(), "abc-123")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    save_uploads([_Up("interactions.csv", CSV)], path)
    assert any(path.rglob("interactions.csv"))
    state = {"folder": folder}  # what st.session_state holds
    del folder
    state.clear()
    gc.collect()
    assert not path.exists()


def test_sweep_removes_folders_of_gone_sessions_and_dead_servers_only(tmp_path):
    alive = SessionFolder("alive", parent=tmp_path)
    gone = SessionFolder("gone", parent=tmp_path)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)  # a process that has exited
    crashed = SessionFolder("s1", parent=tmp_path, pid=dead_pid)
    other_server = SessionFolder("s2", parent=tmp_path, pid=os.getppid())  # another live process
    unrelated = tmp_path / "reclens-upload-notours"
    unrelated.mkdir()

    def is_active(sid: str) -> bool:
        return sid == "alive"

    # young folders of this process stay (a disconnected session may reconnect) …
    assert uploads.sweep_orphans(is_active, parent=tmp_path, min_idle=3600) == [crashed.path]
    # … idle ones of sessions that are gone do not
    assert uploads.sweep_orphans(is_active, parent=tmp_path, min_idle=0) == [gone.path]
    assert alive.usable and other_server.usable and unrelated.is_dir()
    assert not gone.usable and not crashed.usable
