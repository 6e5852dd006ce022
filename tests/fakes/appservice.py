"""An in-memory store of pushed transactions (appservice mode), checked against the real one by
``tests/storage/test_pushed_transactions_store.py``."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.timestamps import as_utc


@dataclass
class _Row:
    txn_id: str
    body: dict[str, Any]
    received_at: datetime
    handled_at: datetime | None = None


class MemoryPushedTransactions:
    """``PushedTransactions`` in a list, in arrival order."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []

    async def add(self, txn_id: str, body: dict[str, Any], *, at: datetime) -> bool:
        if any(row.txn_id == txn_id for row in self.rows):
            return False
        self.rows.append(_Row(txn_id, copy.deepcopy(body), as_utc(at, "at")))
        return True

    async def pending(self, limit: int = 50) -> list[tuple[str, dict[str, Any]]]:
        return [(row.txn_id, copy.deepcopy(row.body)) for row in self.rows if row.handled_at is None][:limit]

    async def mark_handled(self, txn_id: str, *, at: datetime) -> None:
        for row in self.rows:
            if row.txn_id == txn_id:
                row.handled_at, row.body = as_utc(at, "at"), {}

    async def prune(self, *, before: datetime) -> int:
        kept = [row for row in self.rows if row.handled_at is None or row.handled_at >= as_utc(before, "before")]
        pruned = len(self.rows) - len(kept)
        self.rows = kept
        return pruned

    async def is_stored(self, txn_id: str) -> bool:
        return any(row.txn_id == txn_id for row in self.rows)
