"""The size of a scale demo world, written as a data source: ``demo:KEY=N,KEY=N,...``.

Syntax (no spaces needed; spaces around keys and values are ignored)::

    demo:users=200000,items=40000            # about 11M interactions
    demo:users=3000,items=1500,seed=7        # a small world for tests
    demo:users=50000,items=20000,events=120  # more active readers
    demo:                                    # every key at its default

Keys (each at most once, values are whole numbers, ``_`` allowed as a digit separator):

========== =========== ===================== =============================================
key        default     range                 meaning
========== =========== ===================== =============================================
users      10000       100 … 50,000,000      readers (every one has interactions)
items      5000        200 … 5,000,000       books in the catalogue
seed       0           0 … 2**63 - 1         the world's random seed
events     55          5 … 1000              mean organic picks per reader (the planted
                                             follow-ups add about 2 %; small shelves can
                                             run out, so the realised mean can be lower)
followups  items // 25 0 … items // 20       planted follow-up pairs A -> B
           (<= 500)
========== =========== ===================== =============================================

``users × events`` may not exceed 1,000,000,000 (about 8 GB of arrays). A world has
roughly ``users × events × 1.02`` interactions: ``users=180000`` gives about 10M.

Anything else — an unknown or repeated key, a value that is not a whole number, a value
out of range — raises one :class:`~recsys.data.types.DataError` naming the problem. The
plain sources ``demo`` and ``demo-small`` are not specs: they select the hand-tuned
worlds of :mod:`recsys.data.demo`, which stay as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recsys.data.types import DataError

PREFIX = "demo:"
KEYS = ("users", "items", "seed", "events", "followups")
MAX_EVENTS_TOTAL = 1_000_000_000
_INT = re.compile(r"[0-9][0-9_]*")


@dataclass(frozen=True)
class WorldSpec:
    """A validated scale-world size. ``canonical`` is the spec with every key spelled out."""

    users: int = 10_000
    items: int = 5_000
    seed: int = 0
    events: int = 55
    followups: int = 200

    @property
    def canonical(self) -> str:
        return PREFIX + ",".join(f"{k}={getattr(self, k)}" for k in KEYS)


_RANGES: dict[str, tuple[int, int]] = {
    "users": (100, 50_000_000),
    "items": (200, 5_000_000),
    "seed": (0, 2**63 - 1),
    "events": (5, 1000),
}


def is_spec(source: str) -> bool:
    """True when ``source`` asks for a scale demo world (starts with ``demo:``)."""
    return source.strip().lower().startswith(PREFIX)


def default_followups(items: int) -> int:
    return min(items // 25, 500)


def parse_spec(source: str) -> WorldSpec:
    """The :class:`WorldSpec` of ``demo:KEY=N,...`` (the ``demo:`` prefix is optional
    here, so ``users=3000,items=1500`` also parses); DataError for a bad spec."""
    text = source.strip()
    body = text[len(PREFIX):] if text.lower().startswith(PREFIX) else text
    values: dict[str, int] = {}
    for part in body.split(",") if body.strip() else []:  # "demo:" alone: every default
        key, sep, raw = part.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if not sep or not key:
            raise DataError(f"demo spec {text!r}: expected KEY=N, got {part.strip()!r} (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise DataError(f"demo spec {text!r}: unknown key {key!r} (keys: {', '.join(KEYS)})")
        if key in values:
            raise DataError(f"demo spec {text!r}: {key} given twice")
        if not _INT.fullmatch(raw):
            raise DataError(f"demo spec {text!r}: {key}={raw!r} is not a whole number")
        values[key] = int(raw)
    return _checked(text, values)


def _checked(text: str, values: dict[str, int]) -> WorldSpec:
    base = WorldSpec()
    got: dict[str, int] = {k: values[k] if k in values else int(getattr(base, k)) for k in _RANGES}
    for key, (lo, hi) in _RANGES.items():
        v = got[key]
        if not lo <= v <= hi:
            small = " (too small)" if v < lo else " (too large)"
            raise DataError(f"demo spec {text!r}: {key}={v} out of range {lo:,} … {hi:,}{small}")
    max_f = got["items"] // 20
    f = values.get("followups", default_followups(got["items"]))
    if not 0 <= f <= max_f:
        raise DataError(f"demo spec {text!r}: followups={f} out of range 0 … {max_f:,} (items // 20)")
    if got["users"] * got["events"] > MAX_EVENTS_TOTAL:
        raise DataError(
            f"demo spec {text!r}: users × events = {got['users'] * got['events']:,} exceeds "
            f"{MAX_EVENTS_TOTAL:,} interactions"
        )
    return WorldSpec(users=got["users"], items=got["items"], seed=got["seed"], events=got["events"], followups=f)
