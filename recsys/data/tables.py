"""Strict readers for delimited text files and parquet files.

Every reader returns a :class:`Table`: string columns plus a way to turn a data-row
index into the position a user can find in the file (a 1-based physical line number
for text files, ``row N`` for parquet). Structural damage (bad encoding, ragged rows,
malformed quoting, duplicate header names, no data rows) raises :class:`DataError`
naming the file and line.

Text files are parsed on one of two paths with identical results:

* fast path — no quote characters in the file (or a format without quoting, like
  MovieLens-100K): field counts are checked for every line at once with numpy on the
  raw bytes, then pandas' C parser splits the fields;
* careful path — quoted fields present: Python's ``csv`` module (strict mode), which
  records the physical line on which every record starts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, NamedTuple

import numpy as np
import pandas as pd

from recsys.data.types import DataError

BOM = b"\xef\xbb\xbf"
MAGIC = (
    (b"\x1f\x8b", "gzip-compressed file"),
    (b"PK\x03\x04", "zip archive (or an Excel workbook)"),
    (b"PAR1", "parquet file (name it .parquet)"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document (e.g. .xls)"),
)


@dataclass(frozen=True)
class Table:
    """Columns read from one file: strings (object dtype), or numbers where a column
    was hinted as numeric and parsed cleanly (parquet: native dtypes)."""

    file: str  # name shown in error messages
    columns: dict[str, pd.Series]  # every column, position-indexed 0..n_rows-1
    n_rows: int
    first_line: int = 2  # line of data row 0 when ``lines`` is None
    lines: np.ndarray | None = None  # physical start line of each data row
    parquet: bool = False
    padded: bool = True  # False: no field has surrounding whitespace (no strip needed)
    max_field: int | None = None  # upper bound on field length in characters, if known
    reread: Callable[[str], pd.Series] | None = field(default=None, repr=False)
    canonical_ints: frozenset[str] = frozenset()  # int64 columns whose str(int) is the written text

    def text(self, col: str) -> pd.Series:
        """Column ``col`` as the strings written in the file (object dtype)."""
        s = self.columns[col]
        if self.reread is not None and (s.dtype != object or pd.api.types.infer_dtype(s) != "string"):
            return self.reread(col)
        return s

    def where(self, row: int) -> str:
        """Position of data row ``row`` (0-based) as shown to users."""
        if self.parquet:
            return f"row {row + 1}"
        if self.lines is not None:
            return str(int(self.lines[row]))
        return str(self.first_line + row)

    def error(self, row: int, problem: str) -> DataError:
        return DataError(problem, file=self.file, line=self.where(row))

    def require(self, names: tuple[str, ...], what: str = "") -> None:
        """Refuse the table unless every column in ``names`` is present."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            have = ", ".join(self.columns) or "none"
            need = ", ".join(names)
            line = None if self.parquet else 1
            label = f"{what} " if what else ""
            problem = f"missing required column(s) {', '.join(missing)} ({label}needs {need}; found {have})"
            if any(sep in c for c in self.columns for sep in (";", "\t")):
                problem += "; the file must be comma-separated"
            raise DataError(problem, file=self.file, line=line)


def _decode_check(data: bytes, file: str, encoding: str) -> None:
    """Refuse bytes that are not valid ``encoding``, naming the line of the first bad byte."""
    if encoding.lower().replace("-", "") in ("latin1", "iso88591"):
        return  # every byte is valid Latin-1
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - data.rfind(b"\n", 0, e.start)
        hint = " (looks like UTF-16; save it as UTF-8)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise DataError(
            f"not valid UTF-8: byte 0x{data[e.start]:02x} at column {col}{hint}",
            file=file,
            line=line,
        ) from None


def read_bytes(path: Path, file: str) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", file=file) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", file=file) from None


def read_delimited(
    path: Path,
    file: str,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    header: bool = True,
    names: tuple[str, ...] | None = None,
    quoting: bool = True,
    what: str = "",
    numeric: tuple[str, ...] = (),
    int_ids: tuple[str, ...] = (),
) -> Table:
    """Read a delimited text file strictly.

    With ``header`` the first line names the columns (surrounding whitespace and a
    UTF-8 BOM are stripped; duplicates refused). Without it, ``names`` gives the
    expected columns and every line must have exactly that many fields. Empty lines
    at the end of the file are ignored; an empty line between rows is refused.
    Columns named in ``numeric`` may come back as int64/float64 when every value
    parses as a number (``Table.text`` recovers the written strings). Columns named
    in ``int_ids`` come back as int64 when every value is written exactly as a
    non-negative integer prints (``Table.canonical_ints``); all other columns are
    strings.
    """
    data = read_bytes(path, file)
    for magic, kind in MAGIC:
        if data.startswith(magic):
            raise DataError(f"this is a {kind}, not a text file; extract it first", file=file, line=1)
    if data.startswith(BOM):
        data = data[len(BOM) :]
    if not data.strip(b"\r\n"):
        raise DataError(f"empty file{' (expected a header line)' if header else ''}{what}", file=file, line=1)
    _decode_check(data, file, encoding)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError("contains a NUL byte (binary file?)", file=file, line=data.count(b"\n", 0, nul) + 1)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if (quoting and b'"' in data) or b"\r" in data:
        return _read_careful(data, file, delimiter, encoding, header, names, quoting)
    return _read_fast(data, file, delimiter, encoding, header, names, numeric, int_ids)


