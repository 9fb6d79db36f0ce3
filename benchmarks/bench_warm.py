"""The first explanation after a restart, with shap's compiled code cold vs in the cache.

    .venv/bin/python benchmarks/bench_warm.py [--data demo] [--home DIR] [--repeats 3]
        [--skip-app] [--out benchmarks/results/warm.json]

shap's numba functions are kept in ``$RECSYS_HOME/cache/numba`` (explain.jitcache).
"cold" deletes that folder before the run (a first start on a machine), "warm" runs with
what the previous run left there (every later start). Runs alternate cold, warm, … so
both see the same machine load. Three measurements, each in fresh processes:

- **parts**: one Python process doing what the first explanation needs, timed step by
  step — import torch, load the data, load the model (imports transformers), import
  numba+shap (and turn the cache on), import lime, ``warm_up()`` (JIT compile or cache
  load), the first explanation, a second one;
- **cli**: ``python -m recsys explain --data D --user U --item I --json`` — wall time of
  the process and the reported ``warmup_ms`` / ``load_ms`` / ``elapsed_ms``;
- **app**: ``streamlit run app.py`` and one headless Chromium tab opening
  ``/recommendations?user=U`` as soon as the server answers; time from spawning the
  server to the explanation panel's "SHAP–LIME agreement" on screen.

Without ``--home`` a temporary home gets a small model (4 epochs) trained first.
The explained user is the data's first featured user, the item its top recommendation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app import REPO, Server, ensure_model, featured_users, launch_chromium, settled  # noqa: E402

PROBE = r"""
import json, sys, time
data, user = sys.argv[1], sys.argv[2]
T, t = {}, [time.perf_counter()]
def lap(name):
    now = time.perf_counter(); T[name] = round((now - t[0]) * 1000, 1); t[0] = now
import torch
torch.set_num_threads(1)
lap("import_torch_ms")
from recsys.data import load
ds = load(data)
lap("load_data_ms")
from recsys.models.transformer import TransformerRecommender
from recsys.paths import default_model_dir
model = TransformerRecommender.load(default_model_dir(ds), ds)
lap("load_model_ms")
from explain import jitcache
info = jitcache.enable()
lap("import_shap_ms")
import lime.lime_base
lap("import_lime_ms")
from explain import explain_item, warm_up
warm_up()
lap("warm_up_ms")
from recsys.models.base import recommend
h = ds.history(user)
item = int(recommend(model, h.items, 10, h.timestamps).items[0])
e = explain_item(ds, model, h, item, method="shap", k=10, cache=None)
lap("first_explanation_ms")
explain_item(ds, model, h, item, method="shap", k=10, cache=None)
lap("second_explanation_ms")
T["cached_functions"] = info["functions"]
T["item"] = ds.item_ids[item]
print(json.dumps(T))
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(REPO), RECSYS_HOME=str(home), OMP_NUM_THREADS="1")
    env.pop("RECSYS_DEBUG", None)
    return env


def _clear(home: Path) -> None:
    shutil.rmtree(home / "cache" / "numba", ignore_errors=True)


def run_parts(home: Path, data: str, user: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, data, user], cwd=REPO, env=_env(home), capture_output=True,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["process_wall_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    return out


def run_cli(home: Path, data: str, user: str, item: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "recsys", "explain", "--data", data, "--user", user, "--item", item,
                        "--method", "shap", "--json"], cwd=REPO, env=_env(home), capture_output=True, text=True,
                       timeout=1800)
    wall = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return {"wall_ms": round(wall, 1), "warmup_ms": j["warmup_ms"], "load_ms": j["load_ms"],
            "elapsed_ms": j["elapsed_ms"], "total_ms": j["total_ms"]}


def run_app(browser: Any, home: Path, data: str, user: str, log: Path) -> dict[str, Any]:
    env = _env(home)
    env.update(RECSYS_DATA=data)
    with Server(env, log) as srv:
        healthy = srv.wait_healthy()
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{srv.url}/recommendations?user={user}")
        page.get_by_role("heading", name=f"Top 10 for user {user}").wait_for(timeout=900_000)
        listed = time.perf_counter() - srv.started
        page.get_by_text("SHAP–LIME agreement").first.wait_for(timeout=900_000)
        shown = time.perf_counter() - srv.started
        settled(page, 900)
        exc = page.locator('[data-testid="stException"]').count()
        ctx.close()
    return {"server_healthy_s": round(healthy, 2), "list_shown_s": round(listed, 2),
            "explanation_shown_s": round(shown, 2), "exceptions": exc}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if isinstance(runs[0][k], (int, float)) and not isinstance(runs[0][k], bool)]
    return {k: {"median": round(statistics.median(r[k] for r in runs), 1), "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs)} for k in keys}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default="demo")
    ap.add_argument("--home", default=None, help="a RecLens home with a trained model (default: a temporary one)")
    ap.add_argument("--repeats", type=int, default=3, help="cold/warm pairs per measurement (default 3)")
    ap.add_argument("--skip-app", action="store_true", help="no browser measurement")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "warm.json"))
    args = ap.parse_args()

    tmp = None
    if args.home is None:
        tmp = Path(tempfile.mkdtemp(prefix="reclens-warm-"))
        home = tmp / "home"
    else:
        home = Path(args.home).resolve()
    ensure_model(home, args.data)
    user = featured_users(args.data)[0]
    load_before = os.getloadavg()
    res: dict[str, Any] = {"data": args.data, "user": user, "repeats": args.repeats, "cpu_count": os.cpu_count(),
                           "loadavg_before": [round(x, 2) for x in load_before]}
    try:
        parts: dict[str, list] = {"cold": [], "warm": []}
        cli: dict[str, list] = {"cold": [], "warm": []}
        app: dict[str, list] = {"cold": [], "warm": []}
        item = None
        for _ in range(args.repeats):
            for kind in ("cold", "warm"):
                if kind == "cold":
                    _clear(home)
                r = run_parts(home, args.data, user)
                item = r.pop("item")
                parts[kind].append(r)
                print(f"parts {kind}: {r}", flush=True)
        assert item is not None
        res["item"] = item
        for _ in range(args.repeats):
            for kind in ("cold", "warm"):
                if kind == "cold":
                    _clear(home)
                r = run_cli(home, args.data, user, item)
                cli[kind].append(r)
                print(f"cli {kind}: {r}", flush=True)
        if not args.skip_app:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = launch_chromium(p)
                for i in range(args.repeats):
                    for kind in ("cold", "warm"):
                        if kind == "cold":
                            _clear(home)
                        r = run_app(browser, home, args.data, user, home.parent / f"streamlit-warm-{kind}-{i}.log")
                        app[kind].append(r)
                        print(f"app {kind}: {r}", flush=True)
                browser.close()
        for name, runs in (("parts", parts), ("cli", cli), ("app", app)):
            if runs["cold"]:
                res[name] = {kind: {"runs": runs[kind], "summary": _summary(runs[kind])} for kind in runs}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in res.items() if k not in ("parts", "cli", "app")}))
    for name in ("parts", "cli", "app"):
        if name in res:
            for kind in ("cold", "warm"):
                print(name, kind, {k: v["median"] for k, v in res[name][kind]["summary"].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
