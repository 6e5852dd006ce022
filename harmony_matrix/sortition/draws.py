"""A draw's life on the bot's side (pure): set up → witnesses commit → pool frozen → reveals → drawn,
or cancelled (on record, with its reason) at any point before it is drawn.

* ``committing``: announced with its purpose, seats, pool, quotas and named witnesses; each witness
  posts ``sha256(secret)``. The pool is not frozen yet, so nobody can pick a secret after seeing it.
* ``frozen``: once every named witness has committed (or a secretary freezes with enough of them), the
  pool is frozen: pseudonyms, the pool commitment and the tickets are fixed and announced, and each
  member is told privately their pseudonym, salt, type and probability. Witnesses now reveal.
* ``drawn`` / ``cancelled``: when every committed witness has revealed, or the reveal deadline passes,
  the lot is drawn from the reveals in time (a witness who did not reveal is recorded and left out);
  too few reveals cancel the draw on record (``witnesses.check_witnesses`` decides).

Every rule here is a function of the draw and "now"; the Matrix edge stores and announces.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from harmony_matrix.errors import UserError
from harmony_matrix.refs import make_ref
from harmony_matrix.sortition.arguments import DRAW_LETTER, PoolKind, QuotaRow, SeatPower
from harmony_matrix.sortition.witnesses import MIN_WITNESSES, Witness, check_reveal
from harmony_matrix.sortition.errors import WitnessError

__all__ = [
    "Draw",
    "DrawRequest",
    "DrawStatus",
    "DrawWitness",
    "check_named_witnesses",
    "commit_refusal",
    "freeze_refusal",
    "make_draw_ref",
    "reveal_refusal",
    "ready_to_draw",
]


class DrawStatus(StrEnum):
    """Where a draw is in its life (see the module docstring)."""

    COMMITTING = "committing"
    FROZEN = "frozen"
    DRAWN = "drawn"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Drawn or cancelled: nothing about it changes any more."""
        return self in (DrawStatus.DRAWN, DrawStatus.CANCELLED)


