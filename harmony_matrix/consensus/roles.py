"""Secretaries and deputies: who holds which role, for how long, and how it was decided.

Secretaries organise (meetings, note-taking); they do not lead. An assembly has at most one secretary
and any number of deputies, and a person holds at most one of the two roles in an assembly. Every
assignment records how it was decided (consensus, election, appointment) and the Matrix event IDs that
prove it. Role changes come back as a ``RoleChange`` (who gained, who lost a role), which the Matrix
side turns into power-level updates in every room of the assembly.

Members may petition for a re-election; when enough distinct members have signed (the threshold is
set in config), an election starts. The current office-holders stand in it, with anyone the signers
named on the petition (``petition_election``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId

__all__ = [
    "DEFAULT_TERM_NOTICE",
    "HowDecided",
    "Petition",
    "PetitionStatus",
    "Role",
    "RoleAssignment",
    "RoleChange",
    "Signature",
    "TermReminder",
    "TermReminderKind",
    "add_deputy",
    "apply_election_result",
    "close_petition",
    "nominate",
    "open_petition",
    "petition_election",
    "remove_deputy",
    "set_secretary",
    "sign_petition",
    "term_reminders",
    "threshold_reached",
    "validate_election",
    "withdraw_signature",
]

DEFAULT_TERM_NOTICE = timedelta(days=14)


class Role(StrEnum):
    SECRETARY = "secretary"
    DEPUTY = "deputy"


class HowDecided(StrEnum):
    CONSENSUS = "consensus"
    ELECTION = "election"
    APPOINTED = "appointed"  # e.g. by a registry admin while an assembly is being set up


@dataclass(frozen=True)
class RoleAssignment:
    """``user`` holds ``role`` in ``assembly`` since ``since``, until ``term_ends`` (``None``: no set
    term). ``decision_ref`` names the decision or poll behind it, when there is one."""

    assembly: str
    user: UserId
    role: Role
    since: datetime
    how_decided: HowDecided
    term_ends: datetime | None = None
    evidence: tuple[EventId, ...] = ()
    decision_ref: str | None = None


@dataclass(frozen=True)
class RoleChange:
    """The outcome of a role operation: the assembly's roles afterwards, and what changed."""

    assignments: tuple[RoleAssignment, ...]
    added: tuple[RoleAssignment, ...]
    removed: tuple[RoleAssignment, ...]

    @property
    def secretary(self) -> RoleAssignment | None:
        return next((a for a in self.assignments if a.role is Role.SECRETARY), None)

    @property
    def deputies(self) -> tuple[RoleAssignment, ...]:
        return tuple(a for a in self.assignments if a.role is Role.DEPUTY)


def _of(assignments: Iterable[RoleAssignment], assembly: str) -> list[RoleAssignment]:
    return [a for a in assignments if a.assembly == assembly]


def _change(
    before: Sequence[RoleAssignment], after: Sequence[RoleAssignment]
) -> RoleChange:
    return RoleChange(
        assignments=tuple(after),
        added=tuple(a for a in after if a not in before),
        removed=tuple(a for a in before if a not in after),
    )


def set_secretary(
    current: Iterable[RoleAssignment],
    *,
    assembly: str,
    user: UserId,
    since: datetime,
    how_decided: HowDecided,
    term_ends: datetime | None = None,
    evidence: Iterable[EventId] = (),
    decision_ref: str | None = None,
) -> RoleChange:
    """Make ``user`` the secretary of ``assembly``, replacing the current one.

    A deputy who becomes secretary stops being a deputy (one person, one role).
    """
    if term_ends is not None and term_ends <= since:
        raise UserError("the term must end after it starts")
    before = _of(current, assembly)
    existing = next((a for a in before if a.role is Role.SECRETARY), None)
    if existing is not None and existing.user == user and existing.term_ends == term_ends:
        raise UserError(f"{user} is already the secretary")
    new = RoleAssignment(
        assembly=assembly,
        user=user,
        role=Role.SECRETARY,
        since=since,
        how_decided=how_decided,
        term_ends=term_ends,
        evidence=tuple(evidence),
        decision_ref=decision_ref,
    )
    after = [a for a in before if a.role is not Role.SECRETARY and a.user != user] + [new]
    return _change(before, after)


