"""Write a scale demo world to a directory the generic loader reads back.

``generate --size users=N,items=N[,seed=N][,events=N][,followups=N] --out DIR [--force]
[--block-users N] [--json]`` (``--size`` also takes the ``demo:...`` source itself;
syntax in :mod:`recsys.data.demo_spec`). DIR then holds a generic-layout world —
``interactions.parquet`` (user_id, item_id, timestamp), ``items.csv`` (item_id, title,
categories separated by ``|``, text), ``users.csv`` (user_id, segment, age_band,
region) — plus its ground truth: ``truth_users.parquet`` (per reader: change_point,
null for stable readers; shelves_before, shelves_after; pending_trigger,
pending_target, null for most) and ``world.json`` (the canonical spec, the counts and
the follow-up pairs). ``--data DIR`` loads the same interactions, items and readers
as ``--data demo:...``, with the same fingerprint (without the truth: load the spec for
``ds.truth``).

Readers are generated and written ``--block-users`` at a time (one Parquet row group
each), so memory stays bounded whatever the size; the files do not depend on it. The
world is written to a temporary directory beside DIR and renamed into place: DIR is
either complete or untouched. An existing DIR is refused unless ``--force`` (then
replaced). A progress bar goes to stderr when it is a terminal. JSON ends with
``{"users", "items", "interactions", "path", "seconds"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsys.data.demo_scale import (
    Block,
    Catalog,
    WorldSpec,
    items_frame,
    iter_blocks,
    make_catalog,
    n_blocks,
    parse_spec,
    user_ids,
    users_frame,
)
from recsys.data.demo_scale_readers import BLOCK_USERS
from recsys.data.demo_words import CATEGORIES
from recsys.data.types import DataError

USES_DATA = False
DEFAULT_BLOCK_USERS = 32 * BLOCK_USERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", required=True, metavar="SPEC",
                        help="users=N,items=N[,seed=N][,events=N][,followups=N] (or demo:...)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write (must not exist)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it exists")
    parser.add_argument("--block-users", type=int, default=DEFAULT_BLOCK_USERS, metavar="N",
                        help=f"readers generated and written at a time (default {DEFAULT_BLOCK_USERS}; "
                        "bounds memory, the files are the same for any value)")


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} exists (choose a new directory or pass --force to replace it)")
    if not out.parent.is_dir():
        raise DataError(f"{out.parent}: no such directory")


def _shelves(taste: np.ndarray) -> list[str | None]:
    """Shelf names of (n, 2) shelf indices joined by ``|`` (None when empty)."""
    names = np.asarray(CATEGORIES + ("",), dtype=object)[taste]  # -1 -> ""
    return [("|".join(x for x in row if x) or None) for row in names.tolist()]


class _Writer:
    """The files of one world in a directory, appended one group of blocks at a time."""

    def __init__(self, spec: WorldSpec, cat: Catalog, root: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.spec, self.cat, self.root = pa, spec, cat, root
        self.item_ids = pa.array(cat.ids.tolist(), type=pa.string())
        schema = pa.schema([("user_id", pa.string()), ("item_id", pa.string()), ("timestamp", pa.int64())])
        tschema = pa.schema([
            ("user_id", pa.string()), ("change_point", pa.int64()), ("shelves_before", pa.string()),
            ("shelves_after", pa.string()), ("pending_trigger", pa.string()), ("pending_target", pa.string()),
        ])  # fmt: skip
        self.inter = pq.ParquetWriter(root / "interactions.parquet", schema)
        self.truth = pq.ParquetWriter(root / "truth_users.parquet", tschema)
        self.users_path = root / "users.csv"
        self.rows = 0

    def write(self, blocks: list[Block]) -> None:
        pa = self.pa
        first = blocks[0].first_user
        n = sum(b.n_users for b in blocks)
        uid = pa.array([user_ids(self.spec).id(u) for u in range(first, first + n)], type=pa.string())
        user = np.concatenate([b.user for b in blocks]) - first
        item = np.concatenate([b.item for b in blocks])
        table = pa.table({
            "user_id": uid.take(pa.array(user)),
            "item_id": self.item_ids.take(pa.array(item)),
            "timestamp": pa.array(np.concatenate([b.ts for b in blocks])),
        })  # fmt: skip
        self.inter.write_table(table, row_group_size=len(item))
        self.rows += len(item)
        self.truth.write_table(self._truth(blocks, uid))
        for b in blocks:
            users_frame(self.spec, b).to_csv(self.users_path, mode="a", header=b.first_user == 0, index=False,
                                             lineterminator="\n")

    def _truth(self, blocks: list[Block], uid: Any) -> Any:
        pa = self.pa
        cat = self.cat
        change = np.concatenate([b.change_ts for b in blocks])
        taste = np.concatenate([b.taste for b in blocks])
        pend = np.concatenate([b.pending for b in blocks])
        has = pend >= 0
        a = np.where(has, cat.pair_a[np.maximum(pend, 0)] if len(cat.pair_a) else 0, 0)
        b = np.where(has, cat.pair_b[np.maximum(pend, 0)] if len(cat.pair_b) else 0, 0)
        return pa.table({
            "user_id": uid,
            "change_point": pa.array(change, mask=change < 0),
            "shelves_before": pa.array(_shelves(taste[:, 0]), type=pa.string()),
            "shelves_after": pa.array(_shelves(taste[:, 1]), type=pa.string()),
            "pending_trigger": pa.array(cat.ids[a].tolist(), type=pa.string(), mask=~has),
            "pending_target": pa.array(cat.ids[b].tolist(), type=pa.string(), mask=~has),
        })  # fmt: skip

    def close(self) -> None:
        self.inter.close()
        self.truth.close()


def write_world(spec: WorldSpec, out: Path, *, block_users: int = DEFAULT_BLOCK_USERS, force: bool = False,
                progress: bool | None = None) -> dict[str, Any]:
    """Write the world ``spec`` to ``out`` atomically (see the module docstring); the
    counts. ``progress``: a tqdm bar on stderr (None: when stderr is a terminal)."""
    from tqdm import tqdm

    if block_users < 1:
        raise DataError(f"--block-users must be at least 1, got {block_users}")
    _check_out(out, force)
    per_group = max(1, -(-block_users // BLOCK_USERS))
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        cat = make_catalog(spec)
        items = items_frame(cat)
        items["categories"] = ["|".join(c) for c in items["categories"]]
        items.to_csv(tmp / "items.csv", index=False, lineterminator="\n")
        writer = _Writer(spec, cat, tmp)
        total = n_blocks(spec)
        with tqdm(total=spec.users, unit="users", file=sys.stderr, disable=None if progress is None else not progress,
                  desc="generate", unit_scale=True) as bar:
            for g in range(0, total, per_group):
                blocks = list(iter_blocks(spec, cat, g, min(g + per_group, total)))
                writer.write(blocks)
                bar.update(sum(b.n_users for b in blocks))
        writer.close()
        counts = {"users": spec.users, "items": spec.items, "interactions": writer.rows}
        world = {"spec": spec.canonical, **counts, "followups": [[str(cat.ids[a]), str(cat.ids[b])]
                                                                for a, b in zip(cat.pair_a, cat.pair_b)]}
        (tmp / "world.json").write_text(json.dumps(world) + "\n")
        _install(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def _install(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is moved aside first and removed
    once the new one is in place (put back if that fails)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    moved = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if moved:
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if moved:
            os.replace(old, out)
        raise
    if moved:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = parse_spec(args.size)
    out = Path(args.out).expanduser()
    t0 = time.perf_counter()
    counts = write_world(spec, out, block_users=args.block_users, force=args.force)
    seconds = round(time.perf_counter() - t0, 2)
    result: dict[str, Any] = {"spec": spec.canonical, **counts, "path": str(out), "seconds": seconds}
    result["_text"] = (f"wrote {counts['interactions']:,} interactions of {counts['users']:,} users and "
                       f"{counts['items']:,} items to {out} in {seconds} s (--data {out})")
    return result
