"""The read side of the public web view: what pages and feeds are built from.

Read-only, and narrow on purpose: it never reads the tables of people (party members, declarations,
admissions, direct chats), votes (reactions, secret or anonymous ballots) or private notices, and it
blanks the personal fields of what it does read before handing it on (who scheduled or attended a
moot, its minutes, who opened a poll). What a page may show of the rest is decided in
``handlers/web/visibility.py``; this module makes the private data impossible to reach from there.

Rows become core types through the owning feature's own store or converter (one mapping per table:
a field added there reaches the web view, and the hash chain is checked on exactly what was stored).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.models import Model

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.federation_file import assembly_from_mapping
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.consensus.decisions import ChainEntry
from harmony_matrix.consensus.moots import Moot
from harmony_matrix.ids import RoomId, UserId
from harmony_matrix.polls.poll import Poll
from storage.assemblies.models import AssemblyRoomRow, AssemblyRow
from storage.consensus.decisions import DecisionStore
from storage.consensus.models import DecisionEntry, MootRow
from storage.consensus.moots import moot_from_row  # the one row -> Moot mapping
from storage.core.models import ProcessedEvent
from storage.polls.models import PollRow
from storage.polls.stores import PollStore
from storage.scope import ContextScope

__all__ = ["PublicQueries"]

_NOBODY = UserId("")  # stands in for the personal fields this module blanks
#: Polls listed per room (newest first): pages show the open ones and the latest closed ones.
_POLLS_PER_ROOM = 200


class PublicQueries:
    """Everything the public web view reads, as core types (see the module docstring for what it
    never reads)."""

    def __init__(self, scope: ContextScope) -> None:
        #: The database's connections (``Database.scope``).
        self.scope = scope
        self._decisions = DecisionStore(scope)
        self._polls = PollStore(scope)

    @classmethod
    def of(cls, database: Any) -> PublicQueries:
        """The queries over an open ``storage.database.Database`` (sharing its connections)."""
        scope = getattr(database, "scope", None)
        if not isinstance(scope, ContextScope):
            raise TypeError(f"expected a storage Database, got {type(database).__name__}")
        return cls(scope)

    async def federation(self) -> Federation:
        """The registry of assemblies, in the order they were given."""
        with self.scope():
            rows = await AssemblyRow.all().order_by("position", "slug").values("data")
        return Federation(tuple(assembly_from_mapping(row["data"]) for row in rows))

    async def rooms(self, *, assemblies: Collection[str] | None = None) -> list[AssemblyRoom]:
        """The rooms provisioned for ``assemblies`` (or every assembly), the secretariat among them: the
        caller decides what to show."""
        with self.scope():
            query = AssemblyRoomRow.all()
            if assemblies is not None:
                query = query.filter(slug__in=list(assemblies))
            rows = await query.order_by("slug", "kind").values_list("slug", "kind", "room_id", "room_version")
        return [AssemblyRoom(slug, RoomKind(kind), RoomId(room_id), version)
                for slug, kind, room_id, version in rows if kind in RoomKind._value2member_map_]

    async def federation_version(self) -> tuple[int, datetime | None]:
        """Changes whenever the registry does (an assembly saved, added or removed): a cheap check
        before reloading it."""
        with self.scope():
            count = await AssemblyRow.all().count()
            latest = await AssemblyRow.all().order_by("-updated_at").first().values_list("updated_at", flat=True)
        return count, latest if isinstance(latest, datetime) else None

    async def chain_version(self) -> tuple[int, int, str]:
        """Changes whenever the record grows (it is append-only: the store has no update or delete)."""
        with self.scope():
            count = await DecisionEntry.all().count()
            head = await DecisionEntry.all().order_by("-seq").first().values_list("seq", "hash")
        if not head:
            return count, 0, ""
        seq, hash_ = head
        return count, int(seq), str(hash_)

    async def rooms_fingerprint(self) -> int:
        """A fingerprint of every provisioned room (a room added, replaced or removed changes it)."""
        return await _fingerprint(self.scope, AssemblyRoomRow, "id")

    async def chain_fingerprint(self) -> int:
        """A fingerprint of every column of every stored entry: equal exactly while nothing in the record
        changed, appended or not (checking it costs one plain query, not a reload)."""
        return await _fingerprint(self.scope, DecisionEntry, "seq")

    async def moots_fingerprint(self) -> int:
        """A fingerprint of every moot as stored (any change to any moot changes it)."""
        return await _fingerprint(self.scope, MootRow, "id")

    async def chain(self) -> list[ChainEntry]:
        """The whole decision record, in order (precedence and the chain check need all of it)."""
        return await self._decisions.chain()

    async def moots(self, *, assemblies: Collection[str] | None = None,
                    ending_after: datetime | None = None) -> list[Moot]:
        """Moots of every status (of ``assemblies``, or all), by start time; with ``ending_after``, only
        those that end later. Who scheduled or attended them, and their minutes, are blanked."""
        with self.scope():
            query = MootRow.all()
            if assemblies is not None:
                query = query.filter(assembly__in=list(assemblies))
            if ending_after is not None:
                # A moot lasts at most 12 hours: filter in SQL with that margin, exactly below.
                query = query.filter(starts_at__gt=ending_after.astimezone(UTC) - timedelta(hours=12))
            rows = await query.order_by("starts_at", "id")
        moots = [replace(moot_from_row(row), scheduled_by=_NOBODY, attendees=frozenset(), minutes=None)
                 for row in rows]
        return moots if ending_after is None else [m for m in moots if m.ends_at > ending_after]

    async def polls(self, *, room_ids: Collection[str] | None = None) -> list[Poll]:
        """Polls (in ``room_ids``, or the latest of all), newest first, with their stored results.
        Votes are not read: a closed poll's result is the stored tally."""
        if room_ids is None:
            found = await self._polls.list_polls(limit=_POLLS_PER_ROOM)
        else:
            found = [poll for room in room_ids
                     for poll in await self._polls.list_polls(room_id=room, limit=_POLLS_PER_ROOM)]
        return sorted((_scrub(poll) for poll in found), key=lambda poll: -poll.number)

    async def poll_stamps(self, *, room_ids: Collection[str]) -> tuple[tuple[Any, ...], ...]:
        """What changes in the polls of ``room_ids`` (a poll's question and options are fixed once it
        opens; it changes only by closing, with its result): a cheap check before reloading them."""
        with self.scope():
            rows = await PollRow.filter(room_id__in=list(room_ids)).order_by("-id").values_list(
                "id", "status", "closes_at", "closed_at")
        return tuple(tuple(row) for row in rows)

    async def poll(self, number: int) -> Poll | None:
        """One poll, or None."""
        found = await self._polls.get(number)
        return None if found is None else _scrub(found)

    async def evidence_rooms(self, event_ids: Collection[str]) -> dict[str, RoomId]:
        """The room each of ``event_ids`` was handled in, for those the bot still remembers."""
        if not event_ids:
            return {}
        with self.scope():
            rows = await ProcessedEvent.filter(event_id__in=list(event_ids)).values_list("event_id", "room_id")
        return {event_id: RoomId(room_id) for event_id, room_id in rows}


async def _fingerprint(scope: ContextScope, model: type[Model], order: str) -> int:
    """Every row of ``model``'s table, as the database returns it, hashed (values only, nothing read
    into the program: private columns of a table go into the hash and nowhere else)."""
    with scope():
        client = model._meta.db
        _, rows = await client.execute_query(f'SELECT * FROM "{model._meta.db_table}" ORDER BY "{order}"')
    return hash(tuple(tuple(row) for row in rows))


def _scrub(poll: Poll) -> Poll:
    return replace(poll, created_by=_NOBODY, origin=None)
