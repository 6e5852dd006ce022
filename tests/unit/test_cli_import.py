"""``harmony-matrix import``: a wrong federation file is refused naming the problem and its line (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harmony_app.cli import main

HEADER = "version: 1\nassemblies:\n"
PARTY = "  - slug: party\n    name: Party\n    kind: party\n"


def run_import(tmp_path: Path, text: str, *extra: str):
    path = tmp_path / "federation.yaml"
    path.write_text(text)
    return CliRunner().invoke(main, ["import", str(path), "--dry-run", "-c", str(tmp_path / "none.yaml"), *extra])


@pytest.mark.parametrize(("body", "line", "words"), [
    # a → b → a: the cycle is named; the line is the one with the offending parents.
    (PARTY + "  - slug: a\n    name: A\n    kind: committee\n    parents: [b]\n"
     "  - slug: b\n    name: B\n    kind: committee\n    parents: [a]\n", None, ["cycle", "a", "b"]),
    (PARTY + "  - slug: a\n    name: A\n    kind: committee\n    parents: [nowhere]\n", 9, ["nowhere"]),
    (PARTY + "  - slug: a\n    name: A\n    kind: guild\n", 8, ["kind", "guild"]),
    (PARTY + "  - slug: a\n    name: A\n    kind: committee\n    access: secret\n", 9, ["access", "secret"]),
])
def test_a_wrong_file_is_refused_with_its_line(tmp_path: Path, body: str, line: int | None,
                                                words: list[str]) -> None:
    result = run_import(tmp_path, HEADER + body)
    assert result.exit_code == 2, result.output
    message = result.output
    assert "federation.yaml" in message
    assert "line " in message
    if line is not None:
        assert f"line {line}" in message, message
    for word in words:
        assert word in message, message


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import", str(tmp_path / "missing.yaml"), "--dry-run"])
    assert result.exit_code == 2
    assert "cannot be read" in result.output
