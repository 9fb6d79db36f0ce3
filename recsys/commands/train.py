"""Train the transformer recommender (and its no-text ablation) and store the artifact.

``train --data SRC --out DIR [--seed S] [--epochs N] [--min-count N] [--no-ablation]
[--threads N] [--init-from DIR] [--finetune-text-layers N] [--new-items bury|text] [--newcomer-offset X]
[--device auto|cpu|cuda] [--loss auto|full|sampled] [--negatives N] [--sampler uniform|popularity]
[--workers N] [--address ADDR]``:
a progress bar goes to stderr; an existing artifact in DIR is replaced; JSON
``{"model_dir", "epochs", "train_seconds", "threads", "device", "loss", "negatives",
"sampler", "workers", "samples_per_s", "valid": {"ndcg@10", "hr@10", ...}, "test": {...}}``
(+ ``"new_items"`` with ``--new-items text``).

``--workers N`` (N > 1) or ``--address`` trains data-parallel on Ray Train
(:mod:`recsys.train_ray`; the no-text ablation too), with ``--threads`` torch threads per
worker (default 1); without them training runs in this process and never imports Ray.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Callable

from recsys.commands.options import add_tie_order, resolve_tie_order
from recsys.data import load
from recsys.data.types import DataError
from recsys.models.transformer.loss import (
    DEFAULT_NEGATIVES,
    DEFAULT_SAMPLER,
    LOSSES,
    SAMPLED_ABOVE_ITEMS,
    SAMPLERS,
)
from recsys.runtime import DEVICES

NEW_ITEM_MODES = ("bury", "text")
# on ML-100K with 20% new items, trained with -2 (3 seeds,
# benchmarks/results/model_ml100k_cold20_newcomer_m2.json): old items' users keep 97% of
# their NDCG@10 and a new item reaches the top 50 for 4.8% of the users who went on to
# choose one; shifting one model's offset (newcomers_ml100k_cold20.json): 0 -> 82% and
# 13%, -3 -> 98% and 2%
DEFAULT_NEWCOMER_OFFSET = -2.0


def new_item_options(mode: str, offset: float) -> dict[str, Any]:
    """Model configuration overrides for ``--new-items`` / ``--newcomer-offset``."""
    if mode not in NEW_ITEM_MODES:
        raise DataError(f"--new-items must be one of {', '.join(NEW_ITEM_MODES)}, not {mode!r}")
    if not math.isfinite(offset) or abs(offset) > 20:
        raise DataError(f"--newcomer-offset must be a number between -20 and 20, not {offset:g}")
    if mode == "bury":
        return {}
    return {"skip_unseen_items": True, "newcomer_offset": float(offset)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="artifact directory (default: $RECSYS_HOME/models/<data fingerprint>, or, when the "
                             "data's event log holds events, the update directory of that log prefix)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="maximum epochs (early stopping on validation NDCG@10 still applies)")
    parser.add_argument("--min-count", type=int, default=None, metavar="N",
                        help="iterative N-core: keep only users and items with at least N interactions")
    add_tie_order(parser, model=False)
    parser.add_argument("--no-ablation", action="store_true", help="do not train the no-text ablation")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch threads for training (default: $RECSYS_TRAIN_THREADS, else half the "
                             "cores; the same seed and thread count give the same model)")
    parser.add_argument("--init-from", default=None, metavar="DIR",
                        help="continue training from this artifact (items matched by id)")
    parser.add_argument("--finetune-text-layers", type=int, default=0, metavar="N",
                        help="also fine-tune the top N layers of the text encoder (slow; default 0)")
    parser.add_argument("--new-items", choices=NEW_ITEM_MODES, default="bury",
                        help="items with no training interaction: 'bury' (default: the training softmax "
                             "pushes them to the bottom) or 'text' (left out of the softmax, placed by their "
                             "text with a newcomer's bias)")
    parser.add_argument("--newcomer-offset", type=float, default=DEFAULT_NEWCOMER_OFFSET, metavar="X",
                        help="with --new-items text: added to the newcomers' bias; lower keeps more of the "
                             f"old items' accuracy, higher gives new items more exposure (default "
                             f"{DEFAULT_NEWCOMER_OFFSET:g})")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where to train: 'auto' (default: a CUDA GPU when torch sees one, else the CPU), "
                             "'cpu' or 'cuda'")
    parser.add_argument("--loss", choices=LOSSES, default="auto",
                        help="training loss: 'full' softmax over every item, 'sampled' softmax over each batch's "
                             f"shared negatives, or 'auto' (default: full up to {SAMPLED_ABOVE_ITEMS:,} items, "
                             "sampled above); evaluation always ranks every item")
    parser.add_argument("--negatives", type=int, default=DEFAULT_NEGATIVES, metavar="N",
                        help=f"shared negatives per batch of the sampled softmax (default {DEFAULT_NEGATIVES})")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER,
                        help="how the sampled softmax draws negatives: 'popularity' (default; with log-Q "
                             "correction) or 'uniform'")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="data-parallel training on N Ray Train workers (default: one process, no Ray)")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="with --workers: the Ray cluster to join (default: start Ray on this machine); "
                             "the data source must be readable from every node")
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
        bar.set_description_str(message[:80], refresh=False)  # before update, which redraws the bar
        if target > bar.n:
            bar.update(target - bar.n)

    return progress, bar.close


def ray_plan(args: argparse.Namespace) -> Any:
    """The :class:`~recsys.train_ray.RayPlan` of ``--workers``/``--address``, or None to
    train in this process (no ``--workers`` or ``--workers 1``, and no ``--address``).
    DataError for a bad count or a missing Ray."""
    if args.workers is not None and args.workers < 1:
        raise DataError(f"--workers must be at least 1, not {args.workers}")
    if (args.workers or 1) == 1 and not args.address:
        return None
    from recsys.train_ray import RayPlan, check_reachable, require_ray

    require_ray()
    check_reachable(args.address)  # a typo fails now, not after loading the data
    return RayPlan(workers=args.workers or 1, address=args.address or None, threads=args.threads or 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.models.transformer.loss import choose_loss
    from recsys.runtime import resolve_device, set_threads, training_threads
    from recsys.train import train_model

    new_items = new_item_options(args.new_items, args.newcomer_offset)  # bad options: before any work
    if args.threads is not None and args.threads < 1:
        raise DataError(f"--threads must be at least 1, not {args.threads}")
    choose_loss(args.loss, 0, args.negatives, args.sampler)
    plan = ray_plan(args)
    if not args.address:  # a cluster's GPUs are counted once Ray is up
        resolve_device(args.device)
    threads = plan.threads if plan is not None else args.threads or training_threads()
    ds = load(args.data, min_count=args.min_count, tie_order=resolve_tie_order(args))
    from recsys.updates import model_out_dir

    out = args.out or str(model_out_dir(ds))  # base + log: the update directory of this log prefix
    progress, close = progress_bar(not args.no_progress)
    set_threads(threads)
    try:
        result = train_model(
            ds,
            out,
            seed=args.seed,
            epochs=args.epochs,
            min_count=args.min_count,  # already applied (an N-core is stable); recorded in the manifest
            ablation=not args.no_ablation,
            progress=progress,
            init_from=args.init_from,
            finetune_text_layers=args.finetune_text_layers,
            device=args.device,
            loss=args.loss,
            negatives=args.negatives,
            sampler=args.sampler,
            parallel=plan,
            **new_items,
        )
    finally:
        close()
    result["min_count"] = args.min_count
    result["tie_order"] = ds.tie_order  # recorded in the manifest too (how same-second ties were ordered)
    v, t = result["valid"], result["test"]
    lines = [
        f"model: {result['model_dir']}",
        f"epochs: {result['epochs']} (best {result['best_epoch']}"
        + "".join(f"; rate lowered from the best state after epoch {e}" for e in result.get("lr_lowered_at", []))
        + f"), {result['train_seconds']:.1f} s training",
        f"trained on {result['device']} with {result['workers']} worker(s), {_loss_text(result)}, "
        f"{result['samples_per_s']:,.0f} positions/s",
        f"valid NDCG@10 {v['ndcg@10']:.4f}  HR@10 {v['hr@10']:.4f}",
        f"test  NDCG@10 {t['ndcg@10']:.4f}  HR@10 {t['hr@10']:.4f}",
    ]
    if result.get("new_items"):
        n = result["new_items"]
        lines.append(f"new items: {n['items']} without a training interaction, placed by their text "
                     f"(newcomer offset {n['offset']:g})")
    if "ablation" in result:
        a = result["ablation"]["test"]
        lines.append(f"no-text ablation: test NDCG@10 {a['ndcg@10']:.4f}  HR@10 {a['hr@10']:.4f}")
    result["_text"] = "\n".join(lines)
    return result


def _loss_text(result: dict[str, Any]) -> str:
    if result["loss"] == "sampled":
        return f"sampled softmax ({result['negatives']} {result['sampler']} negatives per batch)"
    return "full softmax"
