"""The office store on every backend: races with their candidates and ballots, holders with history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harmony_matrix.consensus.ballots import Ballot, BallotKind, BallotStatus
from harmony_matrix.consensus.offices import (
    Eligibility,
    Filling,
    Holding,
    Office,
    RaceStatus,
    appoint,
    ballot_started,
    declare_race,
    offices_of,
    race_decided,
    stand,
)
from harmony_matrix.consensus.roles import HowDecided, Mandate
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.database import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ANN, BO, CY = (UserId(f"@{n}:example.org") for n in ("ann", "bo", "cy"))
MEMBER = Eligibility(is_member=True, takes_part=True)
TREASURER = Office(name="treasurer", title="Treasurer", filling=Filling.APPOINTED, party=True)


async def test_races_keep_their_candidates_and_ballot(database: Database) -> None:
    store = database.consensus.offices
    secretary, deputy = offices_of("party", party_body="party")
    race = await store.open_race(
        lambda ref: declare_race(secretary, [], ref=ref, assembly="party", seats=None, by=ANN, now=NOW),
        assembly="party")
    assert race.ref == "E-party-1"
    other = await store.open_race(
        lambda ref: declare_race(deputy, [], ref=ref, assembly="party", seats=2, by=ANN, now=NOW), assembly="party")
    assert (other.ref, other.seats) == ("E-party-2", 2)
    race = stand(race, secretary, user=BO, eligibility=MEMBER, now=NOW, event_id=EventId("$bo"))
    race = stand(race, secretary, user=CY, eligibility=MEMBER, now=NOW + timedelta(seconds=5))
    await store.save_race(race)
    [stored, _] = await store.races("party")
    assert stored == race  # candidates in order, with when they stood and the event that says so
    assert stored.candidates[0].event_id == "$bo" and stored.candidates[1].event_id is None

    ballot = await database.consensus.ballots.create(Ballot(
        id=0, kind=BallotKind.ELECTION, assembly="party", room_id=RoomId("!r:x"), options=("a", "b"),
        created_by=ANN, created_at=NOW, role="secretary"))
    voting = ballot_started(race, ballot_id=ballot.id, poll_ref="3")
    await store.save_race(voting)
    assert await store.race_of_ballot(ballot.id) == voting
    await store.save_race(race_decided(voting), ballot=ballot)  # settles the ballot in the same transaction
    settled = await database.consensus.ballots.get(ballot.id)
    assert settled is not None and settled.status is BallotStatus.DONE
    assert [r.ref for r in await store.races("party")] == ["E-party-2"]
    assert [r.status for r in await store.races("party", undecided=False)] == [RaceStatus.DECIDED, RaceStatus.OPEN]
    assert await store.standing_in(CY) == ["E-party-1"]
    with pytest.raises(LookupError):
        await store.save_race(declare_race(secretary, [], ref="E-party-9", assembly="party", seats=None, by=ANN,
                                           now=NOW))


async def test_holders_change_with_history(database: Database) -> None:
    store = database.consensus.offices
    held = appoint(TREASURER, [], assembly="party", user=CY, since=NOW, by=ANN, evidence=(EventId("$a"),))
    await store.change_holders(ended=(), begun=(held,), at=NOW)
    assert await store.holdings("party") == [held]
    assert await store.holdings("ops") == []
    successor = Holding(assembly="party", office="treasurer", user=BO, by=ANN, mandate=Mandate(
        since=NOW + timedelta(days=1), how_decided=HowDecided.ELECTION, term_ends=NOW + timedelta(days=366),
        evidence=(EventId("$poll"),), decision_ref="7"))
    await store.change_holders(ended=(held,), begun=(successor,), at=NOW + timedelta(days=1))
    assert await store.holdings() == [successor]
    assert await store.history(CY) == [held]
