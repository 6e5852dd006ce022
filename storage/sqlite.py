"""SQLite shared by two processes (the running bot and ``harmony-matrix import``) without
``database is locked``.

tortoise opens SQLite in WAL mode, where readers never block the writer, but it starts every
transaction with a plain (deferred) ``BEGIN``. Such a transaction reads first (``update_or_create``
selects, then writes) and must then upgrade to a write lock. If the other process has written in
the meantime, SQLite refuses the upgrade at once with ``SQLITE_BUSY`` (its snapshot is stale):
the busy timeout does not apply, so the bot's sync batch failed while an import was writing.

Here transactions start with ``BEGIN IMMEDIATE``: the write lock is taken up front, waiting (up to
the busy timeout) while the other process finishes its own short write, and the snapshot can
never go stale. ``connection(url)`` is the tortoise connection config that selects this client.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import SqliteClient as _TortoiseSqliteClient
from tortoise.backends.sqlite.client import SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.backends.base.client import TransactionContext
from tortoise.exceptions import TransactionManagementError

#: How long a statement waits for the other process's write lock before failing (milliseconds).
BUSY_TIMEOUT_MS = 15_000


class _ImmediateTransaction(SqliteTransactionWrapper):
    """A tortoise SQLite transaction that takes the write lock when it begins."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class SqliteClient(_TortoiseSqliteClient):
    """tortoise's SQLite client, with transactions that begin ``IMMEDIATE``."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


#: tortoise loads a backend module and takes its ``client_class``.
client_class = SqliteClient


def connection(url: str) -> dict[str, Any]:
    """The tortoise connection config for a ``sqlite://`` URL: this module's client, WAL (tortoise's
    default) and a busy timeout, so a writer waits for the other process instead of failing."""
    config = expand_db_url(url)
    config["engine"] = __name__
    config["credentials"].setdefault("busy_timeout", BUSY_TIMEOUT_MS)
    return config
