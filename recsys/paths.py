"""Where RecLens keeps its files: trained artifacts and caches.

Everything lives under :func:`recsys_home` (env ``RECSYS_HOME``, default ``./artifacts``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.types import Dataset


def recsys_home() -> Path:
    """The RecLens home directory (env ``RECSYS_HOME``, default ``./artifacts``)."""
    env = os.environ.get("RECSYS_HOME")
    return Path(env) if env else Path("artifacts")


def cache_dir() -> Path:
    """Cache for derived data (e.g. text embeddings): ``recsys_home()/cache``."""
    return recsys_home() / "cache"


def default_model_dir(ds: Dataset) -> Path:
    """The artifact directory for a dataset: ``recsys_home()/models/<fingerprint[:16]>``."""
    return recsys_home() / "models" / ds.fingerprint[:16]
