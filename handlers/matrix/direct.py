"""Direct chats between the bot and one person: where private things are said.

Ballots of secret polls, self-declarations, eligibility explanations and people's own data only ever
go to a person's direct chat. **A room is a direct chat when the bot and exactly one person are in it
(joined or invited) and nobody can join it without an invite**, whatever flag created it: Element's
``is_direct``, a client that sets no flag, a room the bot opened. Counting the invited matters (an
invited person can join and read what follows), and so does the join rule: a public room with two
people in it today is not private tomorrow. The ``is_direct`` flag alone is not enough either: a
third person may have been invited since.

The bot remembers which room is its direct chat with whom (the person's ``is_direct`` invite, or a
room it opened) so that it writes to them in the same room each time; it writes there only while the
room is still a direct chat by the rule above.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.ports import Clock
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)

#: Join rules under which only those invited can come in (``knock``: they ask, a member lets them in).
PRIVATE_JOIN_RULES = frozenset({"invite", "knock", "private"})


class DirectChatRecords(Protocol):
    """Which room is the bot's direct chat with whom (``storage.core.stores.DirectChatStore``)."""

    async def room_of(self, user_id: str) -> RoomId | None: ...
    async def user_of(self, room_id: str) -> UserId | None: ...
    async def remember(self, user_id: str, room_id: str, *, at: datetime) -> None: ...


class DirectChats:
    """Tell direct chats from group rooms; find, open and remember the bot's direct chat with someone
    (``Poster.dm`` writes in it)."""

    def __init__(self, *, gateway: MatrixGateway, records: DirectChatRecords, clock: Clock) -> None:
        self.gateway = gateway
        self.records = records
        self.clock = clock

    async def person_in(self, room_id: str) -> UserId | None:
        """The one person the bot shares ``room_id`` with, when it is a direct chat (see the module
        docstring); None for any other room, and for one whose members cannot be read."""
        try:
            people = await self.gateway.current_members(room_id)
            bot = self.gateway.user_id
            if bot not in people or len(people) != 2:
                return None
            if await self.gateway.join_rule(room_id) not in PRIVATE_JOIN_RULES:
                return None
        except MatrixError as exc:
            log.warning("could not tell whether %s is a direct chat: %s", room_id, exc)
            return None
        (person,) = people - {bot}
        return person

    async def is_direct(self, room_id: str) -> bool:
        """Whether ``room_id`` is a direct chat: the bot and exactly one person, nobody else can join."""
        return await self.person_in(room_id) is not None

    async def remember(self, user_id: str, room_id: str) -> None:
        """Record ``room_id`` as the direct chat with ``user_id`` (their invite, or one the bot opened)."""
        await self.records.remember(user_id, room_id, at=self.clock())

    async def speaks_privately_in(self, room_id: str) -> bool:
        """Whether the bot says private things in the direct chat ``room_id``: where it opens encrypted
        direct chats, only in an encrypted one (a person may have made theirs unencrypted)."""
        return not self.gateway.opens_encrypted_direct_chats or await self.gateway.is_encrypted(room_id)

    async def room_for(self, user_id: str) -> RoomId:
        """The person's direct chat, opening one if there is none (or the old one is gone, or is no
        longer a direct chat with them, or not one it speaks privately in: ``speaks_privately_in``; then
        it opens an encrypted one, and remembers that one)."""
        room_id = await self.records.room_of(user_id)
        if room_id is not None and await self.person_in(room_id) == user_id:
            if await self.speaks_privately_in(room_id):
                return room_id
            log.info("opening an encrypted direct chat: the one recorded, %s, is not encrypted", room_id)
        room_id = await self.gateway.create_direct_room(user_id)
        await self.remember(user_id, room_id)
        return room_id
