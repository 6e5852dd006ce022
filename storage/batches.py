"""Reading many rows by key in a few queries: keys in chunks, so an ``IN (…)`` stays under every
backend's limit on bound parameters (SQLite's is 32,766 in current builds, 999 in old ones)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TypeVar

#: Keys per ``IN (…)``: under SQLite's old limit of 999 bound parameters, with room for other filters.
CHUNK = 900

#: Rows per multi-row INSERT (``bulk_create(batch_size=…)``): a row binds up to ~8 parameters.
ROWS_PER_INSERT = 100

T = TypeVar("T")


def chunks(values: Collection[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size`` (sorted where they sort, so the queries are repeatable)."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start:start + size]
