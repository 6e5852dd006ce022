"""The registry of assemblies as the running bot holds it: loaded once, reloaded after every change
(its own, or another process's: see ``changed_elsewhere``), shared by every part of the feature.

The rooms of the assemblies are held with it (by room ID, and by assembly and kind), so "which
assembly is this room in?" and "which are the spaces?" are answered from memory on every event and
every access check, not read from the database each time. The bot's own writes go through this
object (it is the ``RegistryStore`` the provisioner writes to) and update the index as they are
stored; another process's (``harmony-matrix import``) are picked up by ``refresh``.
"""

from __future__ import annotations

import asyncio

from handlers.assemblies.stores import RegistryStore
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId


class LiveRegistry:
    """The federation and its rooms as last loaded from the store, and the lock that orders changes.

    ``lock`` is held while the registry or the rooms' state change (an import, new officers, a
    repair), so an import and a revert never interleave their writes.
    """

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.current = Federation()
        #: The store's change counter when ``current`` was loaded.
        self.loaded_generation = -1
        self.lock = asyncio.Lock()
        self._rooms: dict[RoomId, AssemblyRoom] = {}
        self._spaces: dict[RoomId, str] | None = None  # derived from _rooms and current; None: to compute

    async def refresh(self) -> Federation:
        """Reload the registry and its rooms (``harmony-matrix import`` may have changed them meanwhile)."""
        # The counter first: a change made while the federation loads is then seen by the next check.
        generation = await self.store.generation()
        self.current = await self.store.federation()
        self._set_rooms({room.room_id: room for room in await self.store.all_rooms()})
        self.loaded_generation = generation
        return self.current

    async def changed_elsewhere(self) -> bool:
        """Whether the registry changed since it was last loaded: one cheap read, for polling."""
        return await self.store.generation() != self.loaded_generation

    def assembly(self, slug: str, *, prefix: str) -> Assembly:
        """The assembly ``slug``; a UserError for an unknown one points to ``{prefix} assemblies``."""
        found = self.current.get(slug)
        if found is None:
            known = ", ".join(self.current.slugs[:8])
            raise UserError(f'There is no assembly "{slug}". Send {prefix} assemblies for the list'
                            + (f" (e.g. {known})." if known else "."))
        return found

    def spaces(self) -> dict[RoomId, str]:
        """``space room ID → slug`` of every assembly in the registry that has a space (kept until the
        registry or its rooms change: every access check asks)."""
        if self._spaces is None:
            self._spaces = {room.room_id: room.slug for room in self._rooms.values()
                            if room.kind is RoomKind.SPACE and room.slug in self.current}
        return dict(self._spaces)

    def _set_rooms(self, rooms: dict[RoomId, AssemblyRoom]) -> None:
        self._rooms = rooms
        self._spaces = None

    async def room_of(self, slug: str, kind: RoomKind) -> RoomId | None:
        """One room of an assembly (its space, its secretariat, …), or None if not provisioned."""
        return (await self.rooms_of(slug)).get(kind.value)

    # -- the RegistryStore the provisioner writes to: reads from memory, writes through ---------------

    async def generation(self) -> int:
        """The store's change counter."""
        return await self.store.generation()

    async def federation(self) -> Federation:
        """The registry as stored now."""
        return await self.store.federation()

    async def save(self, assembly: Assembly, *, position: int | None = None) -> None:
        """Store one assembly (``refresh`` takes it into ``current``)."""
        await self.store.save(assembly, position=position)

    async def remove(self, slug: str) -> None:
        """Forget an assembly and its rooms."""
        await self.store.remove(slug)
        self._set_rooms({room_id: room for room_id, room in self._rooms.items() if room.slug != slug})

    async def set_room(self, slug: str, kind: str, room_id: RoomId, *, room_version: str = "12") -> None:
        """Record the room of ``kind`` for ``slug`` (replacing an earlier one of that kind)."""
        await self.store.set_room(slug, kind, room_id, room_version=room_version)
        rooms = {rid: room for rid, room in self._rooms.items() if (room.slug, room.kind.value) != (slug, kind)}
        rooms[room_id] = AssemblyRoom(slug, RoomKind(kind), room_id, room_version)
        self._set_rooms(rooms)

    async def set_alias(self, room_id: RoomId, alias: str | None) -> None:
        """Record a room's canonical alias."""
        await self.store.set_alias(room_id, alias)
        room = self._rooms.get(room_id)
        if room is not None:
            self._rooms[room_id] = AssemblyRoom(room.slug, room.kind, room.room_id, room.room_version, alias)

    async def rooms_of(self, slug: str) -> dict[str, RoomId]:
        """``kind → room ID`` of an assembly's provisioned rooms, ``"space"`` among them."""
        return {room.kind.value: room.room_id for room in self._rooms.values() if room.slug == slug}

    async def room(self, room_id: str) -> AssemblyRoom | None:
        """Which assembly (and kind) a room belongs to, or None."""
        return self._rooms.get(RoomId(room_id))

    async def all_rooms(self) -> list[AssemblyRoom]:
        """Every provisioned room, by slug and kind."""
        return sorted(self._rooms.values(), key=lambda room: (room.slug, room.kind.value))
