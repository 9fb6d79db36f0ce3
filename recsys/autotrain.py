"""First-start training for the dashboard, in two stages so the app is usable early.

When the app opens a dataset without a trained model it must not keep a stakeholder
waiting for everything :func:`recsys.train.train_model` does by default (transformer,
no-text ablation, baselines). So:

1. :func:`train_main` — item text embeddings, the transformer (early-stopped on
   validation NDCG@10), its evaluation and the baselines (about a second), stored as a
   complete artifact. ``evaluation.json`` lists the ablation under ``"pending"``. The
   app loads the model as soon as this returns.
2. :func:`train_ablation` — the same transformer without the text tower, trained with
   the stored model's configuration, evaluated under the same protocol; written to
   ``no_text/`` and merged into ``evaluation.json`` (``"pending"`` removed). The app
   runs it in a background thread; the Evaluation page says it is still coming.

Both stages use :data:`APP_OVERRIDES` on top of the model defaults: a shorter early
stopping schedule, chosen on the demo world's validation NDCG@10 (the full schedule's
best epoch comes early; the tail only waits out the patience). Neither stage imports
streamlit.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from recsys.data.types import DataError, Dataset

Progress = Callable[[float, str], None]

#: Early stopping for app auto-training (model defaults otherwise). On the demo world
#: (600 users, 1,500 items) validation NDCG@10 peaks at epoch ~14 with the model
#: defaults; evaluating every 2 epochs and stopping after 3 evaluations without a gain
#: stops around epoch 20 instead of ~40, at the same best state. The cap only guards
#: against data that keeps improving slowly: ML-100K was still improving at epoch 30.
#: The model's polish schedule follows the same patience: after those 3 evaluations it
#: goes back to the best state for one pass at 0.3x the rate (3 more evaluations at most
#: without a gain), kept only where validation improves.
APP_OVERRIDES: dict[str, Any] = {"max_epochs": 60, "patience": 3, "eval_every": 2, "min_epochs": 10}
PENDING_KEY = "pending"
ABLATION_NAME = "transformer_no_text"


def _minutes(seconds: float) -> str:
    m = seconds / 60
    return "under a minute" if m < 1 else f"{m:.0f} min"


def _stage_progress(
    progress: Progress | None, max_epochs: int, clock: Callable[[], float] = time.monotonic
) -> Progress | None:
    """Rewrite train_model's progress into plain-language stages for the progress bar.
    While training, it also says how long training has run and the most it can still take
    (the epochs left times the mean epoch so far; early stopping usually ends sooner)."""
    if progress is None:
        return None
    t: dict[str, Any] = {"start": None, "training": False}

    def cb(f: float, msg: str) -> None:
        is_epoch = msg.startswith("epoch")
        if not is_epoch and not t["training"]:
            t["start"] = clock()  # the last message before the first epoch: training starts here
        if msg.startswith(("encoding", "item text")) or f < 0.1:
            text = "Step 1 of 3 · reading item titles and descriptions with the text encoder (all-MiniLM-L6-v2)"
            if msg.startswith("encoding"):
                text += f" — {msg.split(' ', 3)[-1]}"
        elif is_epoch:
            head, _, rest = msg.partition(":")
            text = f"Step 2 of 3 · training the transformer — {head} of at most {max_epochs}"
            if "valid NDCG@10" in rest:
                text += " · validation NDCG@10 " + rest.split("valid NDCG@10", 1)[1].strip()
            now = clock()
            if not t["training"]:
                t["training"] = True
                t["start"] = now if t["start"] is None else t["start"]
            parts = head.split()
            done = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            elapsed = now - t["start"]
            if done >= 1 and elapsed > 0:
                left = elapsed / done * max(max_epochs - done, 0)
                text += (f" · {_minutes(elapsed)} so far, at most ~{_minutes(left)} more"
                         " (early stopping usually ends sooner)")
        elif msg.startswith("done"):
            text = f"Stored the model — {msg}"
        else:
            text = f"Step 3 of 3 · evaluating the model and the baselines ({msg})"
        progress(f, text)

    return cb


def train_main(
    ds: Dataset,
    out_dir: str | Path,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    epochs: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Stage 1: text embeddings + transformer + baselines, stored at ``out_dir``, with the
    no-text ablation marked pending in ``evaluation.json``."""
    from recsys.train import train_model

    opts = {**APP_OVERRIDES, **overrides}
    max_epochs = int(epochs if epochs is not None else opts["max_epochs"])
    # "pending" is written with the artifact (one atomic swap): a kill can never leave a
    # stored model whose ablation is silently forgotten
    return train_model(ds, out_dir, seed=seed, epochs=epochs, ablation=False, baselines=True,
                       progress=_stage_progress(progress, max_epochs),
                       evaluation_extra={PENDING_KEY: [ABLATION_NAME]}, **opts)


