"""Who is in an assembly's rooms, and bringing someone in or taking them out (through the gateway).

"Has this person joined?" is the gateway's answer (``MatrixGateway.current_joined``: the sync cache,
else the server); nothing here reads nio's cache itself. Log lines name rooms, never people: being
in an assembly's room can reveal a membership or a declaration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from handlers.matrix.gateway import Forbidden, MatrixError, MatrixGateway
from harmony_matrix import event_types as et
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)


class Presence:
    """Membership of people in rooms, read and changed through the gateway."""

    def __init__(self, gateway: MatrixGateway) -> None:
        self.gateway = gateway

    @property
    def bot(self) -> UserId:
        """The bot itself, never subject to an assembly's rules."""
        return self.gateway.user_id

    async def joined(self, room_id: str) -> set[UserId]:
        """Who has joined ``room_id``; a room whose members cannot be read counts as empty."""
        try:
            return await self.gateway.current_joined(room_id)
        except MatrixError as exc:
            # Asked once per space for every decision: a room the bot has lost would flood the log.
            log.debug("could not read the members of %s: %s", room_id, exc)
            return set()

    async def first_joined(self, room_ids: Iterable[str], user_id: str) -> RoomId | None:
        """The first of ``room_ids`` that ``user_id`` has joined (the sync cache, then the server, so a
        join made moments ago counts), or None."""
        return await self.gateway.first_joined(room_ids, user_id)

    async def is_invited(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` holds an invitation to ``room_id`` they have not answered yet."""
        try:
            member = await self.gateway.get_state_event(room_id, et.ROOM_MEMBER, user_id)
        except MatrixError as exc:
            log.warning("could not read a membership in %s: %s", room_id, exc)
            return False
        return member is not None and member.get("membership") == "invite"

    async def invite(self, room_id: str, user_id: str) -> bool:
        """Invite ``user_id``; False when the server refuses (already in the room, or banned) or fails."""
        try:
            await self.gateway.invite(room_id, user_id)
            return True
        except Forbidden as exc:
            # Already in the room (or banned): not worth more than a debug line.
            log.debug("invite to %s not sent: %s", room_id, exc.errcode)
        except MatrixError as exc:
            log.warning("could not invite someone to %s: %s", room_id, exc)
        return False

    async def remove(self, room_id: str, user_id: str, *, reason: str) -> bool:
        """Kick ``user_id`` from ``room_id`` with a public ``reason``; False when that failed."""
        try:
            await self.gateway.kick(room_id, user_id, reason=reason)
            return True
        except MatrixError as exc:
            log.warning("could not remove someone from %s: %s", room_id, exc)
            return False
