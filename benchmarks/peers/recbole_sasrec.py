"""A peer: RecBole 1.2.1's SASRec trained on OUR split and scored by OUR evaluator.

    .venv/bin/python benchmarks/peers/recbole_sasrec.py [--data DIR] [--seed 0]
        [--max-minutes M] [--epochs N] [--workdir DIR] [--venv DIR] [--write FILE]

One run of this script, from the main venv:

1. loads ``--data`` (default ML-100K) with our loader (tie order ``hash``, the default)
   and splits it with :func:`recsys.evaluation.split.leave_one_out`;
2. writes that split as RecBole atomic files (``benchmark_filename`` = train / valid /
   test, so RecBole does not re-split, filter or augment anything):

   * ``reclens.train.inter``: one row per prefix of every user's training sequence
     ``train[u]`` (target ``train[u][j]``, input the up to 50 items before it) — RecBole's
     own augmentation of a sequence, done here because RecBole 1.2.1's
     ``SequentialDataset`` skips ``data_augmentation`` when ``benchmark_filename`` is
     set and expects pre-augmented rows with an ``item_id_list:token_seq`` field;
   * ``reclens.valid.inter``: per evaluated user, input ``train[u]`` (last 50), target
     the validation item;
   * ``reclens.test.inter``: input ``train[u]`` + the validation item (last 50), target
     the test item;
   * ``reclens.item``: every item of the catalogue (so items seen only as a validation
     or test target, or never, still get an id);

   tokens are our user / item indices; ``alias_of_item_id: [item_id_list]`` puts the
   input lists in the item id space;
3. creates (once) the peer's own virtual environment — never the repo's: RecBole 1.2.1
   needs older numpy / pandas / scipy / setuptools than our stack — and re-runs this
   file with its python in ``--inner`` mode, which trains SASRec, early-stops it on
   RecBole's validation NDCG@10, keeps the best state in memory (RecBole writes no
   checkpoint: its checkpoints are pickles) and writes the test / validation score
   matrices of that state as ``.npy``
   (float32, rows = our evaluated users in order, columns = our item indices);
4. ranks those matrices with our evaluator (``rank_of_targets`` with the user's seen
   items masked, ``accuracy_metrics``) exactly as our models are evaluated, and prints
   one markdown table with the peer's row beside our rows (read from
   ``benchmarks/results/model_ml100k_hash.json``); ``--write`` stores the JSON
   (default ``benchmarks/results/recbole_sasrec_ml100k.json``).

SASRec settings (RecBole's SASRec defaults and the usual ML-100K settings): hidden_size
64, inner_size 256, n_layers 2, n_heads 2, hidden / attention dropout 0.5, gelu,
loss_type CE (no negative sampling), MAX_ITEM_LIST_LENGTH 50, Adam lr 0.001, no weight
decay, train_batch_size 2048, eval_batch_size 4096, epochs 300 (``--epochs``), eval_step
1, stopping_step 10 (training stops after 11 validations without a new best),
valid_metric NDCG@10 (full sort), seed ``--seed``, reproducibility True, CPU, 1 torch
thread, show_progress False. Checkpoints, RecBole's logs and the atomic files live in
``--workdir`` (default ``<peer home>/runs/recbole_sasrec-<data>-seed<seed>``).

RecBole's own validation metric (used for early stopping) does not mask a user's seen
items (RecBole 1.2.1's full-sort loader keeps no history for sequential models); our
evaluator masks them. RecBole's own unmasked test metrics are kept in the JSON as a
cross-check of the score matrix (our evaluator without the mask must agree with them).

``--max-minutes`` caps the training's wall clock: RecBole's per-epoch ``callback_fn``
(called after each validation) stops training when the next epoch would
pass the cap; the best state so far is scored and the JSON says
``"stopped_by": "time cap"`` (else ``"early stopping"``, or ``"epoch limit"`` when
``--epochs`` ran out first).

The peer environment (``--venv``; default ``$RECSYS_HOME/peers/recbole-1.2.1``, else
``~/.cache/reclens/peers/recbole-1.2.1``) is made with ``python -m venv`` from the
interpreter running this script (Python 3.11) and these pins (``PINS``), which never
enter requirements.txt:

    recbole==1.2.1     the peer
    torch==2.13.0      CPU wheel (falls back to the CPU torch pip picks if not found)
    numpy==1.26.4      RecBole 1.2.1 predates numpy 2
    scipy==1.11.4      of numpy 1.26's era
    pandas==2.1.4      pandas 3 (pip's pick) changes copy / string semantics RecBole uses
    scikit-learn==1.3.2
    setuptools==80.9.0 ray 2.6.3 imports pkg_resources (gone from setuptools 81); torch needs >= 77
    protobuf==4.25.3   ray 2.6.3's generated code predates protobuf 5+
    tensorboard==2.15.2 (RecBole's Trainer always opens a SummaryWriter)
    ray==2.6.3         RecBole pins ray<=2.6.3 (imported by recbole.quick_start, unused here)

colorlog 4.7.2 and colorama 0.4.4 are pinned by RecBole itself; the other dependencies
(thop, texttable, tabulate, plotly, psutil, tqdm, pyyaml) are what pip resolves, and the
full ``pip freeze`` of the peer environment is recorded in the JSON.

A missing data directory prints one ``error: ...`` line and exits 2.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path("/work/shared/data/ml-100k")
OURS_FILE = REPO / "benchmarks" / "results" / "model_ml100k_hash.json"
DEFAULT_WRITE = REPO / "benchmarks" / "results" / "recbole_sasrec_ml100k.json"
DATASET = "reclens"  # RecBole's dataset name (the atomic files' prefix)
MAX_LEN = 50
OUR_ROWS = (("models", "transformer"), ("models", "transformer_no_text"),
            ("baselines", "ease"), ("baselines", "itemknn"), ("baselines", "popularity"))
PINS = (
    "recbole==1.2.1",
    "torch==2.13.0",
    "numpy==1.26.4",
    "scipy==1.11.4",
    "pandas==2.1.4",
    "scikit-learn==1.3.2",
    "setuptools==80.9.0",
    "protobuf==4.25.3",
    "tensorboard==2.15.2",
    "ray==2.6.3",
)
SASREC = {
    "hidden_size": 64,
    "inner_size": 256,
    "n_layers": 2,
    "n_heads": 2,
    "hidden_dropout_prob": 0.5,
    "attn_dropout_prob": 0.5,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "initializer_range": 0.02,
    "loss_type": "CE",
    "learning_rate": 0.001,
    "weight_decay": 0.0,
    "train_batch_size": 2048,
    "eval_batch_size": 4096,
    "eval_step": 1,
    "stopping_step": 10,
    "valid_metric": "NDCG@10",
    "MAX_ITEM_LIST_LENGTH": MAX_LEN,
}
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


class UsageError(Exception):
    """Bad input: reported as one ``error:`` line, exit 2."""


def log(msg: str) -> None:
    print(f"[recbole_sasrec] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- outer: our split -> files


def write_atomic_files(sp: Any, n_items: int, folder: Path) -> dict[str, int]:
    """Write the split as RecBole benchmark files; returns the expected row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"

    def row(u: int, hist: np.ndarray, target: int) -> str:
        return f"{u}\t{' '.join(map(str, hist[-MAX_LEN:].tolist()))}\t{target}\n"

    n_train = 0
    with open(folder / f"{DATASET}.train.inter", "w") as f:
        f.write(header)
        for u, seq in enumerate(sp.train):
            for j in range(1, len(seq)):
                f.write(row(u, seq[:j], int(seq[j])))
                n_train += 1
    for stage in ("valid", "test"):
        hists, _, targets = sp.inputs(stage)
        with open(folder / f"{DATASET}.{stage}.inter", "w") as f:
            f.write(header)
            for u, h, t in zip(sp.eval_users.tolist(), hists, targets.tolist()):
                f.write(row(u, h, t))
    (folder / f"{DATASET}.item").write_text("item_id:token\n" + "".join(f"{i}\n" for i in range(n_items)))
    return {"train": n_train, "valid": sp.n_eval, "test": sp.n_eval}


