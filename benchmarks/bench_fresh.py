"""Freshness: prequential quality of a frozen model vs one updated every N events (issue 21).

    .venv/bin/python -m benchmarks.bench_fresh [--data DIR] [--fraction 0.1] [--every 2000]
        [--update-epochs 3] [--seeds 0 1] [--out FILE] [--json]

Splits the source as ``replay`` does — the last ``--fraction`` of its interactions in
time are the stream, the rest the base (``recsys.commands.replay.write_base``, under
``$RECSYS_HOME``) — and, per seed:

1. trains the base model with the app's first-start settings (``recsys.autotrain``,
   what ``replay`` trains), seed S;
2. **frozen**: predicts every stream event before it is seen with the base model
   (``recsys.evaluation.prequential``: the user's history up to the event, full
   ranking, seen items excluded, pessimistic ties), HR@10 and NDCG@10;
3. **updated every N**: the same, but after every N events the model is trained on,
   ``train --init-from`` the previous model on base + the events so far for
   ``--update-epochs`` epochs (``recsys.train.train_model``, no ablation, no
   baselines — what *Update the model* runs), and the next N events are predicted by
   the updated model.

The stream is held in memory (the event log's merge, ``recsys.data.events.merge``,
on a prefix of the events), so no log on disk is touched. Quality does not depend on
the machine's load; the wall times do (contended on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from recsys.commands.replay import _events, split_source, write_base  # noqa: E402
from recsys.data import load  # noqa: E402
from recsys.data.events import LogContents, LogState, merge  # noqa: E402
from recsys.data.types import Dataset  # noqa: E402
from recsys.evaluation.prequential import K, Prequential, log_stream, prequential, split_at_fraction  # noqa: E402
from recsys.evaluation.stats import paired_bootstrap_ci  # noqa: E402


def default_data() -> str:
    return os.environ.get("RECSYS_ML100K") or str(REPO.parent / "shared" / "data" / "ml-100k")


def with_events(base: Dataset, events: pd.DataFrame) -> Dataset:
    """``base`` with ``events`` merged as its event log (in memory)."""
    st = LogState((), len(events), int(events["timestamp"].to_numpy(dtype=np.int64).max()), "bench-fresh")
    return merge(base, LogContents(st, events.reset_index(drop=True), None, None), catalogue=base)


def _summary(res: Prequential, block: int) -> dict[str, Any]:
    return {**res.summary(), "blocks": res.blocks(block)}


def run_seed(base: Dataset, events: pd.DataFrame, seed: int, every: int, update_epochs: int,
             work: Path, log: Any = print) -> dict[str, Any]:
    from recsys.autotrain import train_main
    from recsys.models.transformer import TransformerRecommender
    from recsys.train import train_model

    full = with_events(base, events)
    stream = log_stream(full, events)
    t0 = time.perf_counter()
    base_dir = work / f"base-seed{seed}"
    if not (base_dir / "manifest.json").is_file():
        train_main(base, base_dir, seed=seed)
    t_base = time.perf_counter() - t0
    base_man = json.loads((base_dir / "manifest.json").read_text())
    log(f"seed {seed}: base model {base_man.get('epochs')} epochs, {t_base:.0f} s")

    t0 = time.perf_counter()
    frozen = prequential(TransformerRecommender.load(base_dir, full), full, stream)
    t_frozen = time.perf_counter() - t0
    log(f"seed {seed}: frozen NDCG@10 {frozen.summary()['ndcg@10']:.4f} ({t_frozen:.0f} s)")

    n = len(stream)
    ranks = np.zeros(n, dtype=np.int64)
    current = base_dir
    updates = []
    t_upd = 0.0
    for a in range(0, n, every):
        b = min(n, a + every)
        model = TransformerRecommender.load(current, full)
        ranks[a:b] = prequential(model, full, stream, np.arange(a, b)).ranks
        if b == n:
            break
        t1 = time.perf_counter()
        out = work / f"update-every{every}-epochs{update_epochs}-seed{seed}-{b:06d}"
        if (out / "manifest.json").is_file():  # a rerun reuses the chain of updates (same seeds, same data)
            man = json.loads((out / "manifest.json").read_text())
            r = {"epochs": man["epochs"], "best_epoch": man["best_epoch"], "valid": man["metrics"]["valid"]}
            dt = float(man.get("train_seconds", 0.0))
        else:
            prefix = with_events(base, events.iloc[:b])
            r = train_model(prefix, out, seed=seed, epochs=update_epochs, init_from=current, ablation=False,
                            baselines=False)
            dt = time.perf_counter() - t1
        t_upd += dt
        updates.append({"after_events": b, "epochs": r["epochs"], "best_epoch": r["best_epoch"],
                        "valid_ndcg@10": r["valid"]["ndcg@10"], "wall_s": round(dt, 1)})
        log(f"seed {seed}: update after {b:,} events: {r['epochs']} epochs (best {r['best_epoch']}), {dt:.0f} s")
        current = out
    upd = Prequential(frozen.positions, ranks, frozen.users, frozen.items, frozen.timestamps, K)
    log(f"seed {seed}: updated NDCG@10 {upd.summary()['ndcg@10']:.4f}")
    return {"seed": seed, "base_epochs": base_man.get("epochs"), "base_best_epoch": base_man.get("best_epoch"),
            "base_valid_ndcg@10": (base_man.get("metrics") or {}).get("valid", {}).get("ndcg@10"),
            "frozen": _summary(frozen, every), "updated": _summary(upd, every), "updates": updates,
            "_per_event": {"frozen": (frozen.gains(), frozen.hits()), "updated": (upd.gains(), upd.hits())},
            "wall_s": {"base_training": round(t_base, 1), "frozen_prequential": round(t_frozen, 1),
                       "updates_total": round(t_upd, 1)}}


def run(data: str, fraction: float, every: int, update_epochs: int, seeds: list[int], work: Path,
        log: Any = print) -> dict[str, Any]:
    full = load(data, events=False)
    split = split_at_fraction(full, fraction)
    before, after = split_source(full, split)
    base = write_base(full, before)
    events = _events(full, after)
    log(f"base {base.n_interactions:,} events, stream {len(events):,} events from {split}")
    runs = [run_seed(base, events, s, every, update_epochs, work, log) for s in seeds]
    per_event = [r.pop("_per_event") for r in runs]
    diff = {}
    for name, lo in (("all_events", 0), ("after_the_first_update", every)):
        for m, j in (("ndcg@10", 0), ("hr@10", 1)):
            e = paired_bootstrap_ci([p["updated"][j][lo:] for p in per_event], [p["frozen"][j][lo:] for p in per_event])
            diff.setdefault(name, {})[m] = {"mean": round(e.mean, 4), "ci95": [round(e.low, 4), round(e.high, 4)]}

    def agg(which: str, key: str) -> dict[str, float]:
        v = np.array([r[which][key] for r in runs], dtype=np.float64)
        return {"mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)), 4) if len(v) > 1 else 0.0}

    return {
        "benchmark": "bench_fresh",
        "command": (f"RECSYS_TRAIN_THREADS=1 .venv/bin/python -m benchmarks.bench_fresh --fraction {fraction} "
                    f"--every {every} --update-epochs {update_epochs} --seeds {' '.join(map(str, seeds))}"),
        "data": "ML-100K" if Path(data).name == "ml-100k" else Path(data).name,
        "split": split, "base_events": base.n_interactions, "stream_events": len(events),
        "every": every, "update_epochs": update_epochs, "seeds": seeds,
        "protocol": "prequential: each stream event predicted before it is seen (its user's history up to it), "
                    "full ranking, seen items excluded, pessimistic ties; HR@10 / NDCG@10 means over every stream "
                    "event; 'blocks' per block of `every` events",
        "summary": {w: {m: agg(w, m) for m in ("ndcg@10", "hr@10")} for w in ("frozen", "updated")},
        # paired bootstrap over events (resampled within each seed): events of one user are not
        # independent (ML-100K users rate in bursts), so the interval is on the narrow side
        "updated_minus_frozen": diff,
        "runs": runs,
        "threads": int(os.environ.get("RECSYS_TRAIN_THREADS", "0") or 0) or None,
        "machine": "2 cores shared with other jobs: wall times contended, preliminary",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--fraction", type=float, default=0.1, help="the last fraction of events in time (default 0.1)")
    ap.add_argument("--every", type=int, default=2000, help="update the model every N events (default 2000)")
    ap.add_argument("--update-epochs", type=int, default=3, help="epochs per update (default 3)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--work", default=None, help="directory for the models (default: a temporary one)")
    ap.add_argument("--out", default=None, help="results JSON file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("RECSYS_HOME", str(work / "home"))

        def log(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

        res = run(args.data, args.fraction, args.every, args.update_epochs, args.seeds, work, log)
    text = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(json.dumps(res) if args.json else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
