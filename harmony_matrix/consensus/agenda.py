"""Running a moot: its agenda (items in order, proposals among them), attendance and quorum.

The agenda is an ordered list of items; an item that is a proposal's reference (``P-ops-2``) stands for
that proposal, which is then also on the moot's ``proposals`` (what the moot has to decide). Attendance
is taken by reaction on the moot's start notice; a moot reaches its **quorum** when at least that many
attended (the quorum is per assembly: ``consensus.quorum`` / ``assembly_rules``; 0 means no rule).
Decisions recorded at a moot without quorum are marked so in the record.
"""

from __future__ import annotations

from dataclasses import replace

from harmony_matrix.consensus.moots import Moot, MootStatus
from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId

__all__ = ["ATTENDANCE_KEYS", "ITEM_MAX", "add_item", "attend", "link_proposal", "move_item", "quorum_text",
           "remove_item"]

ITEM_MAX = 300
AGENDA_MAX = 40
#: Reactions on the start notice that mean "I am here".
ATTENDANCE_KEYS = frozenset({"✋", "🙋", "👋", "✅"})


def _editable(moot: Moot) -> None:
    if moot.status is MootStatus.CANCELLED:
        raise UserError(f"{moot.ref} was cancelled; its agenda can't change")


def add_item(moot: Moot, text: str) -> Moot:
    """Append an item to the agenda."""
    _editable(moot)
    item = " ".join(text.split())
    if not item:
        raise UserError("the agenda item is empty")
    if len(item) > ITEM_MAX:
        raise UserError(f"the agenda item is too long ({len(item)} characters; at most {ITEM_MAX})")
    if len(moot.agenda) >= AGENDA_MAX:
        raise UserError(f"{moot.ref} already has {AGENDA_MAX} agenda items")
    return replace(moot, agenda=(*moot.agenda, item))


def link_proposal(moot: Moot, proposal: str) -> Moot:
    """Put a proposal on the agenda (at the end) and on the moot's proposals."""
    _editable(moot)
    if proposal in moot.agenda:
        raise UserError(f"{proposal} is already on the agenda of {moot.ref}")
    return replace(moot, agenda=(*moot.agenda, proposal), proposals=tuple(dict.fromkeys((*moot.proposals, proposal))))


def _position(moot: Moot, number: int) -> int:
    if not 1 <= number <= len(moot.agenda):
        raise UserError(f"{moot.ref}'s agenda has items 1–{len(moot.agenda)}; there is no item {number}"
                        if moot.agenda else f"{moot.ref}'s agenda is empty")
    return number - 1


def move_item(moot: Moot, number: int, to: int) -> Moot:
    """Move item ``number`` (1-based) so it becomes item ``to``."""
    _editable(moot)
    items = list(moot.agenda)
    item = items.pop(_position(moot, number))
    items.insert(_position(moot, to), item)
    return replace(moot, agenda=tuple(items))


def remove_item(moot: Moot, number: int) -> Moot:
    """Take item ``number`` off the agenda (a proposal stays linked to the moot: it was put to it)."""
    _editable(moot)
    items = list(moot.agenda)
    items.pop(_position(moot, number))
    return replace(moot, agenda=tuple(items))


def attend(moot: Moot, user: UserId) -> Moot:
    """Record ``user`` as attending (idempotent)."""
    return moot if user in moot.attendees else replace(moot, attendees=moot.attendees | {user})


def quorum_text(moot: Moot, quorum: int) -> str:
    """``3 attended (quorum 5: not reached)``; without a quorum rule just the count."""
    count = len(moot.attendees)
    if quorum <= 0:
        return f"{count} attended"
    return f"{count} attended (quorum {quorum}: {'reached' if count >= quorum else 'not reached'})"
