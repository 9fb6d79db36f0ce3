"""Evaluate the transformer and the baselines under one protocol.

The protocol is ``recsys.evaluation.PROTOCOL``: leave-one-out by time, full ranking, seen
items excluded.

``evaluate --data SRC [--model DIR] [--min-count N] [--seeds K]``: with ``--model`` the
artifact in DIR (and ``DIR/no_text/`` if present) is evaluated; without it K seeds of
the transformer (+ no-text ablation) are trained into a temporary directory first.
MostPopular, ItemKNN and EASE are always evaluated (deterministic: fitted once), and
the content-based TextSimilarity whenever the item text embeddings are available.
Every model reports the mean over seeds of each metric, plus ``<metric>_std``
(sample standard deviation) when K > 1. ``--tie-order hash|id`` orders same-second
interactions (default: the ``--model`` artifact's order, else hash); the JSON reports it
(``tie_order``, also in ``protocol``) with ``tied_test_share``, the share of evaluated
users whose test item shares its timestamp with the item before it.

``evaluate --prequential [--window N] [--last F]`` evaluates on the event stream
instead (:mod:`recsys.commands.evaluate_prequential`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np

from recsys.commands import evaluate_prequential as prequential
from recsys.commands.options import add_min_count, resolve_min_count, resolve_tie_order
from recsys.data.types import DataError, Dataset
from recsys.evaluation import PROTOCOL, Split, baseline_scorers, evaluate_scorer, leave_one_out
from recsys.evaluation.split import tied_test_share
from recsys.models.base import Scorer

MODEL_ORDER = ("transformer", "transformer_no_text", "popularity", "itemknn", "ease", "text_similarity")
TABLE_KEYS = ("ndcg@10", "hr@10", "mrr@10", "coverage@10", "long_tail_share", "gini")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, metavar="DIR", help="evaluate this trained artifact")
    add_min_count(parser)
    parser.add_argument("--seeds", type=int, default=1, metavar="K", help="train and average K seeds (default 1)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="max epochs when training here")
    parser.add_argument(
        "--baselines-only", action="store_true", help="evaluate only MostPopular, ItemKNN and EASE"
    )
    parser.add_argument(
        "--no-ild", action="store_true", help="skip ILD@10 (avoids encoding item texts when not cached)"
    )
    prequential.add_arguments(parser)


def _say(msg: str) -> None:
    print(f"[evaluate] {msg}", file=sys.stderr, flush=True)


def _progress_printer(prefix: str) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` printing at most every 10% (and on new messages)."""
    state = {"last": -1.0, "msg": ""}

    def progress(fraction: float, message: str) -> None:
        if fraction - state["last"] >= 0.1 or fraction >= 1.0 or (message != state["msg"] and fraction == 0):
            state["last"], state["msg"] = fraction, message
            _say(f"{prefix}{100 * fraction:5.1f}% {message}")

    return progress


def _text_embeddings(ds: Dataset, models: list[Scorer], enabled: bool = True) -> np.ndarray | None:
    """The item text embeddings for ILD@10 (the same for every model), or None."""
    if not enabled:
        return None
    try:
        from recsys.text import item_embeddings
    except ImportError as e:  # pragma: no cover - text tower not installed
        _say(f"no text embeddings ({e}); ILD@10 skipped")
        return None
    try:
        return item_embeddings(ds, progress=_progress_printer("text embeddings "))
    except (OSError, RuntimeError, ImportError) as e:
        for m in models:
            te = getattr(m, "text_emb", None)
            if te is not None:
                return np.asarray(te, dtype=np.float32)
        _say(f"no text embeddings ({type(e).__name__}: {e}); ILD@10 skipped")
        return None


