"""Stores of the ``core`` app: the bot runtime's own state.

Each store is handed a ``ContextScope`` by ``Database`` and makes its database current for the
duration of each call, so several Databases can be open in one process.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from harmony_matrix.ids import EventId, RoomId, UserId
from storage.core.models import AuditRecord, DirectChat, LoginSession, PartyMember, ProcessedEvent, SyncToken
from storage.core.types import AuditEntry, BotSession
from storage.batches import ROWS_PER_INSERT, chunks
from storage.scope import ContextScope
from storage.timestamps import as_utc


class SyncStore:
    """The ``next_batch`` token of the last sync whose events were all handled, per bot account."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def get_token(self, user_id: UserId) -> str | None:
        """The stored token for ``user_id``, or ``None`` before the first completed sync."""
        with self._scope():
            row = await SyncToken.get_or_none(user_id=user_id)
        return None if row is None else row.token

    async def set_token(self, user_id: UserId, token: str) -> None:
        """Replace the stored token for ``user_id``."""
        with self._scope():
            await SyncToken.update_or_create(defaults={"token": token}, user_id=user_id)


class ProcessedEventStore:
    """Which events were handled, so a replayed sync does not act twice."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def is_processed(self, event_id: EventId) -> bool:
        """Whether ``event_id`` was marked processed (and not pruned since)."""
        with self._scope():
            return await ProcessedEvent.exists(event_id=event_id)

    async def mark_processed(
        self,
        event_id: EventId,
        room_id: RoomId,
        kind: str,
        *,
        at: datetime | None = None,
    ) -> bool:
        """Record ``event_id`` as handled; marking it again is a no-op.

        ``kind`` says what the event was handled as (e.g. ``"command"``, ``"reaction"``), for
        debugging. ``at`` defaults to now. Returns ``True`` if this call recorded the event and
        ``False`` if it had already been recorded (the unique constraint on the event ID decides,
        so two concurrent callers cannot both get ``True``).
        """
        when = datetime.now(UTC) if at is None else as_utc(at, "at")
        with self._scope():
            try:
                await ProcessedEvent.create(
                    event_id=event_id, room_id=room_id, kind=kind, processed_at=when
                )
            except IntegrityError:
                return False
        return True

    async def processed_among(self, event_ids: Collection[EventId]) -> set[EventId]:
        """Which of ``event_ids`` were marked processed (one read for a batch)."""
        found: set[EventId] = set()
        with self._scope():
            for chunk in chunks(event_ids):
                found.update(EventId(str(e)) for e in await ProcessedEvent.filter(event_id__in=chunk)
                             .values_list("event_id", flat=True))
        return found

    async def mark_processed_many(self, event_ids: Collection[EventId], room_id: RoomId, kind: str) -> None:
        """Record many events as handled in one transaction; those already recorded stay as they were."""
        when = datetime.now(UTC)
        with self._scope():
            # One INSERT … ON CONFLICT DO NOTHING (SQLite: INSERT OR IGNORE): the unique event ID keeps
            # the first record of an event, as mark_processed does.
            await ProcessedEvent.bulk_create([
                ProcessedEvent(event_id=event_id, room_id=room_id, kind=kind, processed_at=when)
                for event_id in dict.fromkeys(event_ids)], ignore_conflicts=True, batch_size=ROWS_PER_INSERT)

    async def prune(self, older_than: datetime) -> int:
        """Forget events processed before ``older_than``; returns how many were forgotten.

        Only prune past the point where the homeserver could still send the event again
        (sync gaps are filled from the stored token, so a few days is ample).
        """
        cutoff = as_utc(older_than, "older_than")
        with self._scope():
            return await ProcessedEvent.filter(processed_at__lt=cutoff).delete()


class SessionStore:
    """The bot's login per account, so restarts reuse the device."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def get(self, user_id: UserId) -> BotSession | None:
        """The saved login of ``user_id``, or ``None`` if it never logged in here."""
        with self._scope():
            row = await LoginSession.get_or_none(user_id=user_id)
        if row is None:
            return None
        return BotSession(
            user_id=UserId(row.user_id), device_id=row.device_id, access_token=row.access_token
        )

    async def save(self, session: BotSession) -> None:
        """Save ``session``, replacing any earlier login of the same account."""
        with self._scope():
            await LoginSession.update_or_create(
                defaults={"device_id": session.device_id, "access_token": session.access_token},
                user_id=session.user_id,
            )


