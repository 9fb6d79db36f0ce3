"""Shared by the browser benchmarks (bench_warm.py, bench_sessions.py): a trained model
under a RecLens home, one ``streamlit run app.py`` server on 127.0.0.1, Debian's
Chromium, and "settled" (Streamlit's script state back to ``notRunning``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_model(home: Path, data: str, epochs: int = 4) -> Path:
    """A model for ``data`` in ``home`` (the app's default location), trained once with
    ``epochs`` epochs and without the no-text ablation (one torch thread)."""
    os.environ["RECSYS_HOME"] = str(home)
    import torch

    from recsys.data import load
    from recsys.paths import default_model_dir
    from recsys.train import train_model

    ds = load(data)
    out = default_model_dir(ds)
    if not (out / "manifest.json").is_file():
        torch.set_num_threads(1)
        print(f"training a {epochs}-epoch model for {data} into {out} …", flush=True)
        train_model(ds, out, seed=0, epochs=epochs, ablation=False, min_epochs=1)
    return out


def featured_users(data: str) -> list[str]:
    """The demo world's featured users first, then every other user (stable order)."""
    from recsys.data import load

    ds = load(data)
    first = list(ds.truth.featured_users()) if ds.truth is not None else []
    return first + [u for u in ds.user_ids if u not in set(first)]


class Server:
    """``streamlit run app.py`` (headless, 127.0.0.1, a free port) with ``env`` added to
    the environment; ``started`` is the monotonic time of the spawn."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log: IO[bytes] = open(log, "wb")
        full = {k: v for k, v in os.environ.items() if k not in ("RECSYS_MODEL", "RECSYS_DEMO_MODE",
                                                                  "RECSYS_ACCESS_TOKEN", "NUMBA_CACHE_DIR")}
        full.update(env)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=full, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout_s: float = 120) -> float:
        """Seconds from the spawn until /_stcore/health answers."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("streamlit did not answer its health check")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def launch_chromium(p: Any) -> Any:
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


NOT_RUNNING = ("() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
               " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }")


def settled(page: Any, timeout_s: float = 300) -> None:
    """Wait until the app is drawn and its script run is over."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    page.wait_for_function(NOT_RUNNING, timeout=timeout_s * 1000, polling=50)


def percentile(xs: list[float], q: float) -> float | None:
    """``q``-quantile with linear interpolation, None for no values."""
    ys = sorted(x for x in xs if x == x)
    if not ys:
        return None
    pos = q * (len(ys) - 1)
    lo = int(pos)
    return ys[lo] + (ys[min(lo + 1, len(ys) - 1)] - ys[lo]) * (pos - lo)