def pending(model_dir: str | Path) -> list[str]:
    """Models the artifact's evaluation still waits for (empty when complete)."""
    f = Path(model_dir) / "evaluation.json"
    try:
        ev = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    got = ev.get(PENDING_KEY) if isinstance(ev, dict) else None
    return [str(x) for x in got] if isinstance(got, list) else []


def train_ablation(
    ds: Dataset,
    model_dir: str | Path,
    *,
    progress: Progress | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Stage 2: train the no-text ablation with the stored model's configuration and merge
    it into the artifact (``no_text/`` + ``evaluation.json``). Returns its metrics."""
    from recsys.evaluation import evaluate_scorer, leave_one_out
    from recsys.models.transformer import TransformerConfig, TransformerRecommender, replace_dir
    from recsys.text import item_embeddings
    from recsys.train import ABLATION_DIR, accuracy, fit_transformer

    out = Path(model_dir)
    main = TransformerRecommender.load(out, ds)
    cfg = TransformerConfig(**{**main.config.__dict__, "use_text": False, "finetune_text_layers": 0})
    split = leave_one_out(ds)
    if split.n_eval == 0:
        raise DataError("no user has 3 or more interactions: nothing to validate or test on")
    te = main.text_emb if main.text_emb is not None else item_embeddings(ds)
    max_epochs = int(epochs if epochs is not None else cfg.max_epochs)

    def cb(f: float, msg: str) -> None:
        if progress is not None:
            if msg.startswith("epoch"):  # "epoch 3: loss …" -> "epoch 3 of at most 60"
                msg = f"{msg.split(':')[0]} of at most {max_epochs}"
            progress(0.95 * f, f"no-text ablation — {msg.split(',')[0]}")

    t0 = time.perf_counter()
    abl = fit_transformer(ds, split, None, cfg, seed=main.seed, epochs=epochs, progress=cb)
    valid = accuracy(evaluate_scorer(abl, ds, split, "valid", text_emb=te, groups=False))
    test_full = evaluate_scorer(abl, ds, split, "test", text_emb=te)
    test = accuracy(test_full)
    tmp = out / f".{ABLATION_DIR}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        abl.save(tmp, ds, metrics={"valid": valid, "test": test},
                 extra={"min_count": main.manifest.get("min_count"), "ablation_of": "transformer"})
        replace_dir(tmp, out / ABLATION_DIR)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

    def merge(ev: dict[str, Any]) -> dict[str, Any]:
        ev = dict(ev)
        ev["models"] = {**ev.get("models", {}), abl.name: test_full}
        ev["valid"] = {**ev.get("valid", {}), abl.name: valid}
        rest = [p for p in ev.get(PENDING_KEY, []) if p != abl.name]
        if rest:
            ev[PENDING_KEY] = rest
        else:
            ev.pop(PENDING_KEY, None)
        return ev

    _update_evaluation(out, merge)
    if progress is not None:
        progress(1.0, f"no-text ablation done: test NDCG@10 {test['ndcg@10']:.4f}")
    return {"epochs": abl.log.epochs, "train_seconds": round(abl.log.train_seconds, 3),
            "total_seconds": round(time.perf_counter() - t0, 3), "valid": valid, "test": test}


def _update_evaluation(model_dir: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Read-modify-write ``evaluation.json`` atomically (write a sibling, then rename)."""
    f = model_dir / "evaluation.json"
    try:
        ev = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the evaluation: {e}", file=str(f)) from None
    tmp = f.with_name(f".evaluation.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(change(ev), indent=1, allow_nan=False, default=float), encoding="utf-8")
    os.replace(tmp, f)
