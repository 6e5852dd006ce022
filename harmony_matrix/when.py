"""Reading and writing times the way people type them in a room.

Everything a person types is interpreted in the assembly's time zone (from config) and handed back as
an aware datetime in UTC, which is what we store. "Now" is always a parameter: nothing here reads the
clock, so the same input gives the same answer in tests and in production.

Reading happens in two steps, so that a command can declare ``read_when`` as its option's parser: the
text is *read* into a ``When`` (a form is recognised, or refused with a message naming the accepted
forms), and the ``When`` is *placed* on the calendar with ``When.resolve(now=…, tz=…)`` once the
handler knows the assembly's zone. ``parse_when`` does both at once.

Accepted ``<when>`` forms (case-insensitive):

* ISO dates and times: ``2026-12-01`` (midnight at the start of that day), ``2026-12-01 19:00``,
  ``2026-12-01T19:00``, seconds optional, with an offset (``+01:00``, ``Z``) or without one (then the
  assembly's time zone).
* Relative: ``in 2h``, ``in 30m``, ``48h``, ``in 1h30m``, ``in 3 days``, ``in 2 weeks``. Hours and
  minutes count elapsed time; days and weeks count calendar days and keep the wall-clock time, so
  ``in 7 days`` at 19:00 is 19:00 a week later even across a clock change.
* A day and a time: ``today 18:30``, ``tomorrow 19:00``, ``friday 19:00`` (the next Friday at 19:00
  that is still ahead: today if it is Friday before 19:00), ``at`` optional (``tomorrow at 7pm``).
* A time alone: ``19:00`` or ``7pm`` is the next time the clock shows it (today, or else tomorrow).

``next friday 19:00`` is refused with both Fridays it could mean (this coming one, or the one after),
since people use it both ways; ``friday 19:00`` or a date says which.

A wall-clock time that does not exist (skipped when the clocks go forward) or happens twice (when they
go back) is refused with a message saying so, rather than guessed: a moot an hour off is worse than a
question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from harmony_matrix.errors import UserError

__all__ = [
    "ACCEPTED_FORMS",
    "When",
    "format_duration",
    "format_local",
    "parse_duration",
    "parse_when",
    "read_when",
    "time_phrase_length",
]

ACCEPTED_FORMS = (
    "2026-12-01 19:00, 2026-12-01T19:00+01:00, in 2h, in 30m, 48h, in 3 days, "
    "today 18:30, tomorrow 19:00, friday 19:00, 19:00"
)

_WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip

# Unit words → (calendar days, elapsed minutes) per unit. Days and weeks are calendar units (see the
# module docstring for why); hours and minutes are elapsed time.
_UNITS: dict[str, tuple[int, int]] = {}
for _names, _value in (
    (("w", "wk", "wks", "week", "weeks"), (7, 0)),
    (("d", "day", "days"), (1, 0)),
    (("h", "hr", "hrs", "hour", "hours"), (0, 60)),
    (("m", "min", "mins", "minute", "minutes"), (0, 1)),
):
    for _name in _names:
        _UNITS[_name] = _value

_DURATION_PART = re.compile(r"(\d+)\s*([a-z]+)")
_DURATION_WHOLE = re.compile(r"(?:\d+\s*[a-z]+\s*)+")
_CLOCK = re.compile(r"(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?P<ampm>am|pm)?")
_DAY_AND_TIME = re.compile(r"(?P<day>[a-z]+)(?:\s+(?:at\s+)?(?P<clock>.+))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{1,2}:\d{2}.*")

# Generous but finite: a typo like "in 2000000 days" should be an error, not an OverflowError.
_MAX_DURATION = timedelta(days=3660)


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration such as ``90m``, ``1h30m``, ``2h``, ``1 h 30 min`` or ``3 days``.

    A duration is elapsed time, so a day here is 24 hours. Raises ``UserError`` naming the accepted
    forms when the text is not one of them or is zero.
    """
    days, minutes = _duration_parts(text, what="duration")
    total = timedelta(days=days, minutes=minutes)
    if total <= timedelta(0):
        raise UserError(f"a duration must be longer than zero (got '{text.strip()}')")
    return total