def _header_names(fields: list[str], file: str) -> list[str]:
    cols = [f.strip().lstrip("\ufeff").strip() for f in fields]
    seen: set[str] = set()
    for c in cols:
        if c in seen:
            raise DataError(f"duplicate column name {c!r} in the header", file=file, line=1)
        seen.add(c)
    return cols


def _ragged(file: str, line: int, got: int, want: int, cols: list[str], delimiter: str) -> DataError:
    if got <= 1 and want > 1:
        desc = "blank line" if got == 0 else "line has 1 field"
    else:
        desc = f"line has {got} fields"
    sep = {"\t": "tab", ",": "comma", "|": "'|'"}.get(delimiter, repr(delimiter))
    return DataError(f"{desc}, expected {want} ({sep}-separated: {', '.join(cols)})", file=file, line=line)


class _Lines(NamedTuple):
    """Where the lines and fields of a byte buffer (ending with a newline) are."""

    nl: np.ndarray  # position of every newline
    starts: np.ndarray  # position where every line starts
    lengths: np.ndarray  # bytes per line, without the newline
    is_delim: np.ndarray  # bool per byte
    counts: np.ndarray  # fields per line (0 for a blank line)


def _index_lines(data: bytes, delimiter: str) -> _Lines:
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl[:-1] + 1))
    lengths = nl - starts  # without the newline
    is_delim = arr == ord(delimiter)
    counts = np.add.reduceat(is_delim.view(np.uint8), starts, dtype=np.int32) + 1
    counts[lengths == 0] = 0  # a blank line has no fields
    return _Lines(nl, starts, lengths, is_delim, counts)


def _fast_header(
    data: bytes, lines: _Lines, file: str, encoding: str, delimiter: str, header: bool, names: tuple[str, ...] | None
) -> tuple[list[str], int]:
    """(column names, index of the first body line): from the header line, or ``names``."""
    if not header:
        assert names is not None
        return list(names), 0
    first = data[: lines.nl[0]].decode(encoding)
    if not first.strip():
        raise DataError("empty header line (the first line must name the columns)", file=file, line=1)
    return _header_names(first.split(delimiter), file), 1


def _canonical_ints(df: pd.DataFrame, cols: list[str], int_ids: tuple[str, ...], lines: _Lines, body: int) -> set[str]:
    """The ``int_ids`` columns parsed as int64 whose every field is written exactly as
    ``str(int)`` (no sign, no leading zero): for those the int is the id."""
    want, n_rows = len(cols), len(df)
    int_cols = [c for c in int_ids if c in cols and df.iloc[:, cols.index(c)].dtype == np.int64]
    if not int_cols:
        return set()
    # Byte length of every field, from the delimiter positions of the body lines.
    body_start = int(lines.starts[body])
    dpos = (np.flatnonzero(lines.is_delim[body_start:]) + body_start).reshape(n_rows, want - 1)
    canonical: set[str] = set()
    for c in int_cols:
        k = cols.index(c)
        fs = lines.starts[body:] if k == 0 else dpos[:, k - 1] + 1
        fe = lines.nl[body:] if k == want - 1 else dpos[:, k]
        v = df.iloc[:, k].to_numpy()
        if (v >= 0).all() and np.array_equal(fe - fs, _digits(v)):
            canonical.add(c)
    return canonical


