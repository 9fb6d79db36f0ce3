"""Re-ranking weights and the fairness item group.

:class:`Weights` is the one weights type of the project: the CLI, the population sweep
and the app all speak it. Construction validates strictly (a :class:`DataError` for a
bad value); :meth:`Weights.clamped` is the forgiving constructor for untrusted input
such as URL parameters and sliders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.data.types import DataError

_WEIGHT_TOL = 1e-9
_NAMES = ("diversity", "calibration", "fairness")


def _clamp01(v: Any) -> float:
    """``v`` as a float rounded to 2 decimals and clamped to [0, 1]; non-numbers and NaN → 0."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(x):
        return 0.0
    return min(1.0, max(0.0, round(x, 2)))


@dataclass(frozen=True)
class Weights:
    """Re-ranking weights, each in [0, 1] with ``diversity + calibration + fairness ≤ 1``.
    Relevance gets the rest. Invalid weights raise :class:`DataError` on construction."""

    diversity: float = 0.0
    calibration: float = 0.0
    fairness: float = 0.0

    def __post_init__(self) -> None:
        for name in _NAMES:
            v = getattr(self, name)
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise DataError(f"{name} weight must be a number, not {v!r}") from None
            if not math.isfinite(f) or f < 0.0 or f > 1.0:
                raise DataError(f"{name} weight must be between 0 and 1, not {v!r}")
            object.__setattr__(self, name, f)
        total = self.diversity + self.calibration + self.fairness
        if total > 1.0 + _WEIGHT_TOL:
            raise DataError(
                f"weights must add up to at most 1 (diversity {self.diversity:g} + calibration "
                f"{self.calibration:g} + fairness {self.fairness:g} = {total:g})"
            )

    @classmethod
    def clamped(cls, diversity: Any = 0.0, calibration: Any = 0.0, fairness: Any = 0.0) -> Weights:
        """Weights from untrusted values, never raising: each value is rounded to 2
        decimals and clamped to [0, 1] (non-numbers and NaN become 0); when the sum
        exceeds 1 the three are scaled down (to 2 decimals) so that it is at most 1."""
        d, c, f = (_clamp01(x) for x in (diversity, calibration, fairness))
        s = d + c + f
        if s > 1.0:
            d, c, f = (round(x / s, 2) for x in (d, c, f))
            while d + c + f > 1.0 + _WEIGHT_TOL:  # rounding can overshoot by 0.01
                if d >= c and d >= f:
                    d = round(d - 0.01, 2)
                elif c >= f:
                    c = round(c - 0.01, 2)
                else:
                    f = round(f - 0.01, 2)
        return cls(d, c, f)

    @property
    def relevance(self) -> float:
        return max(0.0, 1.0 - self.diversity - self.calibration - self.fairness)

    def as_array(self) -> np.ndarray:
        """(4,) float64 in ``TERMS`` order (relevance, diversity, calibration, fairness)."""
        return np.array([self.relevance, self.diversity, self.calibration, self.fairness])

    @property
    def is_zero(self) -> bool:
        return self.diversity == 0.0 and self.calibration == 0.0 and self.fairness == 0.0

    @property
    def any(self) -> bool:
        """True when at least one weight is non-zero (the list is actually re-ranked)."""
        return not self.is_zero

    def to_dict(self) -> dict[str, float]:
        return {"diversity": self.diversity, "calibration": self.calibration, "fairness": self.fairness}


@dataclass(frozen=True)
class FairGroup:
    """The item group whose exposure the fairness term raises: ``longtail`` (the bottom
    80% of items by training popularity) or ``category=<name>``. ``target`` is the share
    of the list the group should reach (default: its share of the catalogue)."""

    kind: str = "longtail"
    category: str | None = None
    target: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("longtail", "category"):
            raise DataError(f"fair group must be 'longtail' or 'category=NAME', not {self.kind!r}")
        if self.kind == "category" and not self.category:
            raise DataError("fair group 'category=NAME' needs a category name")
        if self.target is not None and not (0.0 <= float(self.target) <= 1.0):
            raise DataError(f"fair group target share must be between 0 and 1, not {self.target!r}")

    @classmethod
    def parse(cls, spec: str | None) -> FairGroup:
        """Parse ``longtail`` or ``category=NAME`` (the ``--fair-group`` syntax)."""
        s = (spec or "longtail").strip()
        if s.lower() in ("longtail", "long-tail", "long_tail", "tail"):
            return cls("longtail")
        if s.lower().startswith("category="):
            name = s.split("=", 1)[1].strip()
            if not name:
                raise DataError("fair group 'category=NAME' needs a category name")
            return cls("category", name)
        raise DataError(f"fair group must be 'longtail' or 'category=NAME', not {spec!r}")

    @property
    def spec(self) -> str:
        return "longtail" if self.kind == "longtail" else f"category={self.category}"

    @property
    def label(self) -> str:
        return "long-tail" if self.kind == "longtail" else str(self.category)
