"""New items: how far the text tower lets the transformer place never-seen items.

    .venv/bin/python benchmarks/bench_newcomers.py [--data DIR] [--cold-items 0.2]
        [--seed 0] [--threads 2] [--offsets 0,-0.5,-1,-1.5,-2,-3,-5,-100] [--write FILE]

Builds the new-item world of ``bench_model.py --cold-items`` (a random fraction of the
items keeps only users' last interactions, so they are test targets nobody saw in
training), trains one transformer with ``skip_unseen_items`` (never-seen items are left
out of the training softmax and enter as newcomers: the mean id vector and bias of the
rarest tenth of seen items, told apart by their text), then shifts the newcomers' bias
by each offset and scores the test split again. Each row: validation and test NDCG@10,
test NDCG@10 of the users whose test item is an old item ("warm") and, for the users
whose test item is new ("cold"), NDCG@10 and HR@10/50/200 — the price in accuracy on
old items of giving new ones exposure. The offset is read post hoc on one trained model
(newcomers take no part in training, so it only moves their scores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run(data: str, cold_items: float, seed: int, threads: int, offsets: list[float]) -> dict[str, Any]:
    import numpy as np
    import torch

    from benchmarks.bench_model import load_world
    from recsys.evaluation import leave_one_out, ndcg_of_ranks, score_ranks
    from recsys.text import item_embeddings
    from recsys.train import fit_transformer, make_config

    torch.set_num_threads(threads)
    ds, cold = load_world(data, cold_items=cold_items, cold_seed=seed)
    split = leave_one_out(ds)
    te = item_embeddings(ds)
    t0 = time.perf_counter()
    model = fit_transformer(ds, split, te, make_config(skip_unseen_items=True), seed=seed)
    train_s = time.perf_counter() - t0
    assert model.newcomers is not None, "skip_unseen_items placed no newcomers"
    new, rare = model.newcomers.new, model.newcomers.rare
    base = float(model.net.item_bias.detach()[rare].mean())
    ct = cold[split.test_target]
    rows = []
    for d in offsets:
        with torch.no_grad():
            model.net.item_bias[new] = base + d
        r = np.asarray(score_ranks(model, split, "test")[0])
        v = np.asarray(score_ranks(model, split, "valid")[0])
        rows.append({
            "offset": d, "valid_ndcg@10": float(ndcg_of_ranks(v, 10).mean()), "ndcg@10": float(ndcg_of_ranks(r, 10).mean()),
            "ndcg@10_warm": float(ndcg_of_ranks(r[~ct], 10).mean()), "ndcg@10_cold": float(ndcg_of_ranks(r[ct], 10).mean()),
            **{f"hr@{k}_cold": float((r[ct] <= k).mean()) for k in (10, 50, 200)},
        })
    return {"data": data, "cold_items": cold_items, "seed": seed, "users": ds.n_users, "items": ds.n_items,
            "new_items": int(cold.sum()), "users_cold": int(ct.sum()), "users_warm": int((~ct).sum()),
            "epochs": model.log.epochs, "train_seconds": round(train_s, 1), "newcomer_bias": base, "rows": rows,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def render(r: dict[str, Any]) -> str:
    lines = [f"{Path(r['data']).name}: {r['cold_items']:.0%} of the items new (seed {r['seed']}): {r['new_items']} new "
             f"items, {r['users_cold']} users with a new test item, {r['users_warm']} with an old one; "
             f"{r['epochs']} epochs, {r['train_seconds']:.0f} s",
             f"{'offset':>7} {'valid':>7} {'test':>7} {'warm':>7} | {'cold NDCG@10':>12} {'HR@10':>6} {'HR@50':>6} {'HR@200':>6}"]
    for x in r["rows"]:
        lines.append(f"{x['offset']:7.1f} {x['valid_ndcg@10']:7.4f} {x['ndcg@10']:7.4f} {x['ndcg@10_warm']:7.4f} | "
                     f"{x['ndcg@10_cold']:12.4f} {x['hr@10_cold']:6.3f} {x['hr@50_cold']:6.3f} {x['hr@200_cold']:6.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench_model import default_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--cold-items", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--offsets", default="0,-0.5,-1,-1.5,-2,-3,-5,-100")
    ap.add_argument("--write", default=None, metavar="FILE")
    a = ap.parse_args(argv)
    r = run(a.data or default_data(), a.cold_items, a.seed, a.threads, [float(x) for x in a.offsets.split(",")])
    if a.write:
        Path(a.write).write_text(json.dumps(r, indent=1) + "\n")
    print(render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
