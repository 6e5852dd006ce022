"""Stores of the ``assemblies`` app; methods take and return core types, never ORM rows.

``AssemblyRegistryStore`` holds the public registry (assemblies and their rooms).
``AssemblyPeopleStore`` holds what is sensitive or personal: self-declarations, pending requests,
admissions, warnings and direct rooms. Nothing here logs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.federation_file import assembly_from_mapping, assembly_to_mapping
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.ids import RoomId, UserId
from storage.assemblies.models import (
    Admission,
    AssemblyRoomRow,
    AssemblyRow,
    Declaration,
    EnforcementWarning,
    PendingDeclaration,
    RegistryGeneration,
)
from storage.batches import chunks
from storage.scope import ContextScope
from storage.timestamps import as_utc


_GENERATION = "registry"


class AssemblyRegistryStore:
    """The registry of assemblies (as a validated :class:`Federation`) and their Matrix rooms.

    Every change to the assemblies raises :meth:`generation`, so a running bot notices, with one
    cheap read, that another process (``harmony-matrix import``) changed the registry.
    """

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def generation(self) -> int:
        """The registry's change counter (0 before the first change)."""
        with self._scope():
            row = await RegistryGeneration.get_or_none(name=_GENERATION)
        return 0 if row is None else int(row.value)

    async def _bump(self) -> None:
        # One UPDATE, atomic on both backends; the row is created by the first change.
        if await RegistryGeneration.filter(name=_GENERATION).update(value=F("value") + 1):
            return
        try:
            await RegistryGeneration.create(name=_GENERATION, value=1)
        except IntegrityError:  # another process created it first
            await RegistryGeneration.filter(name=_GENERATION).update(value=F("value") + 1)

    async def federation(self) -> Federation:
        """Every assembly stored, as a federation (raises if the stored set is inconsistent)."""
        with self._scope():
            rows = await AssemblyRow.all().order_by("position", "slug")
        return Federation(tuple(assembly_from_mapping(row.data) for row in rows))

    async def save(self, assembly: Assembly, *, position: int | None = None) -> None:
        """Insert or replace one assembly. The caller validates the federation it belongs to."""
        with self._scope():
            row = await AssemblyRow.get_or_none(slug=assembly.slug)
            if row is None:
                if position is None:
                    position = await AssemblyRow.all().count()
                await AssemblyRow.create(slug=assembly.slug, position=position,
                                         data=assembly_to_mapping(assembly))
            else:
                row.data = assembly_to_mapping(assembly)
                if position is not None:
                    row.position = position
                await row.save()
            await self._bump()

    async def remove(self, slug: str) -> None:
        """Forget an assembly and its rooms (the rooms themselves stay in Matrix)."""
        with self._scope():
            async with in_transaction():
                await AssemblyRow.filter(slug=slug).delete()
                await AssemblyRoomRow.filter(slug=slug).delete()
            await self._bump()

    async def set_room(self, slug: str, kind: str, room_id: RoomId, *, room_version: str = "12") -> None:
        """Record the room of ``kind`` for ``slug`` (replacing an earlier one of that kind)."""
        with self._scope():
            await AssemblyRoomRow.update_or_create(
                defaults={"room_id": room_id, "room_version": room_version}, slug=slug, kind=kind)

    async def set_alias(self, room_id: RoomId, alias: str | None) -> None:
        """Record the canonical alias of a provisioned room (None: it has none)."""
        with self._scope():
            await AssemblyRoomRow.filter(room_id=room_id).update(alias=alias)

    async def rooms_of(self, slug: str) -> dict[str, RoomId]:
        """``kind → room ID`` for one assembly (empty if none provisioned yet)."""
        with self._scope():
            rows = await AssemblyRoomRow.filter(slug=slug)
        return {row.kind: RoomId(row.room_id) for row in rows}

    async def all_rooms(self) -> list[AssemblyRoom]:
        """Every provisioned room."""
        with self._scope():
            rows = await AssemblyRoomRow.all().order_by("slug", "kind")
        return [_room(row) for row in rows]

    async def room(self, room_id: str) -> AssemblyRoom | None:
        """Which assembly (and kind) a room belongs to, or None."""
        with self._scope():
            row = await AssemblyRoomRow.get_or_none(room_id=room_id)
        return None if row is None else _room(row)


async def _slugs_by_user(model: Any, user_ids: Collection[UserId], scope: ContextScope) -> dict[UserId, frozenset[str]]:
    found: dict[UserId, set[str]] = {}
    with scope():
        for chunk in chunks(user_ids):
            for user, slug in await model.filter(user_id__in=chunk).values_list("user_id", "slug"):
                found.setdefault(UserId(user), set()).add(str(slug))
    return {user: frozenset(slugs) for user, slugs in found.items()}


def _room(row: AssemblyRoomRow) -> AssemblyRoom:
    return AssemblyRoom(row.slug, RoomKind(row.kind), RoomId(row.room_id), row.room_version, row.alias)


