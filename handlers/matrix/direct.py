"""Direct chats between the bot and one person: where private things are said.

Ballots of secret polls, self-declarations, eligibility explanations and people's own data only ever
go to a person's direct chat. A room counts as direct when it is recorded as such: either the person
opened it (an ``is_direct`` invite) or the bot did. Member counts are not enough: a two-person group
room is not private to the bot's eyes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.render import notice

log = logging.getLogger(__name__)


class DirectChatRecords(Protocol):
    async def room_of(self, user_id: str) -> str | None: ...
    async def user_of(self, room_id: str) -> str | None: ...
    async def remember(self, user_id: str, room_id: str, *, at: datetime) -> None: ...
    async def forget(self, user_id: str) -> None: ...


class DirectChats:
    """Find, open and use the bot's direct chat with someone."""

    def __init__(self, *, gateway: MatrixGateway, records: DirectChatRecords, clock: Callable[[], datetime]) -> None:
        self.gateway = gateway
        self.records = records
        self.clock = clock

    async def is_direct(self, room_id: str) -> bool:
        return await self.records.user_of(room_id) is not None

    async def remember(self, user_id: str, room_id: str) -> None:
        await self.records.remember(user_id, room_id, at=self.clock())

    async def room_for(self, user_id: str) -> str:
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

    async def tell(self, user_id: str, text: str, html: str | None = None, *, txn_seed: str | None = None) -> str:
        """Send a private notice to one person and return their direct chat's room ID.

        ``txn_seed`` makes a replayed send a no-op (the server deduplicates the transaction)."""
        room_id = await self.room_for(user_id)
        await self.gateway.send_event(room_id, "m.room.message", notice(text, html), txn_seed=txn_seed)
        return room_id
