"""Running the bot against the test Synapse: in-process (``App``) or as a killable subprocess."""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harmony_app.app import App
from harmony_matrix.config import load_config
from harmony_app.local_synapse import LocalSynapse, RegisteredUser
from db_template import create_postgres_from_template, seed_sqlite

REPO = Path(__file__).resolve().parents[2]
_created_databases: list[str] = []


def throwaway_postgres_url() -> str | None:
    """With HARMONY_TEST_POSTGRES set, a fresh database on that server, migrated (a copy of the tests'
    template, ``tests/db_template.py``) and dropped at exit; else None."""
    admin_dsn = os.environ.get("HARMONY_TEST_POSTGRES")
    if not admin_dsn:
        return None
    name = f"harmony_bot_{secrets.token_hex(6)}"
    url = create_postgres_from_template(admin_dsn, name)
    if not _created_databases:
        atexit.register(_drop_created_databases, admin_dsn)
    _created_databases.append(name)
    return url


def _drop_created_databases(admin_dsn: str) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        for name in _created_databases:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def write_bot_config(directory: Path, *, synapse: LocalSynapse, bot: RegisteredUser, admins: list[str],
                     database_url: str | None = None, encrypt_direct_chats: bool = False,
                     **overrides: Any) -> Path:
    """A config file for a bot on the test server (password login, so sessions are stored).

    The DMs the bot opens stay unencrypted unless ``encrypt_direct_chats``: the plain test client
    (matrix_client.py) cannot read encrypted rooms; tests with e2ee_client.py turn it on. For the same
    reason the private commands (mydata, confirm, member add, …) run in unencrypted direct chats unless
    ``encrypt_direct_chats`` (``privacy.private_commands_need_encryption``)."""
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "homeserver": {"url": synapse.url},
        "bot": {"user_id": bot.user_id, "password": bot.password, "encrypt_direct_chats": encrypt_direct_chats},
        "database": {"url": database_url or throwaway_postgres_url() or "sqlite://harmony.db"},
        "admins": admins,
        "timezone": "Europe/London",
        "sync": {"timeout_ms": 5000},
        "logging": {"level": "INFO"},
        "privacy": {"private_commands_need_encryption": encrypt_direct_chats},
    }
    # HARMONY_TEST_FULL_STATE_AT_START=true runs every bot of the suite with sync.full_state_at_start
    # on (tests that pin the setting keep theirs): the whole integration suite in that setting.
    if os.environ.get("HARMONY_TEST_FULL_STATE_AT_START") == "true":
        config["sync"]["full_state_at_start"] = True
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    seed_sqlite(config["database"]["url"], base=directory)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def start_app(config_path: Path, **kwargs: Any) -> App:
    app = App(load_config(config_path), **kwargs)
    await app.start()
    await app.wait_synced()
    return app


@dataclass
class BotProcess:
    """``harmony-matrix run`` in a child process, so a test can SIGKILL it like a crash would."""

    config_path: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.config_path.parent / "bot.log"

    async def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harmony_app", "run", "-c", str(self.config_path),
            stdout=log, stderr=log, cwd=REPO, env=env)
        log.close()

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, timeout: float = 15) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def execute_sql(database_url: str, sql: str) -> None:
    """Run one statement directly on the bot's database (tests that tamper with the record)."""
    if database_url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(database_url[len("sqlite://"):]) as connection:
            connection.execute(sql)
        return
    import psycopg2

    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()
