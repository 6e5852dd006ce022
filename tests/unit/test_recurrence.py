"""Recurring moots, agendas and action items (issue 14.3, 14.4): RRULE semantics by python-dateutil, the
agenda's order, quorum, and when owners and secretariats are reminded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from harmony_matrix.consensus.actions import (
    Action,
    ActionStatus,
    Review,
    block_action,
    due_reminders,
    finish_action,
    new_action,
    parse_source_ref,
    review_due,
)
from harmony_matrix.consensus.agenda import add_item, attend, link_proposal, move_item, quorum_text, remove_item
from harmony_matrix.consensus.moots import make_moot_ref, new_moot
from harmony_matrix.consensus.recurrence import (
    Series,
    describe_rule,
    ended,
    next_starts,
    parse_moot_or_series_ref,
    parse_repeat,
    skip_occurrence,
)
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)
ANN = UserId("@ann:x")


def series(rule: str = "monthly", first: datetime = datetime(2026, 1, 31, 19, tzinfo=LONDON)) -> Series:
    return Series(ref="S-ops-1", assembly="ops", topic="Monthly", rule=parse_repeat(rule), first_start=first,
                  tz="Europe/London", duration=timedelta(hours=1), scheduled_by=ANN, created_at=NOW)


def local(moments: list[datetime]) -> list[str]:
    return [f"{m.astimezone(LONDON):%Y-%m-%d %H:%M %Z}" for m in moments]


def test_monthly_keeps_the_wall_clock_and_skips_months_without_the_day() -> None:
    assert local(next_starts(series(), zone=LONDON, after=NOW, count=4)) == [
        "2026-01-31 19:00 GMT", "2026-03-31 19:00 BST", "2026-05-31 19:00 BST", "2026-07-31 19:00 BST"]


def test_a_cancelled_occurrence_is_an_exception_and_the_others_stay() -> None:
    base = series(first=datetime(2026, 1, 6, 19, tzinfo=LONDON))
    first, second, third = next_starts(base, zone=LONDON, after=NOW, count=3)
    skipped = skip_occurrence(base, second)
    assert next_starts(skipped, zone=LONDON, after=NOW, count=3)[:2] == [first, third]
    assert skip_occurrence(skipped, second) == skipped
    assert next_starts(ended(base), zone=LONDON, after=NOW) == []


def test_rules_by_name_or_rrule_and_bad_ones_refused() -> None:
    assert parse_repeat("Weekly") == "FREQ=WEEKLY" and describe_rule("FREQ=WEEKLY;INTERVAL=2") == "every two weeks"
    first_tuesdays = series("RRULE:FREQ=MONTHLY;BYDAY=1TU", first=datetime(2026, 2, 3, 19, tzinfo=LONDON))
    assert local(next_starts(first_tuesdays, zone=LONDON, after=NOW, count=3)) == [
        "2026-02-03 19:00 GMT", "2026-03-03 19:00 GMT", "2026-04-07 19:00 BST"]
    for bad, words in (("often", "not a rule"), ("FREQ=HOURLY", "at most daily"), ("FREQ=MONTHLY;BYDAY=XX", "valid"),
                       ("FREQ=WEEKLY;DTSTART=20260101", "not a rule")):
        with pytest.raises(UserError, match=words):
            parse_repeat(bad)
    assert parse_moot_or_series_ref("S-ops-2").letter == "S" and parse_moot_or_series_ref("3").letter == "M"
    with pytest.raises(UserError, match="not a moot or series reference"):
        parse_moot_or_series_ref("P-ops-1")


def _moot():  # type: ignore[no-untyped-def]
    return new_moot(ref=make_moot_ref("ops", 1), assembly="ops", topic="T", starts_at=NOW + timedelta(days=1),
                    duration=timedelta(hours=1), now=NOW, scheduled_by=ANN, proposals=["P-ops-1"])


def test_the_agenda_keeps_its_order_and_proposals() -> None:
    moot = move_item(add_item(link_proposal(_moot(), "P-ops-2"), "Treasurer's report"), 3, 1)
    assert moot.agenda == ("Treasurer's report", "P-ops-1", "P-ops-2") and moot.proposals == ("P-ops-1", "P-ops-2")
    assert remove_item(moot, 1).agenda == ("P-ops-1", "P-ops-2")
    with pytest.raises(UserError, match="items 1–3; there is no item 4"):
        move_item(moot, 4, 1)
    with pytest.raises(UserError, match="already on the agenda"):
        link_proposal(moot, "P-ops-1")


def test_quorum_counts_attendees() -> None:
    moot = attend(attend(attend(_moot(), ANN), ANN), UserId("@bo:x"))
    assert quorum_text(moot, 3) == "2 attended (quorum 3: not reached)"
    assert quorum_text(moot, 2) == "2 attended (quorum 2: reached)" and quorum_text(moot, 0) == "2 attended"


def _action(due: datetime | None = NOW + timedelta(days=3)) -> Action:
    return new_action(ref="A-ops-1", assembly="ops", text="Buy  it", owner=ANN, source="D-ops-1",
                      created_by=UserId("@sec:x"), now=NOW, room_id=RoomId("!r:x"), due_at=due)


def test_an_action_is_reminded_once_a_day_ahead_and_closed_by_its_owner_or_an_officer() -> None:
    action = _action()
    day = timedelta(days=1)
    assert due_reminders([action], now=NOW + timedelta(days=1), before=day, sent=()) == []
    assert due_reminders([action], now=NOW + timedelta(days=2), before=day, sent=()) == [action]
    assert due_reminders([action], now=NOW + timedelta(days=2), before=day, sent=[action.reminder_key]) == []
    assert due_reminders([_action(None)], now=NOW + timedelta(days=9), before=day, sent=()) == []
    with pytest.raises(UserError, match="only @ann:x, who owns A-ops-1, or an officer"):
        finish_action(action, by="@bo:x", officer=False, now=NOW)
    done = finish_action(action, by=ANN, officer=False, now=NOW)
    assert done.status is ActionStatus.DONE and due_reminders([done], now=NOW + day * 5, before=day, sent=()) == []
    with pytest.raises(UserError, match="already done"):
        block_action(done, by="@sec:x", officer=True, now=NOW, reason="x")
    assert block_action(action, by="@sec:x", officer=True, now=NOW, reason=" shop  shut ").note == "shop shut"
    with pytest.raises(UserError, match="in the past"):
        _action(NOW - timedelta(minutes=1))
    with pytest.raises(UserError, match="neither a decision nor a moot"):
        parse_source_ref("P-ops-1")


def test_a_review_is_due_on_its_date_once() -> None:
    review = Review(decision="D-ops-1", assembly="ops", review_at=NOW, set_by=ANN)
    assert review_due([review], now=NOW - timedelta(seconds=1), sent=()) == []
    assert review_due([review], now=NOW, sent=()) == [review]
    assert review_due([review], now=NOW, sent=[review.key]) == []
