"""Train, evaluate and store the transformer recommender (and its no-text ablation).

:func:`train_model` is what both the ``train`` command and the app call: it splits the
data leave-one-out by time (``recsys.evaluation.PROTOCOL``), trains on the training part
with early stopping on validation NDCG@10, evaluates on the test targets (full ranking, seen items
excluded) next to the baselines, and writes the artifact directory atomically::

    out_dir/model.safetensors, config.json, manifest.json, evaluation.json
    out_dir/no_text/...            (the ablation, unless ablation=False)

Training runs on ``device`` (``"auto"``: a CUDA GPU when torch sees one) with the full
or the sampled softmax (``loss="auto"``: sampled above
:data:`~recsys.models.transformer.loss.SAMPLED_ABOVE_ITEMS` items), in this process
or — given a :class:`~recsys.train_ray.RayPlan` — data-parallel on Ray Train workers
(the no-text ablation too). Whatever trained it, the artifact is the same.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, cast

import numpy as np

from recsys.data.types import DataError, Dataset
from recsys.models.base import Scorer
from recsys.models.transformer import TransformerConfig, TransformerRecommender, replace_dir
from recsys.models.transformer.loss import DEFAULT_NEGATIVES, DEFAULT_SAMPLER, LossSpec, choose_loss

if TYPE_CHECKING:  # pragma: no cover
    from recsys.train_ray import RayPlan

Progress = Callable[[float, str], None]
EVALUATION_FILE = "evaluation.json"
ABLATION_DIR = "no_text"
ACCURACY_KEYS = ("hr@5", "ndcg@5", "mrr@5", "hr@10", "ndcg@10", "mrr@10")
# configuration keys that shape the weights: ``init_from`` takes them from the artifact
ARCHITECTURE_KEYS = ("d_model", "n_layers", "n_heads", "max_len", "use_time")
# how a model was trained, recorded in the manifest and the result (not in config.json:
# they do not change how the artifact scores)
TRAINING_FACTS = ("device", "loss", "negatives", "sampler", "workers")


def _sub(progress: Progress | None, a: float, b: float) -> Progress | None:
    """A progress callback mapping [0, 1] onto [a, b] of the parent's range."""
    if progress is None:
        return None

    def cb(f: float, msg: str) -> None:
        progress(a + (b - a) * min(max(f, 0.0), 1.0), msg)

    return cb


def make_config(finetune_text_layers: int = 0, **overrides: Any) -> TransformerConfig:
    """Default :class:`TransformerConfig` with keyword overrides (unknown keys -> DataError)."""
    known = {f.name for f in fields(TransformerConfig)}
    bad = sorted(k for k in overrides if k not in known)
    if bad:
        raise DataError(f"unknown training option(s): {', '.join(bad)}")
    if finetune_text_layers < 0 or finetune_text_layers > 6:
        raise DataError(f"--finetune-text-layers must be between 0 and 6, not {finetune_text_layers}")
    return TransformerConfig(**{**overrides, "finetune_text_layers": int(finetune_text_layers)})


def fit_transformer(
    ds: Dataset,
    split: Any,
    text_emb: np.ndarray | None,
    config: TransformerConfig,
    *,
    seed: int = 0,
    epochs: int | None = None,
    init_from: TransformerRecommender | None = None,
    progress: Progress | None = None,
    loss: LossSpec | None = None,
    device: str = "cpu",
    parallel: RayPlan | None = None,
) -> TransformerRecommender:
    """Train one model on ``split`` (training part), early-stopped on its validation part,
    on ``device`` with ``loss`` (default: the full softmax); with ``parallel``, on Ray Train
    workers that each receive one shard of ``split``'s users (:mod:`recsys.train_ray`; a
    Ray session must be running)."""
    if parallel is not None:
        from recsys.train_ray import fit_on_ray

        return fit_on_ray(ds, text_emb if config.use_text else None, config, parallel, seed=seed, epochs=epochs,
                          loss=loss, device=device, init_from=init_from, progress=progress, split=split)
    model = TransformerRecommender(ds.item_ids, config, text_emb if config.use_text else None, seed=seed,
                                   device=device)
    if init_from is not None:
        model.init_from(init_from)
    finetuner = None
    if config.use_text and config.finetune_text_layers > 0:
        from recsys.text import TextTopLayers

        finetuner = TextTopLayers(ds, config.finetune_text_layers)
    model.fit(split.train, split.train_ts, split.inputs("valid"), epochs=epochs, progress=progress,
              text_finetuner=finetuner, loss=loss)
    return model