@dataclass(frozen=True)
class DrawRequest:
    """What the secretary asked for when announcing the draw (stored as is)."""

    purpose: str
    seat_in: str
    pool: PoolKind
    seats: int | None
    per_branch: int | None
    quotas: tuple[QuotaRow, ...]
    power: SeatPower
    alternates: int
    term_length: timedelta | None
    term_ends: datetime | None
    authorised_by: str | None
    beacon: str | None

    def as_data(self) -> dict[str, Any]:
        """Plain JSON data (for the store)."""
        return {
            "purpose": self.purpose, "seat_in": self.seat_in, "pool": self.pool.value, "seats": self.seats,
            "per_branch": self.per_branch, "power": self.power.value, "alternates": self.alternates,
            "quotas": [[q.category, q.value, q.min, q.max] for q in self.quotas],
            "term_seconds": None if self.term_length is None else self.term_length.total_seconds(),
            "term_ends": None if self.term_ends is None else self.term_ends.isoformat(),
            "authorised_by": self.authorised_by, "beacon": self.beacon,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> DrawRequest:
        """The request back from :meth:`as_data`."""
        seconds = data.get("term_seconds")
        ends = data.get("term_ends")
        return cls(
            purpose=data["purpose"], seat_in=data["seat_in"], pool=PoolKind(data["pool"]), seats=data["seats"],
            per_branch=data["per_branch"], power=SeatPower(data["power"]), alternates=int(data["alternates"]),
            quotas=tuple(QuotaRow(c, v, int(lo), None if hi is None else int(hi)) for c, v, lo, hi in data["quotas"]),
            term_length=None if seconds is None else timedelta(seconds=seconds),
            term_ends=None if ends is None else datetime.fromisoformat(ends),
            authorised_by=data.get("authorised_by"), beacon=data.get("beacon"))

    def term_end(self, drawn_at: datetime) -> datetime:
        """When the seats of a draw made at ``drawn_at`` end."""
        if self.term_ends is not None:
            return self.term_ends
        assert self.term_length is not None, "a request has a term length or an end"
        return drawn_at + self.term_length


@dataclass(frozen=True)
class DrawWitness:
    """A named witness; ``commitment`` and ``reveal`` are None until posted."""

    user: str
    commitment: str | None = None
    reveal: str | None = None


@dataclass(frozen=True)
class Draw:
    """A draw as stored. ``reveal_by`` is known once the pool is frozen (or set at the announcement)."""

    ref: str
    assembly: str
    request: DrawRequest
    status: DrawStatus
    created_by: str
    created_at: datetime
    room_id: str
    witnesses: tuple[DrawWitness, ...] = ()
    reveal_by: datetime | None = None
    frozen_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_reason: str | None = None
    #: The frozen pool and tickets (``categories``, ``quotas``, ``pool``, ``algorithm``, ``tickets``,
    #: ``pool_commitment``, ``tickets_hash``, ``probabilities``), then the published record.
    frozen: Mapping[str, Any] | None = field(default=None, repr=False)
    record: Mapping[str, Any] | None = field(default=None, repr=False)

    def witness(self, user: str) -> DrawWitness | None:
        """The named witness ``user``, or None."""
        return next((w for w in self.witnesses if w.user == user), None)

    @property
    def committed(self) -> tuple[DrawWitness, ...]:
        """Witnesses who posted a commitment."""
        return tuple(w for w in self.witnesses if w.commitment is not None)

    def record_witnesses(self) -> list[Witness]:
        """The witnesses as the record lists them: everyone who committed, with their reveal or None."""
        return [Witness(w.user, w.commitment, w.reveal) for w in self.witnesses if w.commitment is not None]


def make_draw_ref(assembly: str, number: int) -> str:
    """``S-party-3``."""
    return make_ref(DRAW_LETTER, assembly, number)


def check_named_witnesses(witnesses: Sequence[str], *, officers: Collection[str]) -> None:
    """At least two different witnesses, at least one of them not a secretary of the assembly."""
    if len(set(witnesses)) != len(witnesses):
        raise UserError("a witness is named twice")
    if len(witnesses) < MIN_WITNESSES:
        raise UserError(f"name at least {MIN_WITNESSES} witnesses: witnesses=@a:example.org,@b:example.org")
    if all(w in officers for w in witnesses):
        raise UserError("at least one witness must not be a secretary or deputy of the assembly")


def commit_refusal(draw: Draw, user: str) -> str | None:
    """Why ``user`` may not post a commitment now, or None."""
    if draw.witness(user) is None:
        return f"You are not a witness of {draw.ref}."
    if draw.status is not DrawStatus.COMMITTING:
        return f"{draw.ref} is {draw.status.value}: commitments were taken before its pool was frozen."
    return None


def freeze_refusal(draw: Draw, *, officers: Collection[str], now: datetime) -> str | None:
    """Why the pool of ``draw`` may not be frozen now, or None (the witness rules of the spec)."""
    if draw.status is not DrawStatus.COMMITTING:
        return f"{draw.ref} is {draw.status.value}; only a draw awaiting commitments can be frozen."
    committed = draw.committed
    if len(committed) < MIN_WITNESSES:
        return f"{draw.ref} has {len(committed)} commitment(s); freezing needs at least {MIN_WITNESSES}."
    if all(w.user in officers for w in committed):
        return f"every witness who committed to {draw.ref} is a secretary or deputy; one must not be."
    if draw.reveal_by is not None and draw.reveal_by <= now:
        return f"the reveal deadline of {draw.ref} has passed; cancel it and announce a new draw."
    return None


def reveal_refusal(draw: Draw, user: str, reveal: str, *, now: datetime) -> str | None:
    """Why this reveal is not taken, or None (it then counts for the seed)."""
    witness = draw.witness(user)
    if witness is None or witness.commitment is None:
        return f"You have no commitment in {draw.ref}, so there is nothing to reveal."
    if draw.status is DrawStatus.COMMITTING:
        return (f"Too early: the pool of {draw.ref} is not frozen yet. Keep your secret until it is "
                "announced frozen.")
    if draw.status is not DrawStatus.FROZEN or (draw.reveal_by is not None and now >= draw.reveal_by):
        return f"Too late: the reveals of {draw.ref} are closed."
    if witness.reveal is not None:
        return None if witness.reveal == reveal else f"You already revealed a different secret for {draw.ref}."
    try:
        check_reveal(Witness(user, witness.commitment), reveal)
    except WitnessError as exc:
        return f"{exc.message[0].upper()}{exc.message[1:]}; check the secret and send it again."
    return None


def ready_to_draw(draw: Draw, *, now: datetime) -> bool:
    """A frozen draw is drawn once every committed witness revealed, or at the reveal deadline."""
    if draw.status is not DrawStatus.FROZEN:
        return False
    if all(w.reveal is not None for w in draw.committed):
        return True
    return draw.reveal_by is not None and now >= draw.reveal_by
