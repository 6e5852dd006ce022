"""Fixtures for the storage tests: every backend, one throwaway database per test.

SQLite always runs (a file under ``tmp_path``). PostgreSQL runs when ``HARMONY_TEST_POSTGRES``
names a DSN of a server we may create databases on (e.g.
``postgres://postgres@127.0.0.1:5432/postgres``): each test gets a database with a unique name,
created with asyncpg and dropped afterwards, so tests never see each other's rows and the server
is left as it was. Test IDs end in ``[sqlite]`` or ``[postgres]``.

``database_url`` gives an empty database (for migration tests); ``database`` gives it opened and
migrated to the latest schema.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from storage.admin import create_postgres_database, drop_postgres_database
from db_template import create_postgres_from_template, seed_sqlite
from storage.database import Database, open_database

POSTGRES_DSN_ENV = "HARMONY_TEST_POSTGRES"


def postgres_dsn() -> str | None:
    """The server DSN from ``HARMONY_TEST_POSTGRES``, or ``None`` when PostgreSQL tests are off."""
    return os.environ.get(POSTGRES_DSN_ENV) or None


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),  # skipped unless the DSN is set
]


@pytest_asyncio.fixture(params=BACKENDS, loop_scope="session")
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database on each backend, removed after the test."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'harmony.db'}"
        return
    dsn = postgres_dsn()
    assert dsn is not None  # the param is skipped otherwise
    name = f"harmony_test_{secrets.token_hex(6)}"
    url = await create_postgres_database(dsn, name)
    try:
        yield url
    finally:
        await drop_postgres_database(dsn, name)


@pytest_asyncio.fixture(loop_scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    """A database on each backend, migrated to the latest schema; closed after the test. It starts as
    a copy of the migrated template (``tests/db_template.py``); ``database_url`` alone stays empty, for
    the migration tests."""
    if database_url.startswith("sqlite://"):
        seed_sqlite(database_url)
    else:
        dsn = postgres_dsn()
        assert dsn is not None
        create_postgres_from_template(dsn, database_url.rpartition("/")[2])  # replaces the empty one
    db = await open_database(database_url)
    try:
        yield db
    finally:
        await db.close()


async def execute_sql(url: str, statements: Sequence[str]) -> list[tuple[object, ...]]:
    """Run literal SQL on ``url`` without tortoise; returns the rows of the last statement.

    For tests that must look below the stores: seeding an old schema, inspecting indexes.
    """
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                rows = conn.execute(statement).fetchall()
            return rows
    conn = await asyncpg.connect(url)
    try:
        records: list[asyncpg.Record] = []
        for statement in statements:
            records = await conn.fetch(statement)
        return [tuple(record.values()) for record in records]
    finally:
        await conn.close()


@pytest.fixture
def raw_sql():  # type: ignore[no-untyped-def]
    """``execute_sql`` as a fixture, so test modules need not import this conftest."""
    return execute_sql
