"""What the public web view may show: the one rule, pure.

Never shown, anywhere: party membership, self-declarations, admissions, ballots and reactions, voter
lists, who attended a moot or wrote its minutes, direct-message content (the read side,
``storage/public/queries.py``, does not even load them). On top of that:

* An assembly with **limited** access (``invite``, ``self-identified``) shows only what its space's
  public state says (``org.harmony.assembly``: name, kind, access, reference, purpose, nesting, the
  declaration statement; the remit as its topic): no officers, moots, polls, decisions or draws.
  A self-identified assembly's space can be asked to join (knock), so it is linked; an invite-only
  one is not.
* The **secretariat** is private: never linked, and polls held there are not public.
* A poll shows its question, options, state and, once closed, its results and turnout (a secret poll
  publishes nothing else either: see ``docs/spec/product.md`` §2).
"""

from __future__ import annotations

from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind

__all__ = ["LIMITED_ACCESS", "linked_room_kinds", "poll_is_public", "record_is_public", "shows_record"]

#: Access policies whose assemblies show only their space's public state.
LIMITED_ACCESS = frozenset({Access.INVITE, Access.SELF_IDENTIFIED})

#: Rooms a page may link to, in display order (never the secretariat).
_OPEN_ROOMS = (RoomKind.SPACE, RoomKind.DISCUSSION, RoomKind.ANNOUNCEMENTS, RoomKind.VOTES)
#: Rooms whose polls are public.
_POLL_ROOMS = frozenset({RoomKind.DISCUSSION, RoomKind.ANNOUNCEMENTS, RoomKind.VOTES})


def shows_record(assembly: Assembly) -> bool:
    """Whether the assembly's officers, moots, polls, decisions and draws are public."""
    return assembly.access not in LIMITED_ACCESS


def linked_room_kinds(assembly: Assembly) -> tuple[RoomKind, ...]:
    """The rooms of ``assembly`` a page links to (matrix.to)."""
    if assembly.access is Access.INVITE:
        return ()
    if assembly.access is Access.SELF_IDENTIFIED:
        return (RoomKind.SPACE,)
    return _OPEN_ROOMS


def record_is_public(assembly_slug: str, federation: Federation) -> bool:
    """Whether a decision, moot or draw of ``assembly_slug`` may be shown (an assembly no longer in
    the registry: no, its access is unknown)."""
    assembly = federation.get(assembly_slug)
    return assembly is not None and shows_record(assembly)


def poll_is_public(room: AssemblyRoom | None, federation: Federation) -> bool:
    """Whether a poll held in ``room`` may be shown: a room of an assembly with a public record, not its
    secretariat (a poll in any other room, e.g. a direct chat, is not public)."""
    return room is not None and room.kind in _POLL_ROOMS and record_is_public(room.slug, federation)
