"""Start-up clean-up after a crash: what a killed process (SIGKILL, power loss) leaves
under ``RECSYS_HOME``.

Every artifact writer in RecLens writes a temporary sibling named after its process —
``<name>.tmp<pid>``, ``.<name>.tmp<pid>``, ``.<name>.tmp<pid>-<hex>``,
``.tmp-<pid>-<hex>`` — and renames it into place in one step (model directories
through :func:`recsys.models.transformer.replace_dir`: an atomic exchange on Linux, else
``<name>.old<pid>`` beside the new one for an instant). So after a kill the real paths
are always complete — old or new — and the leftovers are only those temporaries.

:func:`clean_leftovers` removes the temporaries of processes that no longer run, and
puts back a ``<name>.old<pid>`` directory whose ``<name>`` is missing (a kill between
the two renames of the fallback swap: the complete old artifact returns). Files of
running processes (a ``train`` command beside the server) are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

#: ``<name>.tmp<pid>[-hex]``, ``<name>.tmp-<pid>[-hex]``, ``<name>.old<pid>``, ``<name>.old-<pid>``
#: (``<name>`` may be empty: ``.tmp-<pid>-<hex>``)
_LEFTOVER = re.compile(r"^(?P<base>.*?)\.(?P<kind>tmp|old)-?(?P<pid>[0-9]+)(?:-[0-9a-f]+)?$")
MAX_DEPTH = 6  # RECSYS_HOME/models/<fp>/no_text, …/serving/_eval: never deeper


def process_alive(pid: int) -> bool:
    """True when a process with ``pid`` runs (or exists but is not ours to signal)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # permission denied: it exists
        return True
    return True


def leftover(name: str) -> tuple[str, str, int] | None:
    """(kind "tmp"/"old", the path's own name, writer pid) for a leftover's name, else None."""
    m = _LEFTOVER.match(name)
    if m is None:
        return None
    base = m.group("base")
    if m.group("kind") == "old" and base.startswith("."):
        base = base[1:]  # ".<name>.old-<pid>" (generate) -> "<name>"
    return m.group("kind"), base, int(m.group("pid"))


def clean_leftovers(root: str | Path, *, startup: bool = False) -> list[Path]:
    """Remove the temporaries of dead writers under ``root`` (e.g. ``RECSYS_HOME``) and
    restore a fallback swap's old directory where the artifact itself is missing.
    ``startup``: this process has not written anything yet, so its own pid (reused after
    a crash, e.g. in a container) counts as dead too. Returns what was removed or put back."""
    base = Path(root)
    if not base.is_dir():
        return []
    me = os.getpid()
    done: list[Path] = []
    top = len(base.parts)
    for dirpath, dirnames, filenames in os.walk(base, topdown=True, followlinks=False):
        here = Path(dirpath)
        if len(here.parts) - top >= MAX_DEPTH:
            dirnames[:] = []
        for name in [*dirnames, *filenames]:
            found = leftover(name)
            if found is None:
                continue
            kind, own, pid = found
            if (pid == me and not startup) or (pid != me and process_alive(pid)):
                continue
            p = here / name
            if name in dirnames:
                dirnames.remove(name)  # never descend into a leftover
            try:
                if kind == "old" and p.is_dir() and own and not (here / own).exists():
                    os.replace(p, here / own)  # the complete old artifact comes back
                elif p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            except OSError:
                continue
            done.append(p)
    return done
