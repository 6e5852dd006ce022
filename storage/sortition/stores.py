"""Stores of the ``sortition`` app; methods take and return core types, never ORM rows.

Every step of a draw that must not happen half-way (freezing the pool with all its entries, finishing
with the record and every seat) is one transaction, guarded by the draw's status: a second attempt
(a restart, a race between the deadline job and the last reveal) finds the status moved on and
changes nothing. Nothing here logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from harmony_matrix.sortition.arguments import SeatPower
from harmony_matrix.sortition.draws import Draw, DrawRequest, DrawStatus, DrawWitness, make_draw_ref
from harmony_matrix.sortition.frozen import FrozenPool, PoolMember
from harmony_matrix.sortition.seats import Seat, SeatStatus
from storage.consensus.numbering import insert_numbered
from storage.scope import ContextScope
from storage.sortition.models import DrawRow, FeatureRow, PoolEntryRow, SeatRow, SortitionNoticeRow, WitnessRow
from storage.timestamps import as_utc, as_utc_or_none

__all__ = ["DrawStore", "FeatureStore", "SeatStore", "SortitionNoticeStore", "SortitionStores"]


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


async def _draw(row: DrawRow, connection: BaseDBAsyncClient | None = None) -> Draw:
    query = WitnessRow.filter(draw_ref=row.ref).order_by("position")
    witnesses = await (query.using_db(connection) if connection is not None else query)
    return Draw(
        ref=row.ref, assembly=row.assembly, request=DrawRequest.from_data(row.request),
        status=DrawStatus(row.status), created_by=row.created_by, created_at=row.created_at.astimezone(UTC),
        room_id=row.room_id,
        witnesses=tuple(DrawWitness(w.user_id, w.commitment, w.reveal) for w in witnesses),
        reveal_by=_utc(row.reveal_by), frozen_at=_utc(row.frozen_at), finished_at=_utc(row.finished_at),
        cancel_reason=row.cancel_reason, frozen=row.frozen, record=row.record)


def _member(row: PoolEntryRow) -> PoolMember:
    return PoolMember(pseudonym=row.pseudonym, user_id=row.user_id, salt=row.salt, type=row.type_label,
                      probability=Fraction(row.probability))


def _seat(row: SeatRow) -> Seat:
    return Seat(id=row.id, draw=row.draw_ref, assembly=row.assembly, user=row.user_id, type=row.type_label,
                pseudonym=row.pseudonym, since=row.since.astimezone(UTC), term_ends=row.term_ends.astimezone(UTC),
                power=SeatPower(row.power), status=SeatStatus(row.status), via=row.via,
                ended_at=_utc(row.ended_at))


class DrawStore:
    """Draws, their witnesses and their frozen pools."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, build: Callable[[str], Draw], *, assembly: str, witnesses: Sequence[str]) -> Draw:
        """Store the draw ``build(ref)`` returns (``ref``: the assembly's next ``S-`` reference) with its
        named witnesses, in one transaction."""

        async def insert(connection: BaseDBAsyncClient) -> Draw:
            number = await DrawRow.filter(assembly=assembly).using_db(connection).count() + 1
            draw = build(make_draw_ref(assembly, number))
            row = await DrawRow.create(
                ref=draw.ref, assembly=assembly, number=number, request=draw.request.as_data(),
                status=draw.status.value, created_by=draw.created_by, created_at=as_utc(draw.created_at),
                room_id=draw.room_id, reveal_by=as_utc_or_none(draw.reveal_by), using_db=connection)
            for position, user in enumerate(witnesses):
                await WitnessRow.create(draw_ref=draw.ref, user_id=user, position=position, using_db=connection)
            return await _draw(row, connection)

        return await insert_numbered(self._scope, insert)

    async def get(self, ref: str) -> Draw | None:
        """The draw ``ref``, or None."""
        with self._scope():
            row = await DrawRow.get_or_none(ref=ref)
            return None if row is None else await _draw(row)

    async def of_assembly(self, assembly: str) -> list[Draw]:
        """The assembly's draws, oldest first."""
        with self._scope():
            return [await _draw(row) for row in await DrawRow.filter(assembly=assembly).order_by("number")]

    async def unsettled(self) -> list[Draw]:
        """Draws still open, or finished or frozen but not yet posted (after a restart)."""
        with self._scope():
            rows = await DrawRow.filter(result_posted_at=None).order_by("id")
            return [await _draw(row) for row in rows]

    async def commit(self, ref: str, user: str, commitment: str | None, *, at: datetime) -> Draw:
        """Record (or, with None, withdraw) ``user``'s commitment."""
        with self._scope():
            await WitnessRow.filter(draw_ref=ref, user_id=user).update(
                commitment=commitment, committed_at=None if commitment is None else as_utc(at))
            return await _draw(await DrawRow.get(ref=ref))

    async def reveal(self, ref: str, user: str, reveal: str, *, at: datetime) -> Draw:
        """Record ``user``'s reveal (checked against the commitment by the caller)."""
        with self._scope():
            await WitnessRow.filter(draw_ref=ref, user_id=user, reveal=None).update(reveal=reveal,
                                                                                  revealed_at=as_utc(at))
            return await _draw(await DrawRow.get(ref=ref))

    async def freeze(self, ref: str, *, pool: FrozenPool, reveal_by: datetime, at: datetime) -> Draw | None:
        """Freeze the pool (every entry and the frozen data at once); None if the draw was no longer
        awaiting commitments."""
        with self._scope():
            async with in_transaction("default") as connection:
                changed = await DrawRow.filter(ref=ref, status=DrawStatus.COMMITTING.value).using_db(
                    connection).update(status=DrawStatus.FROZEN.value, frozen=dict(pool.data),
                                       frozen_at=as_utc(at), reveal_by=as_utc(reveal_by))
                if not changed:
                    return None
                await PoolEntryRow.bulk_create([
                    PoolEntryRow(draw_ref=ref, pseudonym=m.pseudonym, user_id=m.user_id, salt=m.salt,
                                 type_label=m.type, probability=str(m.probability)) for m in pool.members],
                    using_db=connection)
                return await _draw(await DrawRow.filter(ref=ref).using_db(connection).get(), connection)

    async def finish(self, ref: str, *, record: Mapping[str, Any] | None, seats: Sequence[Seat], at: datetime,
                     cancel_reason: str | None = None) -> Draw | None:
        """Drawn (with its seats) or cancelled, at once; None if it had already finished."""
        status = DrawStatus.DRAWN if record is not None and record["status"] == "drawn" else DrawStatus.CANCELLED
        reason = cancel_reason if record is None else record["cancel_reason"]
        with self._scope():
            async with in_transaction("default") as connection:
                changed = await DrawRow.filter(ref=ref, status__in=[DrawStatus.COMMITTING.value,
                                                                     DrawStatus.FROZEN.value]).using_db(
                    connection).update(status=status.value, record=None if record is None else dict(record),
                                       finished_at=as_utc(at), cancel_reason=reason)
                if not changed:
                    return None
                for seat in seats:
                    await _add_seat(seat, connection)
                return await _draw(await DrawRow.filter(ref=ref).using_db(connection).get(), connection)

    async def mark_announced(self, ref: str, *, at: datetime) -> None:
        """The frozen pool was announced and every member told."""
        with self._scope():
            await DrawRow.filter(ref=ref).update(announced_at=as_utc(at))

    async def announced(self, ref: str) -> bool:
        """Whether the frozen pool of ``ref`` was announced."""
        with self._scope():
            return await DrawRow.filter(ref=ref).exclude(announced_at=None).exists()

    async def mark_result_posted(self, ref: str, *, at: datetime) -> None:
        """The result (or the cancellation) was posted."""
        with self._scope():
            await DrawRow.filter(ref=ref).update(result_posted_at=as_utc(at))

    async def pool(self, ref: str) -> list[PoolMember]:
        """The frozen pool's entries, by pseudonym."""
        with self._scope():
            return [_member(row) for row in await PoolEntryRow.filter(draw_ref=ref).order_by("pseudonym")]

    async def entries_of(self, user: str) -> list[tuple[str, PoolMember]]:
        """``(draw ref, entry)`` of every frozen pool ``user`` is in (for ``mydata``)."""
        with self._scope():
            rows = await PoolEntryRow.filter(user_id=user).order_by("id")
            return [(row.draw_ref, _member(row)) for row in rows]

    async def forget(self, user: str) -> int:
        """Unlink ``user`` from their pool entries (the pseudonyms stay, as published)."""
        with self._scope():
            return await PoolEntryRow.filter(user_id=user).update(user_id=None)


