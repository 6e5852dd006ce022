"""The pushed transactions of appservice mode (``handlers/matrix/appservice.py``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from storage.appservice.models import PushedTransaction
from storage.scope import ContextScope
from storage.timestamps import as_utc


class PushedTransactionStore:
    """Each transaction stored once by its ID, handed out in arrival order until marked handled."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def add(self, txn_id: str, body: dict[str, Any], *, at: datetime) -> bool:
        """Store a pushed transaction; False when ``txn_id`` was stored before (a retry). When this
        returns, the transaction is committed: a crash afterwards loses nothing."""
        with self._scope():
            if await PushedTransaction.exists(txn_id=txn_id):
                return False
            try:
                await PushedTransaction.create(txn_id=txn_id, body=json.dumps(body, ensure_ascii=False),
                                               received_at=as_utc(at, "at"))
            except IntegrityError:
                return False  # the same retry raced us: it is stored
        return True

    async def pending(self, limit: int = 50) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` stored transactions not handled yet, oldest first: ``(txn_id, body)``."""
        with self._scope():
            rows = await PushedTransaction.filter(handled_at__isnull=True).order_by("id").limit(limit)
        return [(row.txn_id, json.loads(row.body)) for row in rows]

    async def mark_handled(self, txn_id: str, *, at: datetime) -> None:
        """The transaction's events were all handled: keep only its ID (retries stay recognised)."""
        with self._scope():
            await PushedTransaction.filter(txn_id=txn_id).update(handled_at=as_utc(at, "at"), body="{}")

    async def prune(self, *, before: datetime) -> int:
        """Forget handled transactions older than ``before`` (the homeserver stopped retrying them long
        ago); returns how many."""
        with self._scope():
            return await PushedTransaction.filter(handled_at__lt=as_utc(before, "before")).delete()

    async def is_stored(self, txn_id: str) -> bool:
        """Whether ``txn_id`` was stored (handled or not)."""
        with self._scope():
            return await PushedTransaction.exists(txn_id=txn_id)



