"""The app on big data (pure: no streamlit): the first-start limit, the exact command
lines the app shows instead of training or scoring the whole population in a browser
session, and which serving table a page may read.

* :func:`first_start_limit` — ``RECSYS_FIRST_START_LIMIT`` (default 200,000
  interactions). Data up to the limit trains in the app on first start; above it the app
  never trains in a browser session and shows :func:`commands` instead.
* :func:`commands` — ``python -m recsys train --data SRC --out DIR`` and
  ``python -m recsys precompute --data SRC --model DIR``: the source exactly as the
  analyst chose it (an upload becomes a placeholder, its temporary folder is never shown)
  and the model directory the app looks in, so after running them the app finds both.
* :func:`table_status` — the serving table beside a model (``recsys.serving``): usable
  only when its model and data fingerprints match the open model and data.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from recsys.serving import ServingInfo

LIMIT_ENV = "RECSYS_FIRST_START_LIMIT"
DEFAULT_FIRST_START_LIMIT = 200_000
#: Shown instead of an upload's temporary folder (a server path the analyst never typed).
UPLOAD_PLACEHOLDER = "FOLDER_WITH_THE_UPLOADED_FILES"
#: A serving table's identity for caches: (path, created, model fingerprint, data fingerprint).
TableKey = tuple[str, str, str, str]


def first_start_limit(env: Mapping[str, str]) -> tuple[int, str | None]:
    """(limit, warning): the most interactions the app trains on in a browser session.
    ``env[RECSYS_FIRST_START_LIMIT]`` when it is a whole number ≥ 0 (``1000000`` or
    ``1_000_000``; 0 = never train in the app); unset or empty = the default; anything
    else = the default and a warning sentence for the log (never an error)."""
    raw = env.get(LIMIT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_FIRST_START_LIMIT, None
    try:
        n = int(raw.strip())
    except ValueError:
        n = -1
    if n < 0:
        return DEFAULT_FIRST_START_LIMIT, (
            f"{LIMIT_ENV}={raw.strip()[:40]!r} is not a whole number of interactions (0 or more); "
            f"using the default {DEFAULT_FIRST_START_LIMIT:,}"
        )
    return n, None


def above_limit(n_interactions: int, limit: int) -> bool:
    """True when the data is too large to train (or score every user) in a session."""
    return n_interactions > limit


def source_arg(source: str) -> str:
    """The ``--data`` value of a command line: the source string as the analyst chose it
    (shell-quoted), or a placeholder for uploaded files."""
    if source.startswith("upload:"):
        return UPLOAD_PLACEHOLDER
    return shlex.quote(source)


@dataclass(frozen=True)
class Commands:
    """The command lines for a dataset that is too large for the app."""

    train: str
    precompute: str
    uploaded: bool  # the source is an upload: --data is a placeholder to replace

    @property
    def both(self) -> str:
        """Train, then precompute: one line each (for one ``st.code`` block)."""
        return f"{self.train}\n{self.precompute}"


def commands(source: str, model_dir: str | Path, *, min_count: int = 0, tie_order: str = "hash") -> Commands:
    """The exact lines that train the model where the app looks for it and write its
    serving table beside it. ``min_count``/``tie_order`` are the app's N-core filter and
    tie order (train needs them to produce the same dataset fingerprint; precompute
    reads both from the model's manifest)."""
    data = source_arg(source)
    model = shlex.quote(str(model_dir))
    train = f"python -m recsys train --data {data} --out {model}"
    if min_count:
        train += f" --min-count {int(min_count)}"
    if tie_order != "hash":
        train += f" --tie-order {shlex.quote(tie_order)}"
    precompute = f"python -m recsys precompute --data {data} --model {model}"
    return Commands(train, precompute, source.startswith("upload:"))


def relative_home_note(model_dir: str | Path) -> str | None:
    """A hint when the model directory is relative: the commands must run in the folder
    the app was started from (else they write somewhere the app does not look)."""
    if Path(model_dir).is_absolute():
        return None
    return "Run them in the folder the app was started from (the model folder is relative to it)."


# ---- serving tables ----------------------------------------------------------------------
@dataclass(frozen=True)
class TableStatus:
    """The serving table beside a model, as far as a page is concerned."""

    info: ServingInfo | None  # None: no complete table
    problem: str | None = None  # why a table that exists must not be used (mismatch text)

    @property
    def usable(self) -> bool:
        return self.info is not None and self.problem is None

    @property
    def key(self) -> TableKey:
        """The cache key of a usable table: path, creation time and both fingerprints —
        a rewritten table (new ``created``) or another model/data is a new entry."""
        info = self.info
        if info is None:
            return ("", "", "", "")
        return (str(info.path), str(info.created), str(info.model_fingerprint), str(info.data_fingerprint))


def table_status(
    model_dir: str | Path, model_fingerprint: str, data_fingerprint: str, log_position: int | None = None
) -> TableStatus:
    """Read the table's manifest (cheap: one small JSON file) and check it against the
    open model and data. Missing or incomplete → no table; a mismatch → not usable, with
    ``recsys.serving.mismatch``'s sentence."""
    from recsys import serving

    info = serving.read_info(model_dir)
    if info is None:
        return TableStatus(None)
    return TableStatus(info, serving.mismatch(info, model_fingerprint, data_fingerprint, log_position))
