"""In-memory stand-ins for the ``core`` stores (``storage.core.stores``), for tests without a database.

Each fake keeps the real store's method names, signatures and rules (a second mark of an event is a
no-op, a room is one person's direct chat only, naive datetimes are refused); the contract tests in
``tests/storage/test_memory_stores.py`` run the same checks against both, and mypy checks below that
each fits the Protocol its real store fills.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from harmony_matrix.ids import EventId, RoomId, UserId
from storage.core.types import BotSession
from storage.timestamps import as_utc


class MemorySyncStore:
    """``SyncStore``: the last fully handled batch's token, per bot account."""

    def __init__(self) -> None:
        self.tokens: dict[UserId, str] = {}

    async def get_token(self, user_id: UserId) -> str | None:
        """The stored token for ``user_id``, or None before the first completed sync."""
        return self.tokens.get(user_id)

    async def set_token(self, user_id: UserId, token: str) -> None:
        """Replace the stored token for ``user_id``."""
        self.tokens[user_id] = token


@dataclass(frozen=True)
class ProcessedRecord:
    """What ``MemoryProcessedEvents`` keeps about one handled event."""

    room_id: RoomId
    kind: str
    at: datetime


class MemoryProcessedEvents:
    """``ProcessedEventStore``: which events were handled, and as what."""

    def __init__(self) -> None:
        self.records: dict[EventId, ProcessedRecord] = {}

    async def is_processed(self, event_id: EventId) -> bool:
        """Whether ``event_id`` was marked processed (and not pruned since)."""
        return event_id in self.records

    async def mark_processed(self, event_id: EventId, room_id: RoomId, kind: str, *,
                             at: datetime | None = None) -> bool:
        """Record ``event_id``; False (and no change) when it was already recorded."""
        when = datetime.now(UTC) if at is None else as_utc(at, "at")
        if event_id in self.records:
            return False
        self.records[event_id] = ProcessedRecord(room_id=room_id, kind=kind, at=when)
        return True

    async def processed_among(self, event_ids: Collection[EventId]) -> set[EventId]:
        """Which of ``event_ids`` were marked processed."""
        return {event_id for event_id in event_ids if event_id in self.records}

    async def mark_processed_many(self, event_ids: Collection[EventId], room_id: RoomId, kind: str) -> None:
        """Record many events; those already recorded stay as they were."""
        for event_id in event_ids:
            await self.mark_processed(event_id, room_id, kind)

    async def prune(self, older_than: datetime) -> int:
        """Forget events processed before ``older_than``; returns how many were forgotten."""
        cutoff = as_utc(older_than, "older_than")
        old = [event_id for event_id, record in self.records.items() if record.at < cutoff]
        for event_id in old:
            del self.records[event_id]
        return len(old)


class MemorySessionStore:
    """``SessionStore``: the bot's login per account."""

    def __init__(self) -> None:
        self.sessions: dict[UserId, BotSession] = {}

    async def get(self, user_id: UserId) -> BotSession | None:
        """The saved login of ``user_id``, or None."""
        return self.sessions.get(user_id)

    async def save(self, session: BotSession) -> None:
        """Save ``session``, replacing an earlier login of the same account."""
        self.sessions[session.user_id] = session


@dataclass(frozen=True)
class Membership:
    """One registered party member."""

    added_by: str
    added_at: datetime


class MemoryMemberStore:
    """``MemberStore``: the party membership registry."""

    def __init__(self) -> None:
        self.members: dict[str, Membership] = {}

    async def is_member(self, user_id: str) -> bool:
        """Whether ``user_id`` is a registered member."""
        return user_id in self.members

    async def members_among(self, user_ids: Collection[str]) -> frozenset[str]:
        """Which of ``user_ids`` are registered members."""
        return frozenset(user for user in user_ids if user in self.members)

    async def add(self, user_id: str, *, by: str, at: datetime) -> bool:
        """Register a member; False if they already were one."""
        when = as_utc(at, "at")
        if user_id in self.members:
            return False
        self.members[user_id] = Membership(added_by=by, added_at=when)
        return True

    async def add_many(self, user_ids: set[str], *, by: str, at: datetime) -> int:
        """Register many members at once; returns how many were new."""
        added = 0
        for user_id in sorted(user_ids):
            added += await self.add(user_id, by=by, at=at)
        return added

    async def remove(self, user_id: str) -> bool:
        """Remove a member; False if they were not one."""
        return self.members.pop(user_id, None) is not None

    async def count(self) -> int:
        """How many members are registered."""
        return len(self.members)

    async def export(self, user_id: str) -> dict[str, str] | None:
        """What the registry holds about one person (for ``mydata``)."""
        membership = self.members.get(user_id)
        if membership is None:
            return None
        return {"member_since": membership.added_at.isoformat(), "added_by": membership.added_by}


class MemoryDirectChatStore:
    """``DirectChatStore``: which room is the bot's direct chat with whom."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomId] = {}  # user ID -> room
        self.since: dict[str, datetime] = {}

    async def room_of(self, user_id: str) -> RoomId | None:
        """The direct chat recorded with ``user_id``, if any."""
        return self.rooms.get(user_id)

    async def user_of(self, room_id: str) -> UserId | None:
        """Whose direct chat ``room_id`` is, if it is one."""
        for user_id, room in self.rooms.items():
            if room == room_id:
                return UserId(user_id)
        return None

    async def remember(self, user_id: str, room_id: str, *, at: datetime) -> None:
        """Record (or move) a person's direct chat; a room belongs to one person only."""
        when = as_utc(at, "at")
        for other in [other for other, room in self.rooms.items() if room == room_id and other != user_id]:
            del self.rooms[other]
            del self.since[other]
        self.rooms[user_id] = RoomId(room_id)
        self.since[user_id] = when

    async def forget(self, user_id: str) -> None:
        """Forget the person's direct chat."""
        self.rooms.pop(user_id, None)
        self.since.pop(user_id, None)


if TYPE_CHECKING:
    # mypy checks here that each fake fits the Protocol through which the edge uses its real store.
    from handlers.matrix.direct import DirectChatRecords
    from handlers.matrix.dispatcher import ProcessedEvents, SyncTokenStore
    from handlers.ports import MemberRegistry
    from handlers.privacy import MembershipRecords

    _tokens: SyncTokenStore = MemorySyncStore()
    _processed: ProcessedEvents = MemoryProcessedEvents()
    _direct: DirectChatRecords = MemoryDirectChatStore()
    _registry: MemberRegistry = MemoryMemberStore()
    _records: MembershipRecords = MemoryMemberStore()