def _read_fast(
    data: bytes,
    file: str,
    delimiter: str,
    encoding: str,
    header: bool,
    names: tuple[str, ...] | None,
    numeric: tuple[str, ...] = (),
    int_ids: tuple[str, ...] = (),
) -> Table:
    # Drop trailing blank lines, make sure the last line ends with a newline.
    data = data.rstrip(b"\n") + b"\n"
    lines = _index_lines(data, delimiter)
    cols, body = _fast_header(data, lines, file, encoding, delimiter, header, names)
    want = len(cols)
    bad = np.flatnonzero(lines.counts[body:] != want)
    if bad.size:
        k = int(bad[0]) + body
        raise _ragged(file, k + 1, int(lines.counts[k]), want, cols, delimiter)
    n_rows = len(lines.starts) - body
    if n_rows == 0:
        raise DataError("no data rows (only a header)", file=file, line=1)

    def parse(dtypes: dict[Hashable, Any]) -> pd.DataFrame:
        return pd.read_csv(
            io.BytesIO(data), sep=delimiter, header=None, names=list(range(want)), skiprows=body, dtype=dtypes,
            na_filter=False, quoting=csv.QUOTE_NONE, encoding=encoding, engine="c", skip_blank_lines=False,
            index_col=False,
        )

    df = parse({k: object for k, c in enumerate(cols) if c not in numeric and c not in int_ids})
    if len(df) != n_rows:  # should not happen; take the careful path rather than guess
        return _read_careful(data, file, delimiter, encoding, header, names, False)
    canonical = _canonical_ints(df, cols, int_ids, lines, body)

    def reread(col: str) -> pd.Series:
        return parse({k: object for k in range(want)}).iloc[:, cols.index(col)]

    columns = {c: _as_object(df.iloc[:, k]) for k, c in enumerate(cols)}
    padded = b" " in data or (delimiter != "\t" and b"\t" in data)
    # a hinted id column that parsed as ints but not canonically ("007", "+7") is text
    for c in int_ids:
        if c in columns and c not in canonical and pd.api.types.is_numeric_dtype(columns[c].dtype):
            columns[c] = reread(c)
    return Table(
        file=file, columns=columns, n_rows=n_rows, first_line=body + 1, padded=padded,
        max_field=int(lines.lengths.max()), reread=reread, canonical_ints=frozenset(canonical),
    )


def _as_object(s: pd.Series) -> pd.Series:
    """Inferred string columns (pandas' arrow strings) as object dtype; others unchanged."""
    if s.dtype != object and pd.api.types.is_string_dtype(s.dtype):
        return s.astype(object)
    return s


_POW10 = np.array([10**k for k in range(19)], dtype=np.int64)


def _digits(v: np.ndarray) -> np.ndarray:
    """Number of decimal digits of non-negative int64 values (0 has one)."""
    return np.maximum(np.searchsorted(_POW10, v, side="right"), 1)


def _csv_problem(e: csv.Error) -> str:
    msg = str(e)
    if "field larger than field limit" in msg:
        return "field too long (over 131072 characters)"
    if "unexpected end of data" in msg or "EOF" in msg:
        return "unterminated quoted field"
    return msg


def _csv_rows(reader: Any, file: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, fields) of every record of a
    ``csv.reader``; a malformed record raises DataError naming its line."""
    it = iter(reader)
    while True:
        start = reader.line_num + 1
        try:
            row = next(it)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(f"malformed CSV: {_csv_problem(e)}", file=file, line=start) from None
        yield start, row


def _careful_header(rows: Iterator[tuple[int, list[str]]], file: str) -> list[str]:
    first = next(rows, None)
    if first is None:
        raise DataError("empty file (expected a header line)", file=file, line=1)
    start, row = first
    if not row or not "".join(row).strip():
        raise DataError("empty header line (the first line must name the columns)", file=file, line=start)
    return _header_names(row, file)


def _read_careful(
    data: bytes,
    file: str,
    delimiter: str,
    encoding: str,
    header: bool,
    names: tuple[str, ...] | None,
    quoting: bool,
) -> Table:
    text = data.decode(encoding)
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=True,
    )
    records = _csv_rows(reader, file)
    cols = _careful_header(records, file) if header else list(names or ())
    want = len(cols)
    rows: list[list[str]] = []
    lines: list[int] = []
    blank_at: int | None = None
    for start, row in records:
        if not row:
            if blank_at is None:
                blank_at = start
            continue
        if blank_at is not None:
            raise _ragged(file, blank_at, 0, want, cols, delimiter)
        if len(row) != want:
            raise _ragged(file, start, len(row), want, cols, delimiter)
        rows.append(row)
        lines.append(start)
    if not rows:
        raise DataError("no data rows (only a header)", file=file, line=1)
    by_col = list(zip(*rows))
    columns = {c: pd.Series(by_col[k], dtype=object) for k, c in enumerate(cols)}
    return Table(file=file, columns=columns, n_rows=len(rows), lines=np.asarray(lines, dtype=np.int64))


def read_parquet(path: Path, file: str) -> Table:
    """Read a parquet file; errors name ``row N`` (1-based data row)."""
    try:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        schema_names = list(pf.schema_arrow.names)
        table = pf.read()
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", file=file) from None
    except Exception as e:  # pyarrow raises ArrowInvalid & co. for damaged files
        raise DataError(f"not a readable parquet file ({type(e).__name__}: {e})", file=file) from None
    seen: set[str] = set()
    for c in schema_names:
        if c in seen:
            raise DataError(f"duplicate column name {c!r}", file=file)
        seen.add(c)
    if table.num_rows == 0:
        raise DataError("no data rows", file=file)
    columns: dict[str, pd.Series] = {}
    for k, c in enumerate(schema_names):
        col = table.column(k)
        try:
            s = col.to_pandas()
        except Exception as e:
            raise DataError(f"column {c!r} cannot be read ({type(e).__name__}: {e})", file=file) from None
        s.index = pd.RangeIndex(len(s))
        columns[c.strip()] = s
    return Table(file=file, columns=columns, n_rows=table.num_rows, parquet=True)
