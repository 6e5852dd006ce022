"""Who may do what, as the command router and the invite policy ask it (``Permissions``).

Admins come from the config; secretaries and deputies are an assembly's officers, who manage that
assembly only (``access.may_manage``): officers of an umbrella do not manage what is nested in it.
"""

from __future__ import annotations

from collections.abc import Iterable

from handlers.assemblies.registry import LiveRegistry
from handlers.matrix.commands import RoomContext
from handlers.matrix.direct import DirectChats
from harmony_matrix.assemblies.access import PersonFacts, may_manage
from harmony_matrix.commands import Role
from harmony_matrix.ids import RoomId, UserId


class AssemblyPermissions:
    """The router's ``Permissions`` with assemblies: rooms know their assembly, officers their role."""

    def __init__(self, *, registry: LiveRegistry, direct: DirectChats, admins: Iterable[str]) -> None:
        self.registry = registry
        self.direct = direct
        self.admins = frozenset(admins)

    async def room_context(self, room_id: RoomId) -> RoomContext:
        """Which assembly (and which of its rooms) ``room_id`` is, or whether it is a direct chat."""
        room = await self.registry.room(room_id)
        if room is not None:
            return RoomContext(room_id=room_id, is_direct=False, assembly=room.slug, room_kind=room.kind)
        return RoomContext(room_id=room_id, is_direct=await self.direct.is_direct(room_id))

    async def role_of(self, user_id: UserId, room: RoomContext) -> Role:
        """Admins everywhere; officers of the room's assembly are secretaries there."""
        if user_id in self.admins:
            return Role.ADMIN
        assembly = self.registry.current.get(room.assembly) if room.assembly else None
        if assembly is not None and user_id in assembly.officers:
            return Role.SECRETARY
        return Role.EVERYONE

    async def manages(self, user_id: UserId, slug: str) -> bool:
        """Officers of ``slug`` manage it (``access.may_manage``); an unknown slug has no officers."""
        assembly = self.registry.current.get(slug)
        return assembly is not None and may_manage(PersonFacts(user_id=user_id), assembly)

    async def may_invite_bot(self, user_id: UserId) -> bool:
        """Secretaries and deputies may invite the bot to rooms (``InvitePolicy``)."""
        return any(user_id in assembly.officers for assembly in self.registry.current)
