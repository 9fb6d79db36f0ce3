"""Data-parallel training on Ray Train: ``train --workers N [--address ADDR]``.

The driver (:func:`fit_on_ray`) starts a ``ray.train.torch.TorchTrainer`` with N workers
(``ScalingConfig(num_workers=N, use_gpu=<device is cuda>)``, process group gloo on CPU,
nccl on GPU). Each worker (:func:`train_loop`):

* fetches only its own shard of the users from Ray's object store
  (:func:`shard_refs`: the driver, which has loaded the data, cuts the leave-one-out
  split by a stable hash of the user id and puts one
  :class:`~recsys.models.transformer.parallel.UserShard` per worker — its users'
  training sequences and validation rows, plus each user's sequence length and the item
  counts every worker needs to draw the same batches). The item ids, the text
  embeddings and the starting weights of continued training travel the same way; the
  workers never read the data source, so on a cluster only the driver needs it;
* trains the same :class:`~recsys.models.transformer.trainer.Trainer` as a single
  process, with its network wrapped by ``ray.train.torch.prepare_model``
  (``DistributedDataParallel``) and a :class:`~recsys.models.transformer.parallel.TorchSync`:
  every global batch of ``batch_size`` windows is split across the workers by the owner
  of each window's user (≈ batch_size / N rows each), so the learning rate of one process
  applies unchanged (:mod:`recsys.models.transformer.parallel`). Each worker validates
  its own users; rank 0's early-stopping decision is broadcast so all workers stop
  together;
* rank 0 writes the best state (safetensors) and the training log (JSON) into a
  directory and reports it as a ``ray.train.Checkpoint`` — no pickle. The driver reads
  it back into a :class:`TransformerRecommender`, which ``train_model`` evaluates and
  saves like any other: the artifact format does not change.

Ray is imported inside these functions only; without Ray, ``--workers`` fails with one
``error:`` line and everything else works. Without ``--address`` Ray starts locally with
``workers x threads`` CPUs; with it, the run joins that cluster (RecLens must be
installed on every node). Ray Train persists checkpoints under a temporary directory
(``$RECSYS_RAY_STORAGE`` instead: on a multi-node cluster it must be shared storage,
e.g. NFS or S3), removed after the run.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from recsys.data.types import DataError, Dataset
from recsys.evaluation.split import Split
from recsys.models.transformer import TrainLog, TransformerConfig, TransformerRecommender
from recsys.models.transformer.loss import LossSpec

Progress = Callable[[float, str], None]
RAY_STORAGE_ENV = "RECSYS_RAY_STORAGE"


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """DataError unless ``host:port`` (or ``ray://host:port``) accepts a TCP connection.
    ``ray.init`` keeps retrying an address nobody listens on, so a typo would hang the
    command; ``auto`` and addresses without a port are left to Ray."""
    if not address:
        return
    text = address.strip()
    if text.startswith("ray://"):
        text = text[len("ray://"):]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    import socket

    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise DataError(f"cannot reach Ray at {address}: {reason} (is `ray start --head` running there?)") from None


def ray_init_problem(address: str | None, err: BaseException) -> str:
    """The one-line message for a Ray that cannot be started or reached. Ray >= 2.59 starts
    clusters (`ray start --head`) with token authentication on, while a driver that joins
    by address only sends the token when ``RAY_AUTH_MODE=token`` is set in its shell."""
    where = f" at {address}" if address else ""
    hint = ""
    if address and os.environ.get("RAY_AUTH_MODE", "").strip().lower() != "token":
        hint = ("; if the cluster uses token authentication (the default of `ray start` since "
                "Ray 2.59), set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN or "
                "~/.ray/auth_token) in this shell")
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"cannot start or reach Ray{where}: {first}{hint}"
STATE_FILE = "model.safetensors"
LOG_FILE = "train_log.json"


@dataclass(frozen=True)
class RayPlan:
    """How to train data-parallel: ``workers`` processes with ``threads`` torch threads
    each, on a local Ray (``address`` None) or the cluster at ``address``; ``min_count``
    records the N-core filter the driver applied (the workers receive filtered data)."""

    workers: int
    address: str | None = None
    threads: int = 1
    min_count: int | None = None


def require_ray() -> Any:
    """The ``ray`` module with Ray Train's torch support; DataError when not installed."""
    try:
        import ray
        import ray.train.torch  # noqa: F401
    except ImportError as e:
        raise DataError(f"--workers needs Ray Train (pip install 'ray[train]'; see requirements.txt): {e}") from None
    return ray


@contextmanager
def ray_session(plan: RayPlan) -> Iterator[Any]:
    """Ray for ``plan``: connect to ``plan.address``, or start a local Ray with
    ``workers x threads`` CPUs and no dashboard. A Ray already initialised in this
    process (e.g. by a test) is used as it is and left running; one started here is
    shut down on exit."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    import logging

    opts: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if plan.address:
        check_reachable(plan.address)
        opts["address"] = plan.address
    else:
        opts.update(num_cpus=plan.workers * plan.threads, include_dashboard=False)
    # a local Ray turns token authentication on and says so on stderr, over the progress
    # bar; keep the (safe) default and drop the notice
    notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        ray.init(**opts)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise DataError(ray_init_problem(plan.address, e)) from None
    finally:
        notice.setLevel(level)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_device(ray: Any, device: str, plan: RayPlan) -> str:
    """``--device`` against the GPUs of the Ray cluster (not this machine): ``"cuda"``
    needs one per worker, ``"auto"`` uses them when there are enough. On a local Ray
    (no address, e.g. one a test started) DataError unless it has the CPUs the workers
    need — Ray Train would wait for them forever."""
    from recsys.runtime import resolve_device

    res, workers = ray.cluster_resources(), plan.workers
    need = workers * plan.threads
    if not plan.address and float(res.get("CPU", 0)) < need:
        raise DataError(f"--workers {workers} with {plan.threads} thread(s) each needs {need} CPUs; the local "
                        f"Ray has {float(res.get('CPU', 0)):g}")
    gpus = float(res.get("GPU", 0))
    if device == "cuda" and gpus < workers:
        raise DataError(f"--device cuda with {workers} workers needs {workers} GPUs; the Ray cluster has {gpus:g}")
    return resolve_device(device, cuda_available=gpus >= workers)


def fit_on_ray(
    ds: Dataset,
    text_emb: np.ndarray | None,
    config: TransformerConfig,
    plan: RayPlan,
    *,
    seed: int = 0,
    epochs: int | None = None,
    loss: LossSpec | None = None,
    device: str = "cpu",
    init_from: TransformerRecommender | None = None,
    progress: Progress | None = None,
    split: Split | None = None,
) -> TransformerRecommender:
    """Train like ``TransformerRecommender.fit`` on ``split`` (default: the leave-one-out
    split of ``ds``), with ``plan.workers`` Ray Train workers, each holding one shard of
    the users (:func:`shard_refs`); returns the best model (on this machine's CPU, or its
    GPU when ``device`` is cuda and it has one). Needs a running Ray (:func:`ray_session`)."""
    ray = require_ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if config.use_text and config.finetune_text_layers > 0:
        raise DataError("--finetune-text-layers does not run with --workers (train it in one process)")
    from recsys.evaluation import leave_one_out

    split = split if split is not None else leave_one_out(ds)
    shards, gaps = shard_refs(ray, ds, split, config, plan.workers)
    init = None
    if init_from is not None:
        start = TransformerRecommender(ds.item_ids, config, text_emb, seed=seed)
        start.init_from(init_from)
        init = ray.put({k: v.detach().cpu().numpy() for k, v in start.net.state_dict().items()})
    from ray.util.queue import Queue

    updates = Queue(actor_options={"num_cpus": 0}) if progress is not None else None
    loop_config = {
        "shards": shards, "item_ids": ray.put(tuple(ds.item_ids)), "model": asdict(config), "seed": int(seed), "epochs": epochs, "loss": asdict(loss or LossSpec()),
        "threads": plan.threads, "text": ray.put(text_emb) if config.use_text else None, "init": init,
        "progress": updates,
    }
    storage, own_storage = _storage()
    name = f"reclens-train-{uuid.uuid4().hex[:12]}"
    trainer = TorchTrainer(
        train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=plan.workers, use_gpu=device == "cuda",
                                     resources_per_worker={"CPU": plan.threads}),
        torch_config=TorchConfig(backend="nccl" if device == "cuda" else "gloo"),
        run_config=RunConfig(name=name, storage_path=storage),
    )
    try:
        with _relay(updates, progress):
            result = _fit(trainer)
        if result.checkpoint is None:
            raise DataError("Ray Train finished without a checkpoint from rank 0")
        with result.checkpoint.as_directory() as d:
            model = _model_from(Path(d), ds, config, text_emb, seed, device)
        model.gap_counts = gaps  # recorded in the manifest, as one process records them
        return model
    finally:
        shutil.rmtree(storage if own_storage else os.path.join(storage, name), ignore_errors=True)


def shard_refs(ray: Any, ds: Dataset, split: Split, config: TransformerConfig,
               workers: int) -> tuple[list[Any], np.ndarray | None]:
    """The training data cut into ``workers`` shards of users (a stable hash of the user
    id, :func:`~recsys.models.transformer.parallel.user_owners`), each put into Ray's
    object store once: worker ``r`` fetches only shard ``r`` (its users' sequences, plus
    the global lengths and item counts every worker needs to draw the same batches).
    Also returns the training gap-bucket counts (None without timestamps)."""
    from recsys.models.transformer.parallel import user_owners, user_shards
    from recsys.models.transformer.recommender import training_gap_counts

    owners = user_owners(ds.user_ids, workers)
    gaps = training_gap_counts(split.train_ts) if config.use_time else None
    parts = user_shards(split.train, split.train_ts, split.eval_users, split.valid_target, owners, workers,
                        ds.n_items, gaps)
    empty = [p.rank for p in parts if p.users.size == 0]
    if empty:
        raise DataError(f"--workers {workers}: worker(s) {', '.join(map(str, empty))} would hold no user "
                        f"({ds.n_users} users); use fewer workers")
    return [ray.put(p) for p in parts], gaps


def _storage() -> tuple[str, bool]:
    """(Ray Train's storage path, whether it is a temporary directory of this run)."""
    env = os.environ.get(RAY_STORAGE_ENV, "").strip()
    if env:
        return env, False
    return tempfile.mkdtemp(prefix="reclens-ray-"), True


def _fit(trainer: Any) -> Any:
    """``trainer.fit()``; a worker's DataError comes back as itself (one ``error:`` line)."""
    from ray.train import TrainingFailedError

    try:
        return trainer.fit()
    except TrainingFailedError as e:
        for err in getattr(e, "worker_failures", {}).values():
            for cause in (err, getattr(err, "cause", None), err.__cause__):
                if isinstance(cause, DataError):
                    raise DataError(cause.problem, cause.file, cause.line) from None
        raise


@contextmanager
def _relay(updates: Any, progress: Progress | None) -> Iterator[None]:
    """Forward rank 0's progress messages from the Ray queue to ``progress`` (a thread)."""
    if updates is None or progress is None:
        yield
        return
    from ray.util.queue import Empty

    done = threading.Event()

    def pump() -> None:
        while True:
            try:
                frac, msg = updates.get(block=True, timeout=0.2)
            except (Empty, queue.Empty):
                if done.is_set():
                    return
                continue
            progress(frac, msg)

    t = threading.Thread(target=pump, name="reclens-ray-progress", daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(timeout=5)
        updates.shutdown()


def _model_from(d: Path, ds: Dataset, config: TransformerConfig, text_emb: np.ndarray | None, seed: int,
                device: str) -> TransformerRecommender:
    """The model rank 0 checkpointed in ``d`` (weights and training log)."""
    import torch
    from safetensors.torch import load_file

    from recsys.models.transformer.artifact import check_state

    local = device if device == "cuda" and torch.cuda.is_available() else "cpu"
    model = TransformerRecommender(ds.item_ids, config, text_emb if config.use_text else None, seed=seed,
                                   device=local)
    state = load_file(str(d / STATE_FILE))
    check_state(d, model.net.state_dict(), state)
    model.net.load_state_dict(state)
    model.net.eval()
    model.clear_cache()
    model.log = TrainLog(**json.loads((d / LOG_FILE).read_text(encoding="utf-8")))
    return model


# ---- the worker ---------------------------------------------------------------------
def train_loop(cfg: dict[str, Any]) -> None:
    """One Ray Train worker (see the module docstring); ``cfg`` is :func:`fit_on_ray`'s
    ``train_loop_config``."""
    import ray
    import ray.train
    import ray.train.torch
    import torch

    from recsys.models.transformer.parallel import TorchSync, UserShard
    from recsys.runtime import set_threads

    set_threads(int(cfg["threads"]))  # in the thread that trains: torch's setting is per thread
    device = ray.train.torch.get_device()
    sync = TorchSync(device)
    users: UserShard = ray.get(cfg["shards"][sync.rank])  # this worker's users only
    if (users.rank, users.world) != (sync.rank, sync.world):
        raise DataError(f"Ray worker {sync.rank} of {sync.world} got shard {users.rank} of {users.world}")
    te: np.ndarray | None = ray.get(cfg["text"]) if cfg["text"] is not None else None
    model = TransformerRecommender(ray.get(cfg["item_ids"]), TransformerConfig(**cfg["model"]), te,
                                   seed=cfg["seed"], device=device)
    if cfg["init"] is not None:
        init: dict[str, Any] = ray.get(cfg["init"])
        model.net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in init.items()})
    updates = cfg["progress"] if sync.rank == 0 else None

    def wrap(net: torch.nn.Module) -> torch.nn.Module:
        # buffers (text vectors, counts) are equal everywhere: do not re-send them every step
        return ray.train.torch.prepare_model(net, parallel_strategy_kwargs={"forward_sync_buffers": False})

    log = model.fit([], None, users.valid(), epochs=cfg["epochs"],
                    progress=(lambda f, m: updates.put_nowait((f, m))) if updates is not None else None,
                    loss=LossSpec(**cfg["loss"]), sync=sync, wrap=wrap, users=users)
    metrics = {"epochs": log.epochs, "best_epoch": log.best_epoch, "samples_per_s": log.samples_per_s}
    if sync.rank != 0:
        ray.train.report(metrics)
        return
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()},
                  os.path.join(tmp, STATE_FILE))
        Path(tmp, LOG_FILE).write_text(json.dumps(asdict(log), allow_nan=True), encoding="utf-8")
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