def padded_inputs(sp: Any, stage: str) -> tuple[np.ndarray, np.ndarray]:
    """(E, 50) int64 last-50 histories (right-padded with -1) and their lengths."""
    hists, _, _ = sp.inputs(stage)
    out = np.full((len(hists), MAX_LEN), -1, dtype=np.int64)
    lens = np.zeros(len(hists), dtype=np.int64)
    for r, h in enumerate(hists):
        h = np.asarray(h[-MAX_LEN:], dtype=np.int64)
        out[r, : len(h)] = h
        lens[r] = len(h)
    return out, lens


# ---------------------------------------------------------------- outer: the peer's venv


def default_venv() -> Path:
    home = os.environ.get("RECSYS_HOME")
    root = Path(home) / "peers" if home else Path.home() / ".cache" / "reclens" / "peers"
    return root / "recbole-1.2.1"


def peer_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> list[str]:
    """Create the peer venv with PINS unless it already holds them; returns the
    requirements actually installed (torch may fall back to pip's CPU pick)."""
    marker = venv / "reclens-pins.json"
    if marker.is_file() and peer_python(venv).exists():
        installed = json.loads(marker.read_text())
        if installed.get("wanted") == list(PINS):
            return installed["installed"]
    if venv.resolve().is_relative_to(REPO):
        raise UsageError(f"the peer venv must live outside the repo, not {venv}")
    log(f"creating the peer venv {venv} (a few minutes, once)")
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_log = venv / "pip-install.log"
    pinned: list[str] = list(PINS)
    fallback = ["torch" if r.startswith("torch==") else r for r in pinned]  # pip's CPU torch
    for reqs in (pinned, fallback):
        with open(pip_log, "a") as f:
            res = subprocess.run([str(peer_python(venv)), "-m", "pip", "install", *reqs],
                                 stdout=f, stderr=subprocess.STDOUT)
        if res.returncode == 0:
            marker.write_text(json.dumps({"wanted": pinned, "installed": reqs}, indent=1) + "\n")
            return reqs
        log(f"pip install {' '.join(reqs)} failed (see {pip_log})")
    raise RuntimeError(f"pip could not install the peer's pins (see {pip_log})")


