"""The store of pushed transactions (appservice mode) on every backend, and the in-memory one the fast
tests use, by the same checks: stored once per transaction ID, handed out in arrival order until
handled, then kept as an ID only (a late retry is still recognised) until pruned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from storage.database import Database, open_database
from tests.fakes.appservice import MemoryPushedTransactions

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRST = {"events": [{"type": "m.room.message", "event_id": "$1", "room_id": "!r:x", "sender": "@a:x",
                     "content": {"msgtype": "m.text", "body": "!h ping ✓"}}]}
SECOND = {"events": [], "de.sorunome.msc2409.to_device": [{"type": "m.room_key", "to_user_id": "@bot:x"}]}


@pytest_asyncio.fixture(params=["memory", "database"], loop_scope="session")
async def store(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryPushedTransactions()
        return
    db: Database = await open_database(database_url)
    try:
        yield db.pushed
    finally:
        await db.close()


async def test_a_transaction_is_stored_once_and_handed_out_in_order_until_handled(store) -> None:  # type: ignore[no-untyped-def]
    assert await store.add("t1", FIRST, at=NOW) is True
    assert await store.add("t2", SECOND, at=NOW + timedelta(seconds=1)) is True
    assert await store.add("t1", {"events": []}, at=NOW + timedelta(seconds=2)) is False  # a retry

    assert await store.pending() == [("t1", FIRST), ("t2", SECOND)]
    assert await store.pending(limit=1) == [("t1", FIRST)]
    await store.mark_handled("t1", at=NOW + timedelta(seconds=3))
    assert await store.pending() == [("t2", SECOND)]
    assert await store.is_stored("t1") and await store.add("t1", FIRST, at=NOW) is False  # still recognised


async def test_handled_transactions_are_pruned_by_age_and_pending_ones_never(store) -> None:  # type: ignore[no-untyped-def]
    for number in range(3):
        await store.add(f"t{number}", FIRST, at=NOW)
    await store.mark_handled("t0", at=NOW)
    await store.mark_handled("t1", at=NOW + timedelta(days=2))

    assert await store.prune(before=NOW + timedelta(days=1)) == 1
    assert not await store.is_stored("t0")
    assert await store.is_stored("t1") and await store.is_stored("t2")
    assert await store.pending() == [("t2", FIRST)]


async def test_a_naive_time_is_refused(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        await store.add("t", FIRST, at=datetime(2026, 3, 1, 12, 0))