async def _add_seat(seat: Seat, connection: BaseDBAsyncClient | None = None) -> Seat:
    row = await SeatRow.create(
        draw_ref=seat.draw, assembly=seat.assembly, user_id=seat.user, type_label=seat.type,
        pseudonym=seat.pseudonym, since=as_utc(seat.since), term_ends=as_utc(seat.term_ends),
        power=seat.power.value, status=seat.status.value, via=seat.via, ended_at=as_utc_or_none(seat.ended_at),
        using_db=connection)
    return _seat(row)


class SeatStore:
    """Seats taken by the drawn."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def seats(self, *, assembly: str | None = None, user: str | None = None, draw: str | None = None,
                    status: SeatStatus | None = SeatStatus.SEATED) -> list[Seat]:
        """Seats matching every filter given (by default: those still seated), oldest first."""
        filters: dict[str, Any] = {}
        if assembly is not None:
            filters["assembly"] = assembly
        if user is not None:
            filters["user_id"] = user
        if draw is not None:
            filters["draw_ref"] = draw
        if status is not None:
            filters["status"] = status.value
        with self._scope():
            return [_seat(row) for row in await SeatRow.filter(**filters).order_by("id")]

    async def add(self, seat: Seat) -> Seat | None:
        """Seat someone (an alternate); None if that pseudonym of the draw already had a seat."""
        with self._scope():
            try:
                return await _add_seat(seat)
            except IntegrityError:
                return None

    async def end(self, seat_id: int, status: SeatStatus, *, at: datetime) -> bool:
        """Stand a seat down or end it; False if it was not seated any more."""
        with self._scope():
            return bool(await SeatRow.filter(id=seat_id, status=SeatStatus.SEATED.value).update(
                status=status.value, ended_at=as_utc(at)))


class FeatureStore:
    """Members' self-described features (sensitive)."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def of_user(self, user: str) -> dict[str, str]:
        """``category → value`` given by ``user``."""
        with self._scope():
            return {row.category: row.value for row in await FeatureRow.filter(user_id=user).order_by("category")}

    async def of_users(self, users: Iterable[str], categories: Iterable[str]) -> dict[str, dict[str, str]]:
        """``user → category → value`` for the given users and categories (users without any left out)."""
        wanted = list(categories)
        result: dict[str, dict[str, str]] = {}
        if not wanted:
            return result
        with self._scope():
            for row in await FeatureRow.filter(user_id__in=list(users), category__in=wanted):
                result.setdefault(row.user_id, {})[row.category] = row.value
        return result

    async def set(self, user: str, category: str, value: str, *, at: datetime) -> None:
        """Set (or replace) ``user``'s value of ``category``."""
        with self._scope():
            await FeatureRow.update_or_create(defaults={"value": value, "set_at": as_utc(at)}, user_id=user,
                                              category=category)

    async def clear(self, user: str, category: str) -> bool:
        """Forget one value; False if there was none."""
        with self._scope():
            return bool(await FeatureRow.filter(user_id=user, category=category).delete())

    async def erase(self, user: str) -> int:
        """Forget every value of ``user``."""
        with self._scope():
            return await FeatureRow.filter(user_id=user).delete()


class SortitionNoticeStore:
    """Reminders already sent."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def settled(self, key: str) -> bool:
        """Whether the reminder ``key`` was sent."""
        with self._scope():
            return await SortitionNoticeRow.filter(key=key).exists()

    async def settle(self, key: str, *, at: datetime) -> bool:
        """Record the reminder ``key`` as sent; False if it already was."""
        with self._scope():
            try:
                await SortitionNoticeRow.create(key=key, at=as_utc(at))
            except IntegrityError:
                return False
            return True


class SortitionStores:
    """The stores of the sortition feature, as one ``Database`` attribute (``db.sortition``)."""

    def __init__(self, scope: ContextScope) -> None:
        self.draws = DrawStore(scope)
        self.seats = SeatStore(scope)
        self.features = FeatureStore(scope)
        self.notices = SortitionNoticeStore(scope)