def pip_freeze(venv: Path) -> list[str]:
    out = subprocess.run([str(peer_python(venv)), "-m", "pip", "freeze"], capture_output=True, text=True)
    return out.stdout.split()


# ---------------------------------------------------------------- outer: evaluate + report


def evaluate(scores: np.ndarray, sp: Any, stage: str, mask: bool = True) -> dict[str, float]:
    from recsys.evaluation.metrics import accuracy_metrics, rank_of_targets

    hists, _, targets = sp.inputs(stage)
    if scores.shape != (sp.n_eval, sp.n_items):
        raise RuntimeError(f"{stage} scores have shape {scores.shape}, expected {(sp.n_eval, sp.n_items)}")
    ranks = rank_of_targets(scores, targets, hists if mask else None)
    return accuracy_metrics(ranks, ks=(5, 10))


def our_rows(path: Path) -> dict[str, dict[str, Any]]:
    ours = json.loads(path.read_text())
    rows = {}
    for section, name in OUR_ROWS:
        r = ours.get(section, {}).get(name)
        if r is not None:
            rows[name] = {k: r.get(k) for k in ("ndcg@10", "hr@10", "train_wall_seconds", "epochs")}
            rows[name]["seeds"] = ours.get("seeds")
            rows[name]["created"] = ours.get("created")
    return rows


