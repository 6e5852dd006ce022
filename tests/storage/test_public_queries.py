"""The web view's read side (``storage.public``) on SQLite and PostgreSQL: core types as stored, with the
personal fields blanked, and nothing read from the tables of people or votes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref, verify_chain
from harmony_matrix.consensus.moots import Moot, MootStatus
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.polls.poll import PollSpec
from harmony_matrix.polls.results import poll_result
from storage.consensus.models import DecisionEntry
from storage.database import Database
from storage.public.draws import PublicDraws
from storage.public.queries import PublicQueries

pytestmark = pytest.mark.asyncio(loop_scope="session")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_public_queries_return_the_record_without_personal_fields(database: Database) -> None:
    db, public = database, PublicQueries.of(database)
    await db.assemblies.save(Assembly(slug="ops", name="Operations", kind="working-group"), position=0)
    await db.assemblies.set_room("ops", "votes", RoomId("!votes:example.org"))
    await db.assemblies.set_room("ops", "secretariat", RoomId("!sec:example.org"))
    for number in (1, 2):
        await db.consensus.decisions.append(
            lambda n: Decision(ref=make_decision_ref("ops", n), assembly="ops", level=Level.MOOT,
                               method=Method.CONSENSUS, outcome="adopted", statement=f"Statement {n}",
                               topics=("budget",), decided_at=NOW + timedelta(minutes=n),
                               evidence=(EventId(f"$cmd{n}"),)), assembly="ops")
    moot = await db.consensus.moots.create(
        lambda ref: Moot(ref=ref, assembly="ops", topic="Budget", starts_at=NOW + timedelta(days=1),
                         duration=timedelta(hours=1), scheduled_at=NOW, scheduled_by=UserId("@sched:example.org")),
        assembly="ops", room_id=RoomId("!news:example.org"))
    await db.consensus.moots.save(replace(moot, status=MootStatus.CANCELLED, minutes="private minutes",
                                          attendees=frozenset({UserId("@att:example.org")})))
    poll, _ = await db.polls.create(PollSpec(question="Which?", options=("A", "B")), room_id="!votes:example.org",
                                    created_by="@creator:example.org", created_at=NOW)
    await db.polls.close(poll.number, closed_at=NOW, result=poll_result(poll, [{0: 5, 1: 1}]))
    await db.events.mark_processed(EventId("$cmd1"), RoomId("!votes:example.org"), "command", at=NOW)

    assert [a.slug for a in await public.federation()] == ["ops"]
    assert {(r.kind.value, r.room_id) for r in await public.rooms()} == {
        ("votes", "!votes:example.org"), ("secretariat", "!sec:example.org")}
    chain = await public.chain()
    assert [e.decision.statement for e in chain] == ["Statement 1", "Statement 2"] and verify_chain(chain) == []
    [stored] = await public.moots(assemblies=["ops"])
    assert stored.status is MootStatus.CANCELLED and stored.topic == "Budget"
    assert stored.scheduled_by == "" and stored.attendees == frozenset() and stored.minutes is None
    assert await public.moots(ending_after=NOW + timedelta(days=2)) == []
    [listed] = await public.polls(room_ids=["!votes:example.org"])
    assert listed.created_by == "" and listed.result is not None and listed.result.ballot_count == 1
    assert (await public.poll(poll.number)) == listed and await public.poll(poll.number + 1) is None
    assert await public.evidence_rooms(["$cmd1", "$cmd2"]) == {"$cmd1": "!votes:example.org"}
    assert await PublicDraws.of(db).records(None) == []


async def test_fingerprints_change_exactly_when_a_stored_row_does(database: Database) -> None:
    public = PublicQueries.of(database)
    empty = await public.chain_fingerprint()
    await database.consensus.decisions.append(
        lambda n: Decision(ref=make_decision_ref("ops", n), assembly="ops", level=Level.MOOT, method=Method.CONSENSUS,
                           outcome="adopted", statement="Original", topics=("budget",), decided_at=NOW),
        assembly="ops")
    appended = await public.chain_fingerprint()
    assert appended != empty and await public.chain_fingerprint() == appended
    version = await public.chain_version()
    with public.scope():  # an edit behind the store's back (it has no update)
        await DecisionEntry.filter(seq=1).update(statement="Edited")
    assert await public.chain_fingerprint() not in (appended, empty)
    assert await public.chain_version() == version  # the cheap version sees appends only
    moots = await public.moots_fingerprint()
    await database.consensus.moots.create(
        lambda ref: Moot(ref=ref, assembly="ops", topic="T", starts_at=NOW, duration=timedelta(hours=1),
                         scheduled_at=NOW, scheduled_by=UserId("@s:example.org")),
        assembly="ops", room_id=RoomId("!r:example.org"))
    assert await public.moots_fingerprint() != moots
