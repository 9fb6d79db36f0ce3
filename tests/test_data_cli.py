"""`python -m recsys data` through a real subprocess: output contract and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "fixtures" / "data"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RECSYS_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "recsys", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def main(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same contract in-process (cheaper than a subprocess): exit code, stdout, stderr."""
    from recsys.cli import main as cli_main

    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def assert_usage_error(p: subprocess.CompletedProcess, *fragments: str) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_data_json_generic_with_warning():
    p = run("data", "--data", str(FIX / "generic"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert {k: out[k] for k in ("users", "items", "interactions", "categories")} == {
        "users": 3, "items": 5, "interactions": 6, "categories": 2,
    }  # fmt: skip
    assert out["first_timestamp"] == 1577872800 and out["last_timestamp"] == 1578009600
    assert len(out["fingerprint"]) == 64
    assert 3 <= len(out["sample_users"]) <= 5 or len(out["sample_users"]) == out["users"]
    assert set(out["sample_users"]) <= {"alice", "bob", "carol"}
    assert len(out["warnings"]) == 1 and "ghost" in out["warnings"][0]
    assert "warning:" in p.stderr and "ghost" in p.stderr


def test_data_human_output(capsys):
    p = main(capsys, "data", "--data", str(FIX / "latest"))
    assert p.returncode == 0, p.stderr
    assert "users" in p.stdout and "interactions" in p.stdout and "fingerprint" in p.stdout
    assert not p.stdout.lstrip().startswith("{")


def test_data_min_count_changes_fingerprint(capsys):
    full = json.loads(main(capsys, "data", "--data", str(FIX / "latest"), "--json").stdout.splitlines()[-1])
    core = json.loads(
        main(capsys, "data", "--data", str(FIX / "latest"), "--json", "--min-count", "2").stdout.splitlines()[
            -1
        ]
    )
    assert (full["items"], core["items"]) == (4, 3)  # never-rated movie 9 dropped
    assert core["fingerprint"] != full["fingerprint"]


def test_data_real_ml100k(ml100k_path):
    p = run("data", "--data", str(ml100k_path), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert (out["users"], out["items"], out["interactions"]) == (943, 1682, 100000)
    assert out["categories"] == 18 and out["warnings"] == []
    assert 3 <= len(out["sample_users"]) <= 5
    # 415 of the 943 evaluated users' test items share their second with the item before
    assert out["tie_order"] == "hash" and out["tied_test_share"] == 415 / 943


def test_data_json_reports_the_tie_order_and_tied_test_share(tmp_path, capsys):
    f = tmp_path / "i.csv"
    f.write_text("user_id,item_id,timestamp\na,1,1\na,2,2\na,3,2\nb,1,1\nb,2,2\nb,3,3\nc,1,4\nc,2,4\n")
    outs = {}
    for args in ((), ("--tie-order", "hash"), ("--tie-order", "id")):
        p = main(capsys, "data", "--data", str(f), "--json", *args)
        assert p.returncode == 0, p.stderr
        outs[args[1] if args else "default"] = json.loads(p.stdout.splitlines()[-1])
    assert outs["default"] == outs["hash"] and outs["hash"]["tie_order"] == "hash"
    assert outs["id"]["tie_order"] == "id" and outs["id"]["fingerprint"] != outs["hash"]["fingerprint"]
    for out in outs.values():  # a and b are evaluated (c has 2 interactions); a's test item is tied
        assert out["tied_test_share"] == 0.5
    text = main(capsys, "data", "--data", str(f)).stdout
    assert "tie order hash" in text and "50.0%" in text


def test_data_bad_tie_order_is_one_error_line(capsys):
    assert_usage_error(run("data", "--tie-order", "bad"), "--tie-order", "'bad'")
    assert_usage_error(main(capsys, "data", "--tie-order", "random"), "--tie-order", "choose from 'hash', 'id'")


def test_data_damaged_file(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("user_id,item_id,timestamp\nu,i,1\nu,j\n")
    line = assert_usage_error(run("data", "--data", str(f), "--json"))
    assert (
        line == f"error: {f}:3: line has 2 fields, expected 3 (comma-separated: user_id, item_id, timestamp)"
    )


def test_data_missing_path(tmp_path, capsys):
    assert_usage_error(main(capsys, "data", "--data", str(tmp_path / "nope")), "no such file or directory")


def test_data_refuses_min_count_leaving_nothing(capsys):
    assert_usage_error(
        main(capsys, "data", "--data", str(FIX / "generic"), "--min-count", "50"), "leaves no interactions"
    )


def test_no_command_and_bad_arguments():
    assert_usage_error(run(), "no command")
    assert_usage_error(run("data", "--bogus"), "unrecognized arguments")


def test_bad_arguments_in_process(capsys):
    assert_usage_error(main(capsys, "data", "--min-count", "many"), "invalid int value")
    assert_usage_error(main(capsys, "nosuchcommand"), "invalid choice")


@pytest.mark.parametrize("content", [b"", b"user_id,item_id,timestamp\n", b"\xff\xfe\x00u\x00"])
def test_data_degenerate_files(tmp_path, capsys, content):
    f = tmp_path / "interactions.csv"
    f.write_bytes(content)
    assert_usage_error(main(capsys, "data", "--data", str(tmp_path)), str(f))
