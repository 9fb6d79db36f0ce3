"""Typed, frozen data containers: the currency of the recsys layer.

Every loader (demo world, MovieLens-100K, MovieLens "latest", generic CSV/parquet)
funnels into :func:`build_dataset`, which assigns contiguous integer indices, orders
interactions per the evaluation protocol and computes the content fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import pandas as pd

from recsys.data.errors import DataError
from recsys.data.order import DEFAULT_TIE_ORDER, check_tie_order, protocol_order

_INT_ID = re.compile(r"[+-]?[0-9]+")


def id_sort_key(ids: Sequence[str]) -> list[Any]:
    """Sort keys for ids: numbers when every id is an integer (ASCII digits with an
    optional sign), else the strings. Equal numbers ("01", "1") tie-break as strings."""
    if all(_INT_ID.fullmatch(x) for x in ids):
        return [(int(x), x) for x in ids]
    return list(ids)


def sorted_ids(ids: Sequence[str]) -> tuple[str, ...]:
    uniq = list(dict.fromkeys(ids))
    keys = id_sort_key(uniq)
    order = sorted(range(len(uniq)), key=lambda i: keys[i])
    return tuple(uniq[i] for i in order)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _index_array(values: Any, what: str) -> np.ndarray:
    """A read-only int64 1-D copy of ``values``; DataError when not integers."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise DataError(f"{what} must be one-dimensional, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{what} must be integers, got {a.dtype}")
    out = np.array(a, dtype=np.int64)  # always a copy: the caller's array stays theirs
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)  # holds arrays: identity equality, no hashing
class History:
    """One user's history: item indices, oldest first, and their timestamps.

    ``user`` is the user id, or ``""`` for an anonymous or edited profile. ``items``
    are int64 item indices; ``timestamps`` int64 seconds aligned with ``items``, or
    None when unknown. The constructor stores read-only int64 copies and raises
    :class:`DataError` for mismatched lengths, non-integer values or negative items.
    """

    user: str
    items: np.ndarray
    timestamps: np.ndarray | None

    def __post_init__(self) -> None:
        if not isinstance(self.user, str):
            raise DataError(f"history user must be a str, got {type(self.user).__name__}")
        items = _index_array(self.items, "history items")
        if items.size and int(items.min()) < 0:
            raise DataError("history items must be non-negative item indices")
        object.__setattr__(self, "items", items)
        if self.timestamps is not None:
            ts = _index_array(self.timestamps, "history timestamps")
            if ts.shape != items.shape:
                raise DataError(f"history has {items.size} items but {ts.size} timestamps")
            object.__setattr__(self, "timestamps", ts)

    def __len__(self) -> int:
        return int(self.items.shape[0])


@dataclass(frozen=True)
class LogInfo:
    """The event log a loaded dataset includes (:mod:`recsys.data.events`).

    ``events``: logged interactions included; ``position``: the log's position (events
    appended since it was last emptied — equal to ``events``; a serving table records
    it); ``last_timestamp``: the newest logged event's time (None when empty);
    ``new_users`` / ``new_items``: ids the base data does not have; ``key``: changes
    whenever the log's content changes (also across ``ingest --reset``);
    ``base_events``: interactions of the base data; ``generation``: new on every reset.
    """

    events: int
    position: int
    last_timestamp: int | None
    new_users: int
    new_items: int
    key: str
    base_events: int
    generation: str = ""  # with ``position``: names a log prefix exactly (recsys.updates)

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "position": self.position, "last_timestamp": self.last_timestamp,
                "new_users": self.new_users, "new_items": self.new_items, "base_events": self.base_events}


