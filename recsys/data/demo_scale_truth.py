"""Ground truth of a scale demo world, held as compact arrays and read like
:class:`recsys.data.demo.DemoTruth`.

:class:`ScaleTruth` has DemoTruth's attributes and method — ``phases``,
``change_points``, ``switch_users``, ``stable_users``, ``followups``,
``followup_users``, ``trigger_users``, ``pending_followups``, ``featured``,
``featured_users()`` — but its containers are read-only views built on demand from
per-reader arrays: a million readers cost a few bytes each, not a dict entry each.
``phases[uid]`` and friends take external ids (``"u0000042"``); iterating
``switch_users`` yields ids. Ids are ``"u"`` + the zero-padded 1-based reader index, so
an id maps to its row without a lookup table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, TypeVar, overload

import numpy as np

from recsys.data.demo import Phase
from recsys.data.demo_words import CATEGORIES

V = TypeVar("V")


@dataclass(frozen=True)
class UserIds:
    """Reader index <-> id ``"u"`` + 1-based index zero-padded to ``width``."""

    width: int

    def id(self, u: int) -> str:
        return f"u{u + 1:0{self.width}d}"

    def index(self, uid: object, n: int) -> int | None:
        """The row of ``uid`` (None when it is not an id of this world)."""
        if not isinstance(uid, str) or len(uid) != self.width + 1 or uid[0] != "u" or not uid[1:].isdigit():
            return None
        u = int(uid[1:]) - 1
        return u if 0 <= u < n else None


class IdList(Sequence[str]):
    """The ids of reader rows ``rows`` (ascending), as a read-only sequence."""

    def __init__(self, ids: UserIds, rows: np.ndarray, n_users: int) -> None:
        self._ids, self._rows, self._n = ids, rows, n_users

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, k: int) -> str: ...
    @overload
    def __getitem__(self, k: slice) -> list[str]: ...
    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return [self._ids.id(int(u)) for u in self._rows[k]]
        return self._ids.id(int(self._rows[k]))

    def __iter__(self) -> Iterator[str]:
        return (self._ids.id(u) for u in self._rows.tolist())

    def __contains__(self, uid: object) -> bool:
        u = self._ids.index(uid, self._n)
        if u is None:
            return False
        k = int(np.searchsorted(self._rows, u))
        return k < len(self._rows) and int(self._rows[k]) == u


class ByUser(Mapping[str, V]):
    """``uid -> value(row)`` over the readers in ``ids`` (a read-only mapping)."""

    def __init__(self, ids: IdList, rows: UserIds, n_users: int, value: Callable[[int], V]) -> None:
        self._keys, self._ids, self._n, self._value = ids, rows, n_users, value

    def __getitem__(self, uid: str) -> V:
        u = self._ids.index(uid, self._n)
        if u is None or uid not in self._keys:
            raise KeyError(uid)
        return self._value(u)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, uid: object) -> bool:
        return uid in self._keys


class ByPair(Mapping[tuple[str, str], tuple[str, ...]]):
    """``(a, b) -> reader ids`` from occurrence arrays (grouped by pair on creation)."""

    def __init__(self, pairs: tuple[tuple[str, str], ...], occ_pair: np.ndarray, occ_user: np.ndarray,
                 ids: UserIds) -> None:
        order = np.lexsort((occ_user, occ_pair))
        self._users = occ_user[order]
        self._start = np.searchsorted(occ_pair[order], np.arange(len(pairs) + 1))
        self._index = {p: k for k, p in enumerate(pairs)}
        self._ids = ids

    def __getitem__(self, pair: tuple[str, str]) -> tuple[str, ...]:
        k = self._index[pair]
        return tuple(self._ids.id(u) for u in self._users[self._start[k]: self._start[k + 1]].tolist())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@dataclass(frozen=True, eq=False)
class ScaleTruth:
    """Ground truth of a scale world (see the module docstring); arrays per reader row:
    ``taste[u, phase, slot]`` shelf indices (-1 empty), ``change_ts`` (-1 stable),
    ``first_ts``/``last_ts``, ``length``, ``pending`` (pair index or -1); per trigger
    occurrence ``occ_user``, ``occ_pair``, ``occ_followed``. Treat as read-only."""

    spec: str
    seed: int
    user_ids: UserIds
    taste: np.ndarray
    change_ts: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray
    length: np.ndarray
    pending: np.ndarray
    followups: tuple[tuple[str, str], ...]
    occ_user: np.ndarray
    occ_pair: np.ndarray
    occ_followed: np.ndarray
    followup_prob: float
    noise: float
    categories: tuple[str, ...] = CATEGORIES

    @property
    def n_users(self) -> int:
        return len(self.length)

    def _rows(self, mask: np.ndarray) -> IdList:
        return IdList(self.user_ids, np.flatnonzero(mask), self.n_users)

    @cached_property
    def switch_users(self) -> IdList:
        return self._rows(self.change_ts >= 0)

    @cached_property
    def stable_users(self) -> IdList:
        return self._rows(self.change_ts < 0)

    def _names(self, u: int, phase: int) -> tuple[str, ...]:
        return tuple(self.categories[c] for c in self.taste[u, phase].tolist() if c >= 0)

    def _phases(self, u: int) -> list[Phase]:
        first, last, cp = int(self.first_ts[u]), int(self.last_ts[u]), int(self.change_ts[u])
        if cp < 0:
            return [Phase(first, last, self._names(u, 0))]
        return [Phase(first, cp, self._names(u, 0)), Phase(cp, last, self._names(u, 1))]

    @cached_property
    def phases(self) -> Mapping[str, list[Phase]]:
        everyone = self._rows(np.ones(self.n_users, dtype=bool))
        return ByUser(everyone, self.user_ids, self.n_users, self._phases)

    @cached_property
    def change_points(self) -> Mapping[str, list[int]]:
        everyone = self._rows(np.ones(self.n_users, dtype=bool))
        cps = self.change_ts
        return ByUser(everyone, self.user_ids, self.n_users, lambda u: [int(cps[u])] if cps[u] >= 0 else [])

    @cached_property
    def pending_followups(self) -> Mapping[str, list[tuple[str, str]]]:
        pend, pairs = self.pending, self.followups
        return ByUser(self._rows(pend >= 0), self.user_ids, self.n_users, lambda u: [pairs[int(pend[u])]])

    @cached_property
    def trigger_users(self) -> Mapping[tuple[str, str], tuple[str, ...]]:
        return ByPair(self.followups, self.occ_pair, self.occ_user, self.user_ids)

    @cached_property
    def followup_users(self) -> Mapping[tuple[str, str], tuple[str, ...]]:
        f = self.occ_followed
        return ByPair(self.followups, self.occ_pair[f], self.occ_user[f], self.user_ids)

    @cached_property
    def featured(self) -> dict[str, str]:
        """Good demo readers: a switcher with about 120 interactions, a reader whose log
        ends with a pending trigger (about 80), a stable reader (about 100)."""
        out: dict[str, str] = {}
        for role, mask, target in (
            ("switcher", self.change_ts >= 0, 120),
            ("followup", self.pending >= 0, 80),
            ("stable", self.change_ts < 0, 100),
        ):
            rows = np.flatnonzero(mask)
            if len(rows):
                out[role] = self.user_ids.id(int(rows[np.argmin(np.abs(self.length[rows] - target))]))
        return out

    def featured_users(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.featured.values()))

    def summary(self) -> dict[str, Any]:
        """Counts of the planted structure (JSON-ready)."""
        return {
            "switch_users": int((self.change_ts >= 0).sum()),
            "pending_users": int((self.pending >= 0).sum()),
            "followup_pairs": len(self.followups),
            "trigger_occurrences": len(self.occ_pair),
            "followed_share": round(float(self.occ_followed.mean()), 3) if len(self.occ_pair) else 0.0,
        }
