"""Numbered records (``P-``, ``M-``, ``D-``, ``R-`` references): the next number, taken safely under races.

A new record gets its assembly's next number, read inside the transaction that writes it. Two writers
may read the same number at once; the unique constraint on the reference (or on assembly and number)
lets only one insert win, and the loser's transaction rolls back. ``insert_numbered`` then runs the
loser again on a fresh read. That retry is a storage concern, so it lives here, once, for every
numbered kind; it retries only that integrity error, never a mistake in the record itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage.scope import ContextScope

T = TypeVar("T")

#: How often a writer that lost the race for a number tries again (each try reads the number afresh).
ATTEMPTS = 5


async def insert_numbered(scope: ContextScope, insert: Callable[[BaseDBAsyncClient], Awaitable[T]], *,
                          attempts: int = ATTEMPTS) -> T:
    """Run ``insert(connection)`` in one transaction; again when a concurrent writer took its number.

    ``insert`` reads the next number through the connection and writes the record (and whatever must
    be stored with it). Only ``IntegrityError`` is retried, at most ``attempts`` times in all; the
    last one propagates."""
    for attempt in range(1, attempts + 1):
        with scope():
            try:
                async with in_transaction("default") as connection:
                    return await insert(connection)
            except IntegrityError:
                if attempt == attempts:
                    raise
    raise AssertionError("attempts must be at least 1")
