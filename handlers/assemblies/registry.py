"""The registry of assemblies as the running bot holds it: loaded once, reloaded after every change
(its own, or another process's: see ``changed_elsewhere``), shared by every part of the feature."""

from __future__ import annotations

import asyncio

from handlers.assemblies.stores import RegistryStore
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId


class LiveRegistry:
    """The federation as last loaded from the store, and the lock that orders changes to it.

    ``lock`` is held while the registry or the rooms' state change (an import, new officers, a
    repair), so an import and a revert never interleave their writes.
    """

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.current = Federation()
        #: The store's change counter when ``current`` was loaded.
        self.generation = -1
        self.lock = asyncio.Lock()

    async def refresh(self) -> Federation:
        """Reload the registry (``harmony-matrix import`` may have changed it meanwhile)."""
        # The counter first: a change made while the federation loads is then seen by the next check.
        generation = await self.store.generation()
        self.current = await self.store.federation()
        self.generation = generation
        return self.current

    async def changed_elsewhere(self) -> bool:
        """Whether the registry changed since it was last loaded: one cheap read, for polling."""
        return await self.store.generation() != self.generation

    def assembly(self, slug: str, *, prefix: str) -> Assembly:
        """The assembly ``slug``; a UserError for an unknown one points to ``{prefix} assemblies``."""
        found = self.current.get(slug)
        if found is None:
            known = ", ".join(self.current.slugs[:8])
            raise UserError(f'There is no assembly "{slug}". Send {prefix} assemblies for the list'
                            + (f" (e.g. {known})." if known else "."))
        return found

    async def rooms_of(self, slug: str) -> dict[str, RoomId]:
        """``kind → room ID`` of an assembly's provisioned rooms, ``"space"`` among them."""
        return await self.store.rooms_of(slug)

    async def room_of(self, slug: str, kind: RoomKind) -> RoomId | None:
        """One room of an assembly (its space, its secretariat, …), or None if not provisioned."""
        return (await self.store.rooms_of(slug)).get(kind.value)
