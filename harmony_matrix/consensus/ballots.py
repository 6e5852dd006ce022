"""Ballots the consensus process asks the polls feature for: a deadlocked proposal, or an election.

A ballot is recorded first (``pending``), started as a STAR / Bloc STAR poll once confirmed
(``started``, with the poll's reference), and settled when the poll's result has been turned into a
decision or a role change (``done``). The poll's *origin* names the ballot, so a result that arrives
after a restart still finds what it decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId

__all__ = ["DEFAULT_DEADLOCK_OPTIONS", "ORIGIN_PREFIX", "Ballot", "BallotKind", "BallotStatus", "ballot_origin",
           "candidate_of", "parse_ballot_options", "parse_ballot_origin"]

ORIGIN_PREFIX = "consensus:ballot:"
DEFAULT_DEADLOCK_OPTIONS = ("Adopt the proposal", "Do not adopt it")


class BallotKind(StrEnum):
    DEADLOCK = "deadlock"
    ELECTION = "election"


class BallotStatus(StrEnum):
    PENDING = "pending"  # waiting for a secretary's confirmation
    STARTED = "started"  # the poll is open
    DONE = "done"  # the result has been applied
    ABANDONED = "abandoned"  # its poll could not be opened; kept (not deleted) so its ID is never reused


@dataclass(frozen=True)
class Ballot:
    """A requested ballot. ``id`` is assigned by storage (0 before it is stored)."""

    id: int
    kind: BallotKind
    assembly: str
    room_id: RoomId
    options: tuple[str, ...]
    created_by: UserId
    created_at: datetime
    status: BallotStatus = BallotStatus.PENDING
    proposal: str | None = None
    role: str | None = None  # secretary | deputy, for elections
    seats: int = 1
    level: str = "moot"
    statement: str = ""
    topics: tuple[str, ...] = ()
    poll_ref: str | None = None
    evidence: tuple[EventId, ...] = ()


def ballot_origin(ballot_id: int) -> str:
    """The origin string handed to the polls feature for the ballot's poll."""
    return f"{ORIGIN_PREFIX}{ballot_id}"


def parse_ballot_origin(origin: str) -> int | None:
    """The ballot ID in an origin string, or None if the poll is not one of ours."""
    if not origin.startswith(ORIGIN_PREFIX):
        return None
    rest = origin[len(ORIGIN_PREFIX):]
    return int(rest) if rest.isdigit() else None


def parse_ballot_options(text: str) -> tuple[str, ...]:
    """A deadlock ballot's options, ``A | B | C``: at least two, all different.

    Blank text is no choice (empty: the caller uses ``DEFAULT_DEADLOCK_OPTIONS``)."""
    if not text.strip():
        return ()
    choices = tuple(option.strip() for option in text.split("|") if option.strip())
    if len(choices) < 2 or len(set(choices)) != len(choices):
        raise UserError('a ballot needs at least two different options: options="A | B"')
    return choices


_LABELLED = re.compile(r".*\((?P<user>@[^()\s]+)\)")


def candidate_of(label: str) -> UserId:
    """The candidate an election option names: options read ``Ann Lee (@ann:example.org)`` so voters see
    names, and the Matrix ID in brackets is who is elected (older ballots hold the bare ID)."""
    match = _LABELLED.fullmatch(label.strip())
    return UserId(match["user"] if match else label.strip())