def accuracy(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in ACCURACY_KEYS if k in metrics}


def evaluate_baselines(ds: Dataset, split: Any, text_emb: np.ndarray | None,
                       progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """Test metrics of MostPopular, ItemKNN, EASE and (given text embeddings) the
    content-based TextSimilarity under the same protocol (a baseline that cannot run on
    this data, e.g. EASE on a huge catalogue, is left out)."""
    from recsys.evaluation import evaluate_scorer
    from recsys.evaluation.baselines import BASELINE_LABELS, baseline_scorers

    out: dict[str, dict[str, Any]] = {}
    makers = baseline_scorers(text_emb)
    for k, (name, fit) in enumerate(makers):
        if progress is not None:
            progress(k / len(makers), f"evaluating baseline {BASELINE_LABELS.get(name, name)}")
        try:
            scorer = cast(Scorer, fit(split))  # every baseline is a Scorer (typed loosely there)
            out[name] = evaluate_scorer(scorer, ds, split, "test", text_emb=text_emb)
        except (DataError, MemoryError) as e:
            out[name] = {"skipped": str(e)}
    return out


def _config(init_from: str | Path | None, finetune_text_layers: int,
            overrides: dict[str, Any]) -> tuple[TransformerRecommender | None, TransformerConfig]:
    """(the model training continues from or None, the configuration to train with):
    continued training keeps the artifact's architecture."""
    prev = TransformerRecommender.load_any(init_from) if init_from is not None else None
    if prev is None:
        return None, make_config(finetune_text_layers, **overrides)
    arch = {k: getattr(prev.config, k) for k in ARCHITECTURE_KEYS}
    return prev, make_config(finetune_text_layers, **{**arch, **overrides})


def _ablation(
    ds: Dataset, split: Any, config: TransformerConfig, prev: TransformerRecommender | None,
    te: np.ndarray, progress: Progress | None, **fit: Any,
) -> tuple[TransformerRecommender, dict[str, Any], dict[str, Any]]:
    """Train and evaluate the no-text ablation: (model, its result entry, its full test metrics)."""
    from recsys.evaluation import evaluate_scorer

    abl_cfg = TransformerConfig(**{**config.__dict__, "use_text": False, "finetune_text_layers": 0})
    abl_prev = prev if prev is not None and not prev.config.use_text else None
    abl = fit_transformer(ds, split, None, abl_cfg, init_from=abl_prev, progress=progress, **fit)
    a_valid = evaluate_scorer(abl, ds, split, "valid", text_emb=te, groups=False)
    a_test = evaluate_scorer(abl, ds, split, "test", text_emb=te)
    result = {"epochs": abl.log.epochs, "train_seconds": round(abl.log.train_seconds, 3),
              "samples_per_s": round(abl.log.samples_per_s, 1), "valid": accuracy(a_valid), "test": accuracy(a_test)}
    return abl, result, a_test


def _new_items(ds: Dataset, split: Any, config: TransformerConfig) -> dict[str, Any] | None:
    """How items with no training interaction were placed (``--new-items text``), or None."""
    if not config.skip_unseen_items:
        return None
    seen = np.unique(np.concatenate([np.asarray(t, dtype=np.int64) for t in split.train]))
    return {"mode": "text", "offset": float(config.newcomer_offset), "items": int(ds.n_items - seen.size)}


def _store(out: Path, ds: Dataset, model: TransformerRecommender, metrics: dict[str, Any], extra: dict[str, Any],
           evaluation: dict[str, Any], ablation: tuple[TransformerRecommender, dict[str, Any]] | None) -> None:
    """Write the artifact (+ ``evaluation.json``, + ``no_text/``) into a temporary sibling of
    ``out``, then swap it in."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        model.save(tmp, ds, metrics=metrics, extra=extra)
        (tmp / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=1, allow_nan=False, default=float))
        if ablation is not None:
            abl, res = ablation
            facts = {k: extra.get(k) for k in TRAINING_FACTS}
            abl.save(tmp / ABLATION_DIR, ds, metrics={"valid": res["valid"], "test": res["test"]},
                     extra={"min_count": extra.get("min_count"), "ablation_of": "transformer", **facts,
                            "samples_per_s": res["samples_per_s"]})
        replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def train_model(
    ds: Dataset,
    out_dir: str | Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    min_count: int | None = None,
    ablation: bool = True,
    baselines: bool = True,
    progress: Progress | None = None,
    init_from: str | Path | None = None,
    finetune_text_layers: int = 0,
    text_cache_dir: str | Path | None = None,
    device: str = "auto",
    loss: str = "auto",
    negatives: int = DEFAULT_NEGATIVES,
    sampler: str = DEFAULT_SAMPLER,
    manifest_extra: dict[str, Any] | None = None,
    parallel: RayPlan | None = None,
    evaluation_extra: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train the transformer (+ no-text ablation), evaluate, write the artifact to ``out_dir``.

    The manifest records the event-log prefix ``ds`` includes (``"event_log"``,
    :mod:`recsys.updates`), the newest training event's time and ``manifest_extra``.
    An existing artifact in ``out_dir`` is replaced atomically (built in a temporary
    sibling directory, then swapped in). ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"``;
    ``loss``/``negatives``/``sampler``: :func:`~recsys.models.transformer.loss.choose_loss`;
    ``parallel``: train on Ray Train workers (starting a local Ray or joining
    ``parallel.address`` unless Ray is already running). Returns ``{"model_dir",
    "epochs", "train_seconds", "threads", "device", "loss", "negatives", "sampler",
    "workers", "samples_per_s", "valid": {"ndcg@10", ...}, "test": {...}}``;
    ``"ablation"`` holds the same for the no-text model when trained.
    ``evaluation_extra``: keys added to ``evaluation.json`` before the swap (e.g. the
    app's ``"pending"``), so the artifact appears with them in one step.
    """
    from recsys.evaluation import PROTOCOL, evaluate_scorer, leave_one_out
    from recsys.text import item_embeddings
    from recsys.updates import log_record

    t_start = time.perf_counter()
    if min_count is not None:
        from recsys.data import filter_min_count

        ds = filter_min_count(ds, min_count)
    split = leave_one_out(ds)
    if split.n_eval == 0:
        raise DataError("no user has 3 or more interactions: nothing to validate or test on")
    prev, config = _config(init_from, finetune_text_layers, overrides)
    spec = choose_loss(loss, ds.n_items, negatives, sampler)

    p_text, p_main, p_abl = (0.0, 0.1), (0.1, 0.6 if ablation else 0.9), (0.6, 0.9)
    te = item_embeddings(ds, cache_dir=text_cache_dir, progress=_sub(progress, *p_text))
    abl: tuple[TransformerRecommender, dict[str, Any]] | None = None
    with ExitStack() as stack:
        fit, facts = _fit_options(stack, seed, epochs, spec, device, parallel, min_count)
        model = fit_transformer(ds, split, te, config, init_from=prev, progress=_sub(progress, *p_main), **fit)
        te_model = model.text_emb if model.text_emb is not None else te
        if progress:
            progress(p_main[1], "evaluating the transformer")
        valid = evaluate_scorer(model, ds, split, "valid", text_emb=te_model, groups=False)
        test = evaluate_scorer(model, ds, split, "test", text_emb=te_model)
        models: dict[str, dict[str, Any]] = {model.name: test}
        valids: dict[str, dict[str, float]] = {model.name: accuracy(valid)}
        if ablation:
            abl_model, result_abl, a_test = _ablation(ds, split, config, prev, te, _sub(progress, *p_abl), **fit)
            models[abl_model.name] = a_test
            valids[abl_model.name] = result_abl["valid"]
            abl = (abl_model, result_abl)
    if baselines:
        models.update(evaluate_baselines(ds, split, te, _sub(progress, 0.9, 0.98)))

    evaluation = {
        "dataset": {"source": ds.source, "fingerprint": ds.fingerprint, "users": ds.n_users,
                    "items": ds.n_items, "interactions": ds.n_interactions, "min_count": min_count,
                    "tie_order": ds.tie_order},
        "protocol": PROTOCOL,
        "stage": "test",
        "seed": seed,
        "users": int(split.n_eval),
        "models": models,
        "valid": valids,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(evaluation_extra or {}),
    }
    new_items = _new_items(ds, split, config)
    out = Path(out_dir)
    import torch

    threads = parallel.threads if parallel is not None else torch.get_num_threads()  # per worker
    extra = {"min_count": min_count, "init_from": str(init_from) if init_from else None,
             "train_threads": threads,  # results depend on it (recsys/runtime.py)
             "train_users": int(sum(1 for s in split.train if len(s))),
             "history": model.log.history[-50:], "new_items": new_items,
             **facts, "samples_per_s": round(model.log.samples_per_s, 1),
             "event_log": log_record(ds), "trained_newest_event": int(ds.timestamp.max()),
             **(manifest_extra or {})}
    _store(out, ds, model, {"valid": accuracy(valid), "test": accuracy(test)}, extra, evaluation, abl)
    if progress:
        progress(1.0, f"done: test NDCG@10 {test['ndcg@10']:.4f}")
    result: dict[str, Any] = {
        "model_dir": str(out),
        "epochs": model.log.epochs,
        "best_epoch": model.log.best_epoch,
        "train_seconds": round(model.log.train_seconds, 3),
        "threads": extra["train_threads"],
        **facts,
        "samples_per_s": extra["samples_per_s"],
        # epochs after which the plateau schedule went back to the best state at a lower rate
        "lr_lowered_at": [int(h["epoch"]) for h in model.log.history if "lr_factor" in h],
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "valid": accuracy(valid),
        "test": accuracy(test),
    }
    if new_items is not None:
        result["new_items"] = new_items
    if model.log.worker_users:  # data-parallel: users held by each worker (disjoint shards)
        result["worker_users"] = model.log.worker_users
    if abl is not None:
        result["ablation"] = abl[1]
    return result


def _fit_options(stack: ExitStack, seed: int, epochs: int | None, spec: LossSpec, device: str,
                 parallel: RayPlan | None, min_count: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the keyword arguments of :func:`fit_transformer`, the training facts recorded in
    the manifest and the result). With ``parallel``, Ray is started (or joined) on
    ``stack`` and the device is resolved against the cluster's GPUs."""
    from recsys.runtime import resolve_device

    plan = None
    if parallel is None:
        dev = resolve_device(device)
    else:
        from recsys.train_ray import cluster_device, ray_session

        plan = dataclasses.replace(parallel, min_count=min_count)
        dev = cluster_device(stack.enter_context(ray_session(plan)), device, plan)
    fit = {"seed": seed, "epochs": epochs, "loss": spec, "device": dev, "parallel": plan}
    facts = {"device": dev, **spec.describe(), "workers": plan.workers if plan is not None else 1}
    assert tuple(facts) == TRAINING_FACTS
    return fit, facts


def load_evaluation(model_dir: str | Path) -> dict[str, Any] | None:
    """The ``evaluation.json`` stored beside an artifact, or None if absent."""
    f = Path(model_dir) / EVALUATION_FILE
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"damaged JSON: {e.msg}", file=str(f), line=e.lineno) from None
