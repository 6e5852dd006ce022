"""Secretaries and deputies: who holds which role, for how long, and how it was decided.

Secretaries organise (meetings, note-taking); they do not lead. An assembly has at most one secretary
and any number of deputies, and a person holds at most one of the two roles in an assembly. Every
assignment records how it was decided (consensus, election, appointment) and the Matrix event IDs that
prove it. Role changes come back as a ``RoleChange`` (who gained, who lost a role), which the Matrix
side turns into power-level updates in every room of the assembly.

Members may petition for a re-election: see ``harmony_matrix.consensus.petitions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId

__all__ = [
    "DEFAULT_TERM_NOTICE",
    "HowDecided",
    "Mandate",
    "Role",
    "RoleAssignment",
    "RoleChange",
    "TermReminder",
    "TermReminderKind",
    "add_deputy",
    "apply_election_result",
    "remove_deputy",
    "set_secretary",
    "term_reminders",
    "validate_election",
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


@dataclass(frozen=True)
class Mandate:
    """How a role comes to be held: since when, how it was decided, until when (``None``: no set term),
    the Matrix event IDs that prove it and the decision or poll behind it. The same for every role."""

    since: datetime
    how_decided: HowDecided
    term_ends: datetime | None = None
    evidence: tuple[EventId, ...] = ()
    decision_ref: str | None = None

    def assign(self, *, assembly: str, user: UserId, role: Role) -> RoleAssignment:
        """``user`` holding ``role`` in ``assembly`` by this mandate."""
        return RoleAssignment(assembly=assembly, user=user, role=role, since=self.since,
                              how_decided=self.how_decided, term_ends=self.term_ends,
                              evidence=tuple(self.evidence), decision_ref=self.decision_ref)


def _check_term(mandate: Mandate) -> None:
    if mandate.term_ends is not None and mandate.term_ends <= mandate.since:
        raise UserError("the term must end after it starts")


def set_secretary(
    current: Iterable[RoleAssignment], *, assembly: str, user: UserId, mandate: Mandate
) -> RoleChange:
    """Make ``user`` the secretary of ``assembly``, replacing the current one.

    A deputy who becomes secretary stops being a deputy (one person, one role).
    """
    _check_term(mandate)
    before = _of(current, assembly)
    existing = next((a for a in before if a.role is Role.SECRETARY), None)
    if existing is not None and existing.user == user and existing.term_ends == mandate.term_ends:
        raise UserError(f"{user} is already the secretary")
    new = mandate.assign(assembly=assembly, user=user, role=Role.SECRETARY)
    after = [a for a in before if a.role is not Role.SECRETARY and a.user != user] + [new]
    return _change(before, after)


def add_deputy(
    current: Iterable[RoleAssignment], *, assembly: str, user: UserId, mandate: Mandate
) -> RoleChange:
    """Add ``user`` as a deputy. Refused if they already are one, or are the secretary."""
    before = _of(current, assembly)
    held = next((a for a in before if a.user == user), None)
    if held is not None:
        raise UserError(f"{user} is already the {held.role.value} of this assembly")
    _check_term(mandate)
    return _change(before, [*before, mandate.assign(assembly=assembly, user=user, role=Role.DEPUTY)])


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
    role: Role | None,
    options: Sequence[UserId],
    seats: int = 1,
) -> None:
    """Check an ``election start`` before a poll is created, so nothing is recorded half-way. ``role``
    None: an office other than secretary or deputy (``harmony_matrix.consensus.offices``)."""
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
    mandate = Mandate(since=decided_at, how_decided=HowDecided.ELECTION, term_ends=term_ends,
                      evidence=tuple(evidence), decision_ref=poll_ref)
    if role is Role.SECRETARY:
        if len(winners) != 1:
            raise ValueError("a secretary election has exactly one winner")
        [winner] = winners
        existing = next((a for a in before if a.role is Role.SECRETARY), None)
        if existing is not None and existing.user == winner:
            # Re-elected: a fresh term and fresh evidence, same person.
            renewed = mandate.assign(assembly=assembly, user=winner, role=Role.SECRETARY)
            return _change(before, [renewed if a is existing else a for a in before])
        return set_secretary(before, assembly=assembly, user=winner, mandate=mandate)
    secretary = next((a for a in before if a.role is Role.SECRETARY), None)
    if secretary is not None and secretary.user in winners:
        raise UserError(f"{secretary.user} is the secretary and can't also be elected deputy")
    deputies = [mandate.assign(assembly=assembly, user=winner, role=Role.DEPUTY) for winner in winners]
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
    term_ends: datetime  # the assignment's (only a term that ends is reminded of)

    @property
    def key(self) -> str:
        a = self.assignment
        return f"term/{a.assembly}/{a.role.value}/{a.user}/{self.term_ends.isoformat()}/{self.kind.value}"


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
            reminders.append(TermReminder(assignment, TermReminderKind.ENDED, timedelta(0), ends))
        else:
            reminders.append(TermReminder(assignment, TermReminderKind.ENDING, ends - now, ends))
    reminders.sort(key=lambda r: (r.term_ends, r.assignment.assembly, r.assignment.user))
    return reminders
