"""Moot lifecycle, the notice plan, the late-send rule and the iCal attachment."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.consensus.moots import (
    SEND,
    Moot,
    MootStatus,
    NoticeKind,
    PlannedNotice,
    Send,
    Skip,
    cancel_moot,
    decide_late_notice,
    due_notices,
    finish_moot,
    make_moot_ref,
    new_moot,
    parse_moot_ref,
    plan_notices,
    parse_when_and_topic,
    record_minutes,
    upcoming_notices,
)
from harmony_matrix.consensus.ical import fold_ical_line, ical_escape, render_ical

LONDON = ZoneInfo("Europe/London")
SCHEDULED = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
START = datetime(2026, 11, 5, 19, 0, tzinfo=UTC)
ALICE = UserId("@alice:example.org")
H = timedelta(hours=1)


def a_moot(**changes: object) -> Moot:
    moot = new_moot(
        ref=make_moot_ref("ops", 1),
        assembly="ops",
        topic="Budget 2027",
        starts_at=START,
        duration=timedelta(minutes=90),
        now=SCHEDULED,
        scheduled_by=ALICE,
        proposals=["P-ops-3", "P-ops-4", "P-ops-3"],
        evidence=[EventId("$schedule")],
    )
    return replace(moot, **changes)  # type: ignore[arg-type]


# --- lifecycle ---------------------------------------------------------------------------------


def test_new_moot() -> None:
    moot = a_moot()
    assert moot.ref == "M-ops-1"
    assert moot.ends_at == START + timedelta(minutes=90)
    assert moot.proposals == ("P-ops-3", "P-ops-4")
    assert moot.status is MootStatus.SCHEDULED


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"topic": "   "}, "needs a topic"),
        ({"topic": "x" * 201}, "too long"),
        ({"starts_at": SCHEDULED}, "in the past"),
        ({"duration": timedelta(minutes=1)}, "between 5m and 12h"),
        ({"duration": timedelta(hours=13)}, "between 5m and 12h"),
    ],
)
def test_new_moot_refuses_bad_input(changes: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {
        "ref": "M-ops-1",
        "assembly": "ops",
        "topic": "Budget",
        "starts_at": START,
        "duration": H,
        "now": SCHEDULED,
        "scheduled_by": ALICE,
    }
    with pytest.raises(UserError, match=fragment):
        new_moot(**{**args, **changes})  # type: ignore[arg-type]


def test_refs() -> None:
    assert parse_moot_ref("M-west-leeds-12").locate(None) == ("west-leeds", 12)
    assert parse_moot_ref("m-ops-3").locate("west") == ("ops", 3)
    assert parse_moot_ref("#3").locate("ops") == ("ops", 3)
    assert parse_moot_ref("3").resolve("ops") == "M-ops-3"
    with pytest.raises(UserError, match="M-ops-3"):
        parse_moot_ref("3").locate(None)  # a bare number needs the room's assembly
    with pytest.raises(UserError, match="not a moot reference"):
        parse_moot_ref("budget")


@pytest.mark.parametrize(
    ("text", "when", "topic"),
    [
        ("tomorrow at 7pm Budget for 2027", "tomorrow at 7pm", "Budget for 2027"),
        ("2026-12-01 19:00 Budget", "2026-12-01 19:00", "Budget"),
        ("in 2h  Budget   review", "in 2h", "Budget review"),
        ("19:00 2027 plans", "19:00", "2027 plans"),
    ],
)
def test_the_longest_leading_time_is_the_when(text: str, when: str, topic: str) -> None:
    parsed = parse_when_and_topic(text)
    assert (parsed.time.text, parsed.topic) == (when, topic)


def test_a_moot_needs_a_readable_time_and_a_topic() -> None:
    with pytest.raises(UserError, match="a time and a topic"):
        parse_when_and_topic("tomorrow")
    with pytest.raises(UserError, match="can't read 'someday'"):
        parse_when_and_topic("someday Budget")
    # An error names the whole phrase that looks like a time, not only its first word.
    with pytest.raises(UserError, match="can't read 'next week 19:00' as a time"):
        parse_when_and_topic("next week 19:00 Budget review")
    ambiguous = parse_when_and_topic("next friday 19:00 Budget")
    assert (ambiguous.time.text, ambiguous.topic) == ("next friday 19:00", "Budget")


def test_reminder_keys_tell_apart_offsets_within_a_minute() -> None:
    """Issue 14: [90s, 60s] rounded to whole minutes shared one key, and the second was never sent."""
    plan = plan_notices(a_moot(), reminder_offsets=[timedelta(seconds=90), timedelta(seconds=60), H])
    keys = [n.key for n in plan if n.kind is NoticeKind.REMINDER]
    assert keys == ["M-ops-1/reminder-60m", "M-ops-1/reminder-90s", "M-ops-1/reminder-1m"]


def test_cancel_finish_minutes() -> None:
    moot = a_moot()
    cancelled = cancel_moot(moot, now=SCHEDULED, evidence=EventId("$cancel"))
    assert cancelled.status is MootStatus.CANCELLED
    assert cancelled.evidence == ("$schedule", "$cancel")
    with pytest.raises(UserError, match="already cancelled"):
        cancel_moot(cancelled, now=SCHEDULED)
    with pytest.raises(UserError, match="already over"):
        cancel_moot(moot, now=moot.ends_at)
    with pytest.raises(UserError, match="cancelled"):
        record_minutes(cancelled, "notes", now=moot.ends_at)
    with pytest.raises(UserError, match="has not started"):
        record_minutes(moot, "notes", now=SCHEDULED)
    with pytest.raises(UserError, match="empty"):
        record_minutes(moot, "  ", now=moot.ends_at)
    done = record_minutes(finish_moot(moot), " Agreed X. ", now=moot.ends_at, attendees=[ALICE])
    assert done.minutes == "Agreed X."
    assert done.attendees == {ALICE}
    assert done.status is MootStatus.FINISHED


# --- the plan ----------------------------------------------------------------------------------


def test_plan_has_every_notice_in_order() -> None:
    plan = plan_notices(a_moot())
    assert [(n.kind, n.due_at) for n in plan] == [
        (NoticeKind.ANNOUNCEMENT, SCHEDULED),
        (NoticeKind.REMINDER, START - 24 * H),
        (NoticeKind.REMINDER, START - H),
        (NoticeKind.START, START),
        (NoticeKind.END, START + timedelta(minutes=90)),
    ]
    assert [n.key for n in plan] == [
        "M-ops-1/announcement",
        "M-ops-1/reminder-1440m",
        "M-ops-1/reminder-60m",
        "M-ops-1/start",
        "M-ops-1/end",
    ]


def test_reminders_before_scheduling_are_left_out() -> None:
    moot = a_moot(scheduled_at=START - 2 * H)
    kinds = [(n.kind, n.before_start) for n in plan_notices(moot)]
    assert (NoticeKind.REMINDER, 24 * H) not in kinds
    assert (NoticeKind.REMINDER, H) in kinds


def test_configured_offsets_and_cancelled_moots() -> None:
    plan = plan_notices(a_moot(), reminder_offsets=[timedelta(minutes=15), 48 * H, 48 * H])
    assert [n.before_start for n in plan if n.kind is NoticeKind.REMINDER] == [48 * H, timedelta(minutes=15)]
    assert plan_notices(a_moot(status=MootStatus.CANCELLED)) == []
    with pytest.raises(ValueError):
        plan_notices(a_moot(), reminder_offsets=[timedelta(0)])


def test_upcoming_notices_are_what_the_scheduler_needs() -> None:
    upcoming = upcoming_notices(a_moot(), now=START - 2 * H)
    assert [n.kind for n in upcoming] == [NoticeKind.REMINDER, NoticeKind.START, NoticeKind.END]


# --- the late-send rule ------------------------------------------------------------------------

MOOT = a_moot()
PLAN = plan_notices(MOOT)
BY_KEY = {n.key: n for n in PLAN}
ANNOUNCE, R24, R1, STARTN, ENDN = (
    BY_KEY[k]
    for k in ("M-ops-1/announcement", "M-ops-1/reminder-1440m", "M-ops-1/reminder-60m", "M-ops-1/start", "M-ops-1/end")
)
END = MOOT.ends_at


@pytest.mark.parametrize(
    ("notice", "now", "expected"),
    [
        # on time
        (ANNOUNCE, SCHEDULED, "send"),
        (R24, START - 24 * H, "send"),
        (R1, START - H, "send"),
        (STARTN, START, "send"),
        (ENDN, END, "send"),
        # not due yet
        (R1, START - 2 * H, "not due yet"),
        # the announcement, late: only before the start
        (ANNOUNCE, START - timedelta(minutes=1), "send"),
        (ANNOUNCE, START, "already started"),
        # the 24 h reminder, late: still useful while the 1 h one isn't due
        (R24, START - 2 * H, "send"),
        (R24, START - H, "later reminder"),
        (R24, START + timedelta(minutes=5), "already started"),
        # the 1 h reminder, late: only before the start
        (R1, START - timedelta(seconds=1), "send"),
        (R1, START, "already started"),
        # the start notice, late: only while the moot runs
        (STARTN, END - timedelta(seconds=1), "send"),
        (STARTN, END, "is over"),
        # the end notice, late: only within an hour of the end
        (ENDN, END + timedelta(minutes=59), "send"),
        (ENDN, END + H, "after the end"),
        (ENDN, END + 30 * 24 * H, "after the end"),
    ],
)
def test_late_notice_rule(notice: PlannedNotice, now: datetime, expected: str) -> None:
    decision = decide_late_notice(notice, now=now, moot=MOOT, plan=PLAN)
    if expected == "send":
        assert decision == SEND
    else:
        assert isinstance(decision, Skip)
        assert expected in decision.reason


def test_nothing_is_sent_twice() -> None:
    decision = decide_late_notice(R1, now=START - H, moot=MOOT, sent={R1.key}, plan=PLAN)
    assert decision == Skip("already sent")


def test_nothing_is_sent_for_a_cancelled_moot() -> None:
    cancelled = replace(MOOT, status=MootStatus.CANCELLED)
    for notice in PLAN:
        decision = decide_late_notice(notice, now=notice.due_at, moot=cancelled, plan=PLAN)
        assert decision == Skip("the moot was cancelled")


def test_a_finished_moot_gets_no_start_notice_but_its_end_notice() -> None:
    finished = replace(MOOT, status=MootStatus.FINISHED)
    assert isinstance(decide_late_notice(STARTN, now=START + H, moot=finished, plan=PLAN), Skip)
    assert decide_late_notice(ENDN, now=END, moot=finished, plan=PLAN) == SEND


def test_restart_after_missing_both_reminders_sends_only_the_later_one() -> None:
    verdicts = due_notices(MOOT, now=START - timedelta(minutes=30), sent={ANNOUNCE.key})
    assert [(n.key, type(v)) for n, v in verdicts] == [
        (R24.key, Skip),
        (R1.key, Send),
    ]


def test_restart_during_the_moot_sends_only_the_start_notice() -> None:
    verdicts = dict(due_notices(MOOT, now=START + 10 * timedelta(minutes=1), sent={ANNOUNCE.key}))
    sends = [n.key for n, v in verdicts.items() if v == SEND]
    assert sends == [STARTN.key]


@given(
    st.sets(st.sampled_from([n.key for n in PLAN])),
    st.integers(min_value=-5 * 24 * 60, max_value=5 * 24 * 60),
)
def test_at_most_one_reminder_is_ever_sent_at_once_and_never_a_sent_one(
    sent: set[str], minutes_from_start: int
) -> None:
    now = START + timedelta(minutes=minutes_from_start)
    verdicts = due_notices(MOOT, now=now, sent=sent)
    sending = [n for n, v in verdicts if v == SEND]
    assert not any(n.key in sent for n in sending)
    assert sum(n.kind is NoticeKind.REMINDER for n in sending) <= 1
    assert all(n.due_at <= now for n, _ in verdicts)
    # Reminders and the start notice are never both useful at the same moment.
    kinds = {n.kind for n in sending}
    assert not (NoticeKind.REMINDER in kinds and NoticeKind.START in kinds)


# --- iCalendar ---------------------------------------------------------------------------------


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_render_ical() -> None:
    moot = a_moot(topic="Budget; rents, and \\ fees")
    ics = render_ical(moot, assembly_name="Operational Working Group", tz=LONDON, uid_domain="harmony.example")
    assert ics.endswith("\r\n")
    assert "\n" not in ics.replace("\r\n", "")  # CRLF only
    lines = unfold(ics)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert "UID:M-ops-1@harmony.example" in lines
    assert "DTSTAMP:20261101T100000Z" in lines
    assert "DTSTART:20261105T190000Z" in lines
    assert "DTEND:20261105T203000Z" in lines
    assert "STATUS:CONFIRMED" in lines
    assert r"SUMMARY:Operational Working Group: Budget\; rents\, and \\ fees" in lines
    description = next(line for line in lines if line.startswith("DESCRIPTION:"))
    assert r"\nWhen: Thu 5 Nov 2026\, 19:00 GMT" in description
    assert r"Proposals: P-ops-3\, P-ops-4" in description
    for physical in ics.split("\r\n"):
        assert len(physical.encode()) <= 75


def test_cancelled_moot_renders_cancelled_with_a_higher_sequence() -> None:
    ics = render_ical(a_moot(status=MootStatus.CANCELLED), assembly_name="Ops", tz=LONDON, uid_domain="x")
    assert "STATUS:CANCELLED" in unfold(ics) and "SEQUENCE:1" in unfold(ics)


def test_escape() -> None:
    assert ical_escape("a,b;c\\d\ne\r\nf") == r"a\,b\;c\\d\ne\nf"


def test_fold_never_splits_a_character() -> None:
    line = "SUMMARY:" + "é" * 100  # 2 octets each
    folded = fold_ical_line(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line


@given(st.text(min_size=0, max_size=400))
def test_fold_round_trips_and_respects_the_limit(text: str) -> None:
    line = "DESCRIPTION:" + ical_escape(text)
    folded = fold_ical_line(line)
    assert folded.replace("\r\n ", "") == line
    assert all(len(p.encode()) <= 75 for p in folded.split("\r\n"))
