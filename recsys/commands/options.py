"""Argument parsing shared by several commands (no heavy imports here)."""

from __future__ import annotations

from datetime import datetime, timezone

from recsys.data.types import DataError


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
