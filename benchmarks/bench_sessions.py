"""Proof under load: many analysts' browser sessions on one RecLens server.

    .venv/bin/python benchmarks/bench_sessions.py [--sessions 10] [--minutes 5] [--data demo]
        [--home DIR] [--with-training [--training-sessions 2]] [--out benchmarks/results/sessions.json]

One ``streamlit run app.py`` (127.0.0.1, a free port, headless) on the demo world and one
headless Chromium with ``--sessions`` browser contexts, each on a different user
(``?user=`` in its first URL). For ``--minutes`` every context, at the same time, clicks
through every page in the sidebar and, on the What-if studio, edits its profile (adds an
item found by title; after three adds it resets). Recorded:

- **settle** per page: from the click until Streamlit's script run it started is over
  (the ``stApp`` script state turns ``running``, then ``notRunning``) and the page's
  title is there; p50/p95 per page and overall; what-if edits separately;
- **errors**: exceptions shown in the page (``stException``), error boxes
  (``stAlertContentError``), "Traceback" anywhere in the page, browser-side errors and
  step timeouts;
- **isolation**: on the Recommendations page the heading "Top N for user <id>" names the
  context's own user; no page names another context's user as ``user <id>``; the
  What-if studio's "Editing … a copy of user <id>; N items" line names the context's own
  user with exactly the item count its own edits produced (another session's edit would
  change the count or the user);
- **first load**: before the scenarios one page load puts the data, the model and the
  first explanation into the server's caches (``server_first_load_s``); each session's
  ``--minutes`` start once its first page is open (``first_load``);
- **resources**: the server process tree's RSS (peak and end; psutil), the system CPU %
  sampled every second (mean, p95, share of samples at ≥ 90 % = saturated), the server's
  and the browser's CPU.

``--with-training`` adds a second scenario: ``--training-sessions`` contexts for the same
duration without, then with a training running — by default on the server's own work
queue (one more context opens an untrained demo world, whose first-start training and
ablation the page submits to the queue; the next world follows when one is stored:
:class:`QueuedTraining`), or with ``--training-in process`` a ``python -m recsys train``
subprocess (same demo world, its own output folder, restarted if it finishes early);
reports per-page p50 with and without and the slowdown (ratio).

Without ``--home`` a temporary home gets a small model (4 epochs) trained first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    NOT_RUNNING,
    REPO,
    Server,
    ensure_model,
    featured_users,
    launch_chromium,
    percentile,
    settled,
)

# sidebar label -> the page's title (st.title), the "main content is there" marker
PAGES = [
    ("Home", "RecLens"),
    ("User explorer", "User explorer"),
    ("Recommendations", "Recommendations"),
    ("Fairness lab", "Fairness & diversity lab"),
    ("Long-term lab", "Long-term lab"),
    ("What-if studio", "What-if studio"),
    ("Item view", "Item view"),
    ("Evaluation", "Evaluation"),
    ("Live", "Live"),
]
STEP_TIMEOUT_MS = 300_000
MAX_ADDS = 3

_ARM = """() => {
  window.__rlRan = false;
  if (window.__rlObs) window.__rlObs.disconnect();
  window.__rlObs = new MutationObserver(() => {
    const b = document.querySelector('[data-testid="stApp"]');
    if (b && b.getAttribute('data-test-script-state') === 'running') window.__rlRan = true;
  });
  window.__rlObs.observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""
_TITLE_THERE = """(title) => [...document.querySelectorAll('[data-testid="stMain"] h1')]
  .some(h => h.innerText.includes(title))"""
_ARRIVED = """(title) => {
  const a = document.querySelector('[data-testid="stApp"]');
  if (!a || a.getAttribute('data-test-script-state') !== 'notRunning') return false;
  return [...document.querySelectorAll('[data-testid="stMain"] h1')].some(h => h.innerText.includes(title));
}"""
EDITING = re.compile(r"Editing (.+?) — (?:a copy of user (\S+?)|an empty profile \(cold start\)); (\d+) items\.")


@dataclass
class SessionLog:
    user: str
    settle: dict[str, list[float]] = field(default_factory=dict)
    edits: list[float] = field(default_factory=list)
    first_load_s: float | None = None
    exceptions: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    rounds: int = 0


class Sampler:
    """Samples system CPU %, the server tree's RSS/CPU and the browser tree's CPU/RSS
    every ``every`` seconds in a thread."""

    def __init__(self, server_pid: int, every: float = 1.0):
        import psutil

        self._ps = psutil
        self.server = psutil.Process(server_pid)
        self.me = psutil.Process()
        self.every = every
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._procs: dict[int, Any] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self, root: Any) -> list[Any]:
        try:
            return [root, *root.children(recursive=True)]
        except self._ps.Error:
            return []

    def _cpu_rss(self, procs: list[Any]) -> tuple[float, float]:
        cpu = rss = 0.0
        for p in procs:
            q = self._procs.setdefault(p.pid, p)
            try:
                cpu += q.cpu_percent(None)
                rss += q.memory_info().rss
            except self._ps.Error:
                continue
        return cpu, rss / 2**20

    def _run(self) -> None:
        self._ps.cpu_percent(None)
        while not self._stop.wait(self.every):
            server = self._tree(self.server)
            spids = {p.pid for p in server}
            others = [p for p in self._tree(self.me)[1:] if p.pid not in spids]  # playwright driver + chromium
            s_cpu, s_rss = self._cpu_rss(server)
            b_cpu, b_rss = self._cpu_rss(others)
            self.samples.append({"t": time.time(), "cpu": self._ps.cpu_percent(None), "server_cpu": s_cpu,
                                 "server_rss_mb": s_rss, "browser_cpu": b_cpu, "browser_rss_mb": b_rss})

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        s = self.samples[1:] or self.samples  # the first sample's process CPU has no baseline
        if not s:
            return {}
        cpu = [x["cpu"] for x in s]
        return {
            "samples": len(s),
            "cores": os.cpu_count(),
            "system_cpu_mean_pct": round(sum(cpu) / len(cpu), 1),
            "system_cpu_p95_pct": round(percentile(cpu, 0.95) or 0.0, 1),
            "saturated_share": round(sum(c >= 90 for c in cpu) / len(cpu), 3),
            "server_cpu_mean_pct": round(sum(x["server_cpu"] for x in s) / len(s), 1),
            "browser_cpu_mean_pct": round(sum(x["browser_cpu"] for x in s) / len(s), 1),
            "server_rss_peak_mb": round(max(x["server_rss_mb"] for x in s), 1),
            "server_rss_end_mb": round(s[-1]["server_rss_mb"], 1),
            "browser_rss_peak_mb": round(max(x["browser_rss_mb"] for x in s), 1),
        }


