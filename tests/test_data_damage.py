"""Randomly damaged copies of the fixture files: a load either succeeds or raises one
DataError naming a file — never another exception."""

from __future__ import annotations

import random
import shutil
import zlib
from pathlib import Path

import pytest

from recsys.data import DataError, Dataset, load

FIX = Path(__file__).resolve().parent / "fixtures" / "data"
SNIPPETS = [b",", b'"', b"\n", b"\r", b"\x00", b"\xff", b"\xc3", b" ", b"|", b"\t", b"a", b"-1", b"1.5", b""]


def damage(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    pos = rng.randrange(len(data) + 1)
    if kind == 0:  # delete a span
        return data[:pos] + data[pos + rng.randint(1, 8) :]
    if kind == 1:  # insert a snippet
        return data[:pos] + rng.choice(SNIPPETS) + data[pos:]
    if kind == 2:  # truncate
        return data[:pos]
    if kind == 3:  # duplicate a line
        lines = data.split(b"\n")
        k = rng.randrange(len(lines))
        return b"\n".join(lines[: k + 1] + lines[k:])
    return data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1 :]  # overwrite a byte


@pytest.mark.parametrize("layout", ["ml100k", "latest", "generic"])
def test_damaged_files_never_crash(tmp_path, layout):
    rng = random.Random(zlib.crc32(layout.encode()))
    files = sorted(p.name for p in (FIX / layout).iterdir())
    outcomes = {"ok": 0, "error": 0}
    for trial in range(20):
        d = tmp_path / f"{layout}{trial}"
        shutil.copytree(FIX / layout, d)
        target = d / rng.choice(files)
        target.write_bytes(damage(target.read_bytes(), rng))
        try:
            ds = load(str(d))
        except DataError as e:
            assert str(e).startswith(str(d)), str(e)
            assert "\n" not in str(e) and "\r" not in str(e)
            outcomes["error"] += 1
        else:
            assert isinstance(ds, Dataset) and ds.n_interactions > 0
            outcomes["ok"] += 1
    assert outcomes["error"] > 0  # the damage is real
