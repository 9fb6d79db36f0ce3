"""The transformer recommender on MovieLens: quality (3 seeds) and training cost.

    .venv/bin/python benchmarks/bench_model.py [--data DIR] [--seeds 3] [--parallel 1]
        [--threads 1] [--min-count N] [--user-fraction F] [--epochs N] [--no-ablation]
        [--tie-order hash|id]
        [--set KEY=VALUE ...] [--write FILE] [--seed-dir DIR] [--json]

``--data`` defaults to ML-100K; a MovieLens "latest" directory works too
(ml-latest-small with ``--min-count 5`` is the issue's second benchmark; the bar and
published anchors printed follow the directory's layout).

``--user-fraction 0.5`` runs the same protocol on a seeded random half of the users (a
sparser world in which items have half the interactions — nearer ml-latest-small's
~27 interactions per item than ML-100K's ~60).

``--set`` overrides a model configuration default (e.g. ``--set dropout=0.3``);
``--write`` stores the full result as JSON (the committed table is
``benchmarks/results/model_ml100k.json``, written by the default 3-seed run with
``--write benchmarks/results/model_ml100k.json``; the current file was assembled from
single-seed workers with the same code path — its ``run_note`` says how).

Each seed trains the transformer and its no-text ablation on the leave-one-out
training split (early stopping on validation NDCG@10) and evaluates on the test
targets with full ranking (the protocol in docs/ARCHITECTURE.md). Prints test NDCG@10 / HR@10 / MRR@10 as
mean ± std over seeds beside the baselines, the wall and CPU seconds of every
training, epochs, peak RSS, and the machine load (the CPU is shared: wall time under
contention overstates the cost; CPU seconds of a 1-thread run are the better proxy).
Seeds run in worker subprocesses (``--parallel`` at a time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

KEYS = ("ndcg@10", "hr@10", "mrr@10", "ndcg@5", "hr@5")
BEYOND = ("coverage@10", "long_tail_share", "avg_popularity", "ild@10")
DEEP_KS = (50, 200)  # 200 = the Fairness lab's candidate pool
DEEP_KEYS = (*(f"{m}@{k}" for k in DEEP_KS for m in ("hr", "ndcg")), "mean_log_rank")
COLD_KEYS = tuple(f"{m}@{k}_{w}" for w in ("cold", "warm") for k in (10, 50) for m in ("ndcg", "hr"))
# the bars and published anchors (test NDCG@10 / HR@10, this protocol)
ANCHORS = {
    "ml-100k": {
        "target": {"ndcg@10": 0.105},
        "reference": {"recbole_sasrec": {"ndcg@10": 0.102, "hr@10": 0.195},
                      "plain_sasrec_calibration": {"ndcg@10": 0.085}},
    },
    # LlamaRec paper, ml-latest-small (2018 release) 5-core: 610 users, 3,650 items
    "ml-latest-small": {
        "target": {"ndcg@10": 0.0705},
        "reference": {"sasrec": {"ndcg@10": 0.0522}, "lrurec": {"ndcg@10": 0.0705},
                      "llamarec": {"ndcg@10": 0.0759}},
    },
}  # fmt: skip


def anchors_for(data: str) -> dict[str, Any]:
    """The bar and anchors of a MovieLens directory by its layout (``u.data``:
    ML-100K; ``ratings.csv`` + ``movies.csv`` of about 100k ratings: ml-latest-small);
    empty for anything else."""
    d = Path(data)
    if (d / "u.data").is_file():
        return ANCHORS["ml-100k"]
    ratings = d / "ratings.csv"
    if ratings.is_file() and (d / "movies.csv").is_file() and ratings.stat().st_size < 10_000_000:
        return ANCHORS["ml-latest-small"]
    return {}


def default_data() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def _say(msg: str) -> None:
    print(f"[bench_model] {msg}", file=sys.stderr, flush=True)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> config overrides (values parsed as JSON when possible)."""
    out: dict[str, Any] = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, not {it!r}")
        try:
            out[key.strip()] = json.loads(val)
        except json.JSONDecodeError:
            out[key.strip()] = val
    return out


# how the evaluated world is derived from the data (None = not applied); every key is
# also a command-line option (--min-count, --user-fraction, ...)
WORLD_DEFAULTS: dict[str, Any] = {"min_count": None, "user_fraction": None, "user_sample_seed": 0,
                                  "cold_items": None, "cold_seed": 0, "tie_order": "hash"}


