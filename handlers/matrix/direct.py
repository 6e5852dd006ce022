"""Direct chats between the bot and one person: where private things are said.

Ballots of secret polls, self-declarations, eligibility explanations and people's own data only ever
go to a person's direct chat. A room counts as direct when it is recorded as such: either the person
opened it (an ``is_direct`` invite) or the bot did. Member counts are not enough: a two-person group
room is not private to the bot's eyes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.ports import Clock
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)


class DirectChatRecords(Protocol):
    """Which room is the bot's direct chat with whom (``storage.core.stores.DirectChatStore``)."""

    async def room_of(self, user_id: str) -> RoomId | None: ...
    async def user_of(self, room_id: str) -> UserId | None: ...
    async def remember(self, user_id: str, room_id: str, *, at: datetime) -> None: ...


class DirectChats:
    """Find, open and remember the bot's direct chat with someone (``Poster.dm`` writes in it)."""

    def __init__(self, *, gateway: MatrixGateway, records: DirectChatRecords, clock: Clock) -> None:
        self.gateway = gateway
        self.records = records
        self.clock = clock

    async def is_direct(self, room_id: str) -> bool:
        """Whether ``room_id`` is a recorded direct chat with someone."""
        return await self.records.user_of(room_id) is not None

    async def remember(self, user_id: str, room_id: str) -> None:
        """Record ``room_id`` as the direct chat with ``user_id`` (their invite, or one the bot opened)."""
        await self.records.remember(user_id, room_id, at=self.clock())

    async def room_for(self, user_id: str) -> RoomId:
        """The person's direct chat, opening one if there is none (or the old one is gone)."""
        room_id = await self.records.room_of(user_id)
        if room_id is not None:
            try:
                members = await self.gateway.joined_members(room_id)
            except MatrixError:
                members = set()
            if self.gateway.user_id in members and (user_id in members or await self._invited(room_id, user_id)):
                return room_id
        room_id = await self.gateway.create_direct_room(user_id)
        await self.remember(user_id, room_id)
        return room_id

    async def _invited(self, room_id: str, user_id: str) -> bool:
        try:
            return any(m.user_id == user_id and m.membership == "invite" for m in await self.gateway.members(room_id))
        except MatrixError:
            return False
