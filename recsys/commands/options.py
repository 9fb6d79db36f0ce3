"""Argument parsing and model loading shared by several commands (no heavy imports here)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.data.order import DEFAULT_TIE_ORDER, TIE_ORDERS
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


TIE_ORDER_HELP = ("how one user's interactions in the same second are ordered: 'hash' (a blake2b key of user "
                  "and item id, carries no signal) or 'id' (item-id order, as before tie keys: reproduces older "
                  "numbers and opens older artifacts)")
TIE_ORDER_MODEL_HELP = " (default: the order the --model artifact was trained under, else hash)"


def add_tie_order(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    """``--tie-order hash|id`` (default None: :func:`resolve_tie_order` decides)."""
    parser.add_argument("--tie-order", choices=TIE_ORDERS, default=None,
                        help=TIE_ORDER_HELP + (TIE_ORDER_MODEL_HELP if model else " (default hash)"))


def add_min_count(parser: argparse.ArgumentParser) -> None:
    """``--min-count N`` and ``--tie-order hash|id`` for a command that opens a model
    artifact on some data (both default to what the ``--model`` artifact was trained with)."""
    parser.add_argument("--min-count", type=int, default=None, metavar="N", help=MIN_COUNT_HELP)
    add_tie_order(parser)


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


def resolve_tie_order(args: argparse.Namespace) -> str:
    """The tie order a command loads ``--data`` under: ``--tie-order`` when given; else the
    order recorded in the ``--model`` artifact's manifest (``"id"`` for an artifact that
    records none: it predates tie orders), said on stderr when it is not the default;
    else ``"hash"``. DataError when ``--tie-order`` contradicts the artifact's order."""
    from recsys.models.transformer.artifact import manifest_tie_order, read_manifest

    given = getattr(args, "tie_order", None)
    model = getattr(args, "model", None)
    manifest = read_manifest(model, missing_ok=True) if model else {}
    recorded = manifest_tie_order(manifest, model) if manifest else None
    if given is not None:
        if recorded is not None and given != recorded:
            raise DataError(f"--tie-order {given}: the model at {model} was trained under --tie-order {recorded}")
        return str(given)
    if recorded is not None:
        if recorded != DEFAULT_TIE_ORDER:
            print(f"using --tie-order {recorded}, the order {model} was trained under", file=sys.stderr)
        return recorded
    return DEFAULT_TIE_ORDER


def load_data(args: argparse.Namespace) -> Dataset:
    """``--data`` filtered by :func:`resolve_min_count`, ties ordered by :func:`resolve_tie_order`."""
    from recsys.data import load

    return load(args.data, min_count=resolve_min_count(args), tie_order=resolve_tie_order(args))


def load_model(ds: Dataset, model_dir: str | None) -> TransformerRecommender:
    """The transformer artifact for ``ds``: ``--model DIR``, else the data's default
    model (``recsys.updates.resolve_model_dir``: the newest update on its event log, else
    the base model). DataError when it is missing
    or was trained on other data."""
    from recsys.models.transformer import TransformerRecommender
    from recsys.updates import resolve_model_dir

    d = Path(model_dir) if model_dir else resolve_model_dir(ds)
    if not d.is_dir():
        if model_dir:
            raise DataError(f"no trained model at {d}: model directory not found")
        raise DataError(f"no trained model for this data at {d}; train one with "
                        f"`python -m recsys train --data {ds.source}` or pass --model DIR")
    return TransformerRecommender.load(d, ds)
