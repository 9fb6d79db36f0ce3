"""Measure serving speed: recommendation, re-ranking, population mode, explanations, memory.

``bench --data SRC [--model DIR] [--users N] [--explain-users N] [--sweep] [--json]``
prints ``{"recommend_ms_p50", "rerank_ms_p50", "slider_ms_p50", "population_score_s",
"population_rerank_s", "shap_ms_p50", "lime_ms_p50", "rss_mb"}`` plus context
(model, users timed, load average). Re-ranking times exclude model scoring;
``recommend_ms_p50`` is a full recommendation (scoring + re-ranking + list metrics);
``slider_ms_p50`` is one weight change on cached scores (what a slider move costs the
engine). CPU-time medians are reported beside the wall times (the machine is shared). Explanation figures come from the ``explain`` package (null when it is not
available). ``--sweep`` adds the population λ-sweep table (NDCG@10, ILD, long-tail
share, miscalibration at w = 0, 0.25, 0.5, 0.75 per term).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recsys.commands.options import add_min_count, load_data, load_model
from recsys.data.types import DataError, Dataset, History

WEIGHTS = (0.25, 0.25, 0.25)  # the setting timed for recommend/rerank
SLIDER_STEPS = ((0.0, 0.0, 0.0), (0.3, 0.0, 0.0), (0.3, 0.2, 0.0), (0.3, 0.2, 0.2), (0.5, 0.2, 0.2), (0.1, 0.1, 0.6))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        metavar="DIR",
        help="trained transformer artifact (default: the data's default model directory; "
        "without one, an EASE baseline is fitted and timed instead)",
    )
    parser.add_argument("--users", type=int, default=50, help="users timed for per-user figures (default 50)")
    parser.add_argument("--explain-users", type=int, default=5, help="users timed for SHAP/LIME (default 5; 0 skips)")
    parser.add_argument("--candidates", type=int, default=200, help="re-ranking pool size N (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the user sample (default 0)")
    parser.add_argument("--sweep", action="store_true", help="also run and print the population λ-sweep")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_min_count(parser)


def _p50(xs: list[float]) -> float | None:
    return float(np.median(xs)) if xs else None


def _ms(f: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    f()
    return (time.perf_counter() - t0) * 1000.0


def load_scorer(ds: Dataset, model_dir: str | None) -> tuple[Any, str]:
    """(scorer, description): the transformer artifact, or an EASE baseline when no
    model directory was given and the default one does not exist."""
    from recsys.updates import resolve_model_dir

    d = Path(model_dir) if model_dir else resolve_model_dir(ds)
    if d.is_dir():
        return load_model(ds, str(d)), f"transformer ({d})"
    if model_dir:
        raise DataError(f"--model: no such directory: {model_dir}")
    from recsys.evaluation import EASE, leave_one_out

    return EASE().fit(leave_one_out(ds), "test"), f"ease (no trained model at {d})"


def _explain_times(ds: Dataset, scorer: Any, users: np.ndarray, split: Any, k: int) -> dict[str, float | None]:
    """p50 ms of one SHAP / LIME explanation (default budgets; faithfulness, counterfactual
    and summary excluded) of each user's top item."""
    try:
        import explain  # the command line is the composition root: it may import explain/
    except ImportError:
        return {"shap_ms_p50": None, "lime_ms_p50": None}
    from recsys.models.base import recommend

    explain.warm_up()
    hist, ts, _ = split.inputs("test")
    pos = {int(u): j for j, u in enumerate(split.eval_users)}
    out: dict[str, float | None] = {}
    for method in ("shap", "lime"):
        times = []
        for u in users:
            j = pos.get(int(u))
            if j is None:
                continue
            target = int(recommend(scorer, hist[j], 1).items[0])
            history = History(ds.user_ids[int(u)], hist[j], ts[j])
            times.append(
                _ms(
                    lambda history=history, target=target, method=method: explain.explain_item(
                        ds, scorer, history, target, method=method, k=k, extras=False, cache=None
                    )
                )
            )
        out[f"{method}_ms_p50"] = _p50(times)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.evaluation import leave_one_out
    from recsys.rerank import (
        FairGroup,
        Weights,
        build_context,
        evaluate_population,
        prepare_population,
        rerank,
        rerank_population,
        sweep,
    )

    if args.users < 1:
        raise DataError(f"--users must be at least 1, not {args.users}")
    if args.threads < 1:
        raise DataError(f"--threads must be at least 1, not {args.threads}")
    try:
        import torch

        # one user's forward pass is tiny: extra threads only add contention on 2 shared cores
        torch.set_num_threads(args.threads)
    except ImportError:  # pragma: no cover
        pass
    ds = load_data(args)
    scorer, model_desc = load_scorer(ds, args.model)
    emb = getattr(scorer, "text_emb", None)
    ctx = build_context(ds, emb=None if emb is None else np.asarray(emb))
    ctx.similarity()  # built once per model in the app too (cached)
    split = leave_one_out(ds)
    rng = np.random.default_rng(args.seed)
    eligible = split.eval_users
    users = rng.choice(eligible, size=min(args.users, eligible.shape[0]), replace=False)
    hist, ts, _ = split.inputs("test")
    pos = {int(u): j for j, u in enumerate(eligible)}
    w = Weights(*WEIGHTS)
    group = FairGroup()
    n = args.candidates

    rec_ms, rr_ms, slider_ms, rec_cpu, rr_cpu = [], [], [], [], []
    for u in users:  # one warm-up pass, then timed passes
        h, t = hist[pos[int(u)]], ts[pos[int(u)]]
        scorer.score([h], [t])
        rerank(ctx, scorer.score([h], [t])[0], h, w, k=10, n_candidates=n, group=group)
    for u in users:
        h, t = hist[pos[int(u)]], ts[pos[int(u)]]
        c0 = time.process_time()
        rec_ms.append(_ms(lambda h=h, t=t: rerank(ctx, scorer.score([h], [t])[0], h, w, k=10, n_candidates=n)))
        rec_cpu.append((time.process_time() - c0) * 1000.0)
        s = scorer.score([h], [t])[0]
        c0 = time.process_time()
        rr_ms.append(_ms(lambda h=h, s=s: rerank(ctx, s, h, w, k=10, n_candidates=n)))
        rr_cpu.append((time.process_time() - c0) * 1000.0)
        for step in SLIDER_STEPS:
            ws = Weights(*step)
            slider_ms.append(_ms(lambda h=h, s=s, ws=ws: rerank(ctx, s, h, ws, k=10, n_candidates=n).to_dict()))

    pop = prepare_population(ds, scorer, ctx, split=split, n_candidates=n)
    t0 = time.perf_counter()
    lists = rerank_population(ctx, pop, w, 10, group)
    pop_rerank_s = time.perf_counter() - t0
    pop_eval = evaluate_population(ctx, pop, w, 10, group, lists=lists)

    expl = {"shap_ms_p50": None, "lime_ms_p50": None}
    if args.explain_users > 0:
        expl = _explain_times(ds, scorer, users[: args.explain_users], split, 10)

    out: dict[str, Any] = {
        "recommend_ms_p50": _p50(rec_ms),
        "rerank_ms_p50": _p50(rr_ms),
        "slider_ms_p50": _p50(slider_ms),
        "population_score_s": pop.score_seconds,
        "population_rerank_s": pop_rerank_s,
        **expl,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "recommend_cpu_ms_p50": _p50(rec_cpu),
        "rerank_cpu_ms_p50": _p50(rr_cpu),
        "model": model_desc,
        "data": ds.source,
        "users_timed": int(users.shape[0]),
        "population_users": pop.n_users,
        "candidates": n,
        "weights": w.to_dict(),
        "population_metrics": {k: v for k, v in pop_eval.items() if isinstance(v, float)},
        "load_avg_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    lines = [
        f"model: {model_desc}",
        f"recommend (score + re-rank) p50: {out['recommend_ms_p50']:.1f} ms over {len(rec_ms)} users "
        f"(CPU {out['recommend_cpu_ms_p50']:.1f} ms)",
        f"re-rank one user p50:            {out['rerank_ms_p50']:.1f} ms (N={n}, k=10; CPU {out['rerank_cpu_ms_p50']:.1f} ms)",
        f"slider move (cached scores) p50: {out['slider_ms_p50']:.1f} ms",
        f"population scoring:              {pop.score_seconds:.2f} s ({pop.n_users} users)",
        f"population re-rank:              {pop_rerank_s:.2f} s",
        f"SHAP p50: {_fmt(expl['shap_ms_p50'])}   LIME p50: {_fmt(expl['lime_ms_p50'])}",
        f"max RSS: {out['rss_mb']:.0f} MB   load average: {out['load_avg_1m']:.2f} on {out['cpu_count']} cores",
    ]
    if args.sweep:
        t0 = time.perf_counter()
        df = sweep(ctx, pop, group=group)
        out["sweep_s"] = time.perf_counter() - t0
        cols = ["term", "weight", "ndcg@10", "ild", "long_tail_share", "miscalibration", "avg_popularity", "coverage", "gini"]
        table = df.loc[:, cols]
        out["sweep"] = table.to_dict(orient="records")
        lines += ["", f"λ-sweep ({out['sweep_s']:.1f} s):", table.to_string(index=False, float_format="%.4f")]
    out["_text"] = "\n".join(lines)
    return out


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"
