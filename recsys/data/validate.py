"""Vectorised column validation with exact positions for the first bad value.

Rules: ids are non-empty strings of at most 256 characters;
timestamps are integer seconds or ISO-8601 date-times (an offset is honoured, naive
means UTC) and become int64 seconds; ratings, when present, are finite numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.tables import Table
from recsys.data.types import DataError

MAX_ID_LEN = 256
_INT_RE = r"[+-]?\d{1,18}"
_EPOCH = pd.Timestamp(0, tz="UTC")


def first_true(mask: np.ndarray) -> int | None:
    """Index of the first True in ``mask`` or None."""
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def show(v: object, limit: int = 40) -> str:
    """A value quoted for an error message, shortened."""
    s = str(v)
    return repr(s if len(s) <= limit else s[:limit] + "…")


def strings(table: Table, col: str) -> np.ndarray:
    """Column as a numpy object array of str, surrounding whitespace stripped."""
    s = table.text(col)
    if s.dtype != object:
        s = s.astype(object)
    if table.padded:
        s = s.str.strip()
    return s.to_numpy(dtype=object)


def ids(table: Table, col: str, allow_int: bool = False) -> np.ndarray:
    """Validated ids: object array of non-empty str of at most 256 characters.

    With ``allow_int``, a column whose every id is a canonical non-negative integer
    may come back as int64 (``str(x)`` is the id); build_dataset accepts both.
    """
    if allow_int and col in table.canonical_ints:
        return table.columns[col].to_numpy(dtype=np.int64)
    if table.parquet:
        s = table.columns[col]
        if allow_int and pd.api.types.is_integer_dtype(s) and not s.isna().any() and (s >= 0).all():
            return s.to_numpy(dtype=np.int64)
        arr = _parquet_ids(table, col)
    else:
        arr = strings(table, col)
    k = first_true(arr == "")
    if k is not None:
        raise table.error(k, f"empty {col}")
    if table.max_field is None or table.max_field > MAX_ID_LEN:
        lengths = np.fromiter((len(x) for x in arr), dtype=np.int64, count=len(arr))
        k = first_true(lengths > MAX_ID_LEN)
        if k is not None:
            raise table.error(k, f"{col} longer than {MAX_ID_LEN} characters ({int(lengths[k])})")
    return arr


def _parquet_ids(table: Table, col: str) -> np.ndarray:
    s = table.columns[col]
    k = first_true(s.isna().to_numpy())
    if k is not None:
        raise table.error(k, f"missing {col} (null)")
    if pd.api.types.is_bool_dtype(s):
        raise table.error(0, f"{col} must be strings or integers, not booleans")
    if pd.api.types.is_integer_dtype(s):
        return s.astype(str).to_numpy(dtype=object)
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        vals = s.to_numpy(dtype=object)
        ok = np.fromiter(
            (isinstance(v, (str, int, np.integer)) and not isinstance(v, bool) for v in vals),
            dtype=bool,
            count=len(vals),
        )
        k = first_true(~ok)
        if k is not None:
            raise table.error(k, f"{col} must be a string or an integer, got {type(vals[k]).__name__}")
        return np.array([str(v).strip() for v in vals], dtype=object)
    raise table.error(0, f"{col} must be strings or integers, not {s.dtype}")


def timestamps(table: Table, col: str) -> np.ndarray:
    """Validated timestamps as int64 seconds since the epoch (UTC)."""
    s = table.columns[col]
    if table.parquet:
        return _parquet_timestamps(table, col, s)
    if pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.dtype != np.uint64:
        return s.to_numpy(dtype=np.int64)  # the file's values all parsed as integers
    return _parse_strings(table, col, pd.Series(strings(table, col), dtype=object))


def _parse_strings(table: Table, col: str, s: pd.Series) -> np.ndarray:
    out = np.zeros(len(s), dtype=np.int64)
    is_int = s.str.fullmatch(_INT_RE).to_numpy(dtype=bool, na_value=False)
    if is_int.any():
        out[is_int] = np.asarray(pd.to_numeric(s[is_int]), dtype=np.int64)
    rest = ~is_int
    if rest.any():
        vals = s[rest]
        dt = pd.to_datetime(vals, format="ISO8601", utc=True, errors="coerce")
        bad = np.asarray(dt.isna(), dtype=bool)
        if bad.any():
            k = int(np.flatnonzero(rest)[np.flatnonzero(bad)[0]])
            v = s.iloc[k]
            what = f"empty {col}" if v == "" else f"invalid {col} {show(v)}"
            raise table.error(k, f"{what} (expected integer seconds or an ISO-8601 date-time)")
        secs = (dt - _EPOCH) // pd.Timedelta(seconds=1)
        out[rest] = secs.to_numpy(dtype=np.int64)
    return out


def _parquet_timestamps(table: Table, col: str, s: pd.Series) -> np.ndarray:
    k = first_true(s.isna().to_numpy())
    if k is not None:
        raise table.error(k, f"missing {col} (null)")
    if pd.api.types.is_bool_dtype(s):
        raise table.error(0, f"{col} must be integer seconds or date-times, not booleans")
    if pd.api.types.is_integer_dtype(s):
        return s.to_numpy(dtype=np.int64)
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is None:
            s = s.dt.tz_localize("UTC")
        return ((s - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype=np.float64)
        k = first_true(~np.isfinite(v) | (v != np.floor(v)))
        if k is not None:
            raise table.error(k, f"{col} {show(v[k])} is not whole seconds")
        return v.astype(np.int64)
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        vals = s.to_numpy(dtype=object)
        ok = np.fromiter((isinstance(v, str) for v in vals), dtype=bool, count=len(vals))
        k = first_true(~ok)
        if k is not None:
            raise table.error(
                k, f"{col} must be integer seconds or a date-time, got {type(vals[k]).__name__}"
            )
        return _parse_strings(table, col, pd.Series([v.strip() for v in vals], dtype=object))
    raise table.error(0, f"{col} must be integer seconds or date-times, not {s.dtype}")


def ratings(table: Table, col: str) -> np.ndarray:
    """Validated ratings as float64 (finite numbers)."""
    s = table.columns[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        k = first_true(~np.isfinite(v))
        if k is None:
            return v
        if table.parquet:
            raise table.error(k, f"{col} is missing or not a finite number")
    if table.parquet:
        if pd.api.types.is_bool_dtype(s):
            raise table.error(0, f"{col} must be numbers, not booleans")
        k = first_true(s.isna().to_numpy())
        if k is not None:
            raise table.error(k, f"missing {col} (null)")
        raw = pd.Series([str(x).strip() for x in s.tolist()], dtype=object)
    else:
        raw = pd.Series(strings(table, col), dtype=object)
    v = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=np.float64)  # unparsable -> NaN
    k = first_true(~np.isfinite(v))
    if k is not None:
        r = raw.iloc[k]
        raise table.error(k, f"empty {col}" if r == "" else f"{col} {show(r)} is not a finite number")
    return v


def unique_ids(table: Table, col: str, values: np.ndarray) -> None:
    """Refuse a repeated id (metadata files describe each id once)."""
    dup = pd.Series(values, dtype=object).duplicated().to_numpy()
    k = first_true(dup)
    if k is not None:
        first = first_true(values == values[k])
        assert first is not None
        where = table.where(first)
        where = where if table.parquet else f"line {where}"
        raise table.error(k, f"duplicate {col} {show(values[k])} (first at {where})")


def check(cond: bool, problem: str, file: str | None = None, line: int | str | None = None) -> None:
    """Raise DataError(problem) unless ``cond``."""
    if not cond:
        raise DataError(problem, file=file, line=line)
