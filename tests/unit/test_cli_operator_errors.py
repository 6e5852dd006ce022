"""``harmony-matrix run`` when the operator's setup is wrong: one line naming what and where, exit 2;
``--debug`` adds the traceback. Run as a real subprocess, as an operator would. (A token the
homeserver refuses needs a homeserver: tests/integration/test_rate_limits.py.)"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A loopback port nobody listens on (bound a moment ago, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_bot(tmp_path: Path, *, database: str, homeserver: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    config = {"homeserver": {"url": homeserver}, "bot": {"user_id": "@bot:localhost", "access_token": "t"},
              "database": {"url": database}, "logging": {"level": "WARNING"}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "harmony_app", "run", "-c", str(path), *(["--debug"] if debug else [])]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"postgres://harmony:s3cret@127.0.0.1:{closed_port()}/harmony"
    result = run_bot(tmp_path, database=url, homeserver="http://127.0.0.1:9")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the database is unreachable")
    assert f"database.url in {tmp_path / 'config.yaml'}" in lines[0]
    assert "s3cret" not in result.stderr and "***" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_debug_shows_the_traceback_before_the_line(tmp_path: Path) -> None:
    url = f"postgres://harmony@127.0.0.1:{closed_port()}/harmony"
    result = run_bot(tmp_path, database=url, homeserver="http://127.0.0.1:9", debug=True)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: the database is unreachable")


def test_an_unreachable_homeserver_is_one_line_and_exit_2(tmp_path: Path) -> None:
    port = closed_port()
    result = run_bot(tmp_path, database=f"sqlite://{tmp_path / 'bot.db'}", homeserver=f"http://127.0.0.1:{port}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: the homeserver is unreachable (homeserver.url in {tmp_path / 'config.yaml'})")
    assert f"127.0.0.1:{port}" in lines[0]
