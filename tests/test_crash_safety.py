"""Crash safety: a SIGKILL during training or during an upload's extraction leaves every
artifact complete (old or new), never half written, and the start-up clean-up
(recsys.recovery.clean_leftovers, uploads.sweep_orphans) removes what is left over.
The kills are real: subprocesses running the real code, killed at a marker they reach
(a progress line, a temporary directory, an extracted file), not after a fixed sleep."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recsys.recovery import clean_leftovers, leftover

REPO = Path(__file__).resolve().parents[1]
WORLD = "demo:users=100,items=200"
DEADLINE = 240.0


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECSYS_TRAIN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env.update(extra)
    return env


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _digest(d: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir()) if f.is_file()}


def _train(out: Path, epochs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "recsys", "train", "--data", WORLD, "--out", str(out), "--epochs", str(epochs),
         "--no-ablation", "--seed", str(epochs)],
        cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


class _Stderr:
    """Collects a subprocess's stderr (tqdm writes '\\r' updates, no newlines)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.buf = b""
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stderr is not None
        while chunk := self._proc.stderr.read1(4096):  # type: ignore[attr-defined]
            self.buf += chunk

    def wait_for(self, marker: bytes) -> None:
        end = time.monotonic() + DEADLINE
        while marker not in self.buf:
            assert self._proc.poll() is None, f"exited before {marker!r}: {self.buf[-2000:]!r}"
            assert time.monotonic() < end, f"never reached {marker!r}"
            time.sleep(0.01)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def artifact_seed(d: Path) -> int:
    return int(json.loads((d / "manifest.json").read_text())["seed"])


def _assert_complete_artifact(d: Path) -> None:
    from recsys.data import load
    from recsys.models.transformer import TransformerRecommender, artifact

    assert {"manifest.json", "config.json", "model.safetensors", "evaluation.json"} <= {f.name for f in d.iterdir()}
    man = artifact.read_manifest(d)
    assert man["model_fingerprint"] == artifact.artifact_fingerprint(d)  # weights and config of one run
    assert json.loads((d / "evaluation.json").read_text())["seed"] == man["seed"]  # its evaluation too
    TransformerRecommender.load(d, load(WORLD))  # checks schema and the data fingerprint


def test_sigkill_during_training_leaves_the_old_or_the_new_artifact(tmp_path):
    models = tmp_path / "models"
    out = models / "m"
    first = _train(out, 1)
    _Stderr(first)
    assert first.wait(DEADLINE) == 0
    _assert_complete_artifact(out)
    old = _digest(out)

    # killed in the middle of an epoch: the stored artifact is untouched
    proc = _train(out, 40)
    _Stderr(proc).wait_for(b"epoch 2")
    _kill(proc)
    assert _digest(out) == old

    # killed while the new artifact is being written: wait for its temporary directory
    proc = _train(out, 2)
    err = _Stderr(proc)
    tmp = models / f".m.tmp{proc.pid}"
    end = time.monotonic() + DEADLINE
    while not tmp.exists() and proc.poll() is None:
        assert time.monotonic() < end, err.buf[-2000:]
        time.sleep(0.001)
    if proc.poll() is None:
        _kill(proc)
    _assert_complete_artifact(out)  # complete: the old one or the new one, never a mix
    assert _digest(out) == old or artifact_seed(out) == 2
    removed = clean_leftovers(tmp_path, startup=True)
    assert not [p for p in models.rglob("*") if leftover(p.name)], removed  # no temporaries left
    _assert_complete_artifact(out)