@dataclass(frozen=True, eq=False)
class Dataset:
    """An interaction log with item and user metadata.

    Interactions are stored as parallel read-only arrays sorted by (user index,
    timestamp, tie order): ``tie_order`` ``"hash"`` breaks same-second ties by the
    blake2b tie key of (user id, item id), ``"id"`` by item index (item-id order:
    numeric when every id is an integer, else string); see :mod:`recsys.data.order`.
    Every consumer (split, training windows, timelines, explanations) sees this order.
    """

    source: str
    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    user: np.ndarray  # int32 (n,)
    item: np.ndarray  # int32 (n,)
    timestamp: np.ndarray  # int64 seconds (n,)
    rating: np.ndarray | None  # float32 (n,) or None
    titles: tuple[str, ...]  # per item index
    item_categories: tuple[tuple[str, ...], ...]  # per item index (may be empty tuples)
    item_text: tuple[str, ...]  # per item index (description / tags, may be "")
    user_attrs: pd.DataFrame | None  # index 0..n_users-1, str attribute columns
    fingerprint: str
    warnings: tuple[str, ...] = ()
    truth: Any = None  # demo-world ground truth (recsys.data.demo.DemoTruth) or None
    tie_order: str = DEFAULT_TIE_ORDER  # how same-second ties are ordered: "hash" or "id"
    # the event log included on load (recsys.data.events); ``fingerprint`` stays the base
    # data's (the model key) and ``content_key`` changes with the log
    log: LogInfo | None = None
    _uindex: dict[str, int] = field(default_factory=dict, repr=False)
    _iindex: dict[str, int] = field(default_factory=dict, repr=False)

    # ---- sizes -------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(self.user.shape[0])

    @property
    def content_key(self) -> str:
        """A key for caches of anything computed from the interactions: the fingerprint
        when no event log is included, else the fingerprint plus the log's key (so it
        changes whenever the log grows or is emptied). Models are keyed by
        ``fingerprint`` (the base data's), never by this."""
        return self.fingerprint if self.log is None else f"{self.fingerprint}+{self.log.key}"

    # ---- lookups -----------------------------------------------------------
    def user_index(self, user_id: str) -> int:
        try:
            return self._uindex[str(user_id)]
        except KeyError:
            raise DataError(f"unknown user id {str(user_id)!r}") from None

    def item_index(self, item_id: str) -> int:
        try:
            return self._iindex[str(item_id)]
        except KeyError:
            raise DataError(f"unknown item id {str(item_id)!r}") from None

    def has_user(self, user_id: str) -> bool:
        return str(user_id) in self._uindex

    def has_item(self, item_id: str) -> bool:
        return str(item_id) in self._iindex

    # ---- per-user sequences --------------------------------------------------
    @cached_property
    def user_offsets(self) -> np.ndarray:
        """CSR offsets: user u's interactions are rows offsets[u]:offsets[u+1]."""
        counts = np.bincount(self.user, minlength=self.n_users)
        off = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=off[1:])
        return _readonly(off)

    def sequence(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, timestamps) of user index u, oldest first (read-only views)."""
        a, b = self.user_offsets[u], self.user_offsets[u + 1]
        return self.item[a:b], self.timestamp[a:b]

    def history(self, user_id: str) -> History:
        """The :class:`History` of a user id (read-only copies, oldest first)."""
        items, ts = self.sequence(self.user_index(user_id))
        return History(str(user_id), items, ts)

    def sequences(self) -> list[np.ndarray]:
        off = self.user_offsets
        return [self.item[off[u] : off[u + 1]] for u in range(self.n_users)]

    # ---- item statistics -----------------------------------------------------
    @cached_property
    def categories(self) -> tuple[str, ...]:
        """Distinct categories, sorted."""
        return tuple(sorted({c for cats in self.item_categories for c in cats}))

    @cached_property
    def category_matrix(self) -> np.ndarray:
        """(n_items, n_categories) float32; an item of several categories splits its
        weight equally; an item with no category has a zero row."""
        cats = {c: j for j, c in enumerate(self.categories)}
        m = np.zeros((self.n_items, len(cats)), dtype=np.float32)
        for i, cs in enumerate(self.item_categories):
            if cs:
                for c in cs:
                    m[i, cats[c]] += 1.0 / len(cs)
        return _readonly(m)

    @cached_property
    def item_popularity(self) -> np.ndarray:
        """Interactions per item over the whole log (int64)."""
        return _readonly(np.bincount(self.item, minlength=self.n_items).astype(np.int64))


def fingerprint_of(
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray,
    rating: np.ndarray | None,
    titles: Sequence[str],
    item_categories: Sequence[Sequence[str]],
    item_text: Sequence[str],
    user_attrs: pd.DataFrame | None,
    tie_order: str = "id",  # recorded by callers; the order itself is in the arrays
) -> str:
    """sha256 of the content in protocol order. The tie order counts through that order
    alone: where same-second ties reorder a user's items the arrays differ, so the
    fingerprint does; data without such ties keeps one fingerprint under every order
    (and the fingerprints from before tie keys stay valid)."""
    h = hashlib.sha256()

    def add_strs(tag: str, xs: Sequence[str]) -> None:
        h.update(tag.encode())
        parts = []
        for x in xs:  # length-prefixed strings, hashed in one update (same digest, faster)
            b = x.encode("utf-8", "surrogatepass")
            parts.append(len(b).to_bytes(4, "little"))
            parts.append(b)
        h.update(b"".join(parts))

    add_strs("users", user_ids)
    add_strs("items", item_ids)
    for tag, arr in (("u", user), ("i", item), ("t", timestamp)):
        h.update(tag.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    if rating is not None:
        h.update(b"r")
        h.update(np.ascontiguousarray(rating, dtype=np.float32).tobytes())
    add_strs("titles", titles)
    add_strs("cats", ["|".join(c) for c in item_categories])
    add_strs("text", item_text)
    if user_attrs is not None:
        add_strs("ucols", [str(c) for c in user_attrs.columns])
        for c in user_attrs.columns:
            add_strs("ucol", [str(v) for v in user_attrs[c].tolist()])
    return h.hexdigest()


def _str_ids(col: pd.Series) -> np.ndarray:
    """An id column as an object array of str (fast when it already holds str)."""
    arr = col.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(arr, skipna=False) != "string":
        arr = np.array([str(x) for x in arr], dtype=object)
    return arr


def _factorize_ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct ids as str) of an id column; int64 columns are factorized as
    numbers and only the distinct values turned into strings (fast for big logs)."""
    if pd.api.types.is_integer_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        codes, uniq = pd.factorize(col.to_numpy())
        return codes, np.array([str(x) for x in uniq.tolist()], dtype=object)
    codes, uniq = pd.factorize(_str_ids(col))
    return codes, np.asarray(uniq, dtype=object)


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` of ``df`` (DataError when the name labels several columns)."""
    col = df[name]
    if not isinstance(col, pd.Series):
        raise DataError(f"column {name!r} appears more than once")
    return col


def _item_meta(items: pd.DataFrame | None) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """item id -> (title, categories, text) from an items frame (see build_dataset)."""
    meta: dict[str, tuple[str, tuple[str, ...], str]] = {}
    if items is None or not len(items):
        return meta
    n = len(items)
    cats_col = _column(items, "categories").tolist() if "categories" in items else [()] * n
    text_col = _column(items, "text").tolist() if "text" in items else [""] * n
    titles = _column(items, "title").tolist()
    for iid, title, cs, text in zip(_str_ids(_column(items, "item_id")), titles, cats_col, text_col):
        text = str(text) if text is not None and not (isinstance(text, float) and np.isnan(text)) else ""
        meta[iid] = (str(title), tuple(cs) if cs is not None else (), text)
    return meta


def build_dataset(
    source: str,
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    *,
    warnings: Sequence[str] = (),
    truth: Any = None,
    items_file: str = "items",
    tie_order: str = DEFAULT_TIE_ORDER,
) -> Dataset:
    """Build a :class:`Dataset` from validated frames.

    interactions: columns ``user_id`` (str), ``item_id`` (str), ``timestamp`` (int64
    seconds), optional ``rating`` (float). items: ``item_id``, ``title``, optional
    ``categories`` (list/tuple of str), ``text``; may include items never interacted
    with. users: ``user_id`` + attribute columns (only users with interactions kept).
    Items interacted with but missing from ``items`` get their id as title and a
    warning is recorded. ``tie_order`` (``"hash"`` or ``"id"``) orders interactions of
    one user in the same second (:func:`recsys.data.order.protocol_order`).
    """
    check_tie_order(tie_order)
    warns = list(warnings)
    if len(interactions) == 0:
        raise DataError("no interactions")
    icodes, iuniq = _factorize_ids(_column(interactions, "item_id"))
    ucodes, uuniq = _factorize_ids(_column(interactions, "user_id"))
    meta = _item_meta(items)
    all_item_ids = list(iuniq) + list(meta)
    missing = [i for i in iuniq if i not in meta]
    if items is not None and missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        warns.append(f"{items_file}: {len(missing)} interacted item(s) missing, titled by id: {shown}")
    item_ids = sorted_ids(all_item_ids)
    user_ids = sorted_ids(list(uuniq))
    iindex = {x: k for k, x in enumerate(item_ids)}
    uindex = {x: k for k, x in enumerate(user_ids)}

    u = np.array([uindex[x] for x in uuniq], dtype=np.int32)[ucodes]
    i = np.array([iindex[x] for x in iuniq], dtype=np.int32)[icodes]
    t = _column(interactions, "timestamp").to_numpy(dtype=np.int64)
    rating = _column(interactions, "rating") if "rating" in interactions else None
    r = rating.to_numpy(dtype=np.float32) if rating is not None and bool(rating.notna().any()) else None
    order = protocol_order(u, t, i, user_ids, item_ids, tie_order)
    u, i, t = u[order], i[order], t[order]
    if r is not None:
        r = r[order]

    titles = tuple(meta[x][0] if x in meta else x for x in item_ids)
    cats = tuple(tuple(meta[x][1]) if x in meta else () for x in item_ids)
    text = tuple(meta[x][2] if x in meta else "" for x in item_ids)

    uattrs = None
    if users is not None and len(users) and len(users.columns) > 1:
        uf = users.copy()
        uf["user_id"] = uf["user_id"].astype(str)
        uf = uf.drop_duplicates("user_id", keep="first").set_index("user_id")
        uattrs = uf.reindex(list(user_ids)).astype(object).where(lambda d: d.notna(), None)
        uattrs = uattrs.map(lambda v: "" if v is None else str(v)).reset_index(drop=True)

    fp = fingerprint_of(user_ids, item_ids, u, i, t, r, titles, cats, text, uattrs, tie_order)
    return Dataset(
        source=source,
        user_ids=user_ids,
        item_ids=item_ids,
        user=_readonly(u),
        item=_readonly(i),
        timestamp=_readonly(t),
        rating=None if r is None else _readonly(r),
        titles=titles,
        item_categories=cats,
        item_text=text,
        user_attrs=uattrs,
        fingerprint=fp,
        warnings=tuple(warns),
        truth=truth,
        tie_order=tie_order,
        _uindex=uindex,
        _iindex=iindex,
    )
