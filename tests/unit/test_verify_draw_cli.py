"""``harmony-matrix verify-draw FILE`` and ``verify_draw.py`` (a bare ``python3``) agree on every record:
the same verdict, the same seed and ticket lines, the same member check."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harmony_app.cli import main
from harmony_matrix.sortition.lot import make_pseudonym
from sortition_cases import example_problem, make_record

REPO = Path(__file__).resolve().parents[2]
PYTHON3 = shutil.which("python3") or sys.executable


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    return make_record(example_problem())


def both(tmp_path: Path, record: object, *extra: str) -> tuple[tuple[int, str], tuple[int, str]]:
    """(exit code, output) of the CLI and of the standalone script on the same file."""
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    cli = CliRunner().invoke(main, ["verify-draw", str(path), *extra])
    script = subprocess.run([PYTHON3, "-I", "-S", str(REPO / "verify_draw.py"), str(path), *extra],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return (cli.exit_code, cli.output), (script.returncode, script.stdout)


def lines_starting(output: str, *prefixes: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefixes)]


def test_a_good_record_passes_both_with_the_same_seed_ticket_and_notes(tmp_path: Path, record: dict[str, Any]) -> None:
    (code, out), (script_code, script_out) = both(tmp_path, record)
    assert (code, script_code) == (0, 0), out + script_out
    wanted = ("ok        seed", "ok        ticket ", "note      ", "  branch=")
    assert sorted(lines_starting(out, *wanted)) == sorted(lines_starting(script_out, *wanted))
    assert len(lines_starting(out, *wanted)) == 2 + 1 + len(record["types"])
    assert f"ok        seed {record['seed']}" in out
    assert out.rstrip().endswith("all checks passed")


@pytest.mark.parametrize("tamper", ["seed", "ticket", "selected", "pool", "reveal"])
def test_a_tampered_record_fails_both(tmp_path: Path, record: dict[str, Any], tamper: str) -> None:
    bad = copy.deepcopy(record)
    if tamper == "seed":
        bad["seed"] = "0" * 64
    elif tamper == "ticket":
        bad["ticket"] = (bad["ticket"] + 1) % len(bad["tickets"])
    elif tamper == "selected":
        bad["selected"][0] = bad["alternates"][0]
    elif tamper == "pool":
        bad["pool"][0][0] = "0" * 64  # another member than the one committed to
    else:
        bad["witnesses"][0]["reveal"] = "ff" * 16
    (code, out), (script_code, _) = both(tmp_path, bad)
    assert (code, script_code) == (1, 1), out
    assert "MISMATCH:" in out and "FAILED:" in out


def test_the_member_check_agrees(tmp_path: Path, record: dict[str, Any]) -> None:
    user, salt = "@member0:example.org", f"{0:032x}"  # the first member of the case's pool
    (code, out), (script_code, script_out) = both(tmp_path, record, "--member", user, salt)
    assert (code, script_code) == (0, 0)
    mine = make_pseudonym(user, salt)
    assert f"member {user}: pseudonym {mine}, type " in out and f"member {user}: pseudonym {mine}, type " in script_out
    (code, out), (script_code, _) = both(tmp_path, record, "--member", user, "ab" * 16)
    assert (code, script_code) == (1, 1) and "is not in the pool" in out


def test_malformed_and_unreadable_files(tmp_path: Path) -> None:
    (code, out), (script_code, _) = both(tmp_path, {"ref": "S-x-1"})
    assert (code, script_code) == (1, 1) and "MISMATCH: fields missing" in out
    result = CliRunner().invoke(main, ["verify-draw", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "cannot read" in result.output
