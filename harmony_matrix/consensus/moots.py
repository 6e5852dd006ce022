"""Moots: scheduled, structured discussions, and the rules for the notices the bot posts about them.

The database is the source of truth for moots; scheduler jobs are rebuilt from it on start. This module
decides *what* should be posted and *whether* a notice that is due (perhaps long overdue, because the
bot was down) is still worth posting. It never reads the clock: "now" is a parameter.

Notices of a moot: an **announcement** when it is scheduled, **reminders** before it (by default 24 hours
and 1 hour before), a **start** notice and an **end** notice.

The late-send rule, in plain words
----------------------------------
When the bot was not running at the moment a notice was due, it sends the notice late only while it is
still useful, and it never sends the same notice twice:

* Nothing is sent twice: a notice already sent is skipped, however the bot got there.
* Nothing is sent for a cancelled moot.
* The **announcement** is sent late only before the moot starts (after that, the start notice says it all).
* A **reminder** is sent late only before the moot starts. If a later reminder is also already due (the
  bot missed both the 24-hour and the 1-hour reminder), only the later, more relevant one is sent.
* The **start** notice is sent late only while the moot is still running.
* The **end** notice is sent late only within one hour of the moot's end.

A late notice should say how far away the moot is *now* ("starts in 2 hours"), not what it would have
said on time; the renderer gets the current time for that.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.refs import Ref, make_ref, parse_ref
from harmony_matrix.when import When, format_duration, read_when, time_phrase_length

__all__ = [
    "DEFAULT_END_GRACE",
    "DEFAULT_REMINDER_OFFSETS",
    "MAX_DURATION",
    "MIN_DURATION",
    "SEND",
    "Moot",
    "MootStatus",
    "NoticeDecision",
    "NoticeKind",
    "PlannedNotice",
    "Send",
    "Skip",
    "WhenAndTopic",
    "cancel_moot",
    "decide_late_notice",
    "due_notices",
    "finish_moot",
    "make_moot_ref",
    "new_moot",
    "parse_moot_ref",
    "parse_when_and_topic",
    "plan_notices",
    "record_minutes",
    "upcoming_notices",
]

DEFAULT_REMINDER_OFFSETS: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
DEFAULT_END_GRACE = timedelta(hours=1)
MIN_DURATION = timedelta(minutes=5)
MAX_DURATION = timedelta(hours=12)
TOPIC_MAX = 200
MINUTES_MAX = 20_000


class MootStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class NoticeKind(StrEnum):
    ANNOUNCEMENT = "announcement"
    REMINDER = "reminder"
    START = "start"
    END = "end"


@dataclass(frozen=True)
class Moot:
    """A scheduled moot. Times are aware UTC datetimes; the assembly's zone is applied when shown.

    ``ref`` is the readable reference people type (``M-<assembly>-<n>``); ``evidence`` holds the Matrix
    event IDs of the commands that created and changed it (schedule, cancel, minutes).
    """

    ref: str
    assembly: str
    topic: str
    starts_at: datetime
    duration: timedelta
    scheduled_at: datetime
    scheduled_by: UserId
    proposals: tuple[str, ...] = ()
    status: MootStatus = MootStatus.SCHEDULED
    minutes: str | None = None
    attendees: frozenset[UserId] = frozenset()
    evidence: tuple[EventId, ...] = ()
    agenda: tuple[str, ...] = ()  # items in order; a proposal's reference stands for that proposal
    series: str | None = None  # the recurring series (``S-…``) this is an occurrence of

    def __post_init__(self) -> None:
        for name, value in (("starts_at", self.starts_at), ("scheduled_at", self.scheduled_at)):
            if value.tzinfo is None:
                raise ValueError(f"Moot.{name} must be aware")

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + self.duration


@dataclass(frozen=True)
class PlannedNotice:
    """One notice the bot should post about a moot, at ``due_at``.

    ``key`` is stable across restarts (as long as the reminder offsets in config are unchanged), so it
    serves both as the scheduler's job ID and as the "already sent" marker stored with the message's
    event ID.
    """

    moot_ref: str
    kind: NoticeKind
    due_at: datetime
    before_start: timedelta | None = None  # reminders only: how long before the start

    @property
    def key(self) -> str:
        if self.kind is NoticeKind.REMINDER and self.before_start is not None:
            return f"{self.moot_ref}/reminder-{_offset_key(self.before_start)}"
        return f"{self.moot_ref}/{self.kind.value}"


def _offset_key(offset: timedelta) -> str:
    """A reminder offset in a key: whole minutes as before (``60m``, so keys already stored still match);
    anything else in seconds (``90s``), so two offsets never share a key."""
    seconds = round(offset.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


@dataclass(frozen=True)
class Send:
    """Post the notice now."""


@dataclass(frozen=True)
class Skip:
    """Don't post the notice; ``reason`` is for the log (and tests), not for the room."""

    reason: str


NoticeDecision = Send | Skip
SEND = Send()


