"""Database URLs: what is accepted, and the messages for what is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.database import (
    StorageConfigError,
    StorageConnectionError,
    open_database,
    parse_database_url,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("sqlite:///var/lib/harmony/bot.db", "sqlite"),
        ("sqlite://bot.db", "sqlite"),
        ("sqlite://:memory:", "sqlite"),
        ("postgres://harmony@db.example.org:5432/harmony", "postgres"),
        ("postgresql://harmony:secret@localhost/harmony", "postgres"),
        ("POSTGRES://harmony@localhost/harmony", "postgres"),
        # No host: asyncpg's default (the local socket), as with libpq.
        ("postgres:///harmony", "postgres"),
    ],
)
def test_supported_urls_are_accepted(url: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The absolute SQLite example's directory need not exist on the test machine.
    monkeypatch.setattr(Path, "is_dir", lambda self: True)
    assert parse_database_url(url) == backend


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/harmony", "scheme 'mysql://' is not supported; supported schemes "
         "are sqlite://, postgres://, postgresql://"),
        ("harmony.db", "has no scheme; expected one of: sqlite:///absolute/path.db"),
        ("sqlite://", "names no SQLite file"),
        ("sqlite:///", "names no SQLite file"),
        ("sqlite:///no/such/directory/bot.db", "directory '/no/such/directory' for the SQLite file "
         "does not exist"),
        ("postgres://harmony@localhost:5432", "names no database; add it after the host"),
        ("postgres://harmony@localhost:5432/", "names no database"),
        ("postgres://harmony@localhost:port/harmony", "has an invalid port"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(StorageConfigError) as excinfo:
        parse_database_url(url)
    assert message in str(excinfo.value)


def test_error_messages_do_not_show_the_password() -> None:
    with pytest.raises(StorageConfigError) as excinfo:
        parse_database_url("postgres://harmony:hunter2@localhost:5432")
    assert "hunter2" not in str(excinfo.value)
    assert "harmony:***@localhost" in str(excinfo.value)
    assert redact_url("postgres://u@h/db") == "postgres://u@h/db"


async def test_open_database_rejects_a_bad_url_before_connecting() -> None:
    with pytest.raises(StorageConfigError, match="not supported"):
        await open_database("redis://localhost/0")


async def test_relative_and_in_memory_sqlite_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = await open_database("sqlite://relative.db")
    await db.close()
    assert (tmp_path / "relative.db").exists()

    db = await open_database("sqlite://:memory:")
    try:
        await db.sync.set_token("@bot:x", "t")  # type: ignore[arg-type]
        assert await db.sync.get_token("@bot:x") == "t"  # type: ignore[arg-type]
    finally:
        await db.close()


@pytest.mark.postgres
async def test_both_backends_cannot_be_open_at_once(tmp_path: Path) -> None:
    sqlite = await open_database(f"sqlite://{tmp_path / 'bot.db'}")
    try:
        with pytest.raises(StorageConfigError, match="one backend at a time"):
            await open_database(os.environ["HARMONY_TEST_POSTGRES"])
    finally:
        await sqlite.close()


async def test_an_unreachable_server_is_a_connection_error() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(StorageConnectionError, match=r"cannot open database postgres://u:\*\*\*@"):
        await open_database("postgres://u:pw@127.0.0.1:1/harmony")


@pytest.mark.postgres
async def test_a_missing_postgres_database_is_a_connection_error() -> None:
    dsn = os.environ["HARMONY_TEST_POSTGRES"]
    missing = dsn.rpartition("/")[0] + "/harmony_no_such_database"
    with pytest.raises(StorageConnectionError, match="harmony_no_such_database"):
        await open_database(missing)