def test_clean_leftovers_removes_dead_writers_temporaries_and_restores_an_old_copy(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    models = tmp_path / "models"
    (models / "a").mkdir(parents=True)
    (models / "a" / "manifest.json").write_text("{}")
    (models / f".a.tmp{dead}").mkdir()  # a half-written model directory
    (models / f".a.tmp{dead}" / "model.safetensors").write_bytes(b"half")
    (models / f"a.old{dead}").mkdir()  # the fallback swap finished: the old copy goes
    (models / f"b.old{dead}").mkdir()  # killed between the two renames: b comes back
    (models / f"b.old{dead}" / "manifest.json").write_text('{"old": true}')
    (models / "a" / f"manifest.json.tmp{dead}").write_text("{")
    (models / "a" / f".evaluation.json.tmp{dead}").write_text("{")
    (models / "a" / f".no_text.tmp{dead}").mkdir()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"abc.tmp{dead}").write_bytes(b"x")
    (cache / f".seg.parquet.tmp{dead}-1a2b3c").write_bytes(b"x")
    (cache / f".tmp-{dead}-deadbeef").mkdir()
    keep = [cache / f"run.tmp{alive}", models / "a" / "evaluation.json", cache / "abc.safetensors"]
    for k in keep:
        k.write_text("x")
    removed = clean_leftovers(tmp_path)
    assert (models / "b" / "manifest.json").read_text() == '{"old": true}'
    assert sorted(p.name for p in models.iterdir()) == ["a", "b"]
    assert sorted(p.name for p in (models / "a").iterdir()) == ["evaluation.json", "manifest.json"]
    assert sorted(p.name for p in cache.iterdir()) == sorted(["abc.safetensors", f"run.tmp{alive}"])
    assert len(removed) == 9
    # at start-up this process has written nothing yet: its own pid counts as dead too
    assert clean_leftovers(tmp_path, startup=True) == [cache / f"run.tmp{alive}"]


_EXTRACT = r"""
import sys, time
from pathlib import Path
from ui.core import uploads

folder = uploads.SessionFolder("victim", parent=sys.argv[1])
real = uploads._extract_one
calls = []

def extract_one(zf, info, target):
    real(zf, info, target)
    calls.append(info.filename)
    if len(calls) == 1:  # one entry written, the next ones not yet: announce, then get killed
        Path(sys.argv[2]).write_text(str(folder.path))
        time.sleep(120)

uploads._extract_one = extract_one

class F:
    name = "data.zip"
    def getvalue(self):
        return Path(sys.argv[3]).read_bytes()

uploads.save_uploads([F()], folder.path)
"""


def test_sigkill_during_upload_extraction_is_cleaned_up_at_the_next_start(tmp_path):
    import zipfile

    from ui.core import uploads

    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("interactions.csv", "user_id,item_id,timestamp\n" + "u1,i1,1\n" * 1000)
        zf.writestr("items.csv", "item_id,title\ni1,One\n")
    parent, marker = tmp_path / "tmp", tmp_path / "extracting"
    parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _EXTRACT, str(parent), str(marker), str(z)], cwd=REPO,
                            env=_env(), stderr=subprocess.PIPE)
    end = time.monotonic() + DEADLINE
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < end
        time.sleep(0.01)
    _kill(proc)
    folder = Path(marker.read_text())
    assert folder.is_dir() and uploads.owner_of(folder) == (proc.pid, "victim")
    half = [p.name for p in folder.rglob("*") if p.is_file()]
    assert half == ["interactions.csv"]  # the upload was cut off half way
    # the next server start: another process; the dead server's folder goes, a live one stays
    live = uploads.SessionFolder("other", parent=parent)
    removed = uploads.sweep_orphans(lambda sid: True, parent=parent)
    assert removed == [folder] and not folder.exists() and live.path.is_dir()
    live.remove()


@pytest.mark.parametrize("name,expected", [
    ("m.tmp123", ("tmp", "m", 123)), (".m.tmp123", ("tmp", ".m", 123)), ("x.old77", ("old", "x", 77)),
    (".x.old-77", ("old", "x", 77)), (".tmp-5-abcdef12", ("tmp", "", 5)), (".s.parquet.tmp9-0a1b2c", ("tmp", ".s.parquet", 9)),
    ("model.safetensors", None), ("evaluation.json", None), ("tmp123", None),
])
def test_leftover_names(name, expected):
    assert leftover(name) == expected
