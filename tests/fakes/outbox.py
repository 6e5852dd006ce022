"""``MemoryOutboxStore``: the outbox store (``storage.outbox.stores.OutboxStore``) in memory."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from harmony_matrix.outbound import OutboundItem, StoredOutbound
from storage.timestamps import as_utc


class MemoryOutboxStore:
    """Durable outbound items until sent, oldest first; survives an ``Outbox`` being rebuilt."""

    def __init__(self) -> None:
        self.items: dict[int, StoredOutbound] = {}
        self._ids = itertools.count(1)

    async def add(self, item: OutboundItem, *, at: datetime) -> int:
        """Keep ``item``; returns its ID."""
        item_id = next(self._ids)
        self.items[item_id] = StoredOutbound(id=item_id, item=item, queued_at=as_utc(at, "at"))
        return item_id

    async def add_many(self, items: Sequence[OutboundItem], *, at: datetime) -> list[int]:
        """Keep many items; returns their IDs in order."""
        return [await self.add(item, at=at) for item in items]

    async def remove(self, item_id: int) -> None:
        """Forget item ``item_id``; forgetting it twice is a no-op."""
        self.items.pop(item_id, None)

    async def pending(self) -> list[StoredOutbound]:
        """Every item not sent yet, oldest first."""
        return [self.items[key] for key in sorted(self.items)]


if TYPE_CHECKING:
    from handlers.matrix.outbox import OutboxRecords
    from storage.outbox.stores import OutboxStore

    _memory: OutboxRecords = MemoryOutboxStore()
    _real: type[OutboxRecords] = OutboxStore