def fmt(v: Any, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def render(r: dict[str, Any]) -> str:
    p = r["peer"]
    lines = [
        f"ML-100K leave-one-out, full ranking, seen items masked ({r['users_evaluated']} users, "
        f"{r['items']} items); ours: mean of {r['ours_seeds']} seeds from {r['ours_file']}",
        "",
        "| model | NDCG@10 | HR@10 | train time (s, this machine) | epochs | best epoch |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| RecBole 1.2.1 SASRec (seed {r['seed']}, {p['stopped_by']}) | {p['ndcg@10']:.4f} | "
        f"{p['hr@10']:.4f} | {p['train_wall_seconds']:.0f} | {p['epochs']} | {p['best_epoch']} |",
    ]
    for name, o in r["ours"].items():
        lines.append(f"| {name} | {fmt(o['ndcg@10'], '.4f')} | {fmt(o['hr@10'], '.4f')} | "
                     f"{fmt(o['train_wall_seconds'], '.0f')} | {fmt(o['epochs'], '.0f')} | — |")
    c = r["crosscheck_unmasked"]
    lines += [
        "",
        f"peer validation NDCG@10 (ours, masked) {p['valid_ndcg@10']:.4f}; "
        f"RecBole's own best validation NDCG@10 (unmasked) {p['recbole_best_valid_ndcg@10']:.4f}",
        f"cross-check, test NDCG@10 unmasked: our evaluator {c['ours_ndcg@10']:.4f} vs RecBole's "
        f"{c['recbole_ndcg@10']:.4f}",
        f"torch {r['peer_torch']}, {r['threads']} thread; load average at start {r['loadavg_start'][0]}",
    ]
    return "\n".join(lines)


def outer(a: argparse.Namespace) -> int:
    data = Path(a.data)
    if not data.is_dir():
        raise UsageError(f"no such data directory: {data}")
    sys.path.insert(0, str(REPO))
    from recsys.data import DataError, load
    from recsys.evaluation.split import leave_one_out

    load0 = os.getloadavg()
    t0 = time.time()
    try:
        ds = load(str(data), tie_order="hash")
    except DataError as e:
        raise UsageError(str(e)) from None
    sp = leave_one_out(ds)
    work = Path(a.workdir) if a.workdir else default_venv().parent / "runs" / f"recbole_sasrec-{data.name}-seed{a.seed}"
    for sub in ("dataset", "saved", "log", "log_tensorboard", "out"):
        shutil.rmtree(work / sub, ignore_errors=True)
    expected = write_atomic_files(sp, ds.n_items, work / "dataset" / DATASET)
    valid_in, valid_len = padded_inputs(sp, "valid")
    test_in, test_len = padded_inputs(sp, "test")
    (work / "out").mkdir(parents=True)
    np.savez(work / "out" / "inputs.npz", valid=valid_in, valid_len=valid_len, test=test_in, test_len=test_len,
             users=sp.eval_users)
    spec = {"seed": a.seed, "epochs": a.epochs, "max_minutes": a.max_minutes, "n_items": ds.n_items,
            "n_users": ds.n_users, "expected_rows": expected, "sasrec": SASREC}
    (work / "out" / "spec.json").write_text(json.dumps(spec, indent=1))

    venv = Path(a.venv) if a.venv else default_venv()
    installed = ensure_venv(venv)
    env = {**os.environ, **THREAD_ENV, "PYTHONHASHSEED": str(a.seed)}
    cmd = [str(peer_python(venv)), str(Path(__file__).resolve()), "--inner", "--workdir", str(work)]
    log(f"training in the peer venv (workdir {work}); RecBole's log: {work / 'log'}")
    res = subprocess.run(cmd, cwd=work, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"the peer's inner run failed (exit {res.returncode}); see {work / 'log'}")
    inner = json.loads((work / "out" / "inner.json").read_text())
    test_scores = np.load(work / "out" / "test_scores.npy", allow_pickle=False)
    valid_scores = np.load(work / "out" / "valid_scores.npy", allow_pickle=False)
    test = evaluate(test_scores, sp, "test")
    valid = evaluate(valid_scores, sp, "valid")
    unmasked = evaluate(test_scores, sp, "test", mask=False)
    own = inner["recbole_test_unmasked"]
    if abs(unmasked["ndcg@10"] - own["ndcg@10"]) > 2e-3 or abs(unmasked["hr@10"] - own["hit@10"]) > 2e-3:
        raise RuntimeError(f"score matrix disagrees with RecBole's own test metrics: {unmasked} vs {own}")
    ours = our_rows(Path(a.ours))
    r: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", os.path.relpath(Path(__file__).resolve(), REPO), *a.argv]),
        "data": str(data),
        "tie_order": ds.tie_order,
        "seed": a.seed,
        "users": ds.n_users,
        "users_evaluated": sp.n_eval,
        "items": ds.n_items,
        "interactions": ds.n_interactions,
        "rows": inner["rows"],
        "peer": {
            "ndcg@10": test["ndcg@10"], "hr@10": test["hr@10"], "mrr@10": test["mrr@10"],
            "ndcg@5": test["ndcg@5"], "hr@5": test["hr@5"], "valid_ndcg@10": valid["ndcg@10"],
            "epochs": inner["epochs"], "best_epoch": inner["best_epoch"], "stopped_by": inner["stopped_by"],
            "train_wall_seconds": round(inner["train_wall_seconds"], 1),
            "train_cpu_seconds": round(inner["train_cpu_seconds"], 1),
            "recbole_best_valid_ndcg@10": inner["recbole_best_valid"]["ndcg@10"],
            "recbole_valid_curve_ndcg@10": inner["valid_curve"],
        },
        "crosscheck_unmasked": {"ours_ndcg@10": unmasked["ndcg@10"], "ours_hr@10": unmasked["hr@10"],
                                "recbole_ndcg@10": own["ndcg@10"], "recbole_hr@10": own["hit@10"]},
        "config": {**SASREC, "epochs": a.epochs, "max_minutes": a.max_minutes, "seed": a.seed,
                   "reproducibility": True, "device": "cpu", "benchmark_filename": ["train", "valid", "test"]},
        "pins": list(PINS),
        "installed": installed,
        "peer_torch": inner["torch"],
        "peer_freeze": pip_freeze(venv),
        "threads": inner["threads"],
        "ours": ours,
        "ours_file": os.path.relpath(Path(a.ours).resolve(), REPO),
        "ours_seeds": next(iter(ours.values()), {}).get("seeds"),
        "ours_created": next(iter(ours.values()), {}).get("created"),
        "wall_seconds": round(time.time() - t0, 1),
        "loadavg_start": [round(x, 2) for x in load0],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if a.write:
        out = Path(a.write)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(r, indent=1) + "\n")
    print(render(r))
    return 0


