"""Reading times as people type them, in the assembly's zone, including clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.errors import UserError
from harmony_matrix.when import format_duration, format_local, parse_duration, parse_when, read_when

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
# Friday 27 March 2026, 12:00 GMT; the clocks go forward on Sunday 29 March at 01:00 GMT.
NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


def when(text: str, now: datetime = NOW, tz: ZoneInfo = LONDON, **kw: bool) -> datetime:
    return parse_when(text, now=now, tz=tz, **kw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("2026-12-01 19:00", datetime(2026, 12, 1, 19, 0, tzinfo=UTC)),
        ("2026-12-01T19:00", datetime(2026, 12, 1, 19, 0, tzinfo=UTC)),
        ("2026-12-01t19:00:30", datetime(2026, 12, 1, 19, 0, 30, tzinfo=UTC)),
        ("2026-07-01 19:00", datetime(2026, 7, 1, 18, 0, tzinfo=UTC)),  # BST
        ("2026-07-01T19:00+02:00", datetime(2026, 7, 1, 17, 0, tzinfo=UTC)),
        ("2026-07-01T19:00Z", datetime(2026, 7, 1, 19, 0, tzinfo=UTC)),
        ("in 2h", NOW + timedelta(hours=2)),
        ("in 30m", NOW + timedelta(minutes=30)),
        ("48h", NOW + timedelta(hours=48)),
        ("in 1h30m", NOW + timedelta(minutes=90)),
        ("In  2 Hours", NOW + timedelta(hours=2)),
        ("today 18:30", datetime(2026, 3, 27, 18, 30, tzinfo=UTC)),
        ("tomorrow 19:00", datetime(2026, 3, 28, 19, 0, tzinfo=UTC)),
        ("tomorrow at 7pm", datetime(2026, 3, 28, 19, 0, tzinfo=UTC)),
        ("friday 19:00", datetime(2026, 3, 27, 19, 0, tzinfo=UTC)),  # today, still ahead
        ("Fri 11:00", datetime(2026, 4, 3, 10, 0, tzinfo=UTC)),  # today's has passed: next week, BST
        ("monday 9:15", datetime(2026, 3, 30, 8, 15, tzinfo=UTC)),
        ("sunday at 7:30pm", datetime(2026, 3, 29, 18, 30, tzinfo=UTC)),
        ("19:00", datetime(2026, 3, 27, 19, 0, tzinfo=UTC)),
        ("11:00", datetime(2026, 3, 28, 11, 0, tzinfo=UTC)),  # passed today → tomorrow
        ("12am", datetime(2026, 3, 28, 0, 0, tzinfo=UTC)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    result = when(text)
    assert result == expected
    assert result.tzinfo is UTC


def test_relative_days_keep_the_wall_clock_across_the_clock_change() -> None:
    # 12:00 GMT on Friday; three days later it's BST, and 12:00 local is 11:00 UTC.
    assert when("in 3 days") == datetime(2026, 3, 30, 11, 0, tzinfo=UTC)
    assert when("in 1 week") == datetime(2026, 4, 3, 11, 0, tzinfo=UTC)
    # Hours are elapsed time: 72 hours is 13:00 local after the change.
    assert when("in 72h") == NOW + timedelta(hours=72)


def test_the_assemblys_zone_is_used() -> None:
    assert when("2026-12-01 19:00", tz=NEW_YORK) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    # "today" is today in that zone: at 02:00 UTC it is still the previous evening in New York.
    now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert when("today 23:00", now=now, tz=NEW_YORK) == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def test_a_time_skipped_by_the_clocks_going_forward_is_refused() -> None:
    with pytest.raises(UserError, match="does not exist in Europe/London"):
        when("2026-03-29 01:30")
    with pytest.raises(UserError, match="clocks go forward"):
        when("sunday 01:30")


def test_a_time_that_happens_twice_is_refused_with_both_offsets_offered() -> None:
    with pytest.raises(UserError) as caught:
        when("2026-10-25 01:30")
    message = caught.value.message
    assert "happens twice" in message
    assert "2026-10-25T01:30+01:00" in message and "2026-10-25T01:30+00:00" in message
    # Either suggested form is then accepted, and they are an hour apart.
    first = when("2026-10-25T01:30+01:00")
    second = when("2026-10-25T01:30+00:00")
    assert second - first == timedelta(hours=1)


def test_times_next_to_the_transitions_are_fine() -> None:
    assert when("2026-03-29 00:59") == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert when("2026-03-29 02:00") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert when("2026-10-25 00:59") == datetime(2026, 10, 24, 23, 59, tzinfo=UTC)
    assert when("2026-10-25 02:00") == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


def test_relative_days_landing_in_a_gap_move_forward_rather_than_fail() -> None:
    now = datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # Saturday 01:30 GMT
    assert when("in 1 day", now=now) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 BST


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no time given"),
        ("next blue moon", "use one of"),
        ("tomorrow", "needs a time of day"),
        ("friday 7", "with minutes or am/pm"),
        ("25:00", "not a time of day"),
        ("13pm", "1–12"),
        ("2026-13-01", "isn't a valid one"),
        ("in 5 fortnights", "unknown unit 'fortnights'"),
        ("in 0m", "no time from now"),
        ("in 99999 days", "too far away"),
    ],
)
def test_errors_are_specific(text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        when(text)


def test_unknown_format_lists_the_accepted_forms() -> None:
    with pytest.raises(UserError) as caught:
        when("soonish")
    assert "in 2h" in caught.value.message and "tomorrow 19:00" in caught.value.message


def test_require_future() -> None:
    with pytest.raises(UserError, match=r"that time is in the past \(Fri 27 Mar 2026, 09:00 GMT"):
        when("today 09:00", require_future=True)
    with pytest.raises(UserError, match="in the past"):
        when("2026-03-27 12:00", require_future=True)  # exactly now is not the future
    assert when("today 18:00", require_future=True) > NOW


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_when("in 2h", now=datetime(2026, 1, 1), tz=LONDON)


def test_format_local_names_the_zone() -> None:
    assert format_local(datetime(2026, 12, 1, 19, 0, tzinfo=UTC), LONDON) == "Tue 1 Dec 2026, 19:00 GMT"
    assert format_local(datetime(2026, 7, 1, 18, 0, tzinfo=UTC), LONDON) == "Wed 1 Jul 2026, 19:00 BST"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1 h 30 min", timedelta(minutes=90)),
        ("2 hours", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "1.5h", "0m", "h", "2 parsecs"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(UserError):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=60 * 24 * 30))
def test_format_duration_round_trips(minutes: int) -> None:
    delta = timedelta(minutes=minutes)
    assert parse_duration(format_duration(delta)) == delta


ZONES = [ZoneInfo(name) for name in ("Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC")]
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda dt: dt.replace(second=0, microsecond=0))


@given(INSTANTS, st.sampled_from(ZONES))
def test_iso_with_offset_round_trips(instant: datetime, tz: ZoneInfo) -> None:
    text = instant.astimezone(tz).isoformat()
    assert parse_when(text, now=NOW, tz=tz) == instant


@given(INSTANTS, st.sampled_from(ZONES))
def test_local_wall_time_round_trips_unless_it_is_ambiguous(instant: datetime, tz: ZoneInfo) -> None:
    local = instant.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M")
    ambiguous = local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()
    if ambiguous:
        with pytest.raises(UserError, match="happens twice"):
            parse_when(text, now=NOW, tz=tz)
    else:
        assert parse_when(text, now=NOW, tz=tz) == instant


@given(st.integers(min_value=1, max_value=60 * 24 * 365), INSTANTS)
def test_relative_minutes_are_elapsed_time(minutes: int, now: datetime) -> None:
    assert parse_when(f"in {minutes}m", now=now, tz=LONDON) == now + timedelta(minutes=minutes)


def test_reading_checks_the_form_and_resolving_places_it() -> None:
    """A command's option parser reads the time (no clock, no zone); the handler places it later."""
    later = read_when("tomorrow 19:00")
    assert later.text == "tomorrow 19:00"
    assert later.resolve(now=NOW, tz=LONDON) == datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    assert later.resolve(now=NOW + timedelta(days=7), tz=NEW_YORK) == datetime(2026, 4, 4, 23, 0, tzinfo=UTC)
    with pytest.raises(UserError, match="can't read 'someday'"):
        read_when("someday")
    with pytest.raises(UserError, match="needs a time of day"):
        read_when("friday")
    gap = read_when("2026-03-29 01:30")  # well-formed; that it falls in London's gap shows when placed
    with pytest.raises(UserError, match="does not exist in Europe/London"):
        gap.resolve(now=NOW, tz=LONDON)
    assert gap.resolve(now=NOW, tz=NEW_YORK) == datetime(2026, 3, 29, 5, 30, tzinfo=UTC)
    assert read_when("in 1h").resolve(now=NOW, tz=LONDON, require_future=True) == NOW + timedelta(hours=1)
    with pytest.raises(UserError, match="in the past"):
        read_when("2026-01-01").resolve(now=NOW, tz=LONDON, require_future=True)


def test_next_weekday_is_refused_naming_the_whole_phrase_and_both_dates() -> None:
    """Issue 14: "next friday 19:00" means this coming Friday to some and the one after to others."""
    when = read_when("next friday 19:00")  # NOW is Friday 27 March 2026, noon
    with pytest.raises(UserError) as error:
        when.resolve(now=NOW, tz=LONDON)
    assert error.value.message == ("'next friday 19:00' could mean Fri 27 Mar or Fri 3 Apr; write friday 19:00 "
                                   "for the coming one, or the date, e.g. 2026-04-03 19:00")
    with pytest.raises(UserError, match="'next friday' needs a time of day"):
        read_when("next friday")
    with pytest.raises(UserError, match="can't read 'next week 19:00'"):
        read_when("next week 19:00")
