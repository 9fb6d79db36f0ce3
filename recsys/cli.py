"""Command line: ``python -m recsys <command> --data SRC [--model DIR] [--json]`` (or
``reclens <command> ...`` once the package is installed).

The composition root. Each command lives in ``recsys/commands/<name>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> dict`` (a module with ``USES_DATA = False``
gets no ``--data``). This module owns the contract: with ``--json`` the last stdout
line is one JSON object; bad input gives one line ``error: ...`` on stderr and exit
code 2; never a traceback. ``--version`` prints ``reclens <version>``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from recsys import __version__
from recsys.data.types import DataError
from recsys.jsonutil import json_default

COMMANDS = ("data", "train", "evaluate", "recommend", "explain", "timeline", "bench", "precompute", "migrate",
            "generate", "simulate", "ingest", "replay")
HELP_FLAGS = ("-h", "--help")


class UsageError(Exception):
    """Bad command-line arguments (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print usage + exit 2
        raise UsageError(message)


def _load_command(name: str) -> ModuleType:
    return importlib.import_module(f"recsys.commands.{name}")


def prog_name(argv0: str | None = None) -> str:
    """How the user called us: ``python -m recsys`` or the console script's name (``reclens``)."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    return "python -m recsys" if name in ("__main__.py", "-m", "-c", "") else name


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. With ``only`` (the first argument), just that command's
    module is imported (start-up stays fast: other commands import heavy libraries);
    all are imported for ``None`` or a help flag, none for anything else."""
    p = _Parser(prog=prog_name(), description="RecLens recommender command line")
    p.add_argument("--version", action="version", version=f"reclens {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if not (only is None or only in HELP_FLAGS or only == name):
            sub.add_parser(name)
            continue
        mod = _load_command(name)
        sp = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else None)
        if getattr(mod, "USES_DATA", True):
            sp.add_argument("--data", default="demo", help="data source: demo, demo:users=N,items=N "
                            "(a scale demo world), a directory or a file (default: demo)")
        sp.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return p


def _print_human(result: dict[str, Any]) -> None:
    text = result.pop("_text", None)
    if text is not None:
        print(text)
        return
    for k, v in result.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v)
        print(f"{k}: {v}")


def _exit_code(e: SystemExit) -> int:
    return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(argv[0] if argv else None)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            print(f"error: no command given (choose one of: {', '.join(sorted(COMMANDS))}; --help for usage)",
                  file=sys.stderr)
            return 2
        result = args._run(args)
    except SystemExit as e:  # --help, --version
        return _exit_code(e)
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return 1
    except Exception as e:  # never a traceback for a user; RECSYS_DEBUG=1 shows it
        if os.environ.get("RECSYS_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if result is None:
        return 0
    if args.json:
        result.pop("_text", None)
        print(json.dumps(result, default=json_default, allow_nan=False))
    else:
        _print_human(result)
    return 0