def _nav_link(page: Any, name: str) -> Any:
    return page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]').filter(has_text=name).first


async def _settle_after(page: Any, action: Any, title: str | None) -> float:
    """Seconds from ``action()`` until the script run it caused is over and ``title`` is
    on the page (a run that never starts, e.g. a click on the current page, is fine)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    await page.evaluate(_ARM)
    t0 = time.perf_counter()
    await action()
    if title is not None:
        # a page switch is over once the new page's title is drawn and no run is going on;
        # the run itself may be over before the observer saw it start, so do not wait for it
        await page.wait_for_function(_ARRIVED, arg=title, timeout=STEP_TIMEOUT_MS, polling=50)
        return time.perf_counter() - t0
    try:
        await page.wait_for_function("() => window.__rlRan", timeout=60_000, polling=50)
    except PlaywrightTimeout:
        pass  # the run may have been quick enough to be over before the observer saw it
    await page.wait_for_function(NOT_RUNNING, timeout=STEP_TIMEOUT_MS, polling=100)
    if title is not None:
        await page.wait_for_function(_TITLE_THERE, arg=title, timeout=STEP_TIMEOUT_MS, polling=100)
    return time.perf_counter() - t0


async def _check_page(page: Any, log: SessionLog, others: list[str], where: str) -> str:
    """Errors and isolation on the page as it is now; returns the page's text."""
    n_exc = await page.locator('[data-testid="stException"]').count()
    n_err = await page.locator('[data-testid="stAlertContentError"]').count()
    text = await page.inner_text("body")
    if n_exc or n_err or "Traceback" in text:
        first = ""
        for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
            if await page.locator(sel).count():
                first = (await page.locator(sel).first.inner_text())[:300]
                break
        log.exceptions.append(f"{where}: {n_exc} exception(s), {n_err} error box(es): {first}")
    for o in others:
        if re.search(rf"\buser {re.escape(o)}(?![\w-])", text):
            log.violations.append(f"{where}: names another session's user {o}")
    return text