def load_world(data: str, min_count: int | None = None, user_fraction: float | None = None,
               user_sample_seed: int = 0, cold_items: float | None = None, cold_seed: int = 0,
               tie_order: str = "hash"):
    """``(dataset, cold)``: the dataset, optionally a random ``user_fraction`` of its users
    drawn with ``user_sample_seed`` (a sparser world: items have fewer interactions),
    then ``min_count``-core filtered, then optionally a new-item world in which a random
    ``cold_items`` fraction of the items (drawn with ``cold_seed``) appear only as test
    targets (``cold`` marks them; None without ``cold_items``). ``tie_order`` orders a
    user's same-second interactions (``hash``, the protocol; ``id`` for results before tie
    keys — the results files without a ``tie_order`` were measured under ``id``)."""
    from recsys.data import filter_min_count, load, sample_users
    from recsys.evaluation import cold_item_world

    if not user_fraction or user_fraction >= 1:
        ds = load(data, min_count=min_count, tie_order=tie_order)
    else:
        ds = sample_users(load(data, tie_order=tie_order), user_fraction, seed=user_sample_seed)
        ds = filter_min_count(ds, min_count) if min_count else ds
    if cold_items:
        return cold_item_world(ds, cold_items, seed=cold_seed)
    return ds, None


def cold_metrics(ranks: list[int], targets_cold: list[bool]) -> dict[str, Any]:
    """Accuracy on the users whose test item is a cold (never seen) item and on the rest."""
    import numpy as np

    from recsys.evaluation import ndcg_of_ranks

    r, c = np.asarray(ranks), np.asarray(targets_cold, dtype=bool)
    out: dict[str, Any] = {}
    for name, sel in (("cold", c), ("warm", ~c)):
        out[f"users_{name}"] = int(sel.sum())
        for k in (10, 50):
            out[f"ndcg@{k}_{name}"] = float(ndcg_of_ranks(r[sel], k).mean()) if sel.any() else 0.0
            out[f"hr@{k}_{name}"] = float((r[sel] <= k).mean()) if sel.any() else 0.0
    return out


def worker(data: str, seed: int, threads: int, epochs: int | None, ablation: bool,
           overrides: dict[str, Any] | None = None, world: dict[str, Any] | None = None,
           ablation_only: bool = False) -> dict[str, Any]:
    """Train + evaluate one seed in this process."""
    import torch

    from recsys.evaluation import evaluate_scorer, leave_one_out, score_ranks
    from recsys.text import item_embeddings
    from recsys.train import fit_transformer, make_config

    torch.set_num_threads(threads)
    ds, cold = load_world(data, **(world or {}))
    split = leave_one_out(ds)
    t0 = time.perf_counter()
    te = item_embeddings(ds)
    text_seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"seed": seed, "text_seconds": round(text_seconds, 1), "users": ds.n_users,
                           "items": ds.n_items, "interactions": ds.n_interactions, "models": {}}
    variants = [("transformer", True)] + ([("transformer_no_text", False)] if ablation else [])
    if ablation_only:  # completes an earlier --no-ablation run of this seed
        variants = [("transformer_no_text", False)]
    for name, use_text in variants:
        cfg = make_config(**{**(overrides or {}), "use_text": use_text})
        w0, c0 = time.perf_counter(), time.process_time()

        def progress(f: float, msg: str, name: str = name) -> None:
            if "valid" in msg:
                _say(f"seed {seed} {name}: {msg}")

        model = fit_transformer(ds, split, te, cfg, seed=seed, epochs=epochs, progress=progress)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        test = evaluate_scorer(model, ds, split, "test", text_emb=te, groups=True)
        ranks, _ = score_ranks(model, split, "test")
        out["models"][name] = {
            **{k: float(test[k]) for k in KEYS},
            **{k: float(test[k]) for k in BEYOND if k in test},
            "ndcg@10_by_target_pop": test["ndcg@10_by_target_pop"],
            "users_by_target_pop": test["users_by_target_pop"],
            "test_ranks": ranks.tolist(),
            "valid_ndcg@10": float(model.log.best_valid_ndcg),
            "epochs": model.log.epochs,
            "best_epoch": model.log.best_epoch,
            "train_wall_seconds": round(wall, 1),
            "train_cpu_seconds": round(cpu, 1),
        }
        if cold is not None:
            out["models"][name].update(cold_metrics(ranks.tolist(), cold[split.test_target].tolist()))
        _say(f"seed {seed} {name}: test NDCG@10 {test['ndcg@10']:.4f} HR@10 {test['hr@10']:.4f} "
             f"({model.log.epochs} epochs, {wall:.0f} s wall, {cpu:.0f} s CPU)")
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["config"] = asdict(make_config(**(overrides or {})))
    return out


