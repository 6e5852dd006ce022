"""Migrations: from an empty database, and from the previous version of the ``core`` app."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest

from harmony_matrix.ids import EventId, RoomId, UserId
from storage.core.types import AuditEntry, BotSession
from storage.database import APPS, StorageConfigError, migrate_database, open_database

RawSql = Callable[[str, Sequence[str]], Awaitable[list[tuple[object, ...]]]]

BOT = UserId("@harmony:example.org")
ROOM = RoomId("!room:example.org")


def _on_disk(app: str) -> list[tuple[str, str]]:
    package = importlib.import_module(f"{APPS[app]}.migrations")
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg)
    return [(app, name) for name in names]


# Every core migration on disk, so a feature adding one does not have to edit this test.
LATEST_CORE = _on_disk("core")


def test_core_history_starts_with_the_initial_schema_and_the_kind_column() -> None:
    assert LATEST_CORE[:2] == [("core", "0001_initial"), ("core", "0002_event_kind_and_age_index")]


async def _index_names(raw_sql: RawSql, url: str, table: str) -> set[str]:
    if url.startswith("sqlite://"):
        rows = await raw_sql(url, [f"PRAGMA index_list('{table}')"])
        return {str(row[1]) for row in rows}
    rows = await raw_sql(url, [f"SELECT indexname FROM pg_indexes WHERE tablename = '{table}'"])
    return {str(row[0]) for row in rows}


async def test_an_empty_database_is_migrated_to_the_latest(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        applied = await db.applied_migrations()
        assert [m for m in applied if m[0] == "core"] == LATEST_CORE
        assert {app for app, _ in applied} == set(APPS)
        await db.events.mark_processed(EventId("$e"), ROOM, "command")
    finally:
        await db.close()

    # Opening again applies nothing and keeps the data.
    db = await open_database(database_url)
    try:
        assert await db.applied_migrations() == applied
        assert await db.events.is_processed(EventId("$e"))
    finally:
        await db.close()


async def test_data_written_at_0001_survives_the_upgrade(database_url: str, raw_sql: RawSql) -> None:
    await migrate_database(database_url, app="core", migration="0001_initial")
    # Rows as the 0001 schema knows them (no ``kind`` column yet), written below the stores.
    await raw_sql(
        database_url,
        [
            "INSERT INTO core_processed_event (event_id, room_id, processed_at) "
            "VALUES ('$old:x', '!room:example.org', '2026-01-01 00:00:00+00:00')",
            "INSERT INTO core_sync_token (user_id, token, updated_at) "
            "VALUES ('@harmony:example.org', 's42_old', '2026-01-01 00:00:00+00:00')",
            "INSERT INTO core_login_session (user_id, device_id, access_token, updated_at) "
            "VALUES ('@harmony:example.org', 'OLDDEVICE', 'syt_old', '2026-01-01 00:00:00+00:00')",
            "INSERT INTO core_audit_record (action, room_id, target_user, actor, reason, at) "
            "VALUES ('kick', '!room:example.org', '@m:x', NULL, 'spam', "
            "'2026-01-01 00:00:00+00:00')",
        ],
    )
    assert "core_processed_event_age" not in await _index_names(
        raw_sql, database_url, "core_processed_event"
    )

    db = await open_database(database_url)
    try:
        assert [m for m in await db.applied_migrations() if m[0] == "core"] == LATEST_CORE
        assert await db.events.is_processed(EventId("$old:x"))
        assert await db.events.mark_processed(EventId("$old:x"), ROOM, "command") is False
        assert await db.sync.get_token(BOT) == "s42_old"
        assert await db.sessions.get(BOT) == BotSession(
            user_id=BOT, device_id="OLDDEVICE", access_token="syt_old"
        )
        assert await db.audit.recent(5) == [
            AuditEntry(
                action="kick",
                at=datetime(2026, 1, 1, tzinfo=UTC),
                room_id=ROOM,
                target_user=UserId("@m:x"),
                reason="spam",
            )
        ]
        # The pre-existing row got the column's database default; prune uses the new index.
        kinds = await raw_sql(database_url, ["SELECT kind FROM core_processed_event"])
        assert kinds == [("",)]
        assert await db.events.prune(datetime(2026, 2, 1, tzinfo=UTC)) == 1
    finally:
        await db.close()
    assert "core_processed_event_age" in await _index_names(
        raw_sql, database_url, "core_processed_event"
    )


async def test_rolling_back_to_0001_and_forward_again_keeps_rows(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        await db.events.mark_processed(EventId("$kept:x"), ROOM, "reaction")
    finally:
        await db.close()

    await migrate_database(database_url, app="core", migration="0001_initial")

    db = await open_database(database_url)
    try:
        assert [m for m in await db.applied_migrations() if m[0] == "core"] == LATEST_CORE
        assert await db.events.is_processed(EventId("$kept:x"))
    finally:
        await db.close()


async def test_migrating_an_unknown_app_is_a_config_error(database_url: str) -> None:
    with pytest.raises(StorageConfigError, match="unknown storage app 'votes'"):
        await migrate_database(database_url, app="votes", migration="0001_initial")
