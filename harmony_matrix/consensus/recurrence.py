"""Recurring moots: a series (``S-<assembly>-<n>``) with RFC 5545 recurrence rules, by python-dateutil.

``moot schedule <when> <topic> repeat=monthly`` creates a series whose first occurrence is ``<when>``.
``repeat=`` takes ``weekly``, ``fortnightly``, ``monthly`` or an RRULE (``FREQ=MONTHLY;BYDAY=1TU``:
the first Tuesday of every month). Occurrences are computed in the assembly's wall-clock time, so a
19:00 moot stays at 19:00 across clock changes; ``monthly`` on the 31st skips months without one, as
RFC 5545 says. A cancelled occurrence is an exception date (``EXDATE``): it is never made again.

The bot keeps the next few occurrences as ordinary moots (``M-…``), with their own notices, and makes
the following ones as time goes on (``next_starts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from dateutil.rrule import rrule, rruleset, rrulestr

from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId
from harmony_matrix.refs import Ref, make_ref, parse_ref
from harmony_matrix.when import format_local

__all__ = ["AHEAD", "ANNOUNCE_AHEAD", "Series", "SeriesStatus", "describe_rule", "ended", "make_series_ref",
           "next_starts", "parse_moot_or_series_ref", "parse_repeat", "parse_series_ref", "skip_occurrence", "upcoming_text"]

#: How many occurrences are kept as moots ahead of time.
AHEAD = 3
#: An occurrence is announced this long before it starts (not when it was made, months earlier).
ANNOUNCE_AHEAD = timedelta(days=7)

_NAMED = {"weekly": "FREQ=WEEKLY", "fortnightly": "FREQ=WEEKLY;INTERVAL=2", "monthly": "FREQ=MONTHLY"}
_WORDS = {"FREQ=WEEKLY": "every week", "FREQ=WEEKLY;INTERVAL=2": "every two weeks", "FREQ=MONTHLY": "every month"}
_TOO_OFTEN = ("SECONDLY", "MINUTELY", "HOURLY")


def parse_repeat(text: str) -> str:
    """``repeat=`` as typed: a named rule or an RRULE, checked; returns the RRULE (without ``RRULE:``)."""
    cleaned = text.strip()
    named = _NAMED.get(cleaned.lower())
    if named is not None:
        return named
    rule = cleaned.upper().removeprefix("RRULE:")
    if not rule.startswith("FREQ=") or "DTSTART" in rule or "\n" in rule:
        raise UserError(f"repeat={cleaned} is not a rule; use weekly, fortnightly, monthly or an RRULE such as "
                        "FREQ=MONTHLY;BYDAY=1TU (the first Tuesday of every month)")
    try:
        rrulestr(rule, dtstart=datetime(2026, 1, 1))
    except (ValueError, TypeError) as exc:
        raise UserError(f"repeat={cleaned} is not a valid RRULE ({exc})") from None
    if any(f"FREQ={freq}" in rule for freq in _TOO_OFTEN):
        raise UserError("a moot repeats at most daily")
    return rule


def describe_rule(rule: str) -> str:
    """The rule in words where it has a name, else the RRULE itself."""
    return _WORDS.get(rule, f"by the rule {rule}")


def make_series_ref(assembly: str, number: int) -> str:
    """``S-<assembly>-<n>``."""
    return make_ref("S", assembly, number)


def parse_series_ref(text: str) -> Ref:
    """Read ``S-ops-2`` (or a bare number in the assembly's rooms)."""
    return parse_ref(text, letter="S", noun="series")


def parse_moot_or_series_ref(text: str) -> Ref:
    """A moot (``M-ops-3``, or a bare number) or a series (``S-ops-1``)."""
    if text.strip()[:2].upper() == "S-":
        return parse_series_ref(text)
    try:
        return parse_ref(text, letter="M", noun="moot")
    except UserError:
        raise UserError(f"'{text.strip()}' is not a moot or series reference; they are named like M-ops-3 "
                        "or S-ops-1") from None


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class Series:
    """A recurring moot. ``first_start`` is the first occurrence (aware); occurrences keep its wall-clock
    time in ``tz``. ``exdates`` are cancelled occurrences' starts (aware UTC)."""

    ref: str
    assembly: str
    topic: str
    rule: str
    first_start: datetime
    tz: str
    duration: timedelta
    scheduled_by: UserId
    created_at: datetime
    exdates: tuple[datetime, ...] = ()
    status: SeriesStatus = SeriesStatus.ACTIVE

    def __post_init__(self) -> None:
        if self.first_start.tzinfo is None or self.created_at.tzinfo is None:
            raise ValueError("Series times must be aware")


def _rules(series: Series, zone: tzinfo) -> rruleset:
    local_start = series.first_start.astimezone(zone).replace(tzinfo=None)
    rules = rruleset()
    parsed = rrulestr(series.rule, dtstart=local_start)
    assert isinstance(parsed, rrule)  # a single RRULE (parse_repeat refuses sets)
    rules.rrule(parsed)
    for exdate in series.exdates:
        rules.exdate(exdate.astimezone(zone).replace(tzinfo=None))
    return rules


def next_starts(series: Series, *, zone: tzinfo, after: datetime, count: int = AHEAD) -> list[datetime]:
    """The next ``count`` occurrence starts strictly after ``after`` (aware UTC), exceptions left out.

    Wall-clock times are placed in ``zone`` as zoneinfo does (``fold=0``): a 01:30 falling in a spring
    gap moves forward, one that happens twice takes the first."""
    if series.status is SeriesStatus.ENDED:
        return []
    local_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)  # a day's margin for zones
    found: list[datetime] = []
    for local in _rules(series, zone).xafter(local_after, count=count + 60, inc=False):
        start = local.replace(tzinfo=zone).astimezone(UTC)
        if start > after:
            found.append(start)
            if len(found) == count:
                break
    return found


def skip_occurrence(series: Series, start: datetime) -> Series:
    """The series with the occurrence at ``start`` cancelled (an exception date)."""
    start = start.astimezone(UTC)
    return series if start in series.exdates else replace(series, exdates=(*series.exdates, start))


def ended(series: Series) -> Series:
    """The series stopped: no occurrence is made any more."""
    return replace(series, status=SeriesStatus.ENDED)


def upcoming_text(starts: Iterable[datetime], *, zone: tzinfo) -> str:
    """Starts as local text, for a reply."""
    return "; ".join(format_local(start, zone) for start in starts) or "none"
