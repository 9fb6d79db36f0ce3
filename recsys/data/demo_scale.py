"""Scale demo worlds: the demo bookshop at any size, with its planted ground truth.

A data source ``demo:users=200000,items=40000[,seed=N][,events=N][,followups=N]``
(syntax, defaults and ranges: :mod:`recsys.data.demo_spec`) selects a world generated
here; ``load`` (:mod:`recsys.data.loaders`), the command line's ``--data`` and the app's
source box and ``?data=`` URL all accept it. ``python -m recsys generate --size SPEC
--out DIR`` writes the same world as files the generic loader reads back with the same
fingerprint (:mod:`recsys.commands.generate`).

The world has the structure of :mod:`recsys.data.demo` — 15 shelves with readable
titles and descriptions, Zipf-like popularity, casual / regular / power readers with age
bands and regions, session timestamps over two years — and the same two kinds of planted
structure, recorded in ``ds.truth`` (a :class:`~recsys.data.demo_scale_truth.ScaleTruth`
that reads like :class:`~recsys.data.demo.DemoTruth`):

* **interest phases** — half the readers switch once, at a known change point, to a
  disjoint set of shelves; apart from 10 % noise, every organic pick comes from the
  current phase's shelves;
* **follow-ups** — pairs A -> B: a reader who takes A takes B one or two steps later
  with probability 0.85; B is never picked otherwise. 6 % of the logs end with a
  trigger A whose B never comes (a *pending* follow-up).

It is generated with array operations in blocks of
:data:`~recsys.data.demo_scale_readers.BLOCK_USERS` readers, each block from its own
random stream keyed by the seed and the block index (the catalogue from a stream of its
own): the world depends only on the spec, never on how many blocks are generated or
written at a time, nor on the process. It is *not* the ``demo`` world at another size:
``demo`` and ``demo-small`` stay exactly as they are (:mod:`recsys.data.demo`).

Interactions are unique per reader and strictly increasing in time per reader, so both
tie orders give one order and one fingerprint. Ids: readers ``u`` + the zero-padded
1-based index (``u000001``), books ``b`` + index (``b00001``); id order is index order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Sequence

import numpy as np
import pandas as pd

from recsys.data.demo_readers import AGE_BANDS, REGIONS, SEGMENTS
from recsys.data.demo_scale_items import Catalog, id_width, make_catalog
from recsys.data.demo_scale_readers import FOLLOWUP_PROB, NOISE, Block, make_block, n_blocks
from recsys.data.demo_scale_truth import ScaleTruth, UserIds
from recsys.data.demo_spec import WorldSpec, is_spec, parse_spec
from recsys.data.order import DEFAULT_TIE_ORDER
from recsys.data.types import Dataset, build_dataset

__all__ = [
    "Block",
    "Catalog",
    "ScaleTruth",
    "WorldSpec",
    "generate_scale",
    "is_spec",
    "items_frame",
    "iter_blocks",
    "make_catalog",
    "n_blocks",
    "parse_spec",
    "truth_of",
    "user_ids",
    "users_frame",
]


def user_ids(spec: WorldSpec) -> UserIds:
    return UserIds(id_width(spec.users, 3))


def iter_blocks(spec: WorldSpec, cat: Catalog | None = None, start: int = 0, stop: int | None = None) -> Iterator[Block]:
    """Blocks ``start`` … ``stop - 1`` of the world (all by default), in order."""
    cat = make_catalog(spec) if cat is None else cat
    for b in range(start, n_blocks(spec) if stop is None else stop):
        yield make_block(spec, cat, b)


def items_frame(cat: Catalog) -> pd.DataFrame:
    """The catalogue as :func:`build_dataset` takes it (``categories`` as tuples)."""
    return pd.DataFrame({
        "item_id": pd.Series(cat.ids, dtype=object),
        "title": pd.Series(cat.titles, dtype=object),
        "categories": cat.categories,
        "text": pd.Series(cat.text, dtype=object),
    })  # fmt: skip


def users_frame(spec: WorldSpec, block: Block) -> pd.DataFrame:
    """The block's readers and their attributes (segment, age_band, region)."""
    ids = user_ids(spec)
    rows = range(block.first_user, block.first_user + block.n_users)
    obj = lambda names, codes: pd.Series(np.asarray(names, dtype=object)[codes], dtype=object)  # noqa: E731
    return pd.DataFrame({
        "user_id": pd.Series([ids.id(u) for u in rows], dtype=object),
        "segment": obj(SEGMENTS, block.segment),
        "age_band": obj(AGE_BANDS, block.age),
        "region": obj(REGIONS, block.region),
    })  # fmt: skip


def _cat(blocks: Sequence[Block], name: str) -> np.ndarray:
    return np.concatenate([getattr(b, name) for b in blocks])


def truth_of(spec: WorldSpec, cat: Catalog, blocks: Sequence[Block]) -> ScaleTruth:
    """The ground truth of the world from all its blocks, in order."""
    length = _cat(blocks, "length")
    ends = np.cumsum(length)
    ts = _cat(blocks, "ts")
    pairs = tuple((str(cat.ids[a]), str(cat.ids[b])) for a, b in zip(cat.pair_a.tolist(), cat.pair_b.tolist()))
    return ScaleTruth(
        spec=spec.canonical, seed=spec.seed, user_ids=user_ids(spec), taste=_cat(blocks, "taste"),
        change_ts=_cat(blocks, "change_ts"), first_ts=ts[ends - length], last_ts=ts[ends - 1], length=length,
        pending=_cat(blocks, "pending"), followups=pairs, occ_user=_cat(blocks, "occ_user"),
        occ_pair=_cat(blocks, "occ_pair"), occ_followed=_cat(blocks, "occ_followed"),
        followup_prob=FOLLOWUP_PROB, noise=NOISE,
    )  # fmt: skip


def interactions_frame(spec: WorldSpec, cat: Catalog, blocks: Sequence[Block]) -> pd.DataFrame:
    """user_id, item_id (str) and timestamp of the blocks, in order."""
    ids = user_ids(spec)
    first, last = blocks[0].first_user, blocks[-1].first_user + blocks[-1].n_users
    uid = np.array([ids.id(u) for u in range(first, last)], dtype=object)
    return pd.DataFrame({
        "user_id": pd.Series(uid[_cat(blocks, "user") - first], dtype=object),
        "item_id": pd.Series(cat.ids[_cat(blocks, "item")], dtype=object),
        "timestamp": _cat(blocks, "ts"),
    })  # fmt: skip


def generate_scale(source: str | WorldSpec, tie_order: str = DEFAULT_TIE_ORDER, *, label: str | None = None) -> Dataset:
    """The world of a spec (``demo:KEY=N,...`` or a :class:`WorldSpec`) as a Dataset
    whose ``truth`` is a :class:`ScaleTruth`; ``source`` (or ``label``) names it."""
    spec = source if isinstance(source, WorldSpec) else parse_spec(source)
    name = label or (source if isinstance(source, str) else spec.canonical)
    cat = make_catalog(spec)
    blocks = list(iter_blocks(spec, cat))
    inter = interactions_frame(spec, cat, blocks)
    users = pd.concat([users_frame(spec, b) for b in blocks], ignore_index=True)
    truth = truth_of(spec, cat, blocks)
    del blocks
    return build_dataset(name, inter, items_frame(cat), users, truth=truth, tie_order=tie_order)
