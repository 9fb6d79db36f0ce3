"""Train the transformer recommender (and its no-text ablation) and store the artifact.

``train --data SRC --out DIR [--seed S] [--epochs N] [--min-count N] [--no-ablation]
[--init-from DIR] [--finetune-text-layers N]``: a progress bar goes to stderr; an
existing artifact in DIR is replaced; JSON ``{"model_dir", "epochs", "train_seconds",
"valid": {"ndcg@10", "hr@10", ...}, "test": {...}}``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from recsys.data import load
from recsys.paths import default_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="artifact directory (default: $RECSYS_HOME/models/<data fingerprint>)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="maximum epochs (early stopping on validation NDCG@10 still applies)")
    parser.add_argument("--min-count", type=int, default=None, metavar="N",
                        help="iterative N-core: keep only users and items with at least N interactions")
    parser.add_argument("--no-ablation", action="store_true", help="do not train the no-text ablation")
    parser.add_argument("--init-from", default=None, metavar="DIR",
                        help="continue training from this artifact (items matched by id)")
    parser.add_argument("--finetune-text-layers", type=int, default=0, metavar="N",
                        help="also fine-tune the top N layers of the text encoder (slow; default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def progress_bar(enabled: bool = True) -> tuple[Callable[[float, str], None] | None, Callable[[], None]]:
    """A tqdm progress callback on stderr (percent + message) and its close function."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=1000, file=sys.stderr, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {desc}",
               dynamic_ncols=True, mininterval=0.5)

    def progress(fraction: float, message: str) -> None:
        target = int(round(1000 * min(max(fraction, 0.0), 1.0)))
        if target > bar.n:
            bar.update(target - bar.n)
        bar.set_description_str(message[:80], refresh=False)

    return progress, bar.close


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.train import train_model

    ds = load(args.data, min_count=args.min_count)
    out = args.out or str(default_model_dir(ds))
    progress, close = progress_bar(not args.no_progress)
    try:
        result = train_model(
            ds,
            out,
            seed=args.seed,
            epochs=args.epochs,
            ablation=not args.no_ablation,
            progress=progress,
            init_from=args.init_from,
            finetune_text_layers=args.finetune_text_layers,
        )
    finally:
        close()
    result["min_count"] = args.min_count
    v, t = result["valid"], result["test"]
    lines = [
        f"model: {result['model_dir']}",
        f"epochs: {result['epochs']} (best {result['best_epoch']}), {result['train_seconds']:.1f} s training",
        f"valid NDCG@10 {v['ndcg@10']:.4f}  HR@10 {v['hr@10']:.4f}",
        f"test  NDCG@10 {t['ndcg@10']:.4f}  HR@10 {t['hr@10']:.4f}",
    ]
    if "ablation" in result:
        a = result["ablation"]["test"]
        lines.append(f"no-text ablation: test NDCG@10 {a['ndcg@10']:.4f}  HR@10 {a['hr@10']:.4f}")
    result["_text"] = "\n".join(lines)
    return result