async def _whatif_edit(page: Any, log: SessionLog, state: dict[str, int], title: str, base: int) -> None:
    """Check the Editing line, then add this session's item (or reset after MAX_ADDS)."""
    async def check(when: str) -> None:
        text = await page.inner_text('[data-testid="stMain"]')
        m = EDITING.search(text)
        want = base + state["adds"]
        if m is None:
            log.violations.append(f"What-if {when}: no 'Editing …' line")
        elif m.group(2) != log.user or int(m.group(3)) != want:
            log.violations.append(f"What-if {when}: shows {m.group(0)!r}, expected user {log.user} with {want} items")

    await check("before the edit")
    if state["adds"] >= MAX_ADDS:
        dt = await _settle_after(page, page.get_by_role("button", name=f"Reset to user {log.user}").click, None)
        state["adds"] = 0
    else:
        box = page.get_by_role("textbox", name="Find an item by title")
        dt = 0.0
        if await box.input_value() != title:  # the same query again would start no run
            await box.fill(title)
            dt = await _settle_after(page, lambda: box.press("Enter"), None)
        if await page.get_by_text("No item title matches").count():
            log.violations.append(f"What-if: the search for {title!r} found nothing")
        add = page.get_by_role("button", name="Add to the end of the history")
        dt += await _settle_after(page, add.click, None)
        state["adds"] += 1
    log.edits.append(dt)
    await check("after the edit")


async def _session(browser: Any, url: str, log: SessionLog, others: list[str], minutes: float, item_title: str,
                   base: int) -> None:
    from playwright.async_api import Error as PlaywrightError

    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await ctx.new_page()
    page.on("pageerror", lambda e: log.js_errors.append(str(e)[:300]))
    state = {"adds": 0}

    async def open_home() -> None:
        t0 = time.perf_counter()
        await page.goto(f"{url}/?user={log.user}", timeout=STEP_TIMEOUT_MS)
        await page.wait_for_selector('[data-testid="stApp"]', timeout=STEP_TIMEOUT_MS)
        await asyncio.sleep(0.3)
        await page.wait_for_function(NOT_RUNNING, timeout=STEP_TIMEOUT_MS, polling=100)
        await page.wait_for_function(_TITLE_THERE, arg="RecLens", timeout=STEP_TIMEOUT_MS, polling=100)
        if log.first_load_s is None:
            log.first_load_s = round(time.perf_counter() - t0, 3)

    try:
        await open_home()
        deadline = time.monotonic() + minutes * 60  # the clicking starts once the session is open
        current = "Home"
        while time.monotonic() < deadline:
            for name, title in PAGES:
                if time.monotonic() >= deadline:
                    break
                if name == current:  # a click on the page shown starts no run
                    continue
                try:
                    current = name
                    dt = await _settle_after(page, _nav_link(page, name).click, title)
                    log.settle.setdefault(name, []).append(dt)
                    text = await _check_page(page, log, others, name)
                    if name == "Recommendations":
                        m = re.search(r"Top \d+ for user (\S+)", text)
                        if m is None or m.group(1) != log.user:
                            log.violations.append(f"Recommendations heading: {m.group(0) if m else 'missing'}")
                    if name == "What-if studio":
                        await _whatif_edit(page, log, state, item_title, base)
                        await _check_page(page, log, others, "What-if studio (edited)")
                except PlaywrightError as e:  # a step timed out or the page broke: note it, start over
                    log.timeouts.append(f"{name}: {str(e).splitlines()[0][:200]}")
                    if time.monotonic() >= deadline:
                        break
                    try:
                        await open_home()
                        current = "Home"
                    except PlaywrightError as e2:
                        log.timeouts.append(f"reopening Home: {str(e2).splitlines()[0][:200]}")
                        return
            log.rounds += 1
    finally:
        await ctx.close()


