"""The outbox store on every backend, and the in-memory one the fast tests use, by the same checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from harmony_matrix.outbound import OutboundItem, OutboundKind, Priority
from storage.database import Database, open_database
from tests.fakes.outbox import MemoryOutboxStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPLY = OutboundItem(kind=OutboundKind.EVENT, room_id="!r:x", priority=Priority.ANSWER, txn_seed="reply:$e:1",
                     event_type="m.room.message",
                     content={"msgtype": "m.notice", "body": "Pong 🏓 \"quoted\" <b>", "m.mentions": {"user_ids": []}})
SEED = OutboundItem(kind=OutboundKind.EVENT, room_id="!r:x", priority=Priority.COSMETIC, txn_seed="seed:$o:1",
                    event_type="m.reaction",
                    content={"m.relates_to": {"rel_type": "m.annotation", "event_id": "$o", "key": "1\ufe0f\u20e3"}})
REDACTION = OutboundItem(kind=OutboundKind.REDACTION, room_id="!r:x", priority=Priority.COSMETIC,
                         txn_seed="redact:$v", redacts="$v", reason=None)


@pytest_asyncio.fixture(params=["memory", "database"], loop_scope="session")
async def store(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryOutboxStore()
        return
    db: Database = await open_database(database_url)
    try:
        yield db.outbox
    finally:
        await db.close()


async def test_items_come_back_as_they_went_in_oldest_first_until_removed(store) -> None:  # type: ignore[no-untyped-def]
    ids = [await store.add(item, at=NOW + timedelta(seconds=n)) for n, item in enumerate((REPLY, SEED, REDACTION))]
    pending = await store.pending()
    assert [p.item for p in pending] == [REPLY, SEED, REDACTION]
    assert [p.id for p in pending] == ids
    assert pending[1].queued_at == NOW + timedelta(seconds=1) and pending[1].queued_at.tzinfo is not None
    await store.remove(ids[0])
    await store.remove(ids[0])  # twice is fine
    assert [p.item for p in await store.pending()] == [SEED, REDACTION]


async def test_a_naive_time_is_refused(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        await store.add(REPLY, at=datetime(2026, 3, 1, 12, 0))