def _mean_std(xs: list[float]) -> tuple[float, float]:
    import numpy as np

    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def paired_text_effect(results: list[dict[str, Any]], n_boot: int = 2000) -> dict[str, Any]:
    """Text minus no-text test NDCG@10, paired by user within each seed (same split, same
    targets): the mean difference, per seed, per target-popularity bucket, and a 95%
    bootstrap interval over (seed, user) pairs resampled within seeds."""
    import numpy as np

    from recsys.evaluation import ndcg_of_ranks, paired_bootstrap_ci

    text = [ndcg_of_ranks(np.asarray(r["models"]["transformer"]["test_ranks"]), 10) for r in results]
    plain = [ndcg_of_ranks(np.asarray(r["models"]["transformer_no_text"]["test_ranks"]), 10) for r in results]
    diffs = [a - b for a, b in zip(text, plain)]
    effect = paired_bootstrap_ci(text, plain, n_resamples=n_boot, seed=0)
    by_bucket = {}
    for b in results[0]["models"]["transformer"]["ndcg@10_by_target_pop"]:
        by_bucket[b] = float(np.mean([r["models"]["transformer"]["ndcg@10_by_target_pop"][b]
                                      - r["models"]["transformer_no_text"]["ndcg@10_by_target_pop"][b]
                                      for r in results]))
    return {
        "ndcg@10_diff": float(np.mean([d.mean() for d in diffs])),
        "ndcg@10_diff_ci95": [effect.low, effect.high],
        "per_seed": [float(d.mean()) for d in diffs],
        "hr@50_diff_per_seed": [
            float((np.asarray(r["models"]["transformer"]["test_ranks"]) <= 50).mean()
                  - (np.asarray(r["models"]["transformer_no_text"]["test_ranks"]) <= 50).mean())
            for r in results],
        "users_better": int(sum(int((d > 0).sum()) for d in diffs)),
        "users_worse": int(sum(int((d < 0).sum()) for d in diffs)),
        "by_target_pop": by_bucket,
    }


def baselines(data: str, world: dict[str, Any] | None = None) -> dict[str, dict[str, float]]:
    from recsys.evaluation import baseline_scorers, evaluate_scorer, leave_one_out, score_ranks
    from recsys.text import item_embeddings

    ds, cold = load_world(data, **(world or {}))
    split = leave_one_out(ds)
    out = {}
    for name, fit in baseline_scorers(item_embeddings(ds)):
        m = fit(split)
        r = evaluate_scorer(m, ds, split, "test", groups=True)
        out[name] = {k: float(r[k]) for k in (*KEYS, *BEYOND) if k in r}
        out[name]["ndcg@10_by_target_pop"] = r["ndcg@10_by_target_pop"]
        out[name]["users_by_target_pop"] = r["users_by_target_pop"]
        if cold is not None:
            ranks, _ = score_ranks(m, split, "test")
            out[name].update(cold_metrics(ranks.tolist(), cold[split.test_target].tolist()))
    return out


def deep_metrics(ranks: list[int]) -> dict[str, float]:
    """HR/NDCG deeper than the top-10, from the stored test ranks: the re-ranker of the
    Fairness lab draws from the model's top-200, so how well a model ranks the target
    beyond the first page matters too."""
    import numpy as np

    from recsys.evaluation import ndcg_of_ranks

    r = np.asarray(ranks)
    out = {f"{m}@{k}": float(v) for k in DEEP_KS
           for m, v in (("hr", (r <= k).mean()), ("ndcg", ndcg_of_ranks(r, k).mean()))}
    out["mean_log_rank"] = float(np.log(r).mean())
    return out


