"""One test per validation rule (issue 2, item 3), each asserting the exact file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from recsys.data import DataError, load

FIX = Path(__file__).resolve().parent / "fixtures" / "data"
HEAD = "user_id,item_id,timestamp\n"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def error_of(source: Path | str) -> DataError:
    with pytest.raises(DataError) as e:
        load(str(source))
    return e.value


def assert_error(source: Path | str, where: str, *fragments: str) -> str:
    """The load fails with ``<where>: ...`` containing every fragment."""
    msg = str(error_of(source))
    assert msg.startswith(where + ": "), msg
    for f in fragments:
        assert f in msg, msg
    return msg


# ---- required columns ------------------------------------------------------------------


def test_missing_required_column(tmp_path):
    f = write(tmp_path / "interactions.csv", "user_id,item_id,when\nu,i,1\n")
    assert_error(f, f"{f}:1", "missing required column(s) timestamp", "found user_id, item_id, when")


def test_missing_required_column_in_directory_names_relative_path(tmp_path):
    write(tmp_path / "d" / "interactions.csv", "user,item_id,timestamp\nu,i,1\n")
    assert_error(tmp_path / "d", f"{tmp_path / 'd' / 'interactions.csv'}:1", "user_id")


def test_items_csv_needs_item_id_and_title(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "items.csv", "item_id,name\ni,Eye\n")
    assert_error(tmp_path, f"{tmp_path / 'items.csv'}:1", "missing required column(s) title")
    write(tmp_path / "items.csv", "title,categories\nEye,x\n")
    assert_error(tmp_path, f"{tmp_path / 'items.csv'}:1", "item_id")


def test_users_csv_needs_user_id(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "users.csv", "id,country\nu,FR\n")
    assert_error(tmp_path, f"{tmp_path / 'users.csv'}:1", "user_id")


def test_extra_columns_ignored(tmp_path):
    f = write(tmp_path / "x.csv", "comment,user_id,item_id,timestamp,rating,more\nhi,u,i,1,2,z\n")
    ds = load(str(f))
    assert ds.n_interactions == 1 and ds.rating is not None and ds.rating.tolist() == [2.0]


# ---- timestamps -----------------------------------------------------------------------


def test_timestamp_not_a_date(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j,yesterday\n")
    assert_error(f, f"{f}:3", "invalid timestamp 'yesterday'", "ISO-8601")


def test_timestamp_fractional_seconds_number_refused(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j,2\nu,k,1.5\n")
    assert_error(f, f"{f}:4", "invalid timestamp '1.5'")


def test_timestamp_empty(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j,\n")
    assert_error(f, f"{f}:3", "empty timestamp")


def test_timestamp_impossible_date(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,2020-01-01\nu,j,2020-13-01\n")
    assert_error(f, f"{f}:3", "invalid timestamp '2020-13-01'")


def test_timestamp_iso_offset_honoured_naive_is_utc(tmp_path):
    f = write(
        tmp_path / "x.csv",
        HEAD + "a,i,2021-06-01T12:00:00+02:00\nb,i,2021-06-01T10:00:00\nc,i,2021-06-01T10:00:00Z\n"
        "d,i,2021-06-01 05:00:00-05:00\ne,i,1622541600\n",
    )
    ds = load(str(f))
    assert set(ds.timestamp.tolist()) == {1622541600}


def test_timestamp_integer_too_large(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j,99999999999999999999999\n")
    assert_error(f, f"{f}:3", "invalid timestamp")


# ---- ids ------------------------------------------------------------------------------


def test_empty_user_id(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j,2\n,k,3\n")
    assert_error(f, f"{f}:4", "empty user_id")


def test_blank_item_id_whitespace_only(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,   ,2\n")
    assert_error(f, f"{f}:3", "empty item_id")


def test_id_longer_than_256(tmp_path):
    ok = "x" * 256
    f = write(tmp_path / "ok.csv", HEAD + f"u,{ok},1\n")
    assert load(str(f)).item_ids == (ok,)
    f = write(tmp_path / "x.csv", HEAD + f"u,i,1\nu,{'y' * 257},2\n")
    assert_error(f, f"{f}:3", "item_id longer than 256 characters (257)")


# ---- structure --------------------------------------------------------------------------


def test_row_with_too_few_fields(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j\nu,k,3\n")
    assert_error(f, f"{f}:3", "line has 2 fields, expected 3")


def test_row_with_too_many_fields(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\nu,j,2\nu,k,3,oops\n")
    assert_error(f, f"{f}:4", "line has 4 fields, expected 3")


def test_ragged_row_in_quoted_file_counts_physical_lines(tmp_path):
    # a quoted field spanning two lines: the bad record starts on physical line 5
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\nu,j,2\n")
    write(tmp_path / "items.csv", 'item_id,title,text\ni,"I","two\nlines"\nj,J\n')
    assert_error(tmp_path, f"{tmp_path / 'items.csv'}:4", "line has 2 fields, expected 3")


def test_blank_line_between_rows_refused_trailing_blank_lines_fine(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1\n\nu,j,2\n")
    assert_error(f, f"{f}:3", "blank line")
    g = write(tmp_path / "y.csv", HEAD + "u,i,1\nu,j,2\n\n\n")
    assert load(str(g)).n_interactions == 2


def test_empty_file(tmp_path):
    f = write(tmp_path / "x.csv", "")
    assert_error(f, f"{f}:1", "empty file")


def test_header_only(tmp_path):
    f = write(tmp_path / "x.csv", HEAD)
    assert_error(f, f"{f}:1", "no data rows")


def test_duplicate_header_names(tmp_path):
    f = write(tmp_path / "x.csv", "user_id,item_id,timestamp,item_id\nu,i,1,j\n")
    assert_error(f, f"{f}:1", "duplicate column name 'item_id'")


def test_unterminated_quote(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + 'u,i,1\nu,"j,2\nu,k,3\n')
    assert_error(f, f"{f}:3", "malformed CSV", "unterminated")


def test_nul_byte(tmp_path):
    f = write(tmp_path / "x.csv", HEAD.encode() + b"u,i,1\nu,j\x00,2\n")
    assert_error(f, f"{f}:3", "NUL byte")


# ---- encodings ------------------------------------------------------------------------


def test_invalid_utf8_names_line(tmp_path):
    f = write(tmp_path / "x.csv", HEAD.encode() + b"u,i,1\nu,caf\xe9,2\n")
    assert_error(f, f"{f}:3", "not valid UTF-8", "0xe9")


def test_utf8_bom_and_crlf_accepted(tmp_path):
    f = write(
        tmp_path / "x.csv", b"\xef\xbb\xbf" + b"user_id,item_id,timestamp\r\nu,caf\xc3\xa9,1\r\nv,i,2\r\n"
    )
    ds = load(str(f))
    assert ds.item_ids == ("café", "i") and ds.user_ids == ("u", "v")


def test_utf8_bom_crlf_with_quotes(tmp_path):
    f = write(tmp_path / "x.csv", b'\xef\xbb\xbfuser_id,item_id,timestamp\r\n"u",i,1\r\n"v, w",i,2\r\n')
    assert load(str(f)).user_ids == ("u", "v, w")


def test_latest_is_utf8(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FIX / "latest", d)
    write(
        d / "movies.csv",
        b"movieId,title,genres\n1,Toy\n".replace(b"Toy\n", b"Toy,Comedy\n") + b"3,Am\xe9lie,Comedy\n",
    )
    assert_error(d, f"{d / 'movies.csv'}:3", "not valid UTF-8")


def test_ml100k_is_latin1(tmp_path):
    ds = load(str(FIX / "ml100k"))
    assert ds.titles[ds.item_index("3")] == "Amélie (2001)"


# ---- ratings --------------------------------------------------------------------------


def test_rating_not_numeric(tmp_path):
    f = write(tmp_path / "x.csv", HEAD.strip() + ",rating\nu,i,1,4\nu,j,2,good\n")
    assert_error(f, f"{f}:3", "rating 'good' is not a finite number")


def test_rating_empty(tmp_path):
    f = write(tmp_path / "x.csv", HEAD.strip() + ",rating\nu,i,1,\nu,j,2,3\n")
    assert_error(f, f"{f}:2", "empty rating")


def test_rating_not_finite(tmp_path):
    f = write(tmp_path / "x.csv", HEAD.strip() + ",rating\nu,i,1,4\nu,j,2,inf\n")
    assert_error(f, f"{f}:3", "not a finite number")


# ---- metadata rules -----------------------------------------------------------------


def test_items_missing_from_items_csv_titled_by_id_with_warning(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\nu,lost,2\n")
    write(tmp_path / "items.csv", "item_id,title\ni,Eye\nspare,Never used\n")
    ds = load(str(tmp_path))
    assert ds.titles == ("Eye", "lost", "Never used")  # never-interacted 'spare' allowed
    assert ds.item_popularity.tolist() == [1, 1, 0]
    assert len(ds.warnings) == 1 and "lost" in ds.warnings[0]


def test_users_csv_unknown_users_ignored(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "users.csv", "user_id,group\nnobody,a\nu,b\n")
    ds = load(str(tmp_path))
    assert ds.user_attrs is not None and ds.user_attrs["group"].tolist() == ["b"]


def test_duplicate_item_in_items_csv(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "items.csv", "item_id,title\ni,Eye\nj,Jay\ni,Again\n")
    assert_error(tmp_path, f"{tmp_path / 'items.csv'}:4", "duplicate item_id 'i' (first at line 2)")


def test_one_error_for_the_whole_load(tmp_path):
    # interactions fine, users.csv damaged -> nothing returned
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "users.csv", "user_id,group\nu,b,extra\n")
    assert_error(tmp_path, f"{tmp_path / 'users.csv'}:2", "line has 3 fields, expected 2")


# ---- parquet -------------------------------------------------------------------------


def test_parquet_errors_name_rows(tmp_path):
    p = tmp_path / "interactions.parquet"
    pd.DataFrame({"user_id": ["a", "b", ""], "item_id": ["x", "y", "z"], "timestamp": [1, 2, 3]}).to_parquet(
        p
    )
    assert_error(p, f"{p}:row 3", "empty user_id")
    pd.DataFrame(
        {"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": ["2020-01-01", "nope"]}
    ).to_parquet(p)
    assert_error(p, f"{p}:row 2", "invalid timestamp 'nope'")
    pd.DataFrame({"user_id": ["a", None], "item_id": ["x", "y"], "timestamp": [1, 2]}).to_parquet(p)
    assert_error(p, f"{p}:row 2", "missing user_id")
    pd.DataFrame({"user_id": ["a"], "item": ["x"], "timestamp": [1]}).to_parquet(p)
    assert_error(p, str(p), "missing required column(s) item_id")


def test_damaged_parquet(tmp_path):
    p = write(tmp_path / "interactions.parquet", b"PAR1 this is not parquet")
    assert_error(p, str(p), "not a readable parquet file")


# ---- MovieLens formats ----------------------------------------------------------------


def test_ml100k_ragged_u_data(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FIX / "ml100k", d)
    lines = (d / "u.data").read_text().splitlines()
    lines[4] = "2\t3\t4"
    (d / "u.data").write_text("\n".join(lines) + "\n")
    assert_error(d, f"{d / 'u.data'}:5", "line has 3 fields, expected 4", "tab-separated")


def test_ml100k_bad_genre_flag(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FIX / "ml100k", d)
    raw = (
        (d / "u.item")
        .read_bytes()
        .replace(
            b"Toy Story (1995)|01-Jan-1995||http://example.com/10|0",
            b"Toy Story (1995)|01-Jan-1995||http://example.com/10|x",
        )
    )
    (d / "u.item").write_bytes(raw)
    assert_error(d, f"{d / 'u.item'}:3", "genre flag", "expected 0 or 1")


def test_ml100k_bad_timestamp(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FIX / "ml100k", d)
    (d / "u.data").write_text((d / "u.data").read_text().replace("881260000", "88126x000"))
    assert_error(d, f"{d / 'u.data'}:5", "invalid timestamp '88126x000'")


def test_latest_missing_movies(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FIX / "latest", d)
    (d / "movies.csv").unlink()
    assert_error(d, str(d / "movies.csv"), "needs ratings.csv and movies.csv")


def test_latest_bad_rating(tmp_path):
    d = tmp_path / "ml"
    shutil.copytree(FIX / "latest", d)
    (d / "ratings.csv").write_text((d / "ratings.csv").read_text().replace("4.5", "four"))
    assert_error(d, f"{d / 'ratings.csv'}:3", "rating 'four' is not a finite number")


def test_both_interactions_files_refused(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "interactions.parquet", b"")
    assert "both interactions.csv and interactions.parquet" in str(error_of(tmp_path))


def test_display_name_replaces_path_in_messages(tmp_path):
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\nu,j\n")
    with pytest.raises(DataError) as e:
        load(str(tmp_path), display="upload")
    assert (
        str(e.value)
        == "upload/interactions.csv:3: line has 2 fields, expected 3 (comma-separated: user_id, item_id, timestamp)"
    )
    write(tmp_path / "interactions.csv", HEAD + "u,i,1\n")
    write(tmp_path / "items.csv", "item_id,title\nj,Jay\n")
    ds = load(str(tmp_path), display="upload")
    assert ds.source == str(tmp_path) and ds.warnings[0].startswith("upload/items.csv: ")


@pytest.mark.parametrize("body", ["\nuser_id,item_id,timestamp\nu,i,1\n", '\n"u",i,1\n'])
def test_blank_header_line(tmp_path, body):
    f = write(tmp_path / "x.csv", body)
    assert_error(f, f"{f}:1", "empty header line")


def test_millisecond_timestamps_loaded_with_warning(tmp_path):
    f = write(tmp_path / "x.csv", HEAD + "u,i,1577836800000\nu,j,1577836801000\n")
    ds = load(str(f))
    assert ds.timestamp.tolist() == [1577836800000, 1577836801000]
    assert len(ds.warnings) == 1 and "look like milliseconds" in ds.warnings[0] and str(f) in ds.warnings[0]
    assert load(str(FIX / "bare" / "events.csv")).warnings == ()


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"\x1f\x8b\x08\x00rest", "gzip"), (b"PK\x03\x04rest", "zip archive"), (b"PAR1rest", "parquet")],
)
def test_binary_files_named_csv(tmp_path, content, kind):
    f = write(tmp_path / "interactions.csv", content)
    assert_error(tmp_path, f"{f}:1", kind, "not a text file")