class AssemblyPeopleStore:
    """Personal and sensitive facts: declarations, requests, admissions, warnings, DM rooms.

    Special-category data (docs/spec/product.md §5): only read to decide access, and to export or erase one
    person's data on request.
    """

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    # -- declarations ---------------------------------------------------------------------------
    async def declared(self, user_id: UserId) -> frozenset[str]:
        """Slugs whose statement ``user_id`` confirmed."""
        with self._scope():
            rows = await Declaration.filter(user_id=user_id).values_list("slug", flat=True)
        return frozenset(str(s) for s in rows)

    async def declare(self, user_id: UserId, slug: str, *, at: datetime) -> None:
        """Record a confirmation (idempotent) and drop the matching pending request."""
        when = as_utc(at, "at")
        with self._scope():
            async with in_transaction():
                # get_or_create, not create-and-catch: on PostgreSQL a failed INSERT aborts the
                # whole transaction, so the pending request would never be dropped.
                await Declaration.get_or_create(user_id=user_id, slug=slug, defaults={"declared_at": when})
                await PendingDeclaration.filter(user_id=user_id, slug=slug).delete()

    async def withdraw_declaration(self, user_id: UserId, slug: str) -> None:
        with self._scope():
            await Declaration.filter(user_id=user_id, slug=slug).delete()

    # -- pending requests -----------------------------------------------------------------------
    async def request_declaration(self, user_id: UserId, slug: str, *, dm_room_id: RoomId,
                                  at: datetime) -> None:
        """Remember that the bot asked ``user_id`` to confirm ``slug``'s statement."""
        with self._scope():
            await PendingDeclaration.update_or_create(
                defaults={"dm_room_id": dm_room_id, "requested_at": as_utc(at, "at")},
                user_id=user_id, slug=slug)

    async def pending(self, user_id: UserId) -> list[str]:
        """Slugs awaiting ``user_id``'s answer, the latest request first."""
        with self._scope():
            rows = await PendingDeclaration.filter(user_id=user_id).order_by("-requested_at", "-id")
        return [row.slug for row in rows]

    async def cancel_request(self, user_id: UserId, slug: str) -> bool:
        """Drop a pending request; True if there was one."""
        with self._scope():
            return bool(await PendingDeclaration.filter(user_id=user_id, slug=slug).delete())

    # -- admissions -----------------------------------------------------------------------------
    async def admit(self, user_id: UserId, slug: str, *, by: UserId, at: datetime) -> None:
        with self._scope():
            await Admission.update_or_create(
                defaults={"admitted_by": by, "admitted_at": as_utc(at, "at")}, user_id=user_id, slug=slug)

    async def revoke_admission(self, user_id: UserId, slug: str) -> None:
        with self._scope():
            await Admission.filter(user_id=user_id, slug=slug).delete()

    async def declarations_of(self, user_ids: Collection[UserId]) -> dict[UserId, frozenset[str]]:
        """``person → slugs declared``, for those of ``user_ids`` who declared anything (one read per
        chunk of people, for a sweep)."""
        return await _slugs_by_user(Declaration, user_ids, self._scope)

    async def admissions_of(self, user_ids: Collection[UserId]) -> dict[UserId, frozenset[str]]:
        """``person → slugs admitted to``, for those of ``user_ids`` admitted anywhere."""
        return await _slugs_by_user(Admission, user_ids, self._scope)

    async def admitted(self, user_id: UserId) -> frozenset[str]:
        """Slugs a secretary admitted ``user_id`` to."""
        with self._scope():
            rows = await Admission.filter(user_id=user_id).values_list("slug", flat=True)
        return frozenset(str(s) for s in rows)

    # -- warnings -------------------------------------------------------------------------------
    async def warn(self, user_id: UserId, room_id: RoomId, slug: str, *, at: datetime) -> None:
        with self._scope():
            try:
                await EnforcementWarning.create(user_id=user_id, room_id=room_id, slug=slug,
                                                warned_at=as_utc(at, "at"))
            except IntegrityError:
                pass

    async def warned_at(self, user_id: UserId, room_id: RoomId) -> datetime | None:
        with self._scope():
            row = await EnforcementWarning.get_or_none(user_id=user_id, room_id=room_id)
        return None if row is None else row.warned_at

    async def warnings_in(self, room_ids: Collection[RoomId]) -> dict[tuple[UserId, RoomId], datetime]:
        """Every warning standing in ``room_ids``: ``(person, room) → when``."""
        found: dict[tuple[UserId, RoomId], datetime] = {}
        with self._scope():
            for chunk in chunks(room_ids):
                for row in await EnforcementWarning.filter(room_id__in=chunk):
                    found[(UserId(row.user_id), RoomId(row.room_id))] = row.warned_at
        return found

    async def clear_warning(self, user_id: UserId, room_id: RoomId) -> None:
        with self._scope():
            await EnforcementWarning.filter(user_id=user_id, room_id=room_id).delete()

    # -- privacy --------------------------------------------------------------------------------
    async def export(self, user_id: UserId) -> dict[str, Any]:
        """Everything held about ``user_id`` here, as plain data (for ``mydata``)."""
        with self._scope():
            declarations = await Declaration.filter(user_id=user_id).order_by("slug")
            pending = await PendingDeclaration.filter(user_id=user_id).order_by("slug")
            admissions = await Admission.filter(user_id=user_id).order_by("slug")
            warnings = await EnforcementWarning.filter(user_id=user_id).order_by("room_id")
        return {
            "declarations": [{"assembly": d.slug, "at": d.declared_at.isoformat()} for d in declarations],
            "pending_declarations": [{"assembly": p.slug, "at": p.requested_at.isoformat()}
                                     for p in pending],
            "admissions": [{"assembly": a.slug, "by": a.admitted_by, "at": a.admitted_at.isoformat()}
                           for a in admissions],
            "warnings": [{"assembly": w.slug, "room_id": w.room_id, "at": w.warned_at.isoformat()}
                         for w in warnings],
        }

    async def erase(self, user_id: UserId) -> None:
        """Forget everything held about ``user_id`` here (``forget-me``)."""
        with self._scope():
            async with in_transaction():
                for model in (Declaration, PendingDeclaration, Admission, EnforcementWarning):
                    await model.filter(user_id=user_id).delete()
