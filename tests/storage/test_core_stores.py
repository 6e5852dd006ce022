"""The ``core`` stores (sync token, processed events, bot session, audit log) on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from harmony_matrix.ids import EventId, RoomId, UserId
from storage.core.types import AuditEntry, BotSession
from storage.database import Database, open_database
from storage.scope import DatabaseClosedError

BOT = UserId("@harmony:example.org")
OTHER_BOT = UserId("@other:example.org")
ROOM = RoomId("!room:example.org")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_sync_token_round_trips_per_bot(database: Database) -> None:
    assert await database.sync.get_token(BOT) is None

    await database.sync.set_token(BOT, "s1_first")
    await database.sync.set_token(OTHER_BOT, "s9_other")
    await database.sync.set_token(BOT, "s2_second")

    assert await database.sync.get_token(BOT) == "s2_second"
    assert await database.sync.get_token(OTHER_BOT) == "s9_other"


async def test_marking_an_event_twice_is_a_no_op(database: Database) -> None:
    event = EventId("$abc:example.org")
    assert not await database.events.is_processed(event)

    assert await database.events.mark_processed(event, ROOM, "command") is True
    assert await database.events.mark_processed(event, ROOM, "command") is False

    assert await database.events.is_processed(event)
    assert not await database.events.is_processed(EventId("$other:example.org"))


async def test_concurrent_marks_of_one_event_record_it_once(database: Database) -> None:
    event = EventId("$race:example.org")
    results = await asyncio.gather(
        *(database.events.mark_processed(event, ROOM, "reaction") for _ in range(8))
    )
    assert sorted(results) == [False] * 7 + [True]


async def test_a_run_of_events_is_marked_in_one_write_keeping_earlier_marks(database: Database) -> None:
    earlier = EventId("$run-0:example.org")
    assert await database.events.mark_processed(earlier, ROOM, "failed") is True
    run = [EventId(f"$run-{n}:example.org") for n in range(1500)]  # more than one INSERT's worth of rows
    assert await database.events.processed_among([*run, EventId("$never:example.org")]) == {earlier}
    await database.events.mark_processed_many([*run, run[1]], ROOM, "handled")
    assert await database.events.processed_among(run) == set(run)
    assert await database.events.mark_processed(run[7], ROOM, "handled") is False  # once, still unique
    await database.events.mark_processed_many(run[:3], ROOM, "handled")  # marking again changes nothing
    assert await database.events.processed_among(run[:3]) == set(run[:3])


async def test_prune_forgets_only_older_events(database: Database) -> None:
    old, fresh = EventId("$old:x"), EventId("$fresh:x")
    await database.events.mark_processed(old, ROOM, "command", at=NOW - timedelta(days=8))
    # Another zone on purpose: the cutoff comparison must not depend on the caller's zone.
    plus_two = timezone(timedelta(hours=2))
    await database.events.mark_processed(
        fresh, ROOM, "command", at=(NOW - timedelta(days=6)).astimezone(plus_two)
    )

    assert await database.events.prune(older_than=NOW - timedelta(days=7)) == 1

    assert not await database.events.is_processed(old)
    assert await database.events.is_processed(fresh)
    # Once pruned, the event can be recorded again.
    assert await database.events.mark_processed(old, ROOM, "command") is True


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await database.events.prune(older_than=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await database.audit.record("kick", at=datetime(2026, 1, 1))


async def test_session_round_trips_and_is_replaced(database: Database) -> None:
    assert await database.sessions.get(BOT) is None

    first = BotSession(user_id=BOT, device_id="DEVICE1", access_token="syt_one")
    await database.sessions.save(first)
    assert await database.sessions.get(BOT) == first

    second = BotSession(user_id=BOT, device_id="DEVICE2", access_token="syt_two")
    await database.sessions.save(second)
    assert await database.sessions.get(BOT) == second
    assert await database.sessions.get(OTHER_BOT) is None


def test_session_repr_hides_the_token() -> None:
    session = BotSession(user_id=BOT, device_id="DEVICE1", access_token="syt_secret")
    assert "syt_secret" not in repr(session)


async def test_audit_returns_newest_first_with_every_field(database: Database) -> None:
    kick = await database.audit.record(
        "kick",
        at=NOW,
        room_id=ROOM,
        target_user=UserId("@mallory:x"),
        reason="not a member of this assembly",
        actor=UserId("@secretary:x"),
    )
    ban = await database.audit.record("ban", at=NOW + timedelta(minutes=5), room_id=ROOM)
    # Same instant as the ban: the one recorded later counts as newer.
    power = await database.audit.record("power", at=NOW + timedelta(minutes=5), room_id=ROOM)
    earlier = await database.audit.record("warn", at=NOW - timedelta(hours=1))

    recent = await database.audit.recent(10)
    assert recent == [power, ban, kick, earlier]
    assert recent[2] == AuditEntry(
        action="kick",
        at=NOW,
        room_id=ROOM,
        target_user=UserId("@mallory:x"),
        actor=UserId("@secretary:x"),
        reason="not a member of this assembly",
    )
    assert await database.audit.recent(2) == [power, ban]
    assert await database.audit.recent(0) == []


async def test_stores_refuse_use_after_close(database_url: str) -> None:
    db = await open_database(database_url)
    await db.close()
    await db.close()  # idempotent
    with pytest.raises(DatabaseClosedError):
        await db.sync.get_token(BOT)


async def test_two_sqlite_databases_are_isolated_in_one_process(tmp_path: Path) -> None:
    first = await open_database(f"sqlite://{tmp_path / 'one.db'}")
    second = await open_database(f"sqlite://{tmp_path / 'two.db'}")
    try:
        await first.sync.set_token(BOT, "first")
        await second.sync.set_token(BOT, "second")
        await asyncio.gather(
            first.events.mark_processed(EventId("$only-in-first"), ROOM, "command"),
            second.events.mark_processed(EventId("$only-in-second"), ROOM, "command"),
        )
        assert await first.sync.get_token(BOT) == "first"
        assert await second.sync.get_token(BOT) == "second"
        assert await first.events.is_processed(EventId("$only-in-first"))
        assert not await first.events.is_processed(EventId("$only-in-second"))
        assert not await second.events.is_processed(EventId("$only-in-first"))
    finally:
        await first.close()
        await second.close()
