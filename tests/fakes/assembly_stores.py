"""In-memory stand-ins for the assemblies stores (``storage.assemblies.stores``) and the audit log, for
tests of the assemblies feature without a database. mypy checks below that each fits the Protocol
the feature declares (``handlers.assemblies.stores``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.ids import RoomId, UserId


class MemoryRegistryStore:
    """``AssemblyRegistryStore``: the assemblies in order, their rooms, and the change counter."""

    def __init__(self) -> None:
        self.assemblies: dict[str, Assembly] = {}
        self.rooms: list[AssemblyRoom] = []
        self.changes = 0

    async def generation(self) -> int:
        """Raised by every save and removal."""
        return self.changes

    async def federation(self) -> Federation:
        """Every assembly, validated as a whole (as the real store does)."""
        return Federation(tuple(self.assemblies.values()))

    async def save(self, assembly: Assembly, *, position: int | None = None) -> None:
        """Insert or replace (the position is kept as insertion order)."""
        self.assemblies[assembly.slug] = assembly
        self.changes += 1

    async def remove(self, slug: str) -> None:
        """Forget an assembly and its rooms."""
        self.assemblies.pop(slug, None)
        self.rooms = [room for room in self.rooms if room.slug != slug]
        self.changes += 1

    async def set_room(self, slug: str, kind: str, room_id: RoomId, *, room_version: str = "12") -> None:
        """Record (or replace) the room of ``kind``."""
        self.rooms = [room for room in self.rooms if (room.slug, room.kind.value) != (slug, kind)]
        self.rooms.append(AssemblyRoom(slug, RoomKind(kind), room_id, room_version))

    async def set_alias(self, room_id: RoomId, alias: str | None) -> None:
        """Record a room's canonical alias."""
        self.rooms = [AssemblyRoom(r.slug, r.kind, r.room_id, r.room_version, alias) if r.room_id == room_id
                      else r for r in self.rooms]

    async def rooms_of(self, slug: str) -> dict[str, RoomId]:
        """``kind → room ID``."""
        return {room.kind.value: room.room_id for room in self.rooms if room.slug == slug}

    async def room(self, room_id: str) -> AssemblyRoom | None:
        """Which assembly a room belongs to."""
        return next((room for room in self.rooms if room.room_id == room_id), None)

    async def all_rooms(self) -> list[AssemblyRoom]:
        """Every room, by slug and kind."""
        return sorted(self.rooms, key=lambda room: (room.slug, room.kind.value))


class MemoryPeopleStore:
    """``AssemblyPeopleStore``: declarations, requests, admissions and warnings."""

    def __init__(self) -> None:
        self.declarations: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str, str]] = []  # (user, slug, DM room), oldest first
        self.admissions: set[tuple[str, str]] = set()
        self.warnings: dict[tuple[str, str], datetime] = {}

    async def declared(self, user_id: UserId) -> frozenset[str]:
        return frozenset(slug for user, slug in self.declarations if user == user_id)

    async def declare(self, user_id: UserId, slug: str, *, at: datetime) -> None:
        self.declarations.add((user_id, slug))
        self.requests = [r for r in self.requests if r[:2] != (user_id, slug)]

    async def request_declaration(self, user_id: UserId, slug: str, *, dm_room_id: RoomId, at: datetime) -> None:
        self.requests = [r for r in self.requests if r[:2] != (user_id, slug)] + [(user_id, slug, dm_room_id)]

    async def pending(self, user_id: UserId) -> list[str]:
        return [slug for user, slug, _ in reversed(self.requests) if user == user_id]

    async def cancel_request(self, user_id: UserId, slug: str) -> bool:
        before = len(self.requests)
        self.requests = [r for r in self.requests if r[:2] != (user_id, slug)]
        return len(self.requests) < before

    async def admit(self, user_id: UserId, slug: str, *, by: UserId, at: datetime) -> None:
        self.admissions.add((user_id, slug))

    async def revoke_admission(self, user_id: UserId, slug: str) -> None:
        self.admissions.discard((user_id, slug))

    async def admitted(self, user_id: UserId) -> frozenset[str]:
        return frozenset(slug for user, slug in self.admissions if user == user_id)

    async def warn(self, user_id: UserId, room_id: RoomId, slug: str, *, at: datetime) -> None:
        self.warnings.setdefault((user_id, room_id), at)

    async def warned_at(self, user_id: UserId, room_id: RoomId) -> datetime | None:
        return self.warnings.get((user_id, room_id))

    async def declarations_of(self, user_ids: Collection[UserId]) -> dict[UserId, frozenset[str]]:
        return {user: slugs for user in user_ids if (slugs := await self.declared(user))}

    async def admissions_of(self, user_ids: Collection[UserId]) -> dict[UserId, frozenset[str]]:
        return {user: slugs for user in user_ids if (slugs := await self.admitted(user))}

    async def warnings_in(self, room_ids: Collection[RoomId]) -> dict[tuple[UserId, RoomId], datetime]:
        rooms = set(room_ids)
        return {(UserId(user), RoomId(room)): at for (user, room), at in self.warnings.items() if room in rooms}

    async def clear_warning(self, user_id: UserId, room_id: RoomId) -> None:
        self.warnings.pop((user_id, room_id), None)

    async def export(self, user_id: UserId) -> dict[str, Any]:
        return {"declarations": sorted(await self.declared(user_id))}

    async def erase(self, user_id: UserId) -> None:
        self.declarations = {d for d in self.declarations if d[0] != user_id}
        self.requests = [r for r in self.requests if r[0] != user_id]
        self.admissions = {a for a in self.admissions if a[0] != user_id}
        self.warnings = {k: v for k, v in self.warnings.items() if k[0] != user_id}


class MemoryAuditLog:
    """The audit log: ``(action, reason)`` of each record."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str | None]] = []

    async def record(self, action: str, *, at: datetime, room_id: RoomId | None = None,
                     target_user: UserId | None = None, reason: str | None = None,
                     actor: UserId | None = None) -> Any:
        self.records.append((action, reason))


if TYPE_CHECKING:
    from handlers.assemblies.stores import AuditLog, PeopleStore, RegistryStore

    _registry: RegistryStore = MemoryRegistryStore()
    _people: PeopleStore = MemoryPeopleStore()
    _audit: AuditLog = MemoryAuditLog()
