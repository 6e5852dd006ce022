"""A poll: as asked for (``PollSpec``, checked once, here), as stored (``Poll``), and how people name it.

Pure: no Matrix, no database, no clock (``now`` is a parameter). Every way to open a poll — the
``poll start`` command and the API other features call — goes through :func:`new_poll_spec`, so the
limits and the messages are the same whoever asks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from harmony_matrix.errors import UserError

if TYPE_CHECKING:
    from harmony_matrix.polls.results import PollResult

__all__ = [
    "MAX_OPTIONS",
    "MAX_OPTION_LENGTH",
    "MAX_QUESTION_LENGTH",
    "MIN_OPTIONS",
    "Eligibility",
    "Poll",
    "PollOption",
    "PollSpec",
    "check_choices",
    "new_poll_spec",
    "option_letter",
    "parse_poll_ref",
    "poll_ref",
    "timestamp_ms",
]

MIN_OPTIONS = 2
MAX_OPTIONS = 20
MAX_OPTION_LENGTH = 200
MAX_QUESTION_LENGTH = 500


class Eligibility(enum.StrEnum):
    """Who may vote (see ``harmony_matrix.polls.eligibility`` for what each means where)."""

    MEMBERS = "members"
    PARTICIPANTS = "participants"


# --- poll references ---------------------------------------------------------------------------------

_REF = re.compile(r"^(?:#|poll-?|poll\s*#)?(\d{1,9})$", re.IGNORECASE)


def poll_ref(number: int) -> str:
    """The reference people type and see: ``#3``."""
    return f"#{number}"


def parse_poll_ref(text: str) -> int:
    """``#3``, ``poll-3``, ``poll3`` or ``3`` → 3. Raises UserError otherwise."""
    match = _REF.match(text.strip())
    if not match or int(match.group(1)) < 1:
        raise UserError(f'"{text}" is not a poll reference; polls are named like #3')
    return int(match.group(1))


def option_letter(position: int) -> str:
    """A, B, … T for positions 0..19 (at most 20 options)."""
    return chr(ord("A") + position)


# --- a poll as asked for -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PollSpec:
    """A poll as asked for: checked by :func:`new_poll_spec`, ready to open."""

    question: str
    options: tuple[str, ...]
    seats: int = 1
    secret: bool = False
    closes_at: datetime | None = None
    eligibility: Eligibility = Eligibility.MEMBERS


def check_choices(question: str, options: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The question and options, stripped, or a UserError saying exactly what is wrong with them."""
    question = question.strip()
    choices = tuple(option.strip() for option in options)
    if not question:
        raise UserError("the question is missing: write it before the first |")
    if len(question) > MAX_QUESTION_LENGTH:
        raise UserError(f"the question is too long ({len(question)} characters; at most {MAX_QUESTION_LENGTH})")
    if len(choices) < MIN_OPTIONS:
        raise UserError(f"a poll needs at least {MIN_OPTIONS} options separated by | (got {len(choices)})")
    if len(choices) > MAX_OPTIONS:
        raise UserError(f"a poll can have at most {MAX_OPTIONS} options (got {len(choices)})")
    seen: dict[str, int] = {}
    for number, option in enumerate(choices, start=1):
        if not option:
            raise UserError(f"option {number} is empty (two | with nothing between them?)")
        if len(option) > MAX_OPTION_LENGTH:
            raise UserError(f"option {number} is too long ({len(option)} characters; at most {MAX_OPTION_LENGTH})")
        folded = option.casefold()
        if folded in seen:
            raise UserError(f'option "{option}" is listed twice (options {seen[folded]} and {number}); '
                            "options must be different from each other")
        seen[folded] = number
    return question, choices


def new_poll_spec(question: str, options: Sequence[str], *, now: datetime, seats: int = 1, secret: bool = False,
                  closes_at: datetime | None = None,
                  eligibility: Eligibility = Eligibility.MEMBERS) -> PollSpec:
    """The one check of a new poll: question and options (:func:`check_choices`), seats (at least 1
    and fewer than the options, or every option would win) and a closing time after ``now``."""
    question, choices = check_choices(question, options)
    if seats < 1:
        raise UserError(f"seats={seats}: a poll fills at least 1 seat")
    if seats >= len(choices):
        raise UserError(f"seats={seats} would elect every option: use fewer seats than options ({len(choices)})")
    if closes_at is not None and closes_at <= now:
        raise UserError("the closing time is in the past")
    return PollSpec(question=question, options=choices, seats=seats, secret=secret, closes_at=closes_at,
                    eligibility=eligibility)


# --- a poll as stored --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollOption:
    """An option and the message people react to (None until posted)."""

    position: int
    label: str
    event_id: str | None = None


@dataclass(frozen=True)
class Poll:
    """A poll as the stores return it. ``number`` is shown as ``#number``."""

    number: int
    room_id: str
    question: str
    options: tuple[PollOption, ...]
    seats: int
    secret: bool
    eligibility: Eligibility
    closes_at: datetime | None
    status: str  # "open" or "closed"
    created_by: str
    created_at: datetime
    closed_at: datetime | None = None
    origin: str | None = None
    header_event_id: str | None = None
    result: PollResult | None = None
    results_event_id: str | None = None
    origin_notified: bool = False

    @property
    def ref(self) -> str:
        return poll_ref(self.number)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(option.label for option in self.options)

    def takes_votes_at(self, ts: int) -> bool:
        """Whether a vote stamped ``ts`` (a server timestamp, see :func:`timestamp_ms`) counts: the poll
        is open and its deadline (if any) has not passed. A vote stamped at the deadline still counts."""
        return self.is_open and (self.closes_at is None or ts <= timestamp_ms(self.closes_at))


def timestamp_ms(moment: datetime) -> int:
    """``moment`` as a Matrix server timestamp (milliseconds since the epoch, ``origin_server_ts``)."""
    return int(moment.astimezone(UTC).timestamp() * 1000)
