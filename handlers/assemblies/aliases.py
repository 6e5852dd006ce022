"""Readable addresses for the rooms the bot creates: ``#party:server`` for a space,
``#party-discussion:server`` for its rooms (``room_policy.room_alias``).

Room version 12 IDs have no server part and some clients (matrix-commander) cannot open them; an
alias works everywhere. New rooms get theirs when they are created (``room_alias_name``); rooms
created before, or whose alias was removed, get it on the next reconcile (``assembly sync``, the
start of the bot, an import). A room that already has a canonical alias keeps it: a secretary may
have chosen another. An alias another room holds is left alone (logged), never taken over.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from handlers.assemblies.stores import RegistryStore
from handlers.matrix.gateway import MatrixError, MatrixGateway, NotFound
from harmony_matrix import event_types as et
from harmony_matrix.assemblies.room_policy import RoomKind, room_alias
from harmony_matrix.assemblies.room_state import Drift, DriftKind, RoomState
from harmony_matrix.ids import RoomId

log = logging.getLogger(__name__)

#: Synapse's answer when an alias already points at a room.
ALIAS_TAKEN = "M_ROOM_IN_USE"


class Aliases:
    """Creates and records the canonical aliases of an assembly's rooms."""

    def __init__(self, *, gateway: MatrixGateway, registry: RegistryStore) -> None:
        self.gateway = gateway
        self.registry = registry

    def alias_for(self, slug: str, kind: RoomKind) -> str:
        """The alias the room of ``kind`` of ``slug`` should have on the bot's server."""
        return room_alias(slug, kind, self.gateway.server_name)

    async def resolve(self, alias: str) -> RoomId | None:
        """The room ``alias`` points to, or None when nobody holds it."""
        try:
            found = await self.gateway.request("GET", f"/v3/directory/room/{quote(alias, safe='')}")
        except NotFound:
            return None
        return RoomId(str(found.get("room_id", ""))) or None

    async def ensure(self, slug: str, kind: RoomKind, room_id: RoomId, actual: RoomState, *,
                     recorded: str | None) -> Drift | None:
        """Give the room its canonical alias if it has none; record the alias it has.

        Returns the repair made (for ``assembly sync``'s report), or None when nothing was sent.
        """
        current: Mapping[str, Any] = actual.get(et.ROOM_CANONICAL_ALIAS) or {}
        if current.get("alias"):
            if current["alias"] != recorded:
                await self.registry.set_alias(room_id, str(current["alias"]))
            return None
        alias = self.alias_for(slug, kind)
        holder = await self.resolve(alias)
        if holder is not None and holder != room_id:
            log.warning("the alias %s already points to another room (%s); %s keeps none", alias, holder,
                        room_id)
            return None
        try:
            if holder is None:
                await self.gateway.request("PUT", f"/v3/directory/room/{quote(alias, safe='')}",
                                           {"room_id": room_id})
            content = {**current, "alias": alias}
            await self.gateway.put_state(room_id, et.ROOM_CANONICAL_ALIAS, content)
        except MatrixError as exc:
            log.warning("could not give %s the alias %s: %s", room_id, alias, exc)
            return None
        await self.registry.set_alias(room_id, alias)
        return Drift(et.ROOM_CANONICAL_ALIAS, "", DriftKind.MISSING, ("missing",), content)
