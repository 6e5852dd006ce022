"""The deliberation stores (issue 14) on SQLite and PostgreSQL: consensus checks with stances and reasons,
recurring series with their occurrences and exceptions, action items and review dates, recorders and
citations in the decision record, and role tenures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from harmony_matrix.consensus.actions import Review, finish_action, new_action
from harmony_matrix.consensus.checks import Check, CheckStatus, Stance, StanceRecord
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref, verify_chain
from harmony_matrix.consensus.moots import new_moot
from harmony_matrix.consensus.recurrence import Series, skip_occurrence
from harmony_matrix.consensus.roles import HowDecided, Mandate, RoleChange, set_secretary
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.database import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROOM = RoomId("!room:example.org")
ANN, BO = UserId("@ann:x"), UserId("@bo:x")


@pytest_asyncio.fixture(loop_scope="session")
async def db(database: Database) -> Database:
    return database


async def test_checks_keep_stances_once_and_reasons(db: Database) -> None:
    checks = db.consensus.checks
    check = await checks.open(lambda ref: Check(ref=ref, assembly="ops", proposal="P-ops-1", room_id=ROOM,
                                                opened_at=NOW, opened_by=ANN), assembly="ops")
    assert check.ref == "C-ops-1"
    await checks.posted(check.ref, "$check")
    assert (await checks.by_event("$check")) == Check(ref="C-ops-1", assembly="ops", proposal="P-ops-1", room_id=ROOM,
                                                      opened_at=NOW, opened_by=ANN, event_id=EventId("$check"))
    block = StanceRecord(user=BO, stance=Stance.BLOCK, event_id=EventId("$r1"), ts=1, member=True)
    assert await checks.add_stance(check.ref, block)
    assert not await checks.add_stance(check.ref, block)  # a replayed sync
    assert await checks.withdraw("$r1") and not await checks.withdraw("$unknown")
    assert [s.withdrawn for s in await checks.stances(check.ref)] == [True]
    assert await checks.mark_asked(check.ref, BO, at=NOW) and not await checks.mark_asked(check.ref, BO, at=NOW)
    await checks.give_reason(check.ref, BO, "too dear", at=NOW)
    await checks.give_reason(check.ref, BO, "far too dear", at=NOW)
    assert await checks.reasons(check.ref) == {BO: "far too dear"}
    await checks.close(check.ref, at=NOW)
    [closed] = await checks.for_proposal("P-ops-1")
    assert closed.status is CheckStatus.CLOSED and closed.closed_at == NOW
    assert {"check": "C-ops-1", "reason": "far too dear"} in await checks.of_user(BO)
    await checks.forget(BO)
    assert await checks.stances(check.ref) == [] and await checks.reasons(check.ref) == {}


async def test_a_series_keeps_its_exceptions_and_its_occurrences(db: Database) -> None:
    moots = db.consensus.moots
    start = NOW + timedelta(days=7)
    series = await moots.create_series(
        lambda ref: Series(ref=ref, assembly="ops", topic="Monthly", rule="FREQ=MONTHLY", first_start=start,
                           tz="Europe/London", duration=timedelta(hours=1), scheduled_by=ANN, created_at=NOW),
        assembly="ops", room_id=ROOM)
    assert series.ref == "S-ops-1" and await moots.get_series("s-ops-1") == series
    moot = await moots.create(
        lambda ref: new_moot(ref=ref, assembly="ops", topic="Monthly", starts_at=start, duration=timedelta(hours=1),
                             now=NOW, scheduled_by=ANN, proposals=["P-ops-1"], series=series.ref,
                             announce_from=start - timedelta(days=7)),
        assembly="ops", room_id=ROOM)
    [stored] = await moots.occurrences(series.ref)
    assert stored == moot and stored.agenda == ("P-ops-1",) and stored.series == "S-ops-1"
    await moots.save_series(skip_occurrence(series, start))
    assert (await moots.get_series(series.ref)).exdates == (start,)  # type: ignore[union-attr]
    assert [s.ref for s in await moots.active_series()] == ["S-ops-1"]
    assert await moots.series_room(series.ref) == ROOM and [m.ref for m in await moots.with_proposal("P-ops-1")] == [
        moot.ref]


async def test_actions_reviews_recorders_and_tenures(db: Database) -> None:
    actions = db.consensus.actions
    action = await actions.create(lambda ref: new_action(ref=ref, assembly="ops", text="Buy it", owner=ANN,
                                                         source="D-ops-1", created_by=BO, now=NOW, room_id=ROOM,
                                                         due_at=NOW + timedelta(days=2)), assembly="ops")
    assert action.ref == "A-ops-1" and await actions.open(owner=ANN) == [action]
    await actions.save(replace(action, event_id=EventId("$a")))
    assert (await actions.by_event("$a")) is not None
    await actions.save(finish_action(replace(action, event_id=EventId("$a")), by=ANN, officer=False, now=NOW))
    assert await actions.open(assembly="ops") == []
    await actions.set_review(Review(decision="D-ops-1", assembly="ops", review_at=NOW, set_by=BO))
    await actions.set_review(Review(decision="D-ops-1", assembly="ops", review_at=NOW + timedelta(days=1), set_by=BO))
    assert [r.review_at for r in await actions.reviews()] == [NOW + timedelta(days=1)]

    decision = Decision(ref=make_decision_ref("ops", 1), assembly="ops", level=Level.ALL_THING,
                        method=Method.CONSENSUS, outcome="adopted", statement="s", topics=("t",), decided_at=NOW,
                        recorded_by=ANN, cites=("M-ops-1", "C-ops-1"), without_quorum=True)
    await db.consensus.decisions.append(lambda n: decision, assembly="ops")
    chain = await db.consensus.decisions.chain()
    assert chain[0].decision == decision and verify_chain(chain) == []

    change = set_secretary([], assembly="ops", user=ANN,
        mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    await db.consensus.roles.apply(change, at=NOW)
    later = set_secretary(list(change.assignments), assembly="ops", user=BO,
        mandate=Mandate(since=NOW + timedelta(days=1), how_decided=HowDecided.CONSENSUS))
    await db.consensus.roles.apply(later, at=NOW + timedelta(days=1))
    tenures = {(t.user, t.until) for t in await db.consensus.roles.tenures()}
    assert tenures == {(ANN, NOW + timedelta(days=1)), (BO, None)}
    assert isinstance(later, RoleChange)
