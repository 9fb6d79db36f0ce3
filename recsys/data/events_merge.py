"""Merging an event log's contents into a loaded dataset (:mod:`recsys.data.events`).

Base users and items keep their indices; new ones are appended after them (new users
sorted among themselves, new items in order of first appearance in the log, so the
item indices of a shorter log are a prefix of a longer one's), titled by the logged items rows (else the unfiltered source's
catalogue, else their id, with a warning) and given the logged users rows'
attributes. Interactions are re-ordered by the protocol order; the fingerprint stays
the base data's and ``Dataset.log`` describes the log.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.data.order import protocol_order
from recsys.data.types import Dataset, LogInfo, sorted_ids

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data.events import LogContents


def _item_rows(items: pd.DataFrame | None) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """item id -> (title, categories, text) of the logged items rows (the latest wins)."""
    out: dict[str, tuple[str, tuple[str, ...], str]] = {}
    if items is None:
        return out
    for iid, title, cats, text in zip(items["item_id"].tolist(), items["title"].tolist(),
                                      items["categories"].tolist(), items["text"].tolist()):
        out[str(iid)] = (str(title), tuple(str(c) for c in (cats if cats is not None else ())), str(text or ""))
    return out


def _codes(values: np.ndarray, index: dict[str, int]) -> np.ndarray:
    codes, uniq = pd.factorize(values)
    return np.array([index[str(x)] for x in uniq.tolist()], dtype=np.int32)[codes]


def merge(ds: Dataset, contents: LogContents, catalogue: Dataset | None = None) -> Dataset:
    """The dataset of ``ds`` followed by the logged events (see :func:`include_log`)."""
    ev = contents.events
    users = ev["user_id"].to_numpy(dtype=object)
    items = ev["item_id"].to_numpy(dtype=object)
    new_users = sorted_ids([x for x in pd.unique(users).tolist() if not ds.has_user(x)])
    # new items in order of first appearance in the log: a longer log keeps every index of
    # a shorter one, so a model updated on a prefix of the log still matches (recsys.updates)
    new_items = tuple(str(x) for x in pd.unique(items).tolist() if not ds.has_item(x))
    user_ids = tuple(ds.user_ids) + new_users
    item_ids = tuple(ds.item_ids) + new_items
    uindex = {**ds._uindex, **{x: ds.n_users + k for k, x in enumerate(new_users)}}
    iindex = {**ds._iindex, **{x: ds.n_items + k for k, x in enumerate(new_items)}}

    u = np.concatenate([ds.user, _codes(users, uindex)]).astype(np.int32)
    i = np.concatenate([ds.item, _codes(items, iindex)]).astype(np.int32)
    t = np.concatenate([ds.timestamp, ev["timestamp"].to_numpy(dtype=np.int64)])
    r = None
    if ds.rating is not None:
        r = np.concatenate([ds.rating, ev["rating"].to_numpy(dtype=np.float64).astype(np.float32)])
    order = protocol_order(u, t, i, user_ids, item_ids, ds.tie_order)
    u, i, t = u[order], i[order], t[order]
    r = None if r is None else r[order]

    rows = _item_rows(contents.items)
    cat = catalogue if catalogue is not None else ds
    meta: list[tuple[str, tuple[str, ...], str]] = []
    untitled = []
    for x in new_items:
        if x in rows:
            meta.append(rows[x])
        elif cat.has_item(x):
            k = cat.item_index(x)
            meta.append((cat.titles[k], cat.item_categories[k], cat.item_text[k]))
        else:
            meta.append((x, (), ""))
            untitled.append(x)
    warns = list(ds.warnings)
    if untitled:
        shown = ", ".join(untitled[:5]) + (" …" if len(untitled) > 5 else "")
        warns.append(f"event log: {len(untitled)} new item(s) without an items row, titled by id: {shown}")

    uattrs = ds.user_attrs
    if uattrs is not None and new_users:
        urows: dict[str, dict[str, str]] = {}
        if contents.users is not None and "user_id" in contents.users:
            for rec in contents.users.to_dict("records"):
                urows[str(rec["user_id"])] = {str(k): str(v) for k, v in rec.items()}
        extra = pd.DataFrame({c: [urows.get(x, {}).get(str(c), "") for x in new_users] for c in uattrs.columns},
                             dtype=object)
        uattrs = pd.concat([uattrs, extra], ignore_index=True)

    st = contents.state
    info = LogInfo(events=st.events, position=st.events, last_timestamp=st.last_timestamp,
                   new_users=len(new_users), new_items=len(new_items),
                   key=st.info_key(), base_events=ds.n_interactions,
                   generation=st.generation)
    return dataclasses.replace(
        ds, user_ids=user_ids, item_ids=item_ids, user=_ro(u), item=_ro(i), timestamp=_ro(t),
        rating=None if r is None else _ro(r),
        titles=tuple(ds.titles) + tuple(m[0] for m in meta),
        item_categories=tuple(ds.item_categories) + tuple(m[1] for m in meta),
        item_text=tuple(ds.item_text) + tuple(m[2] for m in meta),
        user_attrs=uattrs, warnings=tuple(warns), log=info, _uindex=uindex, _iindex=iindex,
    )


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a

