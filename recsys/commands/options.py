"""Argument parsing and model loading shared by several commands (no heavy imports here)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.data.types import DataError, Dataset

if TYPE_CHECKING:  # pragma: no cover
    from recsys.models.transformer import TransformerRecommender


def parse_as_of(value: str | None) -> int | None:
    """Seconds since the epoch from ``123456789`` or an ISO date/time (naive = UTC)."""
    if value is None:
        return None
    v = value.strip()
    try:
        return int(v)
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"--as-of: not a timestamp or ISO date: {value!r}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(d.timestamp())


MIN_COUNT_HELP = ("iterative N-core filter first (0 = none; default: the filter the --model artifact was "
                  "trained with, else none)")


def add_min_count(parser: argparse.ArgumentParser) -> None:
    """``--min-count N`` for a command that opens a model artifact on some data."""
    parser.add_argument("--min-count", type=int, default=None, metavar="N", help=MIN_COUNT_HELP)


def resolve_min_count(args: argparse.Namespace) -> int | None:
    """The N-core filter a command applies to ``--data``: ``--min-count`` when given
    (0 = none); else the ``min_count`` recorded in the ``--model`` artifact's manifest, so
    a model trained with ``train --min-count 5`` opens on the same filtered data without
    repeating the flag (said on stderr); else None. A missing artifact is left to the
    model loader, which reports it; a damaged manifest is a DataError naming it."""
    n = getattr(args, "min_count", None)
    if n is not None:
        if n < 0:
            raise DataError(f"--min-count must be 0 or more, got {n}")
        return n or None
    model = getattr(args, "model", None)
    if not model:
        return None
    from recsys.models.transformer.artifact import read_manifest

    mc = read_manifest(model, missing_ok=True).get("min_count")
    if isinstance(mc, int) and not isinstance(mc, bool) and mc >= 1:
        print(f"using --min-count {mc}, the filter {model} was trained with", file=sys.stderr)
        return mc
    return None


def load_model(ds: Dataset, model_dir: str | None) -> TransformerRecommender:
    """The transformer artifact for ``ds``: ``--model DIR``, else the data's default
    model directory (``recsys.paths.default_model_dir``). DataError when it is missing
    or was trained on other data."""
    from recsys.models.transformer import TransformerRecommender
    from recsys.paths import default_model_dir

    d = Path(model_dir) if model_dir else default_model_dir(ds)
    if not d.is_dir():
        if model_dir:
            raise DataError(f"no trained model at {d}: model directory not found")
        raise DataError(f"no trained model for this data at {d}; train one with "
                        f"`python -m recsys train --data {ds.source}` or pass --model DIR")
    return TransformerRecommender.load(d, ds)
