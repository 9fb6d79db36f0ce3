"""Step time of the full vs the sampled softmax as the catalogue grows (fake data).

    .venv/bin/python benchmarks/bench_softmax.py [--items 2000 10000 40000] [--steps 6]
        [--negatives 2048] [--threads 1] [--write benchmarks/results/softmax_step.json]

One training step (forward, backward, AdamW) of the default model (``TransformerConfig()``:
d_model 64, 2 layers, max_len 50, batch 64, text on) on a batch of 64 random full-length
windows (~3,200 target positions), ``--threads`` torch threads (default one), through the trainer's own loss code
(:class:`recsys.models.transformer.trainer.Trainer`). Text vectors are random unit
vectors; the item count is all that matters here. Per catalogue size and loss it prints
the median wall and CPU seconds of ``--steps`` steps (after one warm-up step) and the
full/sampled ratio — the measurement behind ``SAMPLED_ABOVE_ITEMS``
(``recsys/models/transformer/loss.py``). A benchmark, not a test: the numbers depend on
the machine (CPU seconds are steadier than wall seconds on a busy one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def step_times(n_items: int, kind: str, steps: int, negatives: int, seed: int = 0) -> dict:
    import numpy as np
    from torch import nn

    from recsys.models.transformer import TransformerConfig, TransformerRecommender
    from recsys.models.transformer.loss import LossSpec
    from recsys.models.transformer.trainer import Trainer

    rng = np.random.default_rng(seed)
    te = rng.standard_normal((n_items, 384)).astype(np.float32)
    te /= np.linalg.norm(te, axis=1, keepdims=True)
    cfg = TransformerConfig()
    model = TransformerRecommender([str(i) for i in range(n_items)], cfg, te, seed=seed)
    seqs = [rng.integers(0, n_items, cfg.max_len) for _ in range(cfg.batch_size * 4)]
    trainer = Trainer(model, seqs, None, None, epochs=1, loss=LossSpec(kind, negatives))
    model.net.train()
    wall, cpu = [], []
    for s in range(steps + 1):
        users = np.arange(s % 4 * cfg.batch_size, (s % 4 + 1) * cfg.batch_size)
        ends = np.full(cfg.batch_size, cfg.max_len)
        t0, c0 = time.perf_counter(), time.process_time()
        loss, _ = trainer._batch_loss(users, ends)
        trainer.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(trainer.params, cfg.grad_clip)
        trainer.opt.step()
        if s:  # the first step warms up allocators and kernels
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {"items": n_items, "loss": kind, "negatives": negatives if kind == "sampled" else None,
            "wall_s": round(statistics.median(wall), 4), "cpu_s": round(statistics.median(cpu), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, nargs="+", default=[2000, 10000, 40000])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--negatives", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--write", default=None, metavar="FILE")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for n in args.items:
        full = step_times(n, "full", args.steps, args.negatives)
        sampled = step_times(n, "sampled", args.steps, args.negatives)
        ratio = full["cpu_s"] / sampled["cpu_s"]
        rows += [full, sampled]
        print(f"{n:>7} items: full {full['wall_s']:.3f} s ({full['cpu_s']:.3f} cpu), sampled "
              f"{sampled['wall_s']:.3f} s ({sampled['cpu_s']:.3f} cpu), full/sampled {ratio:.2f}x", flush=True)
    if args.write:
        Path(args.write).write_text(json.dumps({"threads": args.threads, "steps": args.steps, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
