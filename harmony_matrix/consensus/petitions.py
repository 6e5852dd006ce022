"""Petitions for re-electing an assembly's secretary or deputies.

Members may petition for a re-election; when enough distinct members have signed (the threshold is
set in config), an election starts. The current office-holders stand in it, with anyone the signers
named on the petition (``petition_election``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from harmony_matrix.consensus.roles import Role, RoleAssignment
from harmony_matrix.errors import PrivateRefusal, UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.refs import make_ref

__all__ = [
    "Petition",
    "PetitionStatus",
    "Signature",
    "close_petition",
    "make_petition_ref",
    "nominate",
    "open_petition",
    "petition_election",
    "sign_petition",
    "threshold_reached",
    "withdraw_signature",
]


def make_petition_ref(assembly: str, number: int) -> str:
    """The reference of the ``number``-th petition of an assembly: ``R-<assembly>-<n>``."""
    return make_ref("R", assembly, number)


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
        raise PrivateRefusal("only registered party members can petition for a re-election")
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
        raise PrivateRefusal("only registered party members can sign a petition for re-election")
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
    held = [a for a in current if a.assembly == petition.assembly]
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
