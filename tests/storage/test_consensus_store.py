"""The consensus stores on SQLite (always) and PostgreSQL (when HARMONY_TEST_POSTGRES names a DSN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from harmony_matrix.consensus.ballots import Ballot, BallotKind, BallotStatus
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref, verify_chain
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.consensus.moots import NoticeKind, PlannedNotice, new_moot
from harmony_matrix.consensus.proposals import ProposalStatus, transition
from harmony_matrix.consensus.roles import (
    HowDecided,
    Role,
    add_deputy,
    nominate,
    open_petition,
    set_secretary,
    sign_petition,
)
from storage.database import Database, open_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROOM = RoomId("!room:example.org")


@pytest_asyncio.fixture(loop_scope="session")
async def db(database: Database) -> Database:
    """The shared fixture: SQLite always, a throwaway PostgreSQL database when configured."""
    return database


def _decision(number: int, *, assembly: str = "ops", level: Level = Level.MOOT, topic: str = "budget",
              statement: str = "We agree.") -> Decision:
    return Decision(ref=make_decision_ref(assembly, number), assembly=assembly, level=level,
                    method=Method.STAR_BALLOT, outcome="Adopt", statement=statement, topics=(topic,),
                    decided_at=NOW, evidence=(EventId("$e1"),), score_totals=(("Adopt", 12), ("Reject", 7)))


async def test_proposals_get_numbers_per_assembly_and_keep_status(db: Database) -> None:
    store = db.consensus.proposals
    first = await store.create(assembly="ops", title="Buy chairs", details="", author=UserId("@a:x"),
                               created_at=NOW, room_id=ROOM, evidence=[EventId("$c1")])
    second = await store.create(assembly="ops", title="Paint", details="blue", author=UserId("@a:x"),
                                created_at=NOW, room_id=ROOM)
    other = await store.create(assembly="west", title="Hold a fair", details="", author=UserId("@b:x"),
                               created_at=NOW, room_id=ROOM)
    assert (first.ref, second.ref, other.ref) == ("P-ops-1", "P-ops-2", "P-west-1")
    moved = transition(first, ProposalStatus.MOOT, evidence=EventId("$c2"))
    await store.save(__import__("dataclasses").replace(moved, thread_root=EventId("$root")))
    loaded = await store.get("p-ops-1")
    assert loaded is not None and loaded.status is ProposalStatus.MOOT
    assert loaded.thread_root == "$root" and loaded.evidence == ("$c1", "$c2")
    assert loaded.created_at == NOW


async def test_moots_and_notices_are_settled_once(db: Database) -> None:
    ref = await db.consensus.moots.next_ref("ops")
    assert ref == "M-ops-1"
    moot = new_moot(ref=ref, assembly="ops", topic="Budget", starts_at=NOW + timedelta(days=2),
                    duration=timedelta(hours=1), now=NOW, scheduled_by=UserId("@s:x"), proposals=["P-ops-1"])
    await db.consensus.moots.create(moot, room_id=ROOM)
    loaded = await db.consensus.moots.get(ref)
    assert loaded == moot
    assert [m.ref for m in await db.consensus.moots.scheduled()] == [ref]
    notice = PlannedNotice(ref, NoticeKind.REMINDER, NOW, before_start=timedelta(hours=1))
    assert await db.consensus.notices.settle(notice.key, at=NOW, event_id="$n1")
    assert not await db.consensus.notices.settle(notice.key, at=NOW, event_id="$n2")
    assert await db.consensus.notices.settled(f"{ref}/") == {notice.key}
    assert await db.consensus.moots.room_of(ref) == ROOM


async def test_the_decision_record_is_a_verified_chain(db: Database) -> None:
    store = db.consensus.decisions
    for _ in range(3):
        await store.append(lambda n: _decision(n), assembly="ops")
    await store.append(lambda n: _decision(n, assembly="all", level=Level.ALL_THING), assembly="all")
    chain = await store.chain()
    assert [e.decision.ref for e in chain] == ["D-ops-1", "D-ops-2", "D-ops-3", "D-all-1"]
    assert verify_chain(chain) == []
    assert chain[0].decision.score_totals == (("Adopt", 12), ("Reject", 7))
    assert chain[0].decision.decided_at == NOW


async def test_a_failed_append_records_nothing(db: Database) -> None:
    def broken(number: int) -> Decision:
        return _decision(number)

    await db.consensus.decisions.append(broken, assembly="ops")

    def duplicate(number: int) -> Decision:
        return _decision(1)  # a reference already in the record: refused by the core

    with pytest.raises(ValueError):
        await db.consensus.decisions.append(duplicate, assembly="ops")
    assert len(await db.consensus.decisions.chain()) == 1


async def test_roles_are_replaced_with_history(db: Database) -> None:
    store = db.consensus.roles
    change = set_secretary([], assembly="ops", user=UserId("@s1:x"), since=NOW, how_decided=HowDecided.APPOINTED,
                           term_ends=NOW + timedelta(days=365))
    await store.apply(change, at=NOW)
    change = add_deputy(await store.current("ops"), assembly="ops", user=UserId("@d:x"), since=NOW,
                        how_decided=HowDecided.CONSENSUS)
    await store.apply(change, at=NOW)
    change = set_secretary(await store.current("ops"), assembly="ops", user=UserId("@s2:x"), since=NOW,
                           how_decided=HowDecided.ELECTION)
    await store.apply(change, at=NOW)
    current = {(a.user, a.role) for a in await store.current("ops")}
    assert current == {("@d:x", Role.DEPUTY), ("@s2:x", Role.SECRETARY)}
    assert [a.term_ends for a in await store.history("@s1:x")] == [NOW + timedelta(days=365)]


async def test_petitions_keep_one_signature_per_member(db: Database) -> None:
    store = db.consensus.petitions
    petition = open_petition(ref=await store.next_ref("ops"), assembly="ops", role=Role.SECRETARY,
                             opened_by=UserId("@a:x"), now=NOW, is_member=True)
    await store.save(petition)
    petition = sign_petition(petition, UserId("@b:x"), now=NOW, is_member=True, event_id=EventId("$s"))
    await store.save(petition)
    [loaded] = await store.open_for("ops")
    assert loaded.signers == {"@a:x", "@b:x"} and loaded.candidates == ()
    await store.save(nominate(petition, [UserId("@c:x"), UserId("@d:x")]))
    [loaded] = await store.open_for("ops")
    assert loaded.candidates == ("@c:x", "@d:x")
    assert await store.signed_by("@b:x") == [petition.ref]
    await store.forget_signer("@b:x")
    [loaded] = await store.open_for("ops")
    assert loaded.signers == {"@a:x"}


async def test_ballots_move_from_pending_to_started(db: Database) -> None:
    proposal = await db.consensus.proposals.create(assembly="ops", title="T", details="", author=UserId("@a:x"),
                                                   created_at=NOW, room_id=ROOM)
    deadlocked = transition(proposal, ProposalStatus.DEADLOCK)
    ballot = await db.consensus.ballots.create(
        Ballot(id=0, kind=BallotKind.DEADLOCK, assembly="ops", room_id=ROOM, options=("A", "B"),
               created_by=UserId("@s:x"), created_at=NOW, proposal=proposal.ref), proposal=deadlocked)
    assert ballot.id > 0
    assert (await db.consensus.proposals.get(proposal.ref)).status is ProposalStatus.DEADLOCK
    started = await db.consensus.ballots.started(ballot, poll_ref="poll-1",
                                                 proposal=transition(deadlocked, ProposalStatus.BALLOT))
    assert started.status is BallotStatus.STARTED
    assert (await db.consensus.ballots.get(ballot.id)).poll_ref == "poll-1"
    assert (await db.consensus.ballots.pending_for(proposal.ref)).id == ballot.id
    await db.consensus.ballots.abandon(started)  # a started ballot is not abandoned
    assert (await db.consensus.ballots.get(ballot.id)).status is BallotStatus.STARTED
    refused = await db.consensus.ballots.create(
        Ballot(id=0, kind=BallotKind.ELECTION, assembly="ops", room_id=ROOM, options=("@a:x", "@b:x"),
               created_by=UserId("@s:x"), created_at=NOW, role="secretary"))
    await db.consensus.ballots.abandon(refused)
    assert (await db.consensus.ballots.get(refused.id)).status is BallotStatus.ABANDONED