def _mean_nested(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Leaf-wise mean of nested {key: number | dict} dicts (keys of the first)."""
    out: dict[str, Any] = {}
    for k, v in dicts[0].items():
        vals = [d[k] for d in dicts if k in d]
        out[k] = _mean_nested(vals) if isinstance(v, dict) else float(np.mean(vals))
    return out


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over runs of every numeric metric (nested group dicts leaf-wise); with more
    than one run also ``<metric>_std`` (sample std, ddof=1) for the top-level metrics."""
    out: dict[str, Any] = {}
    for key, val in runs[0].items():
        vals = [r[key] for r in runs if key in r]
        if key in ("users", "users_by", "users_by_target_pop") or isinstance(val, bool) or not isinstance(val, (int, float, dict)):
            out[key] = val
        elif isinstance(val, dict):
            out[key] = _mean_nested(vals)
        else:
            arr = np.asarray(vals, dtype=np.float64)
            out[key] = float(arr.mean())
            if len(runs) > 1:
                out[f"{key}_std"] = float(arr.std(ddof=1))
    return out


def _evaluate_baselines(ds: Dataset, split: Split, text_emb: np.ndarray | None, n_seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, fit in baseline_scorers(text_emb):
        t0 = time.perf_counter()
        model = cast(Scorer, fit(split))  # every baseline is a Scorer (baseline_scorers types it loosely)
        fit_s = time.perf_counter() - t0
        res = evaluate_scorer(model, ds, split, "test", text_emb=text_emb)
        res = aggregate([res] * max(1, n_seeds))  # deterministic: same result for every seed
        res["fit_seconds"] = round(fit_s, 3)
        res["deterministic"] = True
        out[name] = res
        _say(f"{name}: NDCG@10 {res['ndcg@10']:.4f}  HR@10 {res['hr@10']:.4f}  (fit {fit_s:.2f}s)")
    return out


def _load_transformers(model_dir: Path, ds: Dataset) -> dict[str, Scorer]:
    from recsys.models.transformer import TransformerRecommender

    found: dict[str, Scorer] = {"transformer": TransformerRecommender.load(model_dir, ds)}
    if (model_dir / "no_text").is_dir():
        found["transformer_no_text"] = TransformerRecommender.load(model_dir / "no_text", ds)
    return found


def _train_seed(ds: Dataset, out_dir: Path, seed: int, epochs: int | None) -> None:
    try:
        from recsys.train import train_model
    except ImportError as e:
        raise DataError(f"transformer training is unavailable ({e}); use --model DIR or --baselines-only") from None
    train_model(ds, out_dir, seed=seed, epochs=epochs, progress=_progress_printer(f"seed {seed} "),
                ablation=True, baselines=False)


def _training_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """Epochs, best epoch and training seconds recorded in a model's manifest."""
    keep = ("epochs", "best_epoch", "train_seconds")
    return {k: manifest[k] for k in keep
            if isinstance(manifest.get(k), (int, float)) and not isinstance(manifest.get(k), bool)}


def _check_args(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise DataError(f"--seeds must be at least 1, got {args.seeds}")
    if args.model is not None and args.baselines_only:
        raise DataError("--model and --baselines-only exclude each other")
    if args.model is not None and not Path(args.model).is_dir():
        raise DataError("model directory not found", file=args.model)


Runs = dict[str, list[dict[str, Any]]]


def _score_artifact(args: argparse.Namespace, ds: Dataset, split: Split) -> tuple[Runs, np.ndarray | None]:
    """Test metrics of the ``--model`` artifact (and its no-text ablation)."""
    models = _load_transformers(Path(args.model), ds)
    text_emb = _text_embeddings(ds, list(models.values()), not args.no_ild)
    runs: Runs = {}
    for name, m in models.items():
        _say(f"scoring {name} from {args.model}")
        runs[name] = [evaluate_scorer(m, ds, split, "test", text_emb=text_emb)]
    return runs, text_emb


def _train_and_score(args: argparse.Namespace, ds: Dataset, split: Split) -> tuple[Runs, Runs, np.ndarray | None]:
    """Train ``--seeds`` seeds (+ ablation) into a temporary directory; (test metrics,
    training facts, text embeddings) per model."""
    runs: Runs = {}
    facts: Runs = {}
    text_emb: np.ndarray | None = None
    with tempfile.TemporaryDirectory(prefix="recsys-eval-") as tmp:
        for seed in range(args.seeds):
            _say(f"training seed {seed + 1}/{args.seeds}")
            seed_dir = Path(tmp) / f"seed{seed}"
            _train_seed(ds, seed_dir, seed, args.epochs)
            models = _load_transformers(seed_dir, ds)
            if text_emb is None:
                text_emb = _text_embeddings(ds, list(models.values()), not args.no_ild)
            for name, m in models.items():
                res = evaluate_scorer(m, ds, split, "test", text_emb=text_emb)
                runs.setdefault(name, []).append(res)
                facts.setdefault(name, []).append(_training_facts(getattr(m, "manifest", {}) or {}))
                _say(f"seed {seed}: {name} NDCG@10 {res['ndcg@10']:.4f}  HR@10 {res['hr@10']:.4f}")
    return runs, facts, text_emb


def _model_results(runs: Runs, facts: Runs, model_dir: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, rs in runs.items():
        results[name] = aggregate(rs)
        results[name]["seeds"] = len(rs)
        if facts.get(name):
            results[name]["training"] = facts[name]
        if model_dir is not None:
            results[name]["model_dir"] = str(Path(model_dir) / ("no_text" if name.endswith("no_text") else ""))
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.data import load

    _check_args(args)
    prequential.check_args(args)
    if args.prequential:
        return prequential.run(args)
    t_start = time.perf_counter()
    min_count = resolve_min_count(args)
    ds = load(args.data, min_count=min_count, tie_order=resolve_tie_order(args))
    split = leave_one_out(ds)
    _say(f"{ds.source}: {ds.n_users} users, {ds.n_items} items, {ds.n_interactions} interactions; "
         f"{split.n_eval} users evaluated")
    if split.n_eval == 0:
        raise DataError("no users to evaluate (every user has fewer than 3 interactions)")

    runs: Runs = {}
    facts: Runs = {}
    text_emb: np.ndarray | None = None
    n_seeds = 1
    if args.model is not None:
        runs, text_emb = _score_artifact(args, ds, split)
    elif not args.baselines_only:
        n_seeds = args.seeds
        runs, facts, text_emb = _train_and_score(args, ds, split)
    if text_emb is None:
        text_emb = _text_embeddings(ds, [], not args.no_ild)

    results = _model_results(runs, facts, args.model)
    results.update(_evaluate_baselines(ds, split, text_emb, n_seeds if runs else 1))
    ordered = {k: results[k] for k in MODEL_ORDER if k in results}
    ordered.update({k: v for k, v in results.items() if k not in ordered})

    out: dict[str, Any] = {
        "data": ds.source,
        "fingerprint": ds.fingerprint[:16],
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "evaluated_users": split.n_eval,
        "tie_order": ds.tie_order,
        "tied_test_share": tied_test_share(ds),
        "protocol": {**PROTOCOL, "seeds": n_seeds, "min_count": min_count, "tie_order": ds.tie_order,
                     "baselines": "fitted on every interaction before each user's test item"},
        "models": ordered,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    out["_text"] = render_table(out)
    return out


def render_table(result: dict[str, Any]) -> str:
    """Human-readable comparison table."""
    head = f"{'model':<22}" + "".join(f"{k:>10}{'':7}" for k in TABLE_KEYS)
    lines = [
        f"{result['data']}: {result['users']} users ({result['evaluated_users']} evaluated), "
        f"{result['items']} items — {result['protocol']['summary']}",
        *([f"tie order {result['tie_order']}: {result['tied_test_share']:.1%} of the evaluated users' test items "
           "share their timestamp with the item before"] if "tied_test_share" in result else []),
        head,
        "-" * len(head),
    ]
    for name, m in result["models"].items():
        cells = []
        for k in TABLE_KEYS:
            v = m.get(k)
            sd = m.get(f"{k}_std")
            cells.append(f"{'':>17}" if v is None else f"{v:>10.4f}" + (f" ±{sd:.4f}" if sd is not None else " " * 7))
        lines.append(f"{name:<22}" + "".join(cells))
    lines.append(f"({result['seconds']}s)")
    return "\n".join(lines)
