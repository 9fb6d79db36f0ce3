"""What a precompute run computes and how it is cut: the job, its shards and groups.

* A **shard** is a fixed block of ``shard_users`` consecutive user indices; shard ``s``
  holds users ``[s * shard_users, (s + 1) * shard_users)``. It is the unit of writing
  and of resumption (one ``part-{s:05d}.parquet``).
* A **group** is a block of at most ``group_users`` consecutive users inside one shard;
  it is the unit of scoring: its users are scored in one model batch. Batch
  composition changes the last bits of a transformer's scores (padding width, the
  matrix kernels for one row or many), so fixing it makes every score a function of
  the user and the job alone: the table is the same for any number of workers, any
  Ray batch size and with or without Ray.

Both depend only on the job, never on workers or batch sizes. A shard records the
job's identity (:meth:`Job.shard_key`); a rerun keeps a shard whose record matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

FORMAT = 1  # bump when the scoring changes what a shard holds
DEFAULT_POOL = 200
DEFAULT_SHARD_USERS = 2048
DEFAULT_GROUP_USERS = 64
DEFAULT_EXPLAIN_BUDGET = 1000


@dataclass(frozen=True)
class Job:
    """One precompute: the data and model, what to keep per user and how to cut it.

    ``source``/``model_dir`` are what every worker loads (absolute paths when local),
    ``min_count``/``tie_order`` how the data is filtered and ordered (as the model was
    trained). ``explain_top`` items per user get SHAP attributions with
    ``explain_seed``/``explain_budget`` (the ``explain`` command's ``--seed``/``--budget``)."""

    source: str
    model_dir: str
    n_users: int
    model_fingerprint: str
    data_fingerprint: str
    min_count: int | None = None
    tie_order: str = "hash"
    pool: int = DEFAULT_POOL
    explain_top: int = 0
    explain_seed: int = 0
    explain_budget: int = DEFAULT_EXPLAIN_BUDGET
    shard_users: int = DEFAULT_SHARD_USERS
    group_users: int = DEFAULT_GROUP_USERS
    log_position: int = 0  # events of the source's event log included (recsys.data.events)

    @property
    def n_shards(self) -> int:
        return -(-self.n_users // self.shard_users)

    def shard_range(self, shard: int) -> tuple[int, int]:
        """[start, stop) user indices of ``shard``."""
        a = shard * self.shard_users
        return a, min(a + self.shard_users, self.n_users)

    def groups(self, shards: list[int] | None = None) -> Iterator[tuple[int, int, int]]:
        """(shard, start, stop) of every scoring group of ``shards`` (default all), in order."""
        for s in range(self.n_shards) if shards is None else shards:
            a, b = self.shard_range(s)
            for g in range(a, b, self.group_users):
                yield s, g, min(g + self.group_users, b)

    def shard_key(self, shard: int) -> dict[str, Any]:
        """What a finished shard must record to be kept by a rerun."""
        a, b = self.shard_range(shard)
        return {
            "format": FORMAT,
            "shard": shard,
            "start": a,
            "stop": b,
            "model_fingerprint": self.model_fingerprint,
            "data_fingerprint": self.data_fingerprint,
            "pool": self.pool,
            "explain_top": self.explain_top,
            "explain_seed": self.explain_seed if self.explain_top else None,
            "explain_budget": self.explain_budget if self.explain_top else None,
            "shard_users": self.shard_users,
            "group_users": self.group_users,
            "log_position": self.log_position,
        }

    def loader_args(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this job in a worker (a plain dict: picklable)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: Shard keys added after shards were first written, and the value a shard without one had
#: (a shard written before event logs existed was computed at log position 0).
KEY_DEFAULTS: dict[str, Any] = {"log_position": 0}


def shard_done(meta: dict[str, Any] | None, key: dict[str, Any]) -> bool:
    """True when a shard's recorded metadata matches the job's ``key`` on every key."""
    return meta is not None and all(meta.get(k, KEY_DEFAULTS.get(k)) == v for k, v in key.items())


def local_source(source: str) -> str:
    """An existing relative path made absolute (workers may run elsewhere); a named
    source (``demo``) or a URL-like string unchanged."""
    p = Path(source)
    return str(p.resolve()) if p.exists() else source