def add_deputy(
    current: Iterable[RoleAssignment],
    *,
    assembly: str,
    user: UserId,
    since: datetime,
    how_decided: HowDecided,
    term_ends: datetime | None = None,
    evidence: Iterable[EventId] = (),
    decision_ref: str | None = None,
) -> RoleChange:
    """Add ``user`` as a deputy. Refused if they already are one, or are the secretary."""
    before = _of(current, assembly)
    held = next((a for a in before if a.user == user), None)
    if held is not None:
        raise UserError(f"{user} is already the {held.role.value} of this assembly")
    if term_ends is not None and term_ends <= since:
        raise UserError("the term must end after it starts")
    new = RoleAssignment(
        assembly=assembly,
        user=user,
        role=Role.DEPUTY,
        since=since,
        how_decided=how_decided,
        term_ends=term_ends,
        evidence=tuple(evidence),
        decision_ref=decision_ref,
    )
    return _change(before, [*before, new])


def remove_deputy(
    current: Iterable[RoleAssignment], *, assembly: str, user: UserId
) -> RoleChange:
    """Remove ``user`` as a deputy."""
    before = _of(current, assembly)
    if not any(a.user == user and a.role is Role.DEPUTY for a in before):
        raise UserError(f"{user} is not a deputy of this assembly")
    return _change(before, [a for a in before if not (a.user == user and a.role is Role.DEPUTY)])


def validate_election(
    current: Iterable[RoleAssignment],
    *,
    assembly: str,
    role: Role,
    options: Sequence[UserId],
    seats: int = 1,
) -> None:
    """Check ``!h election start`` before a poll is created, so nothing is recorded half-way."""
    if len(set(options)) != len(options):
        raise UserError("each candidate may be listed only once")
    if len(options) < 2:
        # A ballot with one name is not a choice (and the polls feature refuses it): say so before
        # anything is recorded.
        raise UserError("an election needs at least two candidates: options=@a:example.org,@b:example.org")
    if role is Role.SECRETARY and seats != 1:
        raise UserError("an assembly has one secretary; elect deputies for more seats")
    if not 1 <= seats < len(options):
        raise UserError(f"seats must be between 1 and one fewer than the candidates ({len(options)})")
    if role is Role.DEPUTY:
        secretary = next(
            (a for a in _of(current, assembly) if a.role is Role.SECRETARY), None
        )
        if secretary is not None and secretary.user in options:
            raise UserError(f"{secretary.user} is the secretary and can't also stand as a deputy")


def apply_election_result(
    current: Iterable[RoleAssignment],
    *,
    assembly: str,
    role: Role,
    winners: Sequence[UserId],
    decided_at: datetime,
    term_ends: datetime | None = None,
    evidence: Iterable[EventId] = (),
    poll_ref: str | None = None,
) -> RoleChange:
    """Set the roles from an election's winners (a STAR or Bloc STAR poll's result).

    A secretary election replaces the secretary (exactly one winner). A deputy election replaces all
    deputies with the winners, in the poll's order; a winner who is the secretary is refused (the
    candidates were checked by ``validate_election`` at the start, so this means the record changed
    in between).
    """
    before = _of(current, assembly)
    if len(set(winners)) != len(winners) or not winners:
        raise ValueError("an election result needs distinct winners")
    evidence = tuple(evidence)
    if role is Role.SECRETARY:
        if len(winners) != 1:
            raise ValueError("a secretary election has exactly one winner")
        [winner] = winners
        existing = next((a for a in before if a.role is Role.SECRETARY), None)
        if existing is not None and existing.user == winner:
            # Re-elected: a fresh term and fresh evidence, same person.
            renewed = replace(
                existing,
                since=decided_at,
                how_decided=HowDecided.ELECTION,
                term_ends=term_ends,
                evidence=evidence,
                decision_ref=poll_ref,
            )
            return _change(before, [renewed if a is existing else a for a in before])
        return set_secretary(
            before,
            assembly=assembly,
            user=winner,
            since=decided_at,
            how_decided=HowDecided.ELECTION,
            term_ends=term_ends,
            evidence=evidence,
            decision_ref=poll_ref,
        )
    secretary = next((a for a in before if a.role is Role.SECRETARY), None)
    if secretary is not None and secretary.user in winners:
        raise UserError(f"{secretary.user} is the secretary and can't also be elected deputy")
    deputies = [
        RoleAssignment(
            assembly=assembly,
            user=winner,
            role=Role.DEPUTY,
            since=decided_at,
            how_decided=HowDecided.ELECTION,
            term_ends=term_ends,
            evidence=evidence,
            decision_ref=poll_ref,
        )
        for winner in winners
    ]
    after = [a for a in before if a.role is not Role.DEPUTY] + deputies
    return _change(before, after)