def summarise(results: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """(mean ± std over seeds of every model's metrics, paired text-vs-no-text effect)."""
    results.sort(key=lambda r: r["seed"])
    for r in results:
        for m in r["models"].values():
            if "test_ranks" in m:
                m.update(deep_metrics(m["test_ranks"]))
    table: dict[str, dict[str, Any]] = {}
    for name in results[0]["models"]:
        row: dict[str, Any] = {}
        for k in (*KEYS, "valid_ndcg@10", "epochs", "train_wall_seconds", "train_cpu_seconds"):
            m, s = _mean_std([r["models"][name][k] for r in results])
            row[k], row[f"{k}_std"] = m, s
        for k in (*BEYOND, *DEEP_KEYS, *COLD_KEYS):
            if all(k in r["models"][name] for r in results):
                row[k], row[f"{k}_std"] = _mean_std([r["models"][name][k] for r in results])
        buckets = results[0]["models"][name]["ndcg@10_by_target_pop"]
        row["ndcg@10_by_target_pop"] = {
            b: _mean_std([r["models"][name]["ndcg@10_by_target_pop"].get(b, 0.0) for r in results])[0]
            for b in buckets}
        row["users_by_target_pop"] = results[0]["models"][name]["users_by_target_pop"]
        for k in ("users_cold", "users_warm"):  # the same world in every seed
            if k in results[0]["models"][name]:
                row[k] = results[0]["models"][name][k]
        table[name] = row
    paired = paired_text_effect(results) if "transformer_no_text" in results[0]["models"] else None
    return table, paired


def borrow_ablation(r: dict[str, Any], ref: dict[str, Any]) -> None:
    """Copy ``ref``'s no-text ablation runs into ``r``'s seeds (same data, world, seeds)."""
    for k in ("data", "users", "items", "interactions", *WORLD_DEFAULTS):
        same = (lambda x, y: Path(x).resolve() == Path(y).resolve()) if k == "data" else (lambda x, y: x == y)
        if k in r and k in ref and not same(r[k], ref[k]):
            raise SystemExit(f"--ablation-from: {k} differs ({r.get(k)!r} vs {ref.get(k)!r})")
    by_seed = {x["seed"]: x for x in ref["per_seed"]}
    for x in r["per_seed"]:
        if x["seed"] not in by_seed or "transformer_no_text" not in by_seed[x["seed"]]["models"]:
            raise SystemExit(f"--ablation-from: no ablation run for seed {x['seed']}")
        x["models"]["transformer_no_text"] = by_seed[x["seed"]]["models"]["transformer_no_text"]


def run_key(data: str, threads: int, epochs: int | None, ablation: bool, overrides: dict[str, Any],
            world: dict[str, Any]) -> str:
    """Short hash of everything a seed's result depends on (names its file in --seed-dir)."""
    import hashlib

    from recsys.models.transformer import TransformerConfig

    what = {"data": str(Path(data).resolve()), "threads": threads, "epochs": epochs, "ablation": ablation,
            "config": dataclasses.asdict(TransformerConfig(**overrides)), "world": world}
    return hashlib.blake2b(json.dumps(what, sort_keys=True).encode(), digest_size=6).hexdigest()


def run(data: str | None = None, seeds: int = 3, parallel: int = 1, threads: int = 1,
        epochs: int | None = None, ablation: bool = True, overrides: dict[str, Any] | None = None,
        world: dict[str, Any] | None = None, seed_dir: str | None = None) -> dict[str, Any]:
    data = data or default_data()
    world = {k: v for k, v in (world or {}).items() if v is not None and v != WORLD_DEFAULTS[k]}
    key = run_key(data, threads, epochs, ablation, overrides or {}, world)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(seed_dir or tmp)
        where.mkdir(parents=True, exist_ok=True)
        done = {s: where / f"seed{s}-{key}.json" for s in range(seeds)}
        results = [json.loads(f.read_text()) for f in done.values() if f.exists()]  # resumed
        pending = [s for s, f in done.items() if not f.exists()]
        running: list[tuple[int, subprocess.Popen, Path]] = []
        while pending or running:
            while pending and len(running) < max(parallel, 1):
                s = pending.pop(0)
                f = done[s]
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(s), "--out", str(f),
                       "--data", data, "--threads", str(threads)]
                if epochs is not None:
                    cmd += ["--epochs", str(epochs)]
                for k, v in world.items():
                    cmd += [f"--{k.replace('_', '-')}", str(v)]
                if not ablation:
                    cmd.append("--no-ablation")
                for k, v in (overrides or {}).items():
                    cmd += ["--set", f"{k}={json.dumps(v)}"]
                running.append((s, subprocess.Popen(cmd), f))
            time.sleep(2)
            for item in list(running):
                s, p, f = item
                if p.poll() is not None:
                    running.remove(item)
                    if p.returncode != 0:
                        raise RuntimeError(f"seed {s} worker failed with exit code {p.returncode}")
                    results.append(json.loads(f.read_text()))
    results.sort(key=lambda x: x["seed"])
    wall = time.perf_counter() - t0
    table, paired = summarise(results)
    base = baselines(data, world)
    return {
        "data": data,
        "seeds": seeds,
        "parallel": parallel,
        "threads_per_worker": threads,
        **{k: world.get(k, WORLD_DEFAULTS[k]) for k in WORLD_DEFAULTS},
        "users": results[0]["users"],
        "items": results[0]["items"],
        "interactions": results[0]["interactions"],
        "overrides": overrides or {},
        "config": results[0]["config"],
        "models": table,
        "baselines": base,
        "text_vs_no_text": paired,
        "per_seed": results,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "wall_seconds": round(wall, 1),
        "loadavg_start": [round(x, 2) for x in load0],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        **anchors_for(data),
    }


