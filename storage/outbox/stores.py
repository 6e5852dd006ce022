"""The outbox store: durable items of the outbound queue (``handlers/matrix/outbox.py``) until sent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from tortoise.transactions import in_transaction

from harmony_matrix.outbound import OutboundItem, OutboundKind, Priority, StoredOutbound
from storage.outbox.models import OutboxRecord
from storage.scope import ContextScope
from storage.timestamps import as_utc


class OutboxStore:
    """Keeps each durable outbound item from the moment it is queued until it is sent."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def add(self, item: OutboundItem, *, at: datetime) -> int:
        """Keep ``item``, queued ``at``; returns its ID."""
        with self._scope():
            row = await OutboxRecord.create(
                kind=item.kind.value, room_id=item.room_id, priority=int(item.priority), txn_seed=item.txn_seed,
                event_type=item.event_type, content=json.dumps(dict(item.content), ensure_ascii=False),
                state_key=item.state_key, redacts=item.redacts, reason=item.reason, queued_at=as_utc(at, "at"))
        return int(row.id)

    async def add_many(self, items: Sequence[OutboundItem], *, at: datetime) -> list[int]:
        """Keep many items in one transaction (a catch-up's redactions); returns their IDs in order."""
        ids = []
        with self._scope():
            async with in_transaction():
                for item in items:
                    ids.append(await self.add(item, at=at))
        return ids

    async def remove(self, item_id: int) -> None:
        """Forget item ``item_id`` (sent, or refused for good); forgetting it twice is a no-op."""
        with self._scope():
            await OutboxRecord.filter(id=item_id).delete()

    async def pending(self) -> list[StoredOutbound]:
        """Every item not sent yet, oldest first."""
        with self._scope():
            rows = await OutboxRecord.all().order_by("id")
        return [StoredOutbound(
            id=int(row.id), queued_at=as_utc(row.queued_at, "queued_at"),
            item=OutboundItem(kind=OutboundKind(row.kind), room_id=row.room_id, priority=Priority(row.priority),
                              txn_seed=row.txn_seed, event_type=row.event_type, content=json.loads(row.content),
                              state_key=row.state_key, redacts=row.redacts, reason=row.reason))
            for row in rows]

    async def count(self) -> int:
        """How many items wait."""
        with self._scope():
            return await OutboxRecord.all().count()