# --- terms -------------------------------------------------------------------------------------


class TermReminderKind(StrEnum):
    ENDING = "ending"  # the term ends within the notice period
    ENDED = "ended"  # the term is over and nobody has renewed it


@dataclass(frozen=True)
class TermReminder:
    """A term that needs attention. ``key`` lets the caller post each reminder once."""

    assignment: RoleAssignment
    kind: TermReminderKind
    remaining: timedelta  # zero once ended

    @property
    def key(self) -> str:
        a = self.assignment
        ends = a.term_ends.isoformat() if a.term_ends else "none"
        return f"term/{a.assembly}/{a.role.value}/{a.user}/{ends}/{self.kind.value}"


def term_reminders(
    assignments: Iterable[RoleAssignment],
    *,
    now: datetime,
    notice: timedelta = DEFAULT_TERM_NOTICE,
) -> list[TermReminder]:
    """The terms ending within ``notice`` of ``now`` (or already ended), soonest first."""
    reminders: list[TermReminder] = []
    for assignment in assignments:
        ends = assignment.term_ends
        if ends is None or now < ends - notice:
            continue
        if now >= ends:
            reminders.append(TermReminder(assignment, TermReminderKind.ENDED, timedelta(0)))
        else:
            reminders.append(TermReminder(assignment, TermReminderKind.ENDING, ends - now))
    reminders.sort(key=lambda r: (r.assignment.term_ends, r.assignment.assembly, r.assignment.user))
    return reminders


# --- petitions for re-election -----------------------------------------------------------------


class PetitionStatus(StrEnum):
    OPEN = "open"
    ELECTION_STARTED = "election-started"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Signature:
    user: UserId
    signed_at: datetime
    event_id: EventId | None = None


@dataclass(frozen=True)
class Petition:
    """A petition for the re-election of ``role`` in ``assembly``. Signatures are unique per member."""

    ref: str
    assembly: str
    role: Role
    opened_at: datetime
    opened_by: UserId
    signatures: tuple[Signature, ...] = ()
    status: PetitionStatus = PetitionStatus.OPEN
    #: People named to stand (``options=``) besides the current office-holders, in the order named.
    candidates: tuple[UserId, ...] = ()

    def __post_init__(self) -> None:
        users = [s.user for s in self.signatures]
        if len(set(users)) != len(users):
            raise ValueError("a petition holds one signature per member")

    @property
    def signers(self) -> frozenset[UserId]:
        return frozenset(s.user for s in self.signatures)