# ---------------------------------------------------------------- inner: RecBole (peer venv only)


class TimeCap(Exception):
    """Raised by the per-epoch callback when the next epoch would pass the cap."""


def recbole_config(work: Path, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **spec["sasrec"],
        "data_path": str(work / "dataset"),
        "checkpoint_dir": str(work / "saved"),
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": None,
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"], "item": ["item_id"]},
        "alias_of_item_id": ["item_id_list"],
        # no filtering (RecBole skips it for benchmark files anyway; off for the record)
        "rm_dup_inter": None,
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "filter_inter_by_user_or_item": False,
        "train_neg_sample_args": None,
        "eval_args": {"group_by": "user", "order": "TO", "split": {"LS": "valid_and_test"}, "mode": "full"},
        "metrics": ["NDCG", "Hit", "MRR"],
        "topk": [10],
        "epochs": spec["epochs"],
        "seed": spec["seed"],
        "reproducibility": True,
        "use_gpu": False,
        "worker": 0,
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "log_wandb": False,
    }


def check_rows(dataset: Any, splits: list[Any], spec: dict[str, Any], inputs: Any) -> dict[str, int]:
    """Assert RecBole kept every row, every item and our exact input sequences."""
    import torch

    rows = {name: len(d) for name, d in zip(("train", "valid", "test"), splits)}
    assert rows == spec["expected_rows"], f"RecBole rows {rows} != written {spec['expected_rows']}"
    assert dataset.item_num == spec["n_items"] + 1, f"RecBole has {dataset.item_num - 1} items"
    tok = dataset.field2token_id["item_id"]
    cols = np.array([tok[str(i)] for i in range(spec["n_items"])], dtype=np.int64)
    for name, d in zip(("valid", "test"), splits[1:]):
        users = np.array([int(t) for t in dataset.id2token("user_id", d.inter_feat["user_id"].numpy())])
        assert np.array_equal(users, inputs["users"]), f"RecBole reordered the {name} users"
        seq = d.inter_feat["item_id_list"].numpy()
        lens = d.inter_feat["item_length"].numpy()
        assert np.array_equal(lens, inputs[f"{name}_len"]), f"{name} sequence lengths differ"
        ours = inputs[name]
        want = np.where(ours >= 0, cols[np.maximum(ours, 0)], 0)
        assert np.array_equal(seq[:, : want.shape[1]], want) and not seq[:, want.shape[1]:].any(), \
            f"{name} input sequences differ"
        assert torch.is_tensor(d.inter_feat["item_id"])
    return rows


def score_matrix(model: Any, dataset: Any, seqs: np.ndarray, lens: np.ndarray, n_items: int) -> np.ndarray:
    """(E, n_items) float32 scores, columns in our item order."""
    import torch
    from recbole.data.interaction import Interaction  # pyright: ignore[reportMissingImports]

    tok = dataset.field2token_id["item_id"]
    cols = np.array([tok[str(i)] for i in range(n_items)], dtype=np.int64)
    mapped = np.where(seqs >= 0, cols[np.maximum(seqs, 0)], 0)
    inter = Interaction({"item_id_list": torch.from_numpy(mapped), "item_length": torch.from_numpy(lens)})
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(inter).view(len(lens), -1).numpy()
    return np.ascontiguousarray(scores[:, cols], dtype=np.float32)


