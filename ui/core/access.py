"""Who may open what from a browser (pure: no streamlit).

A browser session names its data source in the URL (``?data=``), the sidebar's path box
or an upload, and the server opens it with the server's rights. So the app opens only an
allowlist (:func:`check_source`):

* ``demo`` and ``demo-small`` — the built-in worlds;
* scale demo worlds ``demo:users=..,items=..`` of at most the first-start limit's size
  (about ``users × events × 1.02`` interactions; ``RECSYS_FIRST_START_LIMIT``, default
  200,000) — a larger world is the server's own start-up source or a CLI job;
* the source the server was started with (``--data`` / ``RECSYS_DATA``, or the data of
  ``--model`` / ``RECSYS_MODEL``);
* the session's own uploads (a path inside the session's own upload folder);
* paths under the data roots ``RECSYS_DATA_ROOTS`` (colon-separated folders; none by
  default), compared after resolving symlinks and ``..``;
* a ``replay`` base under ``$RECSYS_HOME/replay`` whose origin (its ``replay.json``,
  :mod:`recsys.data.replays`) the session may open — the events before a date of a
  source it may open anyway.

Anything else gets :data:`REFUSED` — one message, the same for a path that exists, does
not exist, is a file or a folder, so a visitor learns nothing about the server's files.
The CLI does not go through here: it runs with the user's own rights and keeps its
helpful messages.

The read-only demo mode (``--demo-mode`` / ``RECSYS_DEMO_MODE=1``) and the access token
(``RECSYS_ACCESS_TOKEN``) are read here too; :mod:`ui.core.state` asks with the process's
argv and environment.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Mapping, Sequence

from recsys.data.demo_spec import is_spec, parse_spec
from recsys.data.types import DataError

ROOTS_ENV = "RECSYS_DATA_ROOTS"
DEMO_MODE_ENV = "RECSYS_DEMO_MODE"
TOKEN_ENV = "RECSYS_ACCESS_TOKEN"
BUILTIN = ("demo", "demo-small")
UPLOAD_PREFIX = "upload:"

#: The one answer for every source outside the allowlist (never names the path).
REFUSED = (
    "This data source cannot be opened from a browser. A browser session opens the demo worlds, the data "
    "the server was started with, its own uploads and folders under the server's data roots. Running the "
    f"app on your own machine? Start it with {ROOTS_ENV}=/path/to/data (colon-separated folders) to open "
    "data under those folders."
)
TOKEN_NEEDED = (
    "This link needs an access token. Ask whoever shared RecLens with you for the full link "
    "(it ends in ?token=…)."
)
_TRUE = ("1", "true", "yes", "on")


def data_roots(env: Mapping[str, str]) -> tuple[Path, ...]:
    """The resolved folders of ``RECSYS_DATA_ROOTS`` (empty entries ignored)."""
    raw = env.get(ROOTS_ENV) or ""
    return tuple(Path(r).expanduser().resolve() for r in raw.split(os.pathsep) if r.strip())


def demo_mode(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """``--demo-mode`` after ``streamlit run app.py --`` or ``RECSYS_DEMO_MODE=1`` (true/yes/on)."""
    return "--demo-mode" in argv or (env.get(DEMO_MODE_ENV) or "").strip().lower() in _TRUE


def access_token(env: Mapping[str, str]) -> str | None:
    """The token a link must carry once (``?token=``), or None when none is configured."""
    tok = (env.get(TOKEN_ENV) or "").strip()
    return tok or None


def token_ok(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a link's token with the configured one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _resolve(p: str) -> Path:
    """The path the loader would open (``~`` expanded), symlinks and ``..`` resolved."""
    return Path(p).expanduser().resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def upload_path(src: str) -> str:
    """``upload:<path>#<token>`` → ``<path>``."""
    return src[len(UPLOAD_PREFIX):].split("#", 1)[0]


def spec_interactions(src: str) -> int:
    """About how many interactions a scale demo world spec generates (DataError when bad)."""
    spec = parse_spec(src)
    return int(spec.users * spec.events * 1.02)


def check_source(src: str, *, startup: str, roots: Sequence[Path], upload_dir: str | None,
                 max_interactions: int, _depth: int = 0) -> str | None:
    """None when a browser session may open ``src``, else the message to show.

    ``startup``: the server's start-up source; ``roots``: :func:`data_roots`;
    ``upload_dir``: this session's upload folder (None: no uploads);
    ``max_interactions``: the largest scale demo world a browser may ask for."""
    src = str(src)
    if src in BUILTIN or src == startup:
        return None
    if is_spec(src):
        try:
            n = spec_interactions(src)
        except DataError as e:
            return str(e)
        if n > max_interactions:
            return (
                f"This scale demo world would have about {n:,} interactions; a browser session opens scale "
                f"worlds of up to {max_interactions:,} (the first-start limit). Larger worlds: start the server "
                "with that world as its data source, or use the command line."
            )
        return None
    if src.startswith(UPLOAD_PREFIX):
        if upload_dir and _inside(_resolve(upload_path(src)), _resolve(upload_dir)):
            return None
        return REFUSED
    if not src.strip():
        return None  # the loader's own "empty data source" message names nothing
    try:
        path = _resolve(src)
        if startup and not startup.startswith(UPLOAD_PREFIX) and not is_spec(startup) and startup not in BUILTIN:
            if path == _resolve(startup):
                return None
    except (OSError, RuntimeError, ValueError):  # symlink loops, NUL bytes: refused like the rest
        return REFUSED
    if any(_inside(path, r) for r in roots):
        return None
    return _replay_of_allowed(src, startup, roots, upload_dir, max_interactions, _depth)


def _replay_of_allowed(src: str, startup: str, roots: Sequence[Path], upload_dir: str | None,
                       max_interactions: int, depth: int) -> str | None:
    """None when ``src`` is a replay base whose origin this session may open, else REFUSED."""
    from recsys.data.replays import origin_of

    origin = origin_of(src) if depth < 3 else None
    if origin is not None and check_source(origin, startup=startup, roots=roots, upload_dir=upload_dir,
                                           max_interactions=max_interactions, _depth=depth + 1) is None:
        return None
    return REFUSED


def display_source(src: str, *, hide_paths: bool) -> str:
    """How the app names a source: uploads as "uploaded files"; with ``hide_paths`` (demo
    mode) a path by its last component only."""
    if src.startswith(UPLOAD_PREFIX):
        return "uploaded files"
    if hide_paths and src not in BUILTIN and not is_spec(src):
        return Path(src.rstrip("/\\")).name or "dataset"
    return src