def open_petition(
    *,
    ref: str,
    assembly: str,
    role: Role,
    opened_by: UserId,
    now: datetime,
    is_member: bool,
    open_petitions: Iterable[Petition] = (),
    event_id: EventId | None = None,
) -> Petition:
    """Open a petition; the person opening it signs it first. One open petition per role at a time."""
    if not is_member:
        raise UserError("only party members can petition for a re-election")
    for other in open_petitions:
        if other.assembly == assembly and other.role is role and other.status is PetitionStatus.OPEN:
            raise UserError(f"a petition for re-electing the {role.value} is already open: sign {other.ref}")
    return Petition(
        ref=ref,
        assembly=assembly,
        role=role,
        opened_at=now,
        opened_by=opened_by,
        signatures=(Signature(opened_by, now, event_id),),
    )


def sign_petition(
    petition: Petition,
    user: UserId,
    *,
    now: datetime,
    is_member: bool,
    event_id: EventId | None = None,
) -> Petition:
    """Add ``user``'s signature. Members only; signing twice is refused rather than counted twice."""
    if petition.status is not PetitionStatus.OPEN:
        raise UserError(f"petition {petition.ref} is closed ({petition.status.value})")
    if not is_member:
        # Said only to the person signing (it is about themselves), never in a room.
        raise UserError("only party members can sign a petition for re-election")
    if user in petition.signers:
        raise UserError(f"you have already signed {petition.ref}")
    return replace(petition, signatures=(*petition.signatures, Signature(user, now, event_id)))


def withdraw_signature(petition: Petition, user: UserId) -> Petition:
    """Take ``user``'s signature back while the petition is open."""
    if petition.status is not PetitionStatus.OPEN:
        raise UserError(f"petition {petition.ref} is closed ({petition.status.value})")
    if user not in petition.signers:
        raise UserError(f"you have not signed {petition.ref}")
    return replace(petition, signatures=tuple(s for s in petition.signatures if s.user != user))


def nominate(petition: Petition, users: Iterable[UserId]) -> Petition:
    """Add ``users`` to the people who stand when the petition's election starts (once each)."""
    if petition.status is not PetitionStatus.OPEN:
        raise UserError(f"petition {petition.ref} is closed ({petition.status.value})")
    candidates = list(petition.candidates)
    for user in users:
        if user not in candidates:
            candidates.append(user)
    return replace(petition, candidates=tuple(candidates))


def petition_election(
    petition: Petition, current: Iterable[RoleAssignment]
) -> tuple[list[UserId], int]:
    """Who stands, and for how many seats, when ``petition`` reaches its threshold.

    The candidates are the current holders of the role, then the people named on the petition
    (``options=``); the secretary never stands for deputy. A secretary election fills one seat; a
    deputy election as many seats as there are deputies now (at least one). The ballot needs more
    candidates than seats, else this says whom to name.
    """
    held = _of(current, petition.assembly)
    holders = [a.user for a in held if a.role is petition.role]
    secretary = next((a.user for a in held if a.role is Role.SECRETARY), None)
    candidates: list[UserId] = []
    for user in (*holders, *petition.candidates):
        if user in candidates or (petition.role is Role.DEPUTY and user == secretary):
            continue
        candidates.append(user)
    seats = 1 if petition.role is Role.SECRETARY else max(1, len(holders))
    if len(candidates) <= seats:
        standing = ", ".join(candidates) or "nobody"
        raise UserError(
            f"{petition.ref} has enough signatures, but only {standing} would stand for "
            f"{seats} seat{'s' if seats > 1 else ''}: name more candidates with options=@a:example.org"
        )
    return candidates, seats


def threshold_reached(petition: Petition, *, threshold: int) -> bool:
    """Whether enough distinct members have signed to start an election."""
    if threshold < 1:
        raise ValueError("the petition threshold must be at least 1")
    return len(petition.signers) >= threshold


def close_petition(petition: Petition, *, status: PetitionStatus) -> Petition:
    """Close an open petition: its election started, or it was withdrawn."""
    if status is PetitionStatus.OPEN:
        raise ValueError("closing needs a closed status")
    if petition.status is not PetitionStatus.OPEN:
        raise UserError(f"petition {petition.ref} is already closed ({petition.status.value})")
    return replace(petition, status=status)
