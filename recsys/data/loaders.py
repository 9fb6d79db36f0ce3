"""Data sources: one string selects the demo world, a scale demo world (``demo:...``),
a MovieLens-100K directory, a MovieLens "latest" directory, a generic directory, or an
interactions file.

Every loader validates completely before building anything, raises one
:class:`DataError` (``<file>:<line>: <problem>``) for the first problem found, and
funnels into :func:`recsys.data.types.build_dataset`.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import validate as V
from recsys.data.demo_spec import is_spec
from recsys.data.filtering import filter_min_count
from recsys.data.order import DEFAULT_TIE_ORDER, check_tie_order
from recsys.data.tables import Table, read_delimited, read_parquet
from recsys.data.types import DataError, Dataset, build_dataset

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
LAYOUTS = (
    "MovieLens-100K directory (u.data, u.item, u.user, u.genre)",
    "MovieLens 'latest' directory (ratings.csv, movies.csv, optional tags.csv)",
    "generic directory (interactions.csv or interactions.parquet, optional items.csv, users.csv)",
    "an interactions .csv or .parquet file",
)
NO_GENRES = "(no genres listed)"


def load(
    source: str = "demo",
    min_count: int | None = None,
    tie_order: str = DEFAULT_TIE_ORDER,
    *,
    display: str | None = None,
    events: bool = True,
) -> Dataset:
    """Load and validate a data source; optionally apply iterative N-core filtering.

    ``source``: ``"demo"``, ``"demo-small"``, a scale demo world
    ``"demo:users=N,items=N[,seed=N][,events=N][,followups=N]"``
    (:mod:`recsys.data.demo_spec`), or a path to a directory or file whose layout is
    detected from the files it holds. ``tie_order``: how one user's
    interactions in the same second are ordered — ``"hash"`` (a blake2b key of user and
    item id) or ``"id"`` (item-id order, as before tie keys; :mod:`recsys.data.order`);
    ``ds.tie_order`` records it and the fingerprint depends on it. ``display`` replaces
    the path in error messages and warnings (e.g. ``"upload"`` for files saved to a
    temporary directory); ``Dataset.source`` is always ``source``.

    ``events``: include the source's event log (``ingest``; :mod:`recsys.data.events`)
    after the N-core filter: the fingerprint stays the base data's, ``ds.log`` describes
    the logged events (None when there are none).
    """
    source = str(source)
    check_tie_order(tie_order)
    ds = _load_source(source, display or source, tie_order)
    if ds.source != source:
        ds = dataclasses.replace(ds, source=source)
    base = ds
    if min_count is not None:
        ds = filter_min_count(ds, min_count)
    if events:
        from recsys.data.events import include_log

        ds = include_log(ds, base)
    return ds


def _load_source(source: str, shown: str, tie_order: str) -> Dataset:
    """Dispatch on the layout; ``shown`` is the path as error messages name it."""
    if source in ("demo", "demo-small"):
        return _load_demo(source, tie_order)
    if is_spec(source):
        from recsys.data.demo_scale import generate_scale

        return generate_scale(source, tie_order)
    if not source.strip():
        raise DataError("empty data source (use demo, a directory or a file)")
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"no such file or directory: {shown} (use demo, a directory or a file)")
    if path.is_dir():
        return _load_dir(path, shown, tie_order)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        return load_generic(path, shown, file_label=shown, tie_order=tie_order)
    raise DataError(
        f"{shown}: unrecognised data file (expected an interactions .csv or .parquet file); tried: "
        + "; ".join(LAYOUTS)
    )


def _load_demo(source: str, tie_order: str) -> Dataset:
    try:
        demo = importlib.import_module("recsys.data.demo")
    except ModuleNotFoundError as e:
        if e.name == "recsys.data.demo":
            raise DataError(
                "the demo world is not available in this build (recsys.data.demo missing)"
            ) from None
        raise
    return demo.generate(tie_order=tie_order) if source == "demo" else demo.generate_small(tie_order=tie_order)


def _ids_series(values: np.ndarray) -> pd.Series:
    """int64 ids stay int64 (build_dataset maps them to str once per distinct id)."""
    return pd.Series(values, dtype=np.int64 if values.dtype == np.int64 else object)


def _obj(values: object) -> pd.Series:
    """An object-dtype Series (pandas would turn str arrays into arrow strings, slowly)."""
    return pd.Series(values, dtype=object)


def _label(source: str, name: str) -> str:
    """File name as the user will recognise it: the given source path joined with ``name``."""
    return str(Path(source) / name)


def _load_dir(path: Path, source: str, tie_order: str) -> Dataset:
    if (path / "u.data").is_file():
        return load_ml100k(path, source, tie_order=tie_order)
    if (path / "ratings.csv").is_file():
        return load_latest(path, source, tie_order=tie_order)
    csv_f, pq_f = path / "interactions.csv", path / "interactions.parquet"
    if csv_f.is_file() and pq_f.is_file():
        raise DataError(f"{source}: both interactions.csv and interactions.parquet present; keep one")
    if csv_f.is_file() or pq_f.is_file():
        f = csv_f if csv_f.is_file() else pq_f
        return load_generic(f, source, file_label=_label(source, f.name), tie_order=tie_order)
    present = sorted(p.name for p in path.iterdir())[:8]
    shown = ", ".join(present) if present else "nothing"
    raise DataError(f"{source}: unrecognised data directory (it holds {shown}); tried: " + "; ".join(LAYOUTS))


# ---------------------------------------------------------------------------------------------
# generic layout


def load_generic(path: Path, source: str, *, file_label: str, tie_order: str = DEFAULT_TIE_ORDER) -> Dataset:
    """interactions.csv / .parquet (+ items.csv, users.csv beside it when present)."""
    if path.suffix.lower() == ".parquet":
        t = read_parquet(path, file_label)
    else:
        t = read_delimited(path, file_label, numeric=("timestamp", "rating"), int_ids=("user_id", "item_id"))
    t.require(("user_id", "item_id", "timestamp"), "interactions")
    warns: list[str] = []
    inter = _interactions(
        t, "user_id", "item_id", "timestamp", "rating" if "rating" in t.columns else None, warns
    )

    base = Path(file_label).parent
    items = users = None
    items_path, users_path = path.parent / "items.csv", path.parent / "users.csv"
    items_label = str(base / "items.csv")
    if items_path.is_file():
        items = _generic_items(read_delimited(items_path, items_label), warns)
    if users_path.is_file():
        users = _generic_users(read_delimited(users_path, str(base / "users.csv")))
    return build_dataset(source, inter, items, users, warnings=warns, items_file=items_label, tie_order=tie_order)


MS_THRESHOLD = 10**11  # seconds in year ~5138: larger integer timestamps are probably milliseconds


def _interactions(
    t: Table, ucol: str, icol: str, tcol: str, rcol: str | None, warns: list[str]
) -> pd.DataFrame:
    ts = V.timestamps(t, tcol)
    frame = {  # object Series: pandas would otherwise convert the ids to arrow strings
        "user_id": _ids_series(V.ids(t, ucol, allow_int=True)),
        "item_id": _ids_series(V.ids(t, icol, allow_int=True)),
        "timestamp": ts,
    }
    if int(np.abs(ts).max()) > MS_THRESHOLD:
        warns.append(
            f"{t.file}: {tcol} values up to {int(np.abs(ts).max())} look like milliseconds; they are read as seconds"
        )
    if rcol is not None:
        frame["rating"] = V.ratings(t, rcol)
    return pd.DataFrame(frame)


def _split_categories(values: np.ndarray, drop: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for v in values.tolist():
        cats = (c.strip() for c in str(v).split("|"))
        out.append(tuple(dict.fromkeys(c for c in cats if c and c not in drop)))
    return out


def _titles(t: Table, ids: np.ndarray, warns: list[str]) -> np.ndarray:
    titles = V.strings(t, "title")
    empty = titles == ""
    if empty.any():
        titles = np.where(empty, ids, titles)
        warns.append(f"{t.file}: {int(empty.sum())} item(s) with an empty title, titled by id")
    return titles


def _generic_items(t: Table, warns: list[str]) -> pd.DataFrame:
    t.require(("item_id", "title"), "items")
    ids = V.ids(t, "item_id")
    V.unique_ids(t, "item_id", ids)
    frame: dict[str, object] = {"item_id": _obj(ids), "title": _obj(_titles(t, ids, warns))}
    if "categories" in t.columns:
        frame["categories"] = _split_categories(V.strings(t, "categories"))
    if "text" in t.columns:
        frame["text"] = _obj(V.strings(t, "text"))
    return pd.DataFrame(frame)


def _generic_users(t: Table) -> pd.DataFrame:
    t.require(("user_id",), "users")
    ids = V.ids(t, "user_id")
    V.unique_ids(t, "user_id", ids)
    frame = {"user_id": _obj(ids)}
    for c in t.columns:
        if c != "user_id" and c:
            frame[c] = _obj(V.strings(t, c))
    return pd.DataFrame(frame)


# ---------------------------------------------------------------------------------------------
# MovieLens-100K


def load_ml100k(path: Path, source: str, *, tie_order: str = DEFAULT_TIE_ORDER) -> Dataset:
    """u.data (tab: user item rating timestamp), u.item ('|', 24 fields), u.user, u.genre; Latin-1."""
    enc = "latin-1"
    t = read_delimited(
        path / "u.data", _label(source, "u.data"), delimiter="\t", encoding=enc, header=False,
        names=("user_id", "item_id", "rating", "timestamp"), quoting=False, numeric=("rating", "timestamp"),
        int_ids=("user_id", "item_id"),
    )  # fmt: skip
    warns: list[str] = []
    inter = _interactions(t, "user_id", "item_id", "timestamp", "rating", warns)
    if not (path / "u.item").is_file():
        raise DataError(
            "missing (a MovieLens-100K directory needs u.data and u.item)", file=_label(source, "u.item")
        )
    genres = _ml100k_genres(path, source)
    items = _ml100k_items(path, source, genres)
    users = _ml100k_users(path, source) if (path / "u.user").is_file() else None
    return build_dataset(source, inter, items, users, warnings=warns, items_file=_label(source, "u.item"),
                         tie_order=tie_order)


def _ml100k_genres(path: Path, source: str) -> tuple[str, ...]:
    f = path / "u.genre"
    if not f.is_file():
        return ML100K_GENRES
    t = read_delimited(
        f, _label(source, "u.genre"), delimiter="|", encoding="latin-1", header=False,
        names=("genre", "index"), quoting=False,
    )  # fmt: skip
    idx = V.strings(t, "index")
    names = V.strings(t, "genre").tolist()
    for k, v in enumerate(idx.tolist()):
        if v != str(k):
            raise t.error(k, f"genre index {v!r}, expected {k} (genres must be listed in order)")
        if not names[k]:
            raise t.error(k, "empty genre name")
    return tuple(names)


def _ml100k_items(path: Path, source: str, genres: tuple[str, ...]) -> pd.DataFrame:
    flag_names = tuple(f"g{k}" for k in range(len(genres)))
    names = ("item_id", "title", "release_date", "video_release_date", "imdb_url") + flag_names
    t = read_delimited(
        path / "u.item", _label(source, "u.item"), delimiter="|", encoding="latin-1", header=False,
        names=names, quoting=False,
    )  # fmt: skip
    ids = V.ids(t, "item_id")
    V.unique_ids(t, "item_id", ids)
    flags = np.zeros((t.n_rows, len(genres)), dtype=bool)
    for j, c in enumerate(flag_names):
        s = t.columns[c].to_numpy(dtype=object)
        if not ((s == "1") | (s == "0")).all():  # allow padding, but only pay for stripping when needed
            s = V.strings(t, c)
        one = s == "1"
        k = V.first_true(~(one | (s == "0")))
        if k is not None:
            raise t.error(k, f"genre flag {j + 6} ({genres[j]}) is {s[k]!r}, expected 0 or 1")
        flags[:, j] = one
    named = [g if g != "unknown" else None for g in genres]
    cats = [tuple(g for g, f in zip(named, row) if f and g) for row in flags.tolist()]
    warns: list[str] = []
    titles = _titles(t, ids, warns)
    return pd.DataFrame({"item_id": _obj(ids), "title": _obj(titles), "categories": cats})


AGE_BANDS = ((18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"))


def age_band(age: int) -> str:
    """MovieLens-1M style age band of an age in years."""
    for upper, name in AGE_BANDS:
        if age < upper:
            return name
    return "56+"


def _ml100k_users(path: Path, source: str) -> pd.DataFrame:
    t = read_delimited(
        path / "u.user", _label(source, "u.user"), delimiter="|", encoding="latin-1", header=False,
        names=("user_id", "age", "gender", "occupation", "zip"), quoting=False,
    )  # fmt: skip
    ids = V.ids(t, "user_id")
    V.unique_ids(t, "user_id", ids)
    age_s = V.strings(t, "age")
    ok = np.array([a.isdigit() and a.isascii() for a in age_s.tolist()], dtype=bool)
    k = V.first_true(~ok)
    if k is not None:
        raise t.error(k, f"age {age_s[k]!r} is not a whole number of years")
    return pd.DataFrame(
        {
            "user_id": _obj(ids),
            "gender": _obj(V.strings(t, "gender")),
            "age_band": _obj([age_band(int(a)) for a in age_s.tolist()]),
            "occupation": _obj(V.strings(t, "occupation")),
        }
    )


# ---------------------------------------------------------------------------------------------
# MovieLens "latest" (ml-latest-small, ml-25m, ml-32m)


def load_latest(path: Path, source: str, *, tie_order: str = DEFAULT_TIE_ORDER) -> Dataset:
    """ratings.csv userId,movieId,rating,timestamp; movies.csv movieId,title,genres; tags.csv."""
    t = read_delimited(
        path / "ratings.csv",
        _label(source, "ratings.csv"),
        numeric=("rating", "timestamp"),
        int_ids=("userId", "movieId"),
    )
    t.require(("userId", "movieId", "rating", "timestamp"), "ratings")
    warns: list[str] = []
    inter = _interactions(t, "userId", "movieId", "timestamp", "rating", warns)
    movies_f = path / "movies.csv"
    if not movies_f.is_file():
        raise DataError(
            "missing (a MovieLens 'latest' directory needs ratings.csv and movies.csv)",
            file=_label(source, "movies.csv"),
        )
    m = read_delimited(movies_f, _label(source, "movies.csv"))
    m.require(("movieId", "title"), "movies")
    ids = V.ids(m, "movieId")
    V.unique_ids(m, "movieId", ids)
    items = pd.DataFrame({"item_id": _obj(ids), "title": _obj(_titles(m, ids, warns))})
    if "genres" in m.columns:
        items["categories"] = _split_categories(V.strings(m, "genres"), drop=(NO_GENRES,))
    tags_f = path / "tags.csv"
    if tags_f.is_file():
        items["text"] = _latest_tags(tags_f, _label(source, "tags.csv"), ids)
    return build_dataset(source, inter, items, None, warnings=warns, items_file=_label(source, "movies.csv"),
                         tie_order=tie_order)


def _latest_tags(path: Path, label: str, item_ids: np.ndarray) -> list[str]:
    """Distinct tags per movie, most used first, joined by ', '."""
    t = read_delimited(path, label, numeric=("timestamp",))
    t.require(("userId", "movieId", "tag"), "tags")
    V.ids(t, "userId")
    movie = V.ids(t, "movieId")
    if "timestamp" in t.columns:
        V.timestamps(t, "timestamp")
    tag = V.strings(t, "tag")
    keep = tag != ""
    tags = pd.Series(tag[keep], dtype=object)
    df = pd.DataFrame({"item_id": movie[keep], "tag": tags, "key": tags.str.lower()})
    counts = (
        df.groupby(["item_id", "key"], sort=False).agg(tag=("tag", "first"), n=("tag", "size")).reset_index()
    )
    counts = counts.sort_values(["item_id", "n", "key"], ascending=[True, False, True], kind="stable")
    joined: dict[Any, str] = counts.groupby("item_id", sort=False)["tag"].agg(", ".join).to_dict()
    return [joined.get(i, "") for i in item_ids.tolist()]