def inner(a: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    from recbole.config import Config  # pyright: ignore[reportMissingImports]
    from recbole.data import create_dataset, data_preparation  # pyright: ignore[reportMissingImports]
    from recbole.model.sequential_recommender import SASRec  # pyright: ignore[reportMissingImports]
    from recbole.trainer import Trainer  # pyright: ignore[reportMissingImports]
    from recbole.utils import init_logger, init_seed  # pyright: ignore[reportMissingImports]

    work = Path(a.workdir).resolve()
    spec = json.loads((work / "out" / "spec.json").read_text())
    inputs = dict(np.load(work / "out" / "inputs.npz", allow_pickle=False))
    config = Config(model="SASRec", dataset=DATASET, config_dict=recbole_config(work, spec))
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    torch.set_num_threads(1)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    rows = check_rows(dataset, [train_data.dataset, valid_data.dataset, test_data.dataset], spec, inputs)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = SASRec(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)

    cap = spec["max_minutes"] * 60.0 if spec["max_minutes"] else None
    curve: list[float] = []
    t0, c0 = time.time(), time.process_time()
    last = [t0]

    best: dict[str, Any] = {}

    def at_epoch_end(epoch_idx: int, valid_score: float) -> None:
        now = time.time()
        curve.append(round(float(valid_score), 6))
        if trainer.cur_step == 0:  # RecBole's early_stopping has just recorded a new best
            best["state"] = copy.deepcopy(model.state_dict())
            best["epoch"] = epoch_idx
        epoch_seconds, last[0] = now - last[0], now
        early = trainer.cur_step > trainer.stopping_step  # RecBole stops after this epoch anyway
        if cap is not None and not early and now - t0 + epoch_seconds > cap:
            raise TimeCap

    try:
        # saved=False: RecBole writes no checkpoint (a pickle); the best state is kept in memory
        trainer.fit(train_data, valid_data, saved=False, show_progress=False, callback_fn=at_epoch_end)
        stopped_by = "epoch limit" if len(curve) >= spec["epochs"] else "early stopping"
    except TimeCap:
        stopped_by = "time cap"
    wall, cpu = time.time() - t0, time.process_time() - c0

    model.load_state_dict(best["state"])
    own_test = trainer.evaluate(test_data, load_best_model=False)
    own_valid = trainer.evaluate(valid_data, load_best_model=False)
    out = work / "out"
    for stage in ("test", "valid"):
        m = score_matrix(model, dataset, inputs[stage], inputs[f"{stage}_len"], spec["n_items"])
        np.save(out / f"{stage}_scores.npy", m)
    result = {
        "rows": rows,
        "epochs": len(curve),
        "best_epoch": int(best["epoch"]) + 1,  # 1-based, as "epochs" counts
        "stopped_by": stopped_by,
        "train_wall_seconds": wall,
        "train_cpu_seconds": cpu,
        "valid_curve": curve,
        "recbole_best_valid": {k: float(v) for k, v in own_valid.items()},
        "recbole_test_unmasked": {k: float(v) for k, v in own_test.items()},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    (out / "inner.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description="RecBole 1.2.1 SASRec on our split, scored by our evaluator")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="MovieLens directory (default ML-100K)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=300, help="RecBole's epoch limit")
    ap.add_argument("--max-minutes", type=float, default=None, help="wall-clock cap of the training")
    ap.add_argument("--workdir", default=None, help="atomic files, RecBole logs, score matrices")
    ap.add_argument("--venv", default=None, help="the peer's virtual environment (made if missing)")
    ap.add_argument("--ours", default=str(OURS_FILE), help="our results to print beside the peer")
    ap.add_argument("--write", default=str(DEFAULT_WRITE), help="results JSON ('' to skip)")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.argv = argv
    try:
        if a.inner:
            return inner(a)
        if a.epochs < 1 or (a.max_minutes is not None and a.max_minutes <= 0):
            raise UsageError("--epochs and --max-minutes must be positive")
        return outer(a)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
