"""The party membership registry on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.database import Database

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_members_are_added_once_and_removed(database: Database) -> None:
    assert not await database.members.is_member("@sam:example.org")
    assert await database.members.add("@sam:example.org", by="@admin:example.org", at=NOW)
    assert not await database.members.add("@sam:example.org", by="@admin:example.org", at=NOW)
    assert await database.members.is_member("@sam:example.org")
    assert await database.members.count() == 1
    assert await database.members.export("@sam:example.org") == {
        "member_since": "2026-11-21T12:00:00+00:00", "added_by": "@admin:example.org"}
    assert await database.members.remove("@sam:example.org")
    assert not await database.members.remove("@sam:example.org")
    assert await database.members.export("@sam:example.org") is None


async def test_bulk_import_counts_only_new_members(database: Database) -> None:
    await database.members.add("@a:example.org", by="@admin:example.org", at=NOW)
    added = await database.members.add_many({"@a:example.org", "@b:example.org", "@c:example.org"},
                                            by="@admin:example.org", at=NOW)
    assert added == 2
    assert await database.members.count() == 3
