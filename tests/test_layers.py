"""The house rules, checked on the source: layers point one way
(pages → ui → explain → recsys), streamlit only in the app, ui's logic and chart
modules stay pure, every page goes through the navigation frame."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Top-level module names a file imports (anywhere in it, including inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def _files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def test_recsys_and_explain_import_without_streamlit_in_a_fresh_interpreter():
    code = (
        "import importlib, pkgutil, sys\n"
        "import recsys, explain\n"
        "for pkg in (recsys, explain):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.') or m == 'ui'"
        " or m.startswith('ui.'))\n"
        "print('LOADED', len(sys.modules), 'BAD', bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "BAD []" in out.stdout


@pytest.mark.parametrize("path", _files("pages"), ids=lambda p: p.name)
def test_pages_use_ui_only(path):
    roots = _roots(_imports(path))
    assert not roots & {"recsys", "explain", "torch", "shap", "lime", "transformers"}, roots


def test_pages_folder_holds_only_pages():
    registered = {p.rsplit("/", 1)[-1] for p in _registered_page_files()}
    present = {p.name for p in _files("pages")}
    assert present == registered, "every file in pages/ is a page of the navigation (no helper modules)"


def _registered_page_files() -> list[str]:
    from ui.core.navigation import PAGES

    return [spec.file for spec in PAGES.values()]


@pytest.mark.parametrize("folder", ["recsys", "explain"])
def test_domain_layers_never_import_the_app(folder):
    for path in _files(folder):
        roots = _roots(_imports(path))
        assert "streamlit" not in roots and "ui" not in roots, path


def test_recsys_imports_explain_only_from_the_command_line():
    for path in _files("recsys"):
        rel = path.relative_to(REPO).as_posix()
        if rel == "recsys/cli.py" or rel.startswith("recsys/commands/"):
            continue
        assert "explain" not in _roots(_imports(path)), rel


def test_ui_logic_and_chart_modules_are_pure():
    checked = 0
    for path in _files("ui"):
        if path.name in ("logic.py", "charts.py", "text.py", "theme.py"):
            assert "streamlit" not in _roots(_imports(path)), path.relative_to(REPO)
            checked += 1
    assert checked >= 8


def test_no_module_over_400_lines():
    long = {
        p.relative_to(REPO).as_posix(): n
        for folder in ("recsys", "explain", "ui")
        for p in _files(folder)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


_OUTSIDE_DOCS = ("DESIGN" + " §", "DESIGN" + ".md")  # the team's guidance file is not part of the repo


def test_no_reference_to_documents_outside_the_repository():
    offenders = []
    for folder in ("recsys", "explain", "ui", "pages", "tests", "benchmarks", "docs"):
        for p in sorted((REPO / folder).rglob("*")):
            if p.suffix not in (".py", ".md") or p == Path(__file__):
                continue
            text = p.read_text(encoding="utf-8")
            if any(m in text for m in _OUTSIDE_DOCS):
                offenders.append(p.relative_to(REPO).as_posix())
    for name in ("README.md", "app.py"):
        text = (REPO / name).read_text(encoding="utf-8")
        if any(m in text for m in _OUTSIDE_DOCS):
            offenders.append(name)
    assert not offenders, offenders
