"""Page settle times of the dashboard in a real browser.

Starts ``streamlit run app.py`` on a free port (data from ``--data``, artifacts under
``--home``; the model must already be trained there, or the first page trains it) and
drives /usr/bin/chromium with Playwright. For every page: open it with ``?user=U``
(first visit: loads data/model into the cache), then reload three times; the median of
the reloads is the *cached* settle time of a fresh browser load (a reload is a new
Streamlit session; the p95 of the reloads is reported beside it). Then the same pages are
reached by clicking the sidebar navigation (same session, no reload) — the usual way to
move between pages. Settle = from the action until the script run it started is over
(a mutation observer sees the state turn ``running``, then we wait for ``notRunning``).

    .venv/bin/python benchmarks/bench_pages.py --data demo [--user U] [--home artifacts] [--json out.json]

Also measures an interaction: moving the diversity slider on the Fairness lab page.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
PAGES = {
    "Home": "",
    "User explorer": "user_explorer",
    "Recommendations": "recommendations",
    "Fairness lab": "fairness_lab",
    "What-if studio": "whatif_studio",
    "Item view": "item_view",
    "Evaluation": "evaluation",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settle(page, timeout_s: float = 600) -> float:
    t0 = time.perf_counter()
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=timeout_s * 1000, polling=20,
    )
    return time.perf_counter() - t0


_ARM = """() => {
  const a = document.querySelector('[data-testid="stApp"]');
  window.__rlRan = false;
  if (window.__rlObs) window.__rlObs.disconnect();
  window.__rlObs = new MutationObserver(() => {
    const b = document.querySelector('[data-testid="stApp"]');
    if (b && b.getAttribute('data-test-script-state') === 'running') window.__rlRan = true;
  });
  window.__rlObs.observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""


def _settle_after(page, action, timeout_s: float = 600) -> float:
    """Seconds from ``action()`` until a script run it caused has finished: a mutation
    observer armed before the action sees the script state turn ``running``, then we
    wait for ``notRunning`` (without it, a run that has not started yet looks settled)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(_ARM)
    t0 = time.perf_counter()
    action()
    try:  # an action that starts no run (e.g. a slider already at its end) is not timed
        page.wait_for_function("() => window.__rlRan", timeout=10_000, polling=10)
    except PlaywrightTimeout:
        return float("nan")
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=timeout_s * 1000, polling=10,
    )
    return time.perf_counter() - t0


def _median(xs: list[float]) -> float | None:
    """Median of the timed actions (those that started no run are left out), or None."""
    ok = [x for x in xs if x == x]
    return round(statistics.median(ok), 3) if ok else None


def _p95(xs: list[float]) -> float:
    """95th percentile (linear interpolation; with few reloads it is close to the maximum)."""
    ys = sorted(xs)
    pos = 0.95 * (len(ys) - 1)
    lo = int(pos)
    return ys[lo] + (ys[min(lo + 1, len(ys) - 1)] - ys[lo]) * (pos - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="demo")
    ap.add_argument("--home", default=str(REPO / "artifacts"))
    ap.add_argument("--user", default=None, help="default: the data's first featured user")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-nav", action="store_true", help="only the page loads (no sidebar navigation, no slider)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--pages", nargs="+", default=None, metavar="NAME",
                    help="only these pages, in this order (names as in the sidebar, e.g. Home 'Fairness lab')")
    ap.add_argument("--screenshots", default=None, help="directory for one PNG per page (e.g. docs/screenshots)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    os.environ["RECSYS_HOME"] = args.home
    sys.path.insert(0, str(REPO))
    from recsys.data import load

    ds = load(args.data)
    user = args.user
    if user is None:
        truth = ds.truth
        user = truth.featured_users()[0] if truth is not None else ds.user_ids[0]
    port = _free_port()
    env = dict(os.environ, RECSYS_HOME=args.home, RECSYS_DATA=args.data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = b.new_page(viewport={"width": 1440, "height": 1000})
            for name, path in PAGES.items() if not args.pages else [(n, PAGES[n]) for n in args.pages]:
                page.goto(f"{url}/{path}?user={user}")
                first = _settle(page)
                again = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    page.reload()
                    _settle(page)
                    again.append(time.perf_counter() - t0)
                if args.screenshots:
                    Path(args.screenshots).mkdir(parents=True, exist_ok=True)
                    page.wait_for_timeout(2000)
                    fname = name.lower().replace(" ", "_").replace("-", "_") + ".png"
                    page.screenshot(path=str(Path(args.screenshots) / fname))
                exc = page.locator('[data-testid="stException"]').count()
                results[name] = {"first_s": round(first, 3), "cached_median_s": round(statistics.median(again), 3),
                                 "cached_p95_s": round(_p95(again), 3), "cached_all_s": [round(x, 3) for x in again],
                                 "exceptions": exc}
                print(f"{name:16s} first {first:6.2f} s   cached median {statistics.median(again):5.2f} s"
                      + (f"   EXCEPTIONS {exc}" if exc else ""), flush=True)
            # in-app navigation (sidebar link, same session, no page reload): the usual way
            # analysts move between pages
            if args.no_nav:
                b.close()
                return _write(args, user, results)
            page.goto(f"{url}/?user={user}")
            _settle(page)
            nav = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink"] a')
            for name in PAGES:
                times = []
                for _ in range(args.repeats):
                    link = nav.filter(has_text=name).first
                    if name != "Home":
                        nav.filter(has_text="Home").first.click()
                        _settle(page)
                    times.append(_settle_after(page, link.click))
                results[name]["nav_median_s"] = _median(times)
                print(f"{name:16s} sidebar navigation median {_median(times)} s", flush=True)
            # interaction: one slider step on the lab page (fragment rerun)
            page.goto(f"{url}/fairness_lab?user={user}")
            _settle(page)
            slider = page.get_by_role("slider").nth(1)
            steps = []
            for _ in range(args.repeats):
                slider.focus()
                steps.append(_settle_after(page, lambda: page.keyboard.press("ArrowRight")))
            results["Lab slider step"] = {"cached_median_s": _median(steps)}
            print(f"{'Lab slider step':16s} median {_median(steps)} s", flush=True)
            b.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return _write(args, user, results)


def _write(args: argparse.Namespace, user: str, results: dict) -> int:
    out = {"data": args.data, "user": user, "pages": results}
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