# --- references and lifecycle ------------------------------------------------------------------


def make_moot_ref(assembly: str, number: int) -> str:
    """The reference people type for the ``number``-th moot of an assembly: ``M-<assembly>-<n>``."""
    return make_ref("M", assembly, number)


def parse_moot_ref(text: str) -> Ref:
    """Read ``M-ops-3`` (or ``3`` / ``#3``, meaning the room's assembly: see ``Ref.locate``)."""
    return parse_ref(text, letter="M", noun="moot")


#: The longest ``<when>`` form ("tomorrow at 7 pm" style) has at most four words.
_WHEN_WORDS = 4


@dataclass(frozen=True)
class WhenAndTopic:
    """``moot schedule``'s ``<when> <topic>``, read (the time is placed once the zone is known)."""

    time: When
    topic: str


def parse_when_and_topic(text: str) -> WhenAndTopic:
    """Split ``<when> <topic>``: the longest run of leading words that reads as a time, then the topic."""
    words = text.split()
    if len(words) <= 1:
        raise UserError("a moot needs a time and a topic")
    errors: dict[int, UserError] = {}
    for length in range(min(len(words) - 1, _WHEN_WORDS), 0, -1):
        try:
            return WhenAndTopic(read_when(" ".join(words[:length])), " ".join(words[length:]))
        except UserError as exc:
            errors[length] = exc
    # Name the whole phrase that looks like a time ("next week 19:00"), not only its first word.
    return _raise(errors.get(min(time_phrase_length(words[:_WHEN_WORDS]), max(errors))) or errors[min(errors)])


def _raise(error: UserError) -> WhenAndTopic:
    raise error


def new_moot(
    *,
    ref: str,
    assembly: str,
    topic: str,
    starts_at: datetime,
    duration: timedelta,
    now: datetime,
    scheduled_by: UserId,
    proposals: Iterable[str] = (),
    evidence: Iterable[EventId] = (),
    series: str | None = None,
    announce_from: datetime | None = None,
) -> Moot:
    """Validate a ``moot schedule`` request and build the moot, or say what is wrong with it.

    ``announce_from`` (an occurrence of a series, made long ahead) moves the announcement, which is due
    at ``scheduled_at``, to that time."""
    topic = " ".join(topic.split())
    if not topic:
        raise UserError("a moot needs a topic")
    if len(topic) > TOPIC_MAX:
        raise UserError(f"the topic is too long ({len(topic)} characters; at most {TOPIC_MAX})")
    if starts_at <= now:
        raise UserError("that time is in the past; a moot must start in the future")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise UserError(
            f"a moot lasts between {format_duration(MIN_DURATION)} and "
            f"{format_duration(MAX_DURATION)} (got {format_duration(duration)})"
        )
    return Moot(
        ref=ref,
        assembly=assembly,
        topic=topic,
        starts_at=starts_at.astimezone(UTC),
        duration=duration,
        scheduled_at=max(now, announce_from or now).astimezone(UTC),
        scheduled_by=scheduled_by,
        proposals=tuple(dict.fromkeys(proposals)),  # keep order, drop repeats
        evidence=tuple(evidence),
        agenda=tuple(dict.fromkeys(proposals)),
        series=series,
    )


def cancel_moot(moot: Moot, *, now: datetime, evidence: EventId | None = None) -> Moot:
    """Cancel a moot that has not ended yet; the caller then drops its pending notices."""
    if moot.status is not MootStatus.SCHEDULED:
        raise UserError(f"{moot.ref} is already {moot.status.value}")
    if now >= moot.ends_at:
        raise UserError(f"{moot.ref} is already over; record its minutes instead")
    return replace(moot, status=MootStatus.CANCELLED, evidence=_with(moot.evidence, evidence))


def finish_moot(moot: Moot, *, evidence: EventId | None = None) -> Moot:
    """Mark a moot finished (done when its end notice goes out). Finishing twice is harmless."""
    if moot.status is MootStatus.CANCELLED:
        raise UserError(f"{moot.ref} was cancelled")
    return replace(moot, status=MootStatus.FINISHED, evidence=_with(moot.evidence, evidence))


def record_minutes(
    moot: Moot,
    text: str,
    *,
    now: datetime,
    attendees: Iterable[UserId] = (),
    evidence: EventId | None = None,
) -> Moot:
    """Record (or replace) the minutes and add attendees. Only once the moot has started."""
    cleaned = text.strip()
    if moot.status is MootStatus.CANCELLED:
        raise UserError(f"{moot.ref} was cancelled; there are no minutes to record")
    if now < moot.starts_at:
        raise UserError(f"{moot.ref} has not started yet; record minutes once it has")
    if not cleaned:
        raise UserError("the minutes are empty")
    if len(cleaned) > MINUTES_MAX:
        raise UserError(f"the minutes are too long ({len(cleaned)} characters; at most {MINUTES_MAX})")
    return replace(
        moot,
        minutes=cleaned,
        attendees=moot.attendees | frozenset(attendees),
        evidence=_with(moot.evidence, evidence),
    )


