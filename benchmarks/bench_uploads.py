"""How long the app takes to refuse each hostile zip (and to accept a normal upload).

    .venv/bin/python benchmarks/bench_uploads.py [--repeat 5] [--out benchmarks/results/uploads.json]

Each case is written with :mod:`zipfile` (headers patched for the lying-size and CRC
cases), handed to :func:`ui.core.uploads.save_uploads` ``--repeat`` times into a fresh
folder, and timed; the script checks that every hostile case was refused and left the
folder empty. Reports the median and the maximum per case, the message, and the compressed
size (what crosses the network; the upload limit is 50 MB).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recsys.data.types import DataError  # noqa: E402
from ui.core.uploads import save_uploads  # noqa: E402

CSV = b"user_id,item_id,timestamp\n" + b"".join(b"u%d,i%d,%d\n" % (u, (u * 7 + j) % 1500, 10 * j)
                                                  for u in range(2000) for j in range(50))  # 100k rows


class _Up:
    def __init__(self, name: str, data: bytes):
        self.name, self._d = name, data

    def getvalue(self) -> bytes:
        return self._d


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def _bomb() -> bytes:
    buf = io.BytesIO()
    zeros = b"\0" * (1 << 24)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("interactions.csv", "w", force_zip64=True) as f:
            for _ in range(64):  # 1 GiB
                f.write(zeros)
    return buf.getvalue()


def _patched(data: bytes, central_off: int, value: int) -> bytes:
    b = bytearray(data)
    ce = zipfile.ZipFile(io.BytesIO(data)).start_dir
    struct.pack_into("<I", b, ce + central_off, value)
    return bytes(b)


def cases() -> dict[str, tuple[bytes, bool]]:
    """name -> (zip bytes, accepted?)."""
    good = _zip([("ml/interactions.csv", CSV)])
    crc = zipfile.ZipFile(io.BytesIO(good)).infolist()[0].CRC
    return {
        "normal dataset zip (100k rows)": (good, True),
        "1 GiB expansion (zip bomb)": (_bomb(), False),
        "5,000 tiny files": (_zip([(f"f{i}.csv", b"x") for i in range(5000)]), False),
        "../ names": (_zip([("../../evil/interactions.csv", CSV)]), False),
        "absolute names": (_zip([("/etc/interactions.csv", CSV)]), False),
        "nested zip": (_zip([("inner.zip", good)]), False),
        "size header smaller than data": (_patched(good, 24, 100), False),
        "size header larger than data": (_patched(good, 24, len(CSV) * 3), False),
        "bad CRC-32": (_patched(good, 16, crc ^ 0xFFFF), False),
    }


def time_case(data: bytes, accepted: bool, repeat: int) -> dict:
    seconds: list[float] = []
    message = "accepted"
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
        try:
            t = time.perf_counter()
            try:
                save_uploads([_Up("data.zip", data)], folder)
                ok = True
            except DataError as e:
                ok, message = False, str(e)
            seconds.append(time.perf_counter() - t)
            if ok != accepted:
                raise SystemExit(f"unexpected outcome: accepted={ok}")
            if not accepted and any(folder.iterdir()):
                raise SystemExit("a refused upload left files behind")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return {"zip_bytes": len(data), "median_ms": round(statistics.median(seconds) * 1000, 2),
            "max_ms": round(max(seconds) * 1000, 2), "message": message}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "uploads.json"))
    a = ap.parse_args(argv)
    results: dict[str, dict] = {}
    for name, (data, accepted) in cases().items():
        results[name] = time_case(data, accepted, a.repeat)
        print(f"{name:34s} {results[name]['median_ms']:9.2f} ms  {results[name]['message']}")
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    out = {"repeat": a.repeat, "cpu_count": os.cpu_count(), "load_average_1min": load, "cases": results}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
