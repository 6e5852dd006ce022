"""mypy over the product code, from inside the suite: strict on the pure core, ``check_untyped_defs``
on the rest (``[tool.mypy]`` in pyproject.toml). The handler Protocols are checked against the real
stores where the composition root hands them over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mypy_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-2000:]
