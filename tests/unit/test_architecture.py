"""The import rules of docs/ARCHITECTURE.md, checked by import-linter from inside the suite.

The second test proves the contracts have no hole where it matters most: a copy of the tree in which a
pure-core module imports the composition root (or storage, or nio) must fail the check.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("harmony_app", "harmony_matrix", "handlers", "storage")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=180,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_import_rules_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("bad_import", [
    "from harmony_app import app",
    "import harmony_app.cli",
    "from handlers.matrix import gateway",
    "from storage import database",
    "import nio",
])
def test_a_core_module_importing_outward_breaks_the_rules(tmp_path: Path, bad_import: str) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    core_module = tmp_path / "harmony_matrix" / "polls" / "star.py"
    core_module.write_text(core_module.read_text() + f"\n{bad_import}  # the change under test\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