class AuditStore:
    """Append-only log of what the bot did to people, for accountability."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def record(
        self,
        action: str,
        *,
        at: datetime,
        room_id: RoomId | None = None,
        target_user: UserId | None = None,
        reason: str | None = None,
        actor: UserId | None = None,
    ) -> AuditEntry:
        """Append one entry and return it. ``actor`` is who asked for it (``None``: the bot)."""
        entry = AuditEntry(
            action=action,
            at=as_utc(at, "at"),
            room_id=room_id,
            target_user=target_user,
            actor=actor,
            reason=reason,
        )
        with self._scope():
            await AuditRecord.create(
                action=entry.action,
                at=entry.at,
                room_id=entry.room_id,
                target_user=entry.target_user,
                actor=entry.actor,
                reason=entry.reason,
            )
        return entry

    async def recent(self, limit: int = 50) -> list[AuditEntry]:
        """The ``limit`` latest entries, newest first (same instant: latest recorded first)."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        with self._scope():
            rows = await AuditRecord.all().order_by("-at", "-id").limit(limit)
        return [
            AuditEntry(
                action=row.action,
                at=row.at,
                room_id=None if row.room_id is None else RoomId(row.room_id),
                target_user=None if row.target_user is None else UserId(row.target_user),
                actor=None if row.actor is None else UserId(row.actor),
                reason=row.reason,
            )
            for row in rows
        ]


class MemberStore:
    """The party membership registry: who may vote where eligibility is ``members``."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def is_member(self, user_id: str) -> bool:
        """Whether ``user_id`` is a registered member."""
        with self._scope():
            return await PartyMember.exists(user_id=user_id)

    async def members_among(self, user_ids: Collection[str]) -> frozenset[str]:
        """Which of ``user_ids`` are registered members (a few queries for many people: a sweep)."""
        found: set[str] = set()
        with self._scope():
            for chunk in chunks(user_ids):
                found.update(str(user) for user in await PartyMember.filter(user_id__in=chunk).values_list("user_id", flat=True))
        return frozenset(found)

    async def member_since(self, user_id: str) -> datetime | None:
        """When ``user_id`` was registered (the registration in force), or None if they are not a member."""
        with self._scope():
            row = await PartyMember.get_or_none(user_id=user_id)
        return None if row is None else as_utc(row.added_at, "added_at")

    async def add(self, user_id: str, *, by: str, at: datetime) -> bool:
        """Register a member; False if they already were one."""
        with self._scope():
            _, created = await PartyMember.get_or_create(
                user_id=user_id, defaults={"added_by": by, "added_at": as_utc(at, "at")})
        return created

    async def add_many(self, user_ids: set[str], *, by: str, at: datetime) -> int:
        """Register many members at once (CSV import); returns how many were new."""
        added = 0
        for user_id in sorted(user_ids):
            added += await self.add(user_id, by=by, at=at)
        return added

    async def remove(self, user_id: str) -> bool:
        """Remove a member; False if they were not one."""
        with self._scope():
            return await PartyMember.filter(user_id=user_id).delete() > 0

    async def count(self) -> int:
        """How many members are registered."""
        with self._scope():
            return await PartyMember.all().count()

    async def export(self, user_id: str) -> dict[str, str] | None:
        """What the registry holds about one person (for ``!h mydata``)."""
        with self._scope():
            row = await PartyMember.get_or_none(user_id=user_id)
        if row is None:
            return None
        return {"member_since": row.added_at.astimezone(UTC).isoformat(), "added_by": row.added_by}


class DirectChatStore:
    """Which room is the bot's direct chat with whom."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def room_of(self, user_id: str) -> RoomId | None:
        """The direct chat recorded with ``user_id``, if any."""
        with self._scope():
            row = await DirectChat.get_or_none(user_id=user_id)
        return None if row is None else RoomId(row.room_id)

    async def user_of(self, room_id: str) -> UserId | None:
        """Whose direct chat ``room_id`` is, if it is one."""
        with self._scope():
            row = await DirectChat.get_or_none(room_id=room_id)
        return None if row is None else UserId(row.user_id)

    async def remember(self, user_id: str, room_id: str, *, at: datetime) -> None:
        """Record (or move) a person's direct chat; a room belongs to one person only."""
        with self._scope():
            async with in_transaction():
                await DirectChat.filter(room_id=room_id).exclude(user_id=user_id).delete()
                await DirectChat.update_or_create(defaults={"room_id": room_id, "since": as_utc(at, "at")},
                                                  user_id=user_id)

    async def forget(self, user_id: str) -> None:
        """Forget the person's direct chat."""
        with self._scope():
            await DirectChat.filter(user_id=user_id).delete()
