"""Who is in an assembly's rooms, and bringing someone in or taking them out (through the gateway).

"Has this person joined?" is the gateway's answer (``MatrixGateway.current_joined``: the sync cache,
else the server); nothing here reads nio's cache itself. Log lines name rooms, never people: being
in an assembly's room can reveal a membership or a declaration.

The answers are kept in an index (room → joined people, person → joined rooms), filled once per room
from the gateway and then kept current from the membership events the feature receives
(``note_membership``) and the removals made here: an access check asks "which spaces has this person
joined?" without building a 10,000-name set per space. ``reload`` re-reads the sync cache (the full
sweep does, so a membership change that came only as room state, never as a timeline event, is
picked up there). A room the bot has no sync cache of is asked of the server each time, not kept,
except where nio does not hold every room (``MatrixGateway.caches_every_joined_room`` False: appservice
mode, where nio holds only the rooms something was pushed from, and bot mode restarting without
``sync.full_state_at_start``, where it holds only the rooms heard from since): there an answer
showing the bot itself joined is kept, as every membership change of that room reaches the bot from
then on, pushed or synced (else a sweep would read each space's member list once per person: 4,000 ×
111 reads in bench_federation_synapse.py).
A read during which a membership event of the room arrived is answered but not kept (the event may
be older or newer than the read: the next question reads again). ``load`` and ``joined_many`` read
the rooms not held yet a few at a time (``LOAD_CONCURRENCY``): in appservice mode a full sweep reads
every room again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from handlers.matrix.gateway import Forbidden, MatrixError, MatrixGateway
from harmony_matrix import event_types as et
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)

#: How many member lists ``load`` reads from the server at once.
LOAD_CONCURRENCY = 8


class Presence:
    """Membership of people in rooms, read and changed through the gateway."""

    def __init__(self, gateway: MatrixGateway) -> None:
        self.gateway = gateway
        self._joined: dict[RoomId, set[UserId]] = {}
        self._rooms_of: dict[UserId, set[RoomId]] = {}
        # Membership events seen per room (loaded or not): a server read that overlapped one is not kept.
        self._changes: dict[RoomId, int] = {}

    @property
    def bot(self) -> UserId:
        """The bot itself, never subject to an assembly's rules."""
        return self.gateway.user_id

    async def joined(self, room_id: str) -> set[UserId]:
        """Who has joined ``room_id`` (a copy); a room whose members cannot be read counts as empty."""
        return set(await self._members(RoomId(room_id)))

    async def is_joined(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` has joined ``room_id`` (no copy of the member list)."""
        return UserId(user_id) in await self._members(RoomId(room_id))

    async def joined_among(self, room_ids: Iterable[str], user_id: str) -> set[RoomId]:
        """Which of ``room_ids`` ``user_id`` has joined: from the person's side of the index, once every
        room asked about is loaded."""
        rooms = {RoomId(room) for room in room_ids}
        unindexed = await self.load(rooms)
        return await self.joined_among_loaded(rooms, user_id, unindexed=unindexed)

    async def joined_many(self, room_ids: Iterable[RoomId]) -> dict[RoomId, set[UserId]]:
        """``joined`` for each of ``room_ids`` (copies), the rooms not in the index read a few at a time
        (``LOAD_CONCURRENCY``); each answer is kept as ``joined`` would keep it."""
        answers: dict[RoomId, set[UserId]] = {}
        limit = asyncio.Semaphore(LOAD_CONCURRENCY)

        async def read(room: RoomId) -> None:
            async with limit:
                answers[room] = set(await self._members(room))

        await asyncio.gather(*(read(room) for room in dict.fromkeys(room_ids)))
        return answers

    async def load(self, room_ids: Iterable[RoomId]) -> set[RoomId]:
        """Put ``room_ids`` in the index (those not there yet, read a few at a time); returns the ones
        not kept (``joined_among_loaded`` asks the server about those each time)."""
        missing = [room for room in dict.fromkeys(room_ids) if room not in self._joined]
        await self.joined_many(missing)
        return {room for room in missing if room not in self._joined}

    async def joined_among_loaded(self, rooms: set[RoomId], user_id: str, *, unindexed: set[RoomId]) -> set[RoomId]:
        """``joined_among`` for rooms already ``load``-ed: the person's rooms in the index, intersected
        (no pass over the rooms: a sweep asks this for every person)."""
        uid = UserId(user_id)
        found = self._rooms_of.get(uid, set()) & rooms
        for room in unindexed:
            if uid in await self._members(room):
                found.add(room)
        return found

    def note_membership(self, room_id: str, user_id: str, membership: str) -> None:
        """A membership event arrived: keep the index of a loaded room current (``join`` adds; anything
        else, a leave, kick, ban, invite or knock, means not joined)."""
        room, user = RoomId(room_id), UserId(user_id)
        self._changes[room] = self._changes.get(room, 0) + 1
        members = self._joined.get(room)
        if members is None:
            return  # loaded from the sync cache when first asked, which already has this event
        if membership == "join":
            members.add(user)
            self._rooms_of.setdefault(user, set()).add(room)
        else:
            members.discard(user)
            rooms = self._rooms_of.get(user)
            if rooms is not None:
                rooms.discard(room)
                if not rooms:
                    del self._rooms_of[user]

    def reload(self) -> None:
        """Forget the index; each room is read again from the sync cache when next asked."""
        self._joined.clear()
        self._rooms_of.clear()

    async def _members(self, room: RoomId) -> set[UserId]:
        known = self._joined.get(room)
        if known is not None:
            return known
        cached = self.gateway.cached_joined(room)
        if cached is None:  # no sync cache: the server
            mark = self._changes.get(room, 0)
            try:
                cached = await self.gateway.current_joined(room)
            except MatrixError as exc:
                # Asked once per space for every decision: a room the bot has lost would flood the log.
                log.debug("could not read the members of %s: %s", room, exc)
                return set()
            if self.gateway.caches_every_joined_room or self.bot not in cached:
                return cached  # nothing the bot receives keeps this answer current: not kept
            if self._changes.get(room, 0) != mark or room in self._joined:
                return self._joined.get(room, cached)  # an event (or another read) overlapped this one
        self._joined[room] = cached
        for user in cached:
            self._rooms_of.setdefault(user, set()).add(room)
        return cached

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
            self.note_membership(room_id, user_id, "leave")
            return True
        except MatrixError as exc:
            log.warning("could not remove someone from %s: %s", room_id, exc)
            return False
