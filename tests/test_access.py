"""The browser's data-source allowlist, demo-mode and token switches (ui/core/access.py)."""

from __future__ import annotations

import os
from pathlib import Path

from ui.core import access
from ui.core.access import REFUSED, check_source

LIMIT = 200_000


def _check(src: str, *, startup: str = "demo", roots: tuple[Path, ...] = (), upload_dir: str | None = None,
           limit: int = LIMIT) -> str | None:
    return check_source(src, startup=startup, roots=roots, upload_dir=upload_dir, max_interactions=limit)


def test_server_paths_outside_the_allowlist_get_one_identical_message(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "notes.txt").write_text("x")
    probes = ["/root", "/etc/passwd", "/nonexistent", "/definitely/not/here", str(secret), str(secret / "notes.txt"),
              str(secret / "missing.csv"), "~", "../..", "relative/path.csv", "/etc/passwd\0x"]
    got = {p: _check(p) for p in probes}
    assert set(got.values()) == {REFUSED}, got
    assert "notes" not in REFUSED and "RECSYS_DATA_ROOTS" in REFUSED


def test_builtin_worlds_and_small_scale_specs_are_open_large_ones_are_capped():
    for src in ("demo", "demo-small", "demo:users=300,items=400", "DEMO: users = 1000 , items=500"):
        assert _check(src) is None, src
    big = _check("demo:users=100000,items=5000")  # about 5.6M interactions
    assert big is not None and big != REFUSED and "200,000" in big and "5,610,000" in big
    assert _check("demo:") is not None  # the default scale world (10,000 × 55 ≈ 561k) is above the limit
    assert _check("demo:users=3000,items=1500", limit=100_000) is not None  # ≈ 168k above a lower limit
    bad = _check("demo:users=x")
    assert bad is not None and "not a whole number" in bad
    assert _check("demo:users=100000,items=5000", startup="demo:users=100000,items=5000") is None  # start-up


def test_paths_under_data_roots_open_and_escapes_do_not(tmp_path):
    root = tmp_path / "data"
    (root / "ml").mkdir(parents=True)
    (root / "ml" / "interactions.csv").write_text("user_id,item_id,timestamp\n")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "interactions.csv").write_text("user_id,item_id,timestamp\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)  # a symlink inside pointing out
    roots = access.data_roots({"RECSYS_DATA_ROOTS": f"{root}{os.pathsep}{os.pathsep} "})
    assert roots == (root.resolve(),)
    assert _check(str(root), roots=roots) is None
    assert _check(str(root / "ml"), roots=roots) is None
    assert _check(str(root / "ml" / "interactions.csv"), roots=roots) is None
    assert _check(str(root / "ml" / "nothing-here"), roots=roots) is None  # the loader says it is missing
    assert _check(str(root / ".." / "private"), roots=roots) == REFUSED
    assert _check(str(root / "ml" / ".." / ".." / "private" / "interactions.csv"), roots=roots) == REFUSED
    assert _check(str(root / "escape"), roots=roots) == REFUSED
    assert _check(str(root / "escape" / "interactions.csv"), roots=roots) == REFUSED
    assert _check(str(tmp_path / "data-other"), roots=roots) == REFUSED  # a sibling sharing the prefix
    assert _check(str(outside), roots=()) == REFUSED


def test_a_root_given_through_a_symlink_is_resolved(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    roots = access.data_roots({"RECSYS_DATA_ROOTS": str(link)})
    assert _check(str(real / "x.csv"), roots=roots) is None
    assert _check(str(link / "x.csv"), roots=roots) is None


def test_the_startup_source_opens_in_any_spelling_but_not_what_lies_beside_it(tmp_path):
    start = tmp_path / "ml-100k"
    start.mkdir()
    assert _check(str(start), startup=str(start)) is None
    assert _check(str(start) + "/", startup=str(start)) is None
    assert _check(str(tmp_path / "." / "ml-100k"), startup=str(start)) is None
    assert _check(str(start / "u.data"), startup=str(start)) == REFUSED
    assert _check(str(tmp_path), startup=str(start)) == REFUSED


def test_uploads_open_only_from_the_sessions_own_folder(tmp_path):
    mine = tmp_path / "reclens-upload-a.1"
    theirs = tmp_path / "reclens-upload-b.2"
    for d in (mine, theirs):
        (d / "files-x").mkdir(parents=True)
    own = f"upload:{mine / 'files-x'}#abc"
    assert _check(own, upload_dir=str(mine)) is None
    assert _check(f"upload:{theirs / 'files-x'}#abc", upload_dir=str(mine)) == REFUSED
    assert _check(f"upload:{mine / '..' / theirs.name}#x", upload_dir=str(mine)) == REFUSED
    assert _check("upload:/etc#x", upload_dir=str(mine)) == REFUSED
    assert _check(own, upload_dir=None) == REFUSED  # no uploads in this session (or demo mode)


def test_demo_mode_and_token_switches():
    assert access.demo_mode(["--demo-mode"], {}) and access.demo_mode([], {"RECSYS_DEMO_MODE": "1"})
    assert access.demo_mode([], {"RECSYS_DEMO_MODE": "True"})
    assert not access.demo_mode([], {"RECSYS_DEMO_MODE": "0"}) and not access.demo_mode(["--data", "x"], {})
    assert access.access_token({"RECSYS_ACCESS_TOKEN": "  "}) is None
    assert access.access_token({"RECSYS_ACCESS_TOKEN": "s3cret"}) == "s3cret"
    assert access.token_ok("s3cret", "s3cret")
    assert not access.token_ok("s3cre", "s3cret") and not access.token_ok(None, "s3cret")
    assert not access.token_ok("", "s3cret") and not access.token_ok("s3cretX", "s3cret")
    assert access.token_ok("tökén", "tökén")


def test_demo_mode_names_a_path_by_its_last_part():
    assert access.display_source("/srv/data/ml-100k/", hide_paths=True) == "ml-100k"
    assert access.display_source("/srv/data/ml-100k", hide_paths=False) == "/srv/data/ml-100k"
    assert access.display_source("demo:users=300,items=400", hide_paths=True) == "demo:users=300,items=400"
    assert access.display_source("upload:/tmp/x#1", hide_paths=False) == "uploaded files"


def test_the_cli_keeps_its_helpful_messages(tmp_path, capsys):
    """The CLI runs with the user's rights: it still lists what an unrecognised folder holds."""
    from recsys.cli import main

    d = tmp_path / "odd"
    d.mkdir()
    (d / "readme.md").write_text("x")
    assert main(["data", "--data", str(d)]) == 2
    assert "readme.md" in capsys.readouterr().err
