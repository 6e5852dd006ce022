"""Seats taken by the drawn (pure): terms, reminders, standing down and who takes a seat given up.

A draw's selected members take a seat in the assembly it fills (as delegates of their branch in the
umbrella, or as members of a council whose access is ``drawn``) until the draw's term ends. A member
who stands down is replaced by the first alternate *of the same type* in lot order who has not been
seated yet (the record's ``alternates`` keep that order), so the quotas still hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from harmony_matrix.sortition.arguments import SeatPower

__all__ = ["Seat", "SeatStatus", "TermReminder", "next_alternate", "term_reminders"]


class SeatStatus(StrEnum):
    """A seat's state; only ``seated`` seats within their term count."""

    SEATED = "seated"
    STOOD_DOWN = "stood-down"
    ENDED = "ended"


@dataclass(frozen=True)
class Seat:
    """One person's seat from one draw. ``via`` is ``drawn`` or ``alternate``."""

    id: int
    draw: str
    assembly: str
    user: str
    type: str
    pseudonym: str
    since: datetime
    term_ends: datetime
    power: SeatPower
    status: SeatStatus = SeatStatus.SEATED
    via: str = "drawn"
    ended_at: datetime | None = None

    def current(self, now: datetime) -> bool:
        """Seated and within the term."""
        return self.status is SeatStatus.SEATED and now < self.term_ends


def next_alternate(alternates: Sequence[Mapping[str, str]], *, type_label: str,
                   used: Iterable[str]) -> str | None:
    """The pseudonym of the first alternate of ``type_label`` (record order) not in ``used``."""
    taken = set(used)
    for entry in alternates:
        if entry["type"] == type_label and entry["pseudonym"] not in taken:
            return entry["pseudonym"]
    return None


@dataclass(frozen=True)
class TermReminder:
    """A reminder due for a draw's seats: ``ending`` (within the notice) or ``ended``."""

    draw: str
    kind: str
    term_ends: datetime

    @property
    def key(self) -> str:
        """Stored once sent, so a restart does not repeat it."""
        return f"draw-term:{self.draw}:{self.kind}"


def term_reminders(seats: Iterable[Seat], *, now: datetime, notice: timedelta) -> list[TermReminder]:
    """The reminders due now, one per draw (its seats share one term), ended before ending."""
    ends: dict[str, datetime] = {}
    for seat in seats:
        if seat.status is SeatStatus.SEATED:
            ends[seat.draw] = max(ends.get(seat.draw, seat.term_ends), seat.term_ends)
    due: list[TermReminder] = []
    for draw, term_ends in sorted(ends.items()):
        if now >= term_ends:
            due.append(TermReminder(draw, "ended", term_ends))
        elif now >= term_ends - notice:
            due.append(TermReminder(draw, "ending", term_ends))
    return due