def format_duration(delta: timedelta) -> str:
    """Write a duration compactly, the way ``parse_duration`` reads it back (``1h30m``, ``2d``)."""
    minutes = int(delta.total_seconds() // 60)
    if minutes <= 0:
        return "0m"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return "".join(parts)


def parse_when(
    text: str, *, now: datetime, tz: tzinfo, require_future: bool = False
) -> datetime:
    """Turn what a person typed into an aware UTC datetime (``read_when`` then ``When.resolve``).

    ``now`` must be aware; ``tz`` is the assembly's time zone (a ``ZoneInfo``), used for every form
    without an explicit offset. With ``require_future`` a time at or before ``now`` is refused with
    "that time is in the past (…)". See the module docstring for the accepted forms.
    """
    return read_when(text).resolve(now=now, tz=tz, require_future=require_future)


def read_when(text: str) -> When:
    """Read a ``<when>`` (the parser a command declares for a time option), or say why it can't.

    Only the form is checked here; whether the time exists in the assembly's zone, and whether it is
    still ahead, is for ``When.resolve``."""
    cleaned = " ".join(text.strip().lower().split())
    original = text.strip()
    if not cleaned:
        raise UserError(f"no time given; use one of: {ACCEPTED_FORMS}")
    return When(text=original, form=_read(cleaned, original=original))


@dataclass(frozen=True)
class _Instant:
    at: datetime  # an ISO time with an explicit offset


@dataclass(frozen=True)
class _Wall:
    at: datetime  # a naive ISO date or date and time: in the assembly's zone


@dataclass(frozen=True)
class _Clock:
    clock: time  # the next time the clock shows this


@dataclass(frozen=True)
class _Relative:
    days: int  # calendar days, keeping the wall-clock time
    minutes: int  # then elapsed minutes


@dataclass(frozen=True)
class _DayAndTime:
    day: str  # "today", "tomorrow" or a weekday word
    clock: time


@dataclass(frozen=True)
class _NextDay:
    day: str  # a weekday word after "next": ambiguous, refused when placed (naming both dates)
    clock: time


_Form = _Instant | _Wall | _Clock | _Relative | _DayAndTime | _NextDay


@dataclass(frozen=True)
class When:
    """A time as typed, read but not yet placed on the calendar (see ``read_when``).

    ``text`` is what the person typed, for messages."""

    text: str
    form: _Form

    def resolve(self, *, now: datetime, tz: tzinfo, require_future: bool = False) -> datetime:
        """The aware UTC instant this means at ``now`` in the zone ``tz`` (see ``parse_when``)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("resolving a time needs an aware 'now'")  # a programming error, not the user's
        result = _place(self.form, original=self.text, now=now, tz=tz).astimezone(UTC)
        if require_future and result <= now:
            raise UserError(
                f"that time is in the past ({format_local(result, tz)}; "
                f"it is now {format_local(now, tz)})"
            )
        return result


def format_local(dt: datetime, tz: tzinfo) -> str:
    """Show a stored (aware) time in the assembly's zone for a message: ``Tue 1 Dec 2026, 19:00 GMT``.

    The zone abbreviation is kept because around a clock change it is the only thing telling 01:30 BST
    from 01:30 GMT.
    """
    local = dt.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or ''}".rstrip()


# --- internals ---------------------------------------------------------------------------------


def _read(cleaned: str, *, original: str) -> _Form:
    if _ISO_DATETIME.fullmatch(cleaned) or _ISO_DATE.fullmatch(cleaned):
        parsed = _parse_iso(cleaned, original=original)
        # An explicit offset says exactly which instant is meant.
        return _Instant(parsed) if parsed.tzinfo is not None else _Wall(parsed)

    # Before durations: "7pm" would otherwise read as seven units of "pm".
    if _CLOCK.fullmatch(cleaned):
        return _Clock(_parse_clock(cleaned, original=original))

    relative = cleaned.removeprefix("in ").strip()
    if _DURATION_WHOLE.fullmatch(relative):
        days, minutes = _duration_parts(relative, what="time", shown=original)
        if days == 0 and minutes == 0:
            raise UserError(f"'{original}' is no time from now; try e.g. in 2h")
        return _Relative(days, minutes)

    following = re.fullmatch(r"next\s+(?P<rest>.+)", cleaned)
    if following:
        after = _DAY_AND_TIME.fullmatch(following["rest"])
        if after is None or after["day"] not in _WEEKDAYS:
            raise UserError(f"I can't read '{original}' as a time; use one of: {ACCEPTED_FORMS}")
        if after["clock"] is None:
            raise UserError(f"'{original}' needs a time of day, e.g. {after['day']} 19:00")
        return _NextDay(after["day"], _parse_clock(after["clock"], original=original))

    match = _DAY_AND_TIME.fullmatch(cleaned)
    if match and (match["day"] in ("today", "tomorrow") or match["day"] in _WEEKDAYS):
        if match["clock"] is None:
            raise UserError(
                f"'{original}' needs a time of day, e.g. {match['day']} 19:00"
            )
        return _DayAndTime(match["day"], _parse_clock(match["clock"], original=original))

    raise UserError(f"I can't read '{original}' as a time; use one of: {ACCEPTED_FORMS}")


def _place(form: _Form, *, original: str, now: datetime, tz: tzinfo) -> datetime:
    today = now.astimezone(tz).date()
    match form:
        case _Instant(at):
            return at
        case _Wall(at):
            return _local(at.date(), at.time(), original=original, tz=tz)
        case _Clock(clock):
            candidate = _local(today, clock, original=original, tz=tz)
            if candidate <= now:
                candidate = _local(today + timedelta(days=1), clock, original=original, tz=tz)
            return candidate
        case _Relative(days, minutes):
            # Calendar days first, in local wall-clock time, then elapsed minutes on the absolute line.
            shifted = now
            if days:
                local = now.astimezone(tz)
                wall = datetime.combine(local.date() + timedelta(days=days), local.timetz()).replace(
                    tzinfo=tz, fold=0
                )
                # A wall time landing in a gap or overlap is resolved the way zoneinfo does with fold=0
                # (moved forward by the gap / the earlier instant): the person named no clock time, so
                # refusing would be pedantic.
                shifted = wall.astimezone(UTC)
            return shifted + timedelta(minutes=minutes)
        case _DayAndTime("today", clock):
            return _local(today, clock, original=original, tz=tz)
        case _DayAndTime("tomorrow", clock):
            return _local(today + timedelta(days=1), clock, original=original, tz=tz)
        case _DayAndTime(day, clock):
            return _coming(day, clock, original=original, now=now, tz=tz)
        case _NextDay(day, clock):
            coming = _coming(day, clock, original=original, now=now, tz=tz).astimezone(tz)
            after = coming + timedelta(days=7)
            raise UserError(
                f"'{original}' could mean {coming:%a} {coming.day} {coming:%b} or {after:%a} {after.day} {after:%b}; "
                f"write {day} {clock:%H:%M} for the coming one, or the date, e.g. {after:%Y-%m-%d} {clock:%H:%M}")


def _coming(day: str, clock: time, *, original: str, now: datetime, tz: tzinfo) -> datetime:
    """``friday 19:00``: the next Friday 19:00 still ahead (today if it is Friday and not yet 19:00)."""
    today = now.astimezone(tz).date()
    ahead = (_WEEKDAYS[day] - today.weekday()) % 7
    candidate = _local(today + timedelta(days=ahead), clock, original=original, tz=tz)
    if candidate <= now:
        candidate = _local(today + timedelta(days=ahead + 7), clock, original=original, tz=tz)
    return candidate


_TIME_WORD = re.compile(r"(?:\d[\d:.\-+t]*(?:[a-z]{1,7})?|am|pm|at|in|next|today|tomorrow|[a-z]+)")


def time_phrase_length(words: list[str]) -> int:
    """How many of the leading ``words`` look like part of a time (``next friday 19:00 Budget`` → 3), at
    least 1: an error about a time names this whole phrase, not only its first word."""
    count = 0
    for word in words:
        lowered = word.lower()
        alpha = lowered.isalpha()
        if not _TIME_WORD.fullmatch(lowered) or (alpha and lowered not in _TIME_WORDS):
            break
        count += 1
    return max(count, 1)


_TIME_WORDS = frozenset({"am", "pm", "at", "in", "next", "this", "today", "tomorrow", *_WEEKDAYS, *_UNITS})


def _parse_iso(cleaned: str, *, original: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(cleaned.upper())
    except ValueError:
        raise UserError(
            f"'{original}' looks like a date but isn't a valid one; "
            "use e.g. 2026-12-01 or 2026-12-01 19:00"
        ) from None
    return parsed


def _parse_clock(text: str, *, original: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise UserError(f"I can't read the time of day in '{original}'; use e.g. 19:00 or 7pm")
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise UserError(f"'{original}': with am/pm the hour must be 1–12")
        hour = hour % 12 + (12 if match["ampm"] == "pm" else 0)
    elif match["m"] is None:
        # A bare number ("friday 7") could be a time or a date; make the person say which.
        raise UserError(f"'{original}': write the time with minutes or am/pm, e.g. 19:00 or 7pm")
    if hour > 23 or minute > 59:
        raise UserError(f"'{original}' is not a time of day")
    return time(hour, minute)


def _local(day: date, clock: time, *, original: str, tz: tzinfo) -> datetime:
    """Attach the zone to a wall-clock time, refusing times that don't exist or happen twice."""
    naive = datetime.combine(day, clock)
    early = naive.replace(tzinfo=tz, fold=0)
    late = naive.replace(tzinfo=tz, fold=1)
    shown = f"{naive:%Y-%m-%d %H:%M}"
    zone = tz.key if isinstance(tz, ZoneInfo) else str(tz)
    # Round-tripping through UTC changes the wall time exactly when it falls in a gap.
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise UserError(
            f"{shown} does not exist in {zone}: the clocks go forward then; pick a time outside the gap"
        )
    if early.utcoffset() != late.utcoffset():
        offsets = " or ".join(
            f"{naive:%Y-%m-%dT%H:%M}{_offset_text(candidate)}" for candidate in (early, late)
        )
        raise UserError(
            f"{shown} happens twice in {zone} (the clocks go back then); "
            f"say which with an offset: {offsets}"
        )
    return early


def _offset_text(dt: datetime) -> str:
    offset = dt.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _duration_parts(text: str, *, what: str, shown: str | None = None) -> tuple[int, int]:
    """Split ``1d2h30m`` into (calendar days, minutes), refusing unknown units and leftovers."""
    cleaned = " ".join(text.strip().lower().split())
    shown = (shown if shown is not None else text).strip()
    hint = (
        "use e.g. 90m, 1h30m, 2h or 3 days"
        if what == "duration"
        else f"use one of: {ACCEPTED_FORMS}"
    )
    if not _DURATION_WHOLE.fullmatch(cleaned):
        raise UserError(f"I can't read '{shown}' as a {what}; {hint}")
    days = minutes = 0
    for number, unit in _DURATION_PART.findall(cleaned):
        if unit not in _UNITS:
            raise UserError(f"unknown unit '{unit}' in '{shown}'; {hint}")
        unit_days, unit_minutes = _UNITS[unit]
        days += int(number) * unit_days
        minutes += int(number) * unit_minutes
    if timedelta(days=days, minutes=minutes) > _MAX_DURATION:
        raise UserError(f"'{shown}' is too far away (at most {_MAX_DURATION.days} days)")
    return days, minutes
