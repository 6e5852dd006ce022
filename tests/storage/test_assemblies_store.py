"""The assemblies stores on SQLite (always) and PostgreSQL (when HARMONY_TEST_POSTGRES is a DSN)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_matrix.ids import RoomId, UserId
from storage.database import Database, open_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "harmony-federation.yaml"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ALICE = UserId("@alice:example.org")
BOB = UserId("@bob:example.org")


@pytest_asyncio.fixture(loop_scope="session")
async def db(database: Database) -> Database:
    """The shared fixture: SQLite always, a throwaway PostgreSQL database when configured."""
    return database


async def test_the_sample_federation_round_trips(db: Database) -> None:
    federation = load_federation(SAMPLE.read_text(), source=str(SAMPLE))
    for position, assembly in enumerate(federation):
        await db.assemblies.save(assembly, position=position)
    loaded = await db.assemblies.federation()
    assert loaded == federation
    assert loaded.slugs == federation.slugs  # order kept
    assert loaded["disability-activism-society"].declaration == "I identify as disabled."


async def test_saving_again_replaces_and_remove_forgets_rooms(db: Database) -> None:
    party = Assembly("party", "Party", AssemblyKind.PARTY)
    group = Assembly("group", "Group", AssemblyKind.WORKING_GROUP, access=Access.PARTICIPANTS,
                     parents=("party",), secretary=ALICE, deputies=(BOB,), denied_servers=("evil.example",))
    await db.assemblies.save(party)
    await db.assemblies.save(group)
    await db.assemblies.save(group.with_parents(("party",)))
    assert await db.assemblies.federation() == Federation((party, group))
    await db.assemblies.set_room("group", "space", RoomId("!space"))
    await db.assemblies.set_room("group", "discussion", RoomId("!disc"))
    await db.assemblies.set_room("group", "discussion", RoomId("!disc2"))
    assert await db.assemblies.rooms_of("group") == {"space": "!space", "discussion": "!disc2"}
    room = await db.assemblies.room("!disc2")
    assert room is not None and (room.slug, room.kind) == ("group", "discussion")
    await db.assemblies.remove("group")
    assert await db.assemblies.rooms_of("group") == {}
    assert await db.assemblies.room("!space") is None
    assert (await db.assemblies.federation()).slugs == ("party",)


async def test_declarations_requests_admissions_warnings_export_and_erase(db: Database) -> None:
    people = db.assembly_people
    await people.request_declaration(ALICE, "das", dm_room_id=RoomId("!dm"), at=NOW)
    await people.request_declaration(ALICE, "tla", dm_room_id=RoomId("!dm"), at=NOW + timedelta(minutes=1))
    assert await people.pending(ALICE) == ["tla", "das"]
    await people.declare(ALICE, "tla", at=NOW)
    await people.declare(ALICE, "tla", at=NOW)  # idempotent
    assert await people.declared(ALICE) == {"tla"}
    assert await people.pending(ALICE) == ["das"]
    assert await people.cancel_request(ALICE, "das") is True
    assert await people.cancel_request(ALICE, "das") is False
    await people.admit(ALICE, "secret-club", by=BOB, at=NOW)
    assert await people.admitted(ALICE) == {"secret-club"}
    await people.warn(ALICE, RoomId("!room"), "group", at=NOW)
    await people.warn(ALICE, RoomId("!room"), "group", at=NOW + timedelta(hours=1))  # keeps the first
    assert await people.warned_at(ALICE, RoomId("!room")) == NOW
    assert await people.declared(BOB) == frozenset()

    exported = await people.export(ALICE)
    assert [d["assembly"] for d in exported["declarations"]] == ["tla"]
    assert exported["admissions"][0]["by"] == BOB

    await people.erase(ALICE)
    empty = await people.export(ALICE)
    assert empty == {"declarations": [], "pending_declarations": [], "admissions": [],
                     "warnings": []}
    await people.clear_warning(ALICE, RoomId("!room"))


async def test_every_change_raises_the_generation_and_rooms_keep_their_alias(db: Database) -> None:
    """A running bot reads the generation to notice another process's import (issue 11)."""
    assert await db.assemblies.generation() == 0
    party = Assembly("party", "Party", AssemblyKind.PARTY)
    await db.assemblies.save(party)
    await db.assemblies.save(Assembly("wg", "WG", AssemblyKind.WORKING_GROUP, parents=("party",)))
    await db.assemblies.save(party)  # saving again is a change too: the bot cannot tell it from an edit
    await db.assemblies.remove("wg")
    assert await db.assemblies.generation() == 4
    # Rooms are read from the store each time: they do not move the generation.
    await db.assemblies.set_room("party", "space", RoomId("!space"))
    await db.assemblies.set_alias(RoomId("!space"), "#party:example.org")
    assert await db.assemblies.generation() == 4
    room = await db.assemblies.room("!space")
    assert room is not None and room.alias == "#party:example.org"
    assert [r.alias for r in await db.assemblies.all_rooms()] == ["#party:example.org"]


async def test_a_sweep_reads_everyones_facts_in_a_few_queries(db: Database) -> None:
    """The bulk reads of a sweep (issue 13) give what the one-person reads give, for many people."""
    people = [UserId(f"@bulk{n}:x") for n in range(1200)]  # more than one IN (...) chunk
    await db.assembly_people.declare(people[0], "das", at=NOW)
    await db.assembly_people.declare(people[0], "tla", at=NOW)
    await db.assembly_people.declare(people[1100], "das", at=NOW)
    await db.assembly_people.admit(people[5], "council", by=UserId("@sec:x"), at=NOW)
    await db.assembly_people.warn(people[7], RoomId("!a:x"), "das", at=NOW)
    await db.assembly_people.warn(people[7], RoomId("!b:x"), "das", at=NOW)
    await db.members.add(people[3], by="@sec:x", at=NOW)
    await db.members.add(people[1150], by="@sec:x", at=NOW)
    declared = await db.assembly_people.declarations_of(people)
    assert declared == {people[0]: frozenset({"das", "tla"}), people[1100]: frozenset({"das"})}
    assert await db.assembly_people.admissions_of(people) == {people[5]: frozenset({"council"})}
    warnings = await db.assembly_people.warnings_in([RoomId("!a:x"), RoomId("!c:x")])
    assert list(warnings) == [(people[7], RoomId("!a:x"))]
    assert warnings[(people[7], RoomId("!a:x"))] == await db.assembly_people.warned_at(people[7], RoomId("!a:x"))
    assert await db.members.members_among(people) == {people[3], people[1150]}
    assert await db.members.members_among([]) == frozenset()