def _with(evidence: tuple[EventId, ...], extra: EventId | None) -> tuple[EventId, ...]:
    return evidence if extra is None or extra in evidence else (*evidence, extra)


# --- notices -----------------------------------------------------------------------------------

_KIND_ORDER = {NoticeKind.ANNOUNCEMENT: 0, NoticeKind.REMINDER: 1, NoticeKind.START: 2, NoticeKind.END: 3}


def plan_notices(
    moot: Moot, *, reminder_offsets: Iterable[timedelta] = DEFAULT_REMINDER_OFFSETS
) -> list[PlannedNotice]:
    """Every notice of a moot, in the order they fall due. A cancelled moot has none.

    A reminder that would fall at or before the scheduling time is left out: a moot scheduled two hours
    ahead gets its announcement and the 1-hour reminder, not a "24 hours to go" message.
    """
    if moot.status is MootStatus.CANCELLED:
        return []
    offsets = sorted(set(reminder_offsets), reverse=True)
    if any(offset <= timedelta(0) for offset in offsets):
        raise ValueError("reminder offsets must be positive")  # config validation should catch this
    notices = [PlannedNotice(moot.ref, NoticeKind.ANNOUNCEMENT, moot.scheduled_at)]
    notices += [
        PlannedNotice(moot.ref, NoticeKind.REMINDER, moot.starts_at - offset, before_start=offset)
        for offset in offsets
        if moot.starts_at - offset > moot.scheduled_at
    ]
    notices.append(PlannedNotice(moot.ref, NoticeKind.START, moot.starts_at))
    notices.append(PlannedNotice(moot.ref, NoticeKind.END, moot.ends_at))
    return sorted(notices, key=lambda n: (n.due_at, _KIND_ORDER[n.kind]))


def decide_late_notice(
    notice: PlannedNotice,
    *,
    now: datetime,
    moot: Moot,
    sent: Collection[str] = frozenset(),
    plan: Sequence[PlannedNotice] | None = None,
    end_grace: timedelta = DEFAULT_END_GRACE,
) -> NoticeDecision:
    """Whether to post ``notice`` at ``now`` (see the module docstring for the rule in words).

    ``sent`` holds the keys of notices already posted. ``plan`` is the moot's whole plan (from
    ``plan_notices`` with the configured offsets); it is how a stale reminder learns that a later one
    is also due. Without it only ``notice`` itself is considered.
    """
    if notice.key in sent:
        return Skip("already sent")
    if moot.status is MootStatus.CANCELLED:
        return Skip("the moot was cancelled")
    if now < notice.due_at:
        return Skip("not due yet")
    match notice.kind:
        case NoticeKind.ANNOUNCEMENT | NoticeKind.REMINDER if now >= moot.starts_at:
            return Skip("the moot has already started")
        case NoticeKind.REMINDER:
            later_due = [
                other
                for other in plan or ()
                if other.kind is NoticeKind.REMINDER
                and other.due_at > notice.due_at
                and other.due_at <= now
            ]
            if later_due:
                nearest = max(later_due, key=lambda other: other.due_at)
                return Skip(f"a later reminder ({nearest.key}) is also due; only that one is sent")
            return SEND
        case NoticeKind.START if now >= moot.ends_at:
            return Skip("the moot is over")
        case NoticeKind.START if moot.status is MootStatus.FINISHED:
            return Skip("the moot is finished")
        case NoticeKind.END if now >= moot.ends_at + end_grace:
            return Skip(f"more than {format_duration(end_grace)} after the end")
        case _:
            return SEND


def due_notices(
    moot: Moot,
    *,
    now: datetime,
    sent: Collection[str] = frozenset(),
    reminder_offsets: Iterable[timedelta] = DEFAULT_REMINDER_OFFSETS,
    end_grace: timedelta = DEFAULT_END_GRACE,
) -> list[tuple[PlannedNotice, NoticeDecision]]:
    """On start-up (or when a job fires): every notice due by ``now`` and not yet sent, with its verdict.

    The caller posts the ``Send`` ones and marks the ``Skip`` ones as settled, so they are not looked at
    again.
    """
    plan = plan_notices(moot, reminder_offsets=reminder_offsets)
    return [
        (notice, decide_late_notice(notice, now=now, moot=moot, sent=sent, plan=plan, end_grace=end_grace))
        for notice in plan
        if notice.due_at <= now and notice.key not in sent
    ]


def upcoming_notices(
    moot: Moot,
    *,
    now: datetime,
    reminder_offsets: Iterable[timedelta] = DEFAULT_REMINDER_OFFSETS,
) -> list[PlannedNotice]:
    """The notices still in the future: the ones to hand to the scheduler."""
    return [n for n in plan_notices(moot, reminder_offsets=reminder_offsets) if n.due_at > now]
