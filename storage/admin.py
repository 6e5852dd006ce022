"""Creating and dropping PostgreSQL databases: for Synapse's and the bot's throwaway databases in the
demo and the tests. The only place outside the stores that talks to PostgreSQL directly."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import asyncpg


async def create_postgres_database(admin_dsn: str, name: str) -> str:
    """Create database ``name`` the way Synapse requires and return a DSN for it.

    ``admin_dsn`` connects as a role allowed to create databases (e.g.
    ``postgresql://postgres@127.0.0.1:5432/postgres``). Synapse refuses to start on a
    database that is not UTF8 with the C collation (docs/postgres.md); the bot does not mind.
    """
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(
            f"CREATE DATABASE {_quote_identifier(name)} "
            "ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0"
        )
    finally:
        await connection.close()
    return dsn_with_database(admin_dsn, name)


async def drop_postgres_database(admin_dsn: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its remaining sessions (FORCE: a test
    that failed half-way may have left a connection open)."""
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {_quote_identifier(name)} WITH (FORCE)")
    finally:
        await connection.close()


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dsn_with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` instead."""
    parts = urlsplit(dsn)
    return parts._replace(path="/" + quote(name)).geturl()
