"""The consensus stores on SQLite (always) and PostgreSQL (when HARMONY_TEST_POSTGRES names a DSN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from tortoise.exceptions import IntegrityError

from harmony_matrix.consensus.ballots import Ballot, BallotKind, BallotStatus
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref, verify_chain
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.consensus.moots import Moot, NoticeKind, PlannedNotice, new_moot
from harmony_matrix.consensus.petitions import nominate, open_petition, sign_petition
from harmony_matrix.consensus.proposals import ProposalStatus, transition
from harmony_matrix.consensus.roles import HowDecided, Mandate, Role, add_deputy, set_secretary
from storage.consensus.numbering import ATTEMPTS
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


def _moot(ref: str) -> Moot:
    return new_moot(ref=ref, assembly="ops", topic="Budget", starts_at=NOW + timedelta(days=2),
                    duration=timedelta(hours=1), now=NOW, scheduled_by=UserId("@s:x"), proposals=["P-ops-1"])


async def test_moots_and_notices_are_settled_once(db: Database) -> None:
    moot = await db.consensus.moots.create(_moot, assembly="ops", room_id=ROOM)
    ref = moot.ref
    assert ref == "M-ops-1"
    loaded = await db.consensus.moots.get(ref)
    assert loaded == moot
    assert (await db.consensus.moots.create(_moot, assembly="ops", room_id=ROOM)).ref == "M-ops-2"
    assert [m.ref for m in await db.consensus.moots.scheduled()] == [ref, "M-ops-2"]
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
    change = set_secretary([], assembly="ops", user=UserId("@s1:x"),
        mandate=Mandate(since=NOW, how_decided=HowDecided.APPOINTED, term_ends=NOW + timedelta(days=365)))
    await store.apply(change, at=NOW)
    change = add_deputy(await store.current("ops"), assembly="ops", user=UserId("@d:x"),
        mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    await store.apply(change, at=NOW)
    change = set_secretary(await store.current("ops"), assembly="ops", user=UserId("@s2:x"),
        mandate=Mandate(since=NOW, how_decided=HowDecided.ELECTION))
    await store.apply(change, at=NOW)
    current = {(a.user, a.role) for a in await store.current("ops")}
    assert current == {("@d:x", Role.DEPUTY), ("@s2:x", Role.SECRETARY)}
    assert [a.term_ends for a in await store.history("@s1:x")] == [NOW + timedelta(days=365)]


async def test_petitions_keep_one_signature_per_member(db: Database) -> None:
    store = db.consensus.petitions
    petition = await store.open(lambda ref: open_petition(ref=ref, assembly="ops", role=Role.SECRETARY,
                                                          opened_by=UserId("@a:x"), now=NOW, is_member=True),
                                assembly="ops")
    assert petition.ref == "R-ops-1"
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


async def test_a_record_that_lost_the_race_for_its_number_is_stored_on_a_fresh_read(db: Database) -> None:
    refs: list[str] = []

    def build(ref: str) -> Moot:
        refs.append(ref)
        if len(refs) == 1:  # as when a rival writer's M-ops-1 was stored between our read and our insert
            raise IntegrityError("UNIQUE constraint failed: consensus_moot.ref")
        return _moot(ref)

    moot = await db.consensus.moots.create(build, assembly="ops", room_id=ROOM)
    assert refs == ["M-ops-1", "M-ops-1"] and moot.ref == "M-ops-1"
    assert [m.ref for m in await db.consensus.moots.scheduled()] == ["M-ops-1"]


async def test_only_the_integrity_error_is_retried_and_only_so_often(db: Database) -> None:
    numbers: list[int] = []

    def always_taken(number: int) -> Decision:
        numbers.append(number)
        raise IntegrityError("UNIQUE constraint failed: consensus_decision.prev_hash")

    with pytest.raises(IntegrityError):
        await db.consensus.decisions.append(always_taken, assembly="ops")
    assert numbers == [1] * ATTEMPTS

    mistakes: list[int] = []

    def wrong(number: int) -> Decision:
        mistakes.append(number)
        raise ValueError("a mistake in the record is not a race")

    with pytest.raises(ValueError):
        await db.consensus.decisions.append(wrong, assembly="ops")
    assert mistakes == [1]
    assert await db.consensus.decisions.chain() == []