def render(r: dict[str, Any]) -> str:
    lines = [f"{Path(r['data']).name}, {r['seeds']} seeds, test split, full ranking (leave-one-out by time)"
             + (f", min-count {r['min_count']}" if r.get('min_count') else "")
            + (f", {r['user_fraction']:.0%} of the users (sample {r.get('user_sample_seed')})"
               if r.get('user_fraction') else "")
            + (f", {r['cold_items']:.0%} of the items cold (set {r.get('cold_seed')})" if r.get('cold_items') else "")
            + f" ({r.get('users', '?')} users, {r.get('items', '?')} items, {r.get('interactions', '?')} interactions)",
             f"{'model':22s} {'NDCG@10':>17s} {'HR@10':>17s} {'MRR@10':>17s} {'epochs':>7s} "
             f"{'wall s':>8s} {'CPU s':>8s}"]
    for name, m in r["models"].items():
        lines.append(
            f"{name:22s} {m['ndcg@10']:.4f} ± {m['ndcg@10_std']:.4f}  {m['hr@10']:.4f} ± {m['hr@10_std']:.4f}  "
            f"{m['mrr@10']:.4f} ± {m['mrr@10_std']:.4f} {m['epochs']:7.1f} {m['train_wall_seconds']:8.1f} "
            f"{m['train_cpu_seconds']:8.1f}"
        )
    for name, m in r["baselines"].items():
        lines.append(f"{name:22s} {m['ndcg@10']:.4f}           {m['hr@10']:.4f}           {m['mrr@10']:.4f}")
    if r.get("target"):
        lines.append(f"target NDCG@10 >= {r['target']['ndcg@10']}; published/reference NDCG@10: "
                     + ", ".join(f"{k} {v['ndcg@10']}" for k, v in r.get("reference", {}).items()))
    buckets = list(next(iter(r["models"].values()))["ndcg@10_by_target_pop"])
    sizes = next(iter(r["models"].values()))["users_by_target_pop"]
    lines.append("NDCG@10 by the test item's training popularity: "
                 + ", ".join(f"{b} ({sizes.get(b, 0)} users)" for b in buckets))
    for name, m in [*r["models"].items(), *r["baselines"].items()]:
        lines.append(f"  {name:20s} " + "  ".join(f"{m['ndcg@10_by_target_pop'].get(b, 0.0):.4f}" for b in buckets))
    lines.append("beyond the first page: " + "  ".join(
        f"{name} HR@50 {m['hr@50']:.4f} HR@200 {m['hr@200']:.4f} mean log rank {m['mean_log_rank']:.3f}"
        for name, m in r["models"].items() if "hr@50" in m))
    rows = [(n, m) for n, m in [*r["models"].items(), *r["baselines"].items()] if "ndcg@10_cold" in m]
    if rows:
        m0 = rows[0][1]
        lines.append(f"new items: users whose test item was never seen in training ({m0.get('users_cold', '?')}) "
                     f"vs the rest ({m0.get('users_warm', '?')})")
        for name, m in rows:
            lines.append(f"  {name:20s} cold NDCG@10 {m['ndcg@10_cold']:.4f} HR@10 {m['hr@10_cold']:.4f} "
                         f"HR@50 {m['hr@50_cold']:.4f} | warm NDCG@10 {m['ndcg@10_warm']:.4f} HR@10 {m['hr@10_warm']:.4f}")
    p = r.get("text_vs_no_text")
    if p:
        lo, hi = p["ndcg@10_diff_ci95"]
        lines.append(f"text - no text, paired by user: NDCG@10 {p['ndcg@10_diff']:+.4f} (95% CI {lo:+.4f} .. "
                     f"{hi:+.4f}); per seed " + ", ".join(f"{x:+.4f}" for x in p["per_seed"])
                     + f"; users better {p['users_better']} / worse {p['users_worse']}")
        if "hr@50_diff_per_seed" in p:
            lines.append("  HR@50 per seed " + ", ".join(f"{x:+.4f}" for x in p["hr@50_diff_per_seed"]))
        lines.append("  by popularity bucket: " + ", ".join(f"{b} {v:+.4f}" for b, v in p["by_target_pop"].items()))
    lines.append(f"peak RSS per worker {r['peak_rss_mb']:.0f} MB; total wall {r['wall_seconds']:.0f} s with "
                 f"{r['parallel']} worker(s) x {r['threads_per_worker']} thread(s); load average "
                 f"{r['loadavg_start'][0]} -> {r['loadavg_end'][0]} on {r['cpus']} CPUs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-count", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--user-fraction", type=float, default=None,
                    help="train and evaluate on a seeded random fraction of the users (a sparser world)")
    ap.add_argument("--user-sample-seed", type=int, default=0, help="which random fraction of the users")
    ap.add_argument("--cold-items", type=float, default=None,
                    help="a new-item world: this random fraction of the items appears only as test targets")
    ap.add_argument("--cold-seed", type=int, default=0, help="which random set of cold items")
    ap.add_argument("--tie-order", choices=("hash", "id"), default="hash",
                    help="order of a user's same-second interactions (id: as before tie keys)")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a model configuration default (repeatable)")
    ap.add_argument("--write", default=None, metavar="FILE", help="also write the full result as JSON")
    ap.add_argument("--seed-dir", default=None, metavar="DIR",
                    help="keep each seed's result in DIR and reuse the ones already there (same data, "
                         "world, configuration and threads): an interrupted run resumes")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--resummarise", default=None, metavar="FILE",
                    help="recompute the summary of a stored result (from its per-seed runs) instead of training")
    ap.add_argument("--keep-seeds", type=int, default=None, metavar="N",
                    help="with --resummarise: summarise only seeds 0..N-1 (a 3-seed table from a 5-seed run)")
    ap.add_argument("--ablation-from", default=None, metavar="FILE",
                    help="with --resummarise: pair the transformer with the no-text ablation runs of FILE "
                         "(same data, world and seeds) — for runs made with --no-ablation")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ablation-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    world = {k: getattr(a, k) for k in WORLD_DEFAULTS}
    if a.worker is not None:
        res = worker(a.data or default_data(), a.worker, a.threads, a.epochs, not a.no_ablation,
                     parse_overrides(a.set), world, ablation_only=a.ablation_only)
        Path(a.out).write_text(json.dumps(res))
        return 0
    if a.resummarise:
        r = json.loads(Path(a.resummarise).read_text())
        if a.ablation_from:
            borrow_ablation(r, json.loads(Path(a.ablation_from).read_text()))
        if a.keep_seeds:
            r["per_seed"] = [x for x in r["per_seed"] if x["seed"] < a.keep_seeds]
            r["seeds"] = len(r["per_seed"])
            r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in r["per_seed"])
        r["models"], r["text_vs_no_text"] = summarise(r["per_seed"])
    else:
        r = run(a.data, a.seeds, a.parallel, a.threads, a.epochs, not a.no_ablation, parse_overrides(a.set), world,
                seed_dir=a.seed_dir)
        r["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if a.write:
        out = Path(a.write)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(r, indent=1) + "\n")
    print(render(r))
    if a.json:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