def _session_items(data: str, users: list[str]) -> tuple[list[str], list[int]]:
    """One item title per session that is unique in the catalogue and in none of the
    sessions' histories (so its add is always one more item), and each user's history length."""
    from recsys.data import load

    ds = load(data)
    hist = {u: ds.history(u) for u in users}
    seen = set().union(*({int(i) for i in h.items} for h in hist.values()))
    lowered = [t.lower() for t in ds.titles]
    titles: list[str] = []
    for i in range(ds.n_items):  # a title no other title contains: its search finds exactly that item
        if len(titles) == len(users):
            break
        t = lowered[i]
        if i not in seen and len(t) >= 8 and sum(t in other for other in lowered) == 1:
            titles.append(ds.titles[i])
    return titles, [len(hist[u]) for u in users]


def run_scenario(url: str, server_pid: int, users: list[str], titles: list[str], bases: list[int],
                 minutes: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    logs = [SessionLog(u) for u in users]

    async def main() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            await asyncio.gather(*(
                _session(browser, url, log, [u for u in users if u != log.user], minutes, titles[i], bases[i])
                for i, log in enumerate(logs)))
            await browser.close()

    sampler = Sampler(server_pid).start()
    t0 = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - t0
    res = sampler.stop()
    return _report(logs, wall, res)


def _first_load(url: str, user: str) -> float:
    """One page load (Home, then Recommendations: data, model and the first explanation
    in the server's caches) before the scenarios, so they measure the steady state."""
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    with sync_playwright() as p:
        b = launch_chromium(p)
        page = b.new_page()
        for path in ("", "recommendations"):
            page.goto(f"{url}/{path}?user={user}", timeout=STEP_TIMEOUT_MS)
            time.sleep(0.5)
            settled(page, STEP_TIMEOUT_MS / 1000)
        b.close()
    return round(time.perf_counter() - t0, 2)


def _stats(xs: list[float]) -> dict[str, Any]:
    return {"n": len(xs), "p50_s": _r(percentile(xs, 0.5)), "p95_s": _r(percentile(xs, 0.95)),
            "max_s": _r(max(xs) if xs else None)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _report(logs: list[SessionLog], wall: float, resources: dict[str, Any]) -> dict[str, Any]:
    pages: dict[str, dict[str, Any]] = {}
    everything: list[float] = []
    for name, _ in PAGES:
        xs = [x for log in logs for x in log.settle.get(name, [])]
        everything += xs
        pages[name] = _stats(xs)
    edits = [x for log in logs for x in log.edits]
    return {
        "sessions": len(logs),
        "wall_s": round(wall, 1),
        "page_settle": pages,
        "overall_settle": _stats(everything),
        "whatif_edit_settle": _stats(edits),
        "first_load": _stats([log.first_load_s for log in logs if log.first_load_s is not None]),
        "rounds_per_session": [log.rounds for log in logs],
        "page_visits": len(everything),
        "exceptions": sum(len(log.exceptions) for log in logs),
        "isolation_violations": sum(len(log.violations) for log in logs),
        "js_errors": sum(len(log.js_errors) for log in logs),
        "timeouts": sum(len(log.timeouts) for log in logs),
        "details": {log.user: {"exceptions": log.exceptions[:10], "violations": log.violations[:10],
                               "js_errors": log.js_errors[:5], "timeouts": log.timeouts[:5]}
                    for log in logs if log.exceptions or log.violations or log.js_errors or log.timeouts},
        "resources": resources,
    }


class Training:
    """``python -m recsys train`` on ``data`` into its own folder, restarted when it ends."""

    def __init__(self, data: str, work: Path, env: dict[str, str]):
        self.data, self.work, self.env = data, work, env
        self.runs = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "recsys", "train", "--data", self.data, "--out", str(self.work / "model"),
                 "--epochs", "500", "--no-ablation", "--no-progress"],
                cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.runs += 1
            while self._proc.poll() is None and not self._stop.wait(0.5):
                pass

    def __enter__(self) -> Training:
        self._thread.start()
        time.sleep(5)  # let it get past its imports into the epochs
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._thread.join()


class QueuedTraining:
    """A training on the server's own work queue: one more browser context opens an
    untrained demo world (``demo:users=U,items=I,seed=S``, inside the first-start
    limit), so the page submits its first-start training (and then its no-text
    ablation) to the server's queue; once the world's model is stored the next seed is
    opened, so the queue stays busy for the whole scenario."""

    def __init__(self, url: str, home: Path, users: int = 1500, items: int = 600):
        self.url, self.home, self.users, self.items = url, home, users, items
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.error: str | None = None

    def _models(self) -> int:
        return len(list((self.home / "models").glob("*/manifest.json")))

    def _loop(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_context().new_page()
                seed = 1000
                while not self._stop.is_set():
                    before = self._models()
                    page.goto(f"{self.url}/?data=demo:users={self.users},items={self.items},seed={seed}",
                              wait_until="domcontentloaded")
                    self.runs += 1
                    while not self._stop.wait(1.0) and self._models() <= before:
                        pass
                    seed += 1
                browser.close()
        except Exception as e:  # noqa: BLE001 - reported in the results, never hidden
            self.error = f"{type(e).__name__}: {e}"

    def __enter__(self) -> QueuedTraining:
        self._thread.start()
        time.sleep(20)  # the world is generated and its training submitted and under way
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default="demo")
    ap.add_argument("--home", default=None, help="a RecLens home with a trained model (default: a temporary one)")
    ap.add_argument("--sessions", type=int, default=10, help="browser contexts at once (0: skip; default 10)")
    ap.add_argument("--minutes", type=float, default=5.0, help="duration of each scenario (default 5)")
    ap.add_argument("--with-training", action="store_true", help="also: sessions without vs with a training job")
    ap.add_argument("--training-sessions", type=int, default=2)
    ap.add_argument("--training-in", choices=("queue", "process"), default="queue",
                    help="the training: a first-start training on the server's work queue (default) or a "
                         "separate `python -m recsys train` process")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sessions.json"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="reclens-sessions-"))
    home = tmp / "home" if args.home is None else Path(args.home).resolve()
    ensure_model(home, args.data)
    n_users = max(args.sessions, args.training_sessions if args.with_training else 0)
    users = featured_users(args.data)[:n_users]
    titles, bases = _session_items(args.data, users)
    env = {"RECSYS_HOME": str(home), "RECSYS_DATA": args.data, "PYTHONPATH": str(REPO)}
    out: dict[str, Any] = {"data": args.data, "minutes": args.minutes, "cpu_count": os.cpu_count(),
                           "loadavg_before": [round(x, 2) for x in os.getloadavg()], "users": users}
    try:
        with Server(env, tmp / "streamlit.log") as srv:
            srv.wait_healthy()
            out["server_first_load_s"] = _first_load(srv.url, users[0])  # data + model into the server's cache
            if args.sessions > 0:
                print(f"{args.sessions} sessions for {args.minutes} min …", flush=True)
                out["main"] = run_scenario(srv.url, srv.proc.pid, users[: args.sessions], titles, bases,
                                           args.minutes)
                print(json.dumps({k: v for k, v in out["main"].items() if k != "details"}), flush=True)
            if args.with_training:
                n = args.training_sessions
                print(f"{n} sessions for {args.minutes} min without training …", flush=True)
                without = run_scenario(srv.url, srv.proc.pid, users[:n], titles, bases, args.minutes)
                print(f"{n} sessions for {args.minutes} min while a training runs ({args.training_in}) …",
                      flush=True)
                job: Training | QueuedTraining
                if args.training_in == "queue":
                    job = QueuedTraining(srv.url, home)
                else:
                    job = Training(args.data, tmp / "train",
                                   {**os.environ, "RECSYS_HOME": str(tmp / "train-home"), "PYTHONPATH": str(REPO)})
                with job:
                    during = run_scenario(srv.url, srv.proc.pid, users[:n], titles, bases, args.minutes)
                slow = {}
                for name, _ in PAGES + [("overall", "")]:
                    a = (without["overall_settle"] if name == "overall" else without["page_settle"][name])["p50_s"]
                    b = (during["overall_settle"] if name == "overall" else during["page_settle"][name])["p50_s"]
                    slow[name] = round(b / a, 2) if a and b else None
                out["training"] = {"sessions": n, "without": without, "with": during, "training_in": args.training_in,
                                   "training_runs": job.runs, "training_error": getattr(job, "error", None),
                                   "p50_slowdown": slow}
                print(json.dumps({"p50_slowdown": slow}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    bad = sum(out.get(s, {}).get(k, 0) for s in ("main",) for k in ("exceptions", "isolation_violations"))
    if "training" in out:
        bad += sum(out["training"][w][k] for w in ("without", "with") for k in ("exceptions", "isolation_violations"))
    print(f"wrote {args.out}; exceptions + isolation violations: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
