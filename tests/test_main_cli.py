"""The top-level command line: --version, the program name, commands loaded on demand."""

from __future__ import annotations

import subprocess
import sys

import recsys
from recsys.cli import COMMANDS, build_parser, main, prog_name


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"reclens {recsys.__version__}"


def test_version_in_a_subprocess():
    p = subprocess.run([sys.executable, "-m", "recsys", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"reclens {recsys.__version__}" and p.stderr == ""


def test_program_name_reads_as_it_was_called():
    assert prog_name("/repo/recsys/__main__.py") == "python -m recsys"
    assert prog_name("/repo/.venv/bin/reclens") == "reclens"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_no_command_names_the_commands(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no command given") and "migrate" in err and "\n" not in err


def test_only_the_named_command_gets_its_options():
    p = build_parser("migrate")
    args = p.parse_args(["migrate", "DIR"])
    assert args.model_dir == "DIR" and not hasattr(args, "data")  # migrate reads no data
    assert p.parse_args(["data"]).command == "data"  # the others are stubs (no options)
