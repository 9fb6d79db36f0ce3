"""shap's numba-compiled helpers, compiled once per machine instead of once per process.

shap (0.51) decorates its hot loops with ``@numba.njit`` *without* ``cache=True``, so
``NUMBA_CACHE_DIR`` alone does nothing: every process compiles them again (6 s of the
first explanation on an idle core, 7–12 s on a loaded server). :func:`enable` turns
numba's own on-disk cache on for each of shap's dispatchers, in
``$RECSYS_HOME/cache/numba`` (:func:`cache_dir`):

- ``NUMBA_CACHE_DIR`` and ``numba.config.CACHE_DIR`` point there before shap is
  imported, and every dispatcher's cache must resolve inside that folder — numba's other
  locations (``__pycache__`` next to shap's sources, the user-wide cache) are refused, the
  function then just compiles in memory as before;
- shap passes its link function (``shap.links.identity``, itself a numba dispatcher) as
  an *argument* to ``_build_fixed_single_output``; numba keys such a compilation on the
  argument's dispatcher identity, a random per-process UUID, so that entry never hit and
  a new file was added per process. Before anything is compiled, each of shap's
  dispatchers gets a stable UUID derived from shap's version, its source file's hash and
  its qualified name, so the key is the same in every process (and changes when shap's
  code does);
- a damaged cache file (e.g. a disk filled up mid-write) is dropped and the function
  compiled again instead of failing the explanation.

Why loading numba's cache is acceptable although it is pickle plus native code: it is a
machine-local cache that this server (or the CLI of the same user) wrote itself, in a
directory under ``RECSYS_HOME`` created with mode 0700; nothing from a browser or a
data source ever names a path in it. If the folder is not owned by the current user or
is writable by group/others, caching is skipped (the functions compile in memory).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import threading
from pathlib import Path
from typing import Any

from recsys.paths import cache_dir as recsys_cache_dir

SUBDIR = "numba"
_LOCK = threading.Lock()
_ENABLED_IN: list[Path] = []  # the folder the dispatchers currently cache into


def cache_dir() -> Path:
    """Where numba's compiled code is kept: ``$RECSYS_HOME/cache/numba`` (absolute)."""
    return (recsys_cache_dir() / SUBDIR).resolve()


def _safe_dir(d: Path) -> str | None:
    """Create ``d`` (0700); None when it can be used, else why not."""
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = d.stat()
    except OSError as e:
        return f"cannot create {d}: {e.strerror}"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{d} belongs to another user"
    if st.st_mode & 0o022:
        return f"{d} is writable by group or others"
    return None


def _shap_dispatchers() -> list[Any]:
    """Every numba dispatcher defined in an imported ``shap`` module (once each)."""
    from numba.core.dispatcher import Dispatcher

    seen: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "shap" or name.startswith("shap.")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and getattr(value.py_func, "__module__", None) == name:
                seen.setdefault(id(value), value)
    return list(seen.values())


def _stable_uuid(dispatcher: Any, version: str) -> None:
    """Give ``dispatcher`` a process-independent UUID (numba's is random), so a function
    compiled with it as an argument has the same cache key in every process. Skipped if
    the dispatcher already has one (it was pickled before: its key stays per-process)."""
    if getattr(dispatcher, "_MemoMixin__uuid", None) is not None:
        return
    py_func = dispatcher.py_func
    src = Path(inspect.getfile(py_func)).read_bytes()
    digest = hashlib.sha256(b"\0".join([version.encode(), src, py_func.__qualname__.encode()])).hexdigest()
    dispatcher._set_uuid(f"reclens-shap-{digest[:32]}")


def _make_cache_class() -> type:
    from numba.core.caching import FunctionCache

    class SafeFunctionCache(FunctionCache):
        """numba's per-function cache; a file that cannot be read is removed (the
        function compiles again and is saved afresh) instead of failing the call."""

        def load_overload(self, sig: Any, target_context: Any) -> Any:
            try:
                return super().load_overload(sig, target_context)
            except Exception:  # damaged index or data file (pickle, EOF, LLVM errors)
                try:
                    os.unlink(self._cache_file._index_path)
                except OSError:
                    pass
                return None

        def save_overload(self, sig: Any, data: Any) -> None:
            try:
                super().save_overload(sig, data)
            except Exception:  # a full disk must not fail the explanation
                pass

    return SafeFunctionCache


def enable() -> dict[str, Any]:
    """Turn numba's on-disk cache on for shap's jitted functions, in :func:`cache_dir`.

    Imports shap (call it where the import is paid anyway: the warm-up, the first
    explanation). Idempotent; follows a change of ``RECSYS_HOME``. Returns
    ``{"dir", "functions", "skipped"}`` (``skipped``: why nothing is cached, or None).
    """
    d = cache_dir()
    with _LOCK:
        if _ENABLED_IN and _ENABLED_IN[0] == d:
            return {"dir": str(d), "functions": None, "skipped": None}
        why = _safe_dir(d)
        if why is None:
            os.environ["NUMBA_CACHE_DIR"] = str(d)  # before numba is imported (its config reads it)
        import numba.core.config
        import shap
        from numba.core.caching import NullCache
        from numba.core.compiler_lock import global_compiler_lock

        if why is not None:
            return {"dir": str(d), "functions": 0, "skipped": why}
        numba.core.config.CACHE_DIR = str(d)  # type: ignore[attr-defined]  # numba may be imported already
        cache_class = _make_cache_class()
        n = 0
        with global_compiler_lock:  # no compilation runs while the caches are swapped
            for disp in _shap_dispatchers():
                _stable_uuid(disp, shap.__version__)
                try:
                    cache = cache_class(disp.py_func)
                except RuntimeError:  # no cache locator for its source file
                    disp._cache = NullCache()
                    continue
                if d not in Path(cache.cache_path).parents:  # never cache outside RECSYS_HOME
                    disp._cache = NullCache()
                    continue
                disp._cache = cache
                n += 1
        _ENABLED_IN[:] = [d]
        return {"dir": str(d), "functions": n, "skipped": None}
