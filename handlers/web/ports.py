"""What the web view reads, declared as Protocols (the composition root hands over the real objects;
mypy checks they fit). Handlers never import storage."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom
from harmony_matrix.consensus.decisions import ChainEntry
from harmony_matrix.consensus.moots import Moot
from harmony_matrix.ids import RoomId
from harmony_matrix.polls.poll import Poll

__all__ = ["DisplayNames", "DrawRecords", "NoDisplayNames", "NoDraws", "PublicRecord"]


class PublicRecord(Protocol):
    """The database, as the web view reads it (``storage.public.queries.PublicQueries``)."""

    async def federation(self) -> Federation: ...
    async def federation_version(self) -> Hashable: ...
    async def chain_version(self) -> Hashable: ...
    async def chain_fingerprint(self) -> Hashable: ...
    async def rooms_fingerprint(self) -> Hashable: ...
    async def moots_fingerprint(self) -> Hashable: ...
    async def rooms(self, *, assemblies: Collection[str] | None = None) -> list[AssemblyRoom]: ...
    async def chain(self) -> list[ChainEntry]: ...
    async def moots(self, *, assemblies: Collection[str] | None = None,
                    ending_after: datetime | None = None) -> list[Moot]: ...
    async def polls(self, *, room_ids: Collection[str] | None = None) -> list[Poll]: ...
    async def poll_stamps(self, *, room_ids: Collection[str]) -> Hashable: ...
    async def poll(self, number: int) -> Poll | None: ...
    async def evidence_rooms(self, event_ids: Collection[str]) -> dict[str, RoomId]: ...


class DisplayNames(Protocol):
    """People's display names as the bot already knows them from sync (no request per page)."""

    def display_name(self, user_id: str, room_ids: Iterable[str]) -> str | None: ...


class NoDisplayNames:
    """Knows no names (pages then show the Matrix ID)."""

    def display_name(self, user_id: str, room_ids: Iterable[str]) -> str | None:
        """Always None."""
        return None


class DrawRecords(Protocol):
    """Published sortition records (``docs/spec/sortition.md``) as plain JSON objects: of one assembly,
    or of all (``None``), oldest first."""

    async def records(self, assembly: str | None) -> Sequence[Mapping[str, Any]]: ...


class NoDraws:
    """No draws recorded (the sortition feature is not wired in)."""

    async def records(self, assembly: str | None) -> Sequence[Mapping[str, Any]]:
        """Always empty."""
        return ()
