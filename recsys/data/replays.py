"""Where ``replay`` bases live and which source each was cut from.

``replay --data SRC --split DATE`` writes the events before DATE as a base data directory
``$RECSYS_HOME/replay/<fingerprint[:16]>/`` and marks it with ``replay.json``
(``origin``: the source as given, a path resolved; ``split``; event counts). The app
uses the mark to offer "watch the replay of this source" and to let a session open a
base exactly when it may open the base's origin.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

MARK = "replay.json"
FORMAT = "reclens-replay"


def replay_root() -> Path:
    from recsys.paths import recsys_home

    return recsys_home() / "replay"


def canonical(source: str) -> str:
    """A source string as a replay mark records it: a path resolved, else unchanged."""
    from recsys.data.demo_spec import is_spec

    if source in ("demo", "demo-small") or is_spec(source) or source.startswith("upload:"):
        return source
    try:
        return str(Path(source).expanduser().resolve())
    except (OSError, RuntimeError, ValueError):
        return source


@dataclass(frozen=True)
class ReplayBase:
    path: str  # the base data directory (open it with --data)
    origin: str
    split: int
    base_events: int
    replay_events: int
    mtime: float


def write_mark(base_dir: Path, origin: str, split: int, base_events: int, replay_events: int) -> None:
    doc = {"format": FORMAT, "origin": canonical(origin), "split": int(split), "base_events": int(base_events),
           "replay_events": int(replay_events)}
    tmp = base_dir / f".{MARK}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.replace(tmp, base_dir / MARK)


def read_mark(base_dir: str | Path) -> ReplayBase | None:
    """The mark of a replay base directory (None: not one, or unreadable)."""
    f = Path(base_dir) / MARK
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        return ReplayBase(str(Path(base_dir)), str(doc["origin"]), int(doc["split"]), int(doc["base_events"]),
                          int(doc["replay_events"]), f.stat().st_mtime)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def origin_of(path: str) -> str | None:
    """The origin of ``path`` when it is a replay base under ``$RECSYS_HOME/replay``, else None."""
    try:
        p = Path(path).expanduser().resolve()
        root = replay_root().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if p.parent != root:
        return None
    mark = read_mark(p)
    return None if mark is None else mark.origin


def replays_of(source: str) -> list[ReplayBase]:
    """The replay bases cut from ``source``, newest first."""
    want = canonical(source)
    try:
        dirs = [d for d in replay_root().iterdir() if d.is_dir() and not d.name.startswith(".")]
    except OSError:
        return []
    marks = [m for m in (read_mark(d) for d in dirs) if m is not None and m.origin == want]
    return sorted(marks, key=lambda m: -m.mtime)
