"""Per-user random streams: results that do not depend on which users share a run.

Population work (drift tests, batch precompute) is split into chunks across processes.
A generator shared by every user would make each user's result depend on the users
processed before it, so a chunked run would disagree with a whole one. Instead each
user gets a stream of its own, seeded from ``(seed, purpose, user id)``:

    seed' = first 8 bytes (big-endian) of blake2b(f"{seed}\\x1f{purpose}\\x1f{user id}")

blake2b is the same in every process and Python version (Python's ``hash()`` of a
string is salted per process, so it must never be used for seeds). ``purpose`` keeps
streams of different computations (e.g. ``"drift"``) apart for the same user.
"""

from __future__ import annotations

import hashlib

import numpy as np

SEPARATOR = "\x1f"


def user_seed(seed: int, user_id: str, purpose: str = "") -> int:
    """A 64-bit seed for ``user_id``'s stream of ``purpose`` under the run seed ``seed``."""
    text = f"{int(seed)}{SEPARATOR}{purpose}{SEPARATOR}{user_id}"
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def user_rng(seed: int, user_id: str, purpose: str = "") -> np.random.Generator:
    """``numpy.random.default_rng`` seeded with :func:`user_seed`."""
    return np.random.default_rng(user_seed(seed, user_id, purpose))
