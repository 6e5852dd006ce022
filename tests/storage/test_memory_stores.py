"""The in-memory stores of ``tests/fakes`` keep the real core stores' rules: the same checks run on
both, so a fast edge test cannot pass on behaviour the database would not have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from harmony_matrix.ids import EventId, RoomId, UserId
from storage.core.types import BotSession
from storage.database import open_database
from tests.fakes.stores import (
    MemoryDirectChatStore,
    MemoryMemberStore,
    MemoryProcessedEvents,
    MemorySessionStore,
    MemorySyncStore,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROOM = RoomId("!room:test")


@dataclass
class CoreStores:
    sync: Any
    events: Any
    sessions: Any
    members: Any
    direct_chats: Any


@pytest_asyncio.fixture(params=["memory", "sqlite"], loop_scope="session")
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CoreStores]:
    if request.param == "memory":
        yield CoreStores(MemorySyncStore(), MemoryProcessedEvents(), MemorySessionStore(), MemoryMemberStore(),
                         MemoryDirectChatStore())
        return
    db = await open_database(f"sqlite://{tmp_path / 'harmony.db'}")
    try:
        yield CoreStores(db.sync, db.events, db.sessions, db.members, db.direct_chats)
    finally:
        await db.close()


async def test_tokens_and_sessions_are_kept_per_account(stores: CoreStores) -> None:
    bot, other = UserId("@bot:test"), UserId("@other:test")
    assert await stores.sync.get_token(bot) is None
    await stores.sync.set_token(bot, "s1")
    await stores.sync.set_token(other, "s9")
    await stores.sync.set_token(bot, "s2")
    assert (await stores.sync.get_token(bot), await stores.sync.get_token(other)) == ("s2", "s9")

    assert await stores.sessions.get(bot) is None
    await stores.sessions.save(BotSession(user_id=bot, device_id="D1", access_token="t1"))
    await stores.sessions.save(BotSession(user_id=bot, device_id="D2", access_token="t2"))
    assert await stores.sessions.get(bot) == BotSession(user_id=bot, device_id="D2", access_token="t2")


async def test_an_event_is_marked_once_and_pruned_by_age(stores: CoreStores) -> None:
    old, fresh = EventId("$old"), EventId("$fresh")
    assert await stores.events.mark_processed(old, ROOM, "command", at=NOW - timedelta(days=8)) is True
    assert await stores.events.mark_processed(old, ROOM, "command", at=NOW) is False
    await stores.events.mark_processed(fresh, ROOM, "reaction", at=NOW - timedelta(days=6))
    assert await stores.events.prune(NOW - timedelta(days=7)) == 1
    assert not await stores.events.is_processed(old)
    assert await stores.events.is_processed(fresh)


async def test_naive_datetimes_are_refused(stores: CoreStores) -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await stores.events.mark_processed(EventId("$e"), ROOM, "command", at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        await stores.members.add("@a:test", by="@admin:test", at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        await stores.direct_chats.remember("@a:test", "!dm:test", at=naive)


async def test_the_member_registry(stores: CoreStores) -> None:
    assert await stores.members.add("@a:test", by="@admin:test", at=NOW) is True
    assert await stores.members.add("@a:test", by="@admin:test", at=NOW) is False
    assert await stores.members.add_many({"@a:test", "@b:test", "@c:test"}, by="import", at=NOW) == 2
    assert await stores.members.count() == 3
    assert await stores.members.export("@a:test") == {"member_since": "2026-03-01T12:00:00+00:00",
                                                      "added_by": "@admin:test"}
    assert await stores.members.remove("@b:test") is True
    assert await stores.members.remove("@b:test") is False
    assert not await stores.members.is_member("@b:test")
    assert await stores.members.export("@b:test") is None


async def test_a_room_is_one_persons_direct_chat(stores: CoreStores) -> None:
    await stores.direct_chats.remember("@a:test", "!dm1:test", at=NOW)
    assert await stores.direct_chats.room_of("@a:test") == "!dm1:test"
    assert await stores.direct_chats.user_of("!dm1:test") == "@a:test"
    await stores.direct_chats.remember("@b:test", "!dm1:test", at=NOW)  # the room moves to b
    assert await stores.direct_chats.room_of("@a:test") is None
    await stores.direct_chats.remember("@b:test", "!dm2:test", at=NOW)  # b's chat moves
    assert await stores.direct_chats.user_of("!dm1:test") is None
    await stores.direct_chats.forget("@b:test")
    assert await stores.direct_chats.room_of("@b:test") is None
