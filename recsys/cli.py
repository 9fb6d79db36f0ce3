"""Command line: ``python -m recsys <command> --data SRC [--model DIR] [--json]``.

The composition root. Each command lives in ``recsys/commands/<name>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> dict``. This module owns the contract:
with ``--json`` the last stdout line is one JSON object; bad input gives one line
``error: ...`` on stderr and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from recsys.data.types import DataError
from recsys.jsonutil import json_default

COMMANDS = ("data", "train", "evaluate", "recommend", "explain", "timeline", "bench")


class UsageError(Exception):
    """Bad command-line arguments (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print usage + exit 2
        raise UsageError(message)


def _load_command(name: str):
    return importlib.import_module(f"recsys.commands.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. With ``only`` set to a known command, just that command's
    module is imported (start-up stays fast: other commands import heavy libraries)."""
    p = _Parser(prog="python -m recsys", description="RecLens recommender command line")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if only in COMMANDS and name != only:
            sub.add_parser(name)
            continue
        try:
            mod = _load_command(name)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("recsys.commands"):
                continue  # command not built yet
            raise
        sp = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else None)
        sp.add_argument("--data", default="demo", help="data source: demo, a directory or a file (default: demo)")
        sp.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
        p._recsys_commands = (*getattr(p, "_recsys_commands", ()), name)  # type: ignore[attr-defined]
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


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(argv[0] if argv else None)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            cmds = ", ".join(sorted(getattr(parser, "_recsys_commands", ()))) or "none built yet"
            print(f"error: no command given (choose one of: {cmds}; --help for usage)", file=sys.stderr)
            return 2
        result = args._run(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DataError as e:
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


