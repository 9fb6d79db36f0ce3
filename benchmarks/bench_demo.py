"""Benchmark: demo-world generation time and its planted-structure statistics.

Usage: ``python benchmarks/bench_demo.py [--seed 0] [--small] [--repeat 3]
[--train-epochs N]``. Prints one JSON line: generation time (median wall and CPU
seconds), sizes, long-tail share, activity per segment, switch statistics (where the
change point sits in each switcher's span, share of picks on the planted shelves),
follow-up statistics (rate of B within two steps after A, occurrences per pair outside
each user's last two interactions). With ``--train-epochs N`` it also trains the
no-text transformer on the leave-one-out training part (one thread) and reports how
often B enters the top-10 when A ends a history (truncated trigger users, and A added to
the history of users who never took it) and how often removing A pushes B out of the
top-10 or ≥ 5 ranks down. ``--model DIR`` measures the same on a trained artifact (new
items get `recommend --history`'s timestamps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.data import demo  # noqa: E402
from recsys.data.types import Dataset  # noqa: E402


def planted_stats(ds: Dataset) -> dict[str, Any]:
    tr = ds.truth
    pop = np.sort(ds.item_popularity)[::-1]
    lens = np.diff(ds.user_offsets)
    seg = ds.user_attrs["segment"].to_numpy()
    cm = ds.category_matrix
    col = {c: j for j, c in enumerate(ds.categories)}
    pos, in_phase, n_phase = [], 0.0, 0
    for uid in tr.switch_users:
        items, ts = ds.sequence(ds.user_index(uid))
        pos.append((tr.change_points[uid][0] - ts[0]) / (ts[-1] - ts[0]))
        for ph in tr.phases[uid]:
            m = (ts >= ph.start) & ((ts < ph.end) if ph.end != ts[-1] else (ts <= ph.end))
            in_phase += float(cm[items[m]][:, [col[c] for c in ph.categories]].sum())
            n_phase += int(m.sum())
    n_a = n_ab = 0
    per_pair_train = []
    for a, b in tr.followups:
        ai, bi = ds.item_index(a), ds.item_index(b)
        k_train = 0
        for uid in tr.trigger_users[(a, b)]:
            items, _ = ds.sequence(ds.user_index(uid))
            k = int(np.flatnonzero(items == ai)[0])
            n_a += 1
            if bi in items[k + 1 : k + 3]:
                n_ab += 1
                k_train += int(np.flatnonzero(items == bi)[0]) < len(items) - 2
        per_pair_train.append(k_train)
    return {
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "categories": len(ds.categories),
        "top20pct_items_share": round(float(pop[: ds.n_items // 5].sum() / pop.sum()), 3),
        "mean_len_by_segment": {s: round(float(lens[seg == s].mean()), 1) for s in demo.SEGMENTS},
        "users_by_segment": {s: int((seg == s).sum()) for s in demo.SEGMENTS},
        "span_days_median": round(float(np.median([np.ptp(ds.sequence(u)[1]) for u in range(ds.n_users)]) / 86400), 1),
        "switch_users": len(tr.switch_users),
        "stable_users": len(tr.stable_users),
        "change_point_position_in_span": [round(float(np.min(pos)), 3), round(float(np.max(pos)), 3)],
        "switcher_share_on_planted_shelves": round(in_phase / max(n_phase, 1), 3),
        "followup_pairs": len(tr.followups),
        "trigger_occurrences": n_a,
        "b_within_two_after_a_rate": round(n_ab / max(n_a, 1), 3),
        "pair_train_occurrences_min_median": [int(min(per_pair_train)), float(np.median(per_pair_train))],
        "pending_followup_users": len(tr.pending_followups),
        "featured": tr.featured,
    }


def learnability(ds: Dataset, epochs: int, seed: int, model_dir: str | None = None) -> dict[str, Any]:
    import torch

    from recsys.commands.recommend import edited_timestamps
    from recsys.models.transformer import TransformerConfig, TransformerRecommender

    torch.set_num_threads(1)
    tr = ds.truth
    if model_dir:  # a trained artifact (CLI or app), edited the way `recommend --history` edits
        model = TransformerRecommender.load(model_dir, ds)
        train_s = 0.0
    else:
        seqs = [np.asarray(ds.sequence(u)[0][:-2]) for u in range(ds.n_users)]
        tss = [np.asarray(ds.sequence(u)[1][:-2]) for u in range(ds.n_users)]
        model = TransformerRecommender(ds.item_ids, TransformerConfig(use_text=False), None, seed=seed)
        t = time.perf_counter()
        model.fit(seqs, tss, epochs=epochs)
        train_s = time.perf_counter() - t

    def rank(hist: np.ndarray, hts: np.ndarray, target: int) -> int:
        sc = model.score([hist], [hts])[0]
        sc[hist] = -np.inf
        return int((sc > sc[target]).sum()) + 1

    rng = np.random.default_rng(seed)
    trunc_ok = trunc_n = rem_ok = add_ok = add_n = 0
    for a, b in tr.followups:
        ai, bi = ds.item_index(a), ds.item_index(b)
        takers = set(tr.trigger_users[(a, b)])
        for uid in takers:
            items, ts = ds.sequence(ds.user_index(uid))
            k = int(np.flatnonzero(items == ai)[0])
            if k < 3:
                continue
            r_with = rank(items[: k + 1], ts[: k + 1], bi)
            r_without = rank(items[:k], ts[:k], bi)  # removing A from the history ending with it
            trunc_n += 1
            trunc_ok += r_with <= 10
            rem_ok += r_without > 10 or r_without >= r_with + 5
        others = [u for u in ds.user_ids if u not in takers]
        for uid in rng.choice(others, size=min(10, len(others)), replace=False):
            items, ts = ds.sequence(ds.user_index(uid))
            add_n += 1
            new = np.append(items, ai)
            add_ok += rank(new, edited_timestamps(new, items, ts), bi) <= 10
    return {
        "model": model_dir or "no-text transformer trained here",
        "train_epochs": epochs,
        "train_seconds": round(train_s, 1),
        "b_top10_when_a_ends_history": round(trunc_ok / max(trunc_n, 1), 3),
        "removing_a_pushes_b_out_or_down5": round(rem_ok / max(trunc_n, 1), 3),
        "adding_a_brings_b_into_top10": round(add_ok / max(add_n, 1), 3),
        "cases": {"truncated": trunc_n, "added": add_n},
        "note": "in-sample for truncated trigger users (their prefixes are training data)",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="demo-small instead of demo")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--train-epochs", type=int, default=0)
    ap.add_argument("--model", default=None, metavar="DIR",
                    help="measure the edit behaviour of this trained artifact instead of training one")
    args = ap.parse_args()
    gen = demo.generate_small if args.small else demo.generate
    wall, cpu = [], []
    ds = None
    for _ in range(max(1, args.repeat)):
        t, c = time.perf_counter(), time.process_time()
        ds = gen(args.seed)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    assert ds is not None
    out: dict[str, Any] = {
        "source": ds.source,
        "seed": args.seed,
        "generate_s_median": round(statistics.median(wall), 3),
        "generate_cpu_s_median": round(statistics.median(cpu), 3),
        **planted_stats(ds),
    }
    if args.train_epochs > 0 or args.model:
        out["learnability"] = learnability(ds, args.train_epochs, args.seed, args.model)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
