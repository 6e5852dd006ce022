"""The moot store, and the store of settled notices (moot notices and term reminders)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from harmony_matrix.consensus.moots import Moot, MootStatus, make_moot_ref
from harmony_matrix.consensus.proposals import Proposal
from harmony_matrix.consensus.recurrence import Series, SeriesStatus, make_series_ref
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.consensus.models import MootRow, MootSeriesRow, SentNotice
from storage.consensus.numbering import insert_numbered
from storage.consensus.proposals import write_status
from storage.scope import ContextScope
from storage.timestamps import as_utc


def moot_from_row(row: MootRow) -> Moot:
    """The one mapping of a stored moot row to the core's ``Moot`` (also used by the web view's read side,
    ``storage.public``)."""
    return Moot(
        ref=row.ref, assembly=row.assembly, topic=row.topic, starts_at=row.starts_at.astimezone(UTC),
        duration=timedelta(seconds=row.duration_seconds), scheduled_at=row.scheduled_at.astimezone(UTC),
        scheduled_by=UserId(row.scheduled_by), proposals=tuple(row.proposals or ()),
        status=MootStatus(row.status), minutes=row.minutes,
        attendees=frozenset(UserId(u) for u in row.attendees or ()),
        evidence=tuple(EventId(e) for e in row.evidence or ()),
        agenda=tuple(row.agenda or ()), series=row.series,
    )


def _series(row: MootSeriesRow) -> Series:
    return Series(
        ref=row.ref, assembly=row.assembly, topic=row.topic, rule=row.rule,
        first_start=row.first_start.astimezone(UTC), tz=row.tz, duration=timedelta(seconds=row.duration_seconds),
        scheduled_by=UserId(row.scheduled_by), created_at=row.created_at.astimezone(UTC),
        exdates=tuple(datetime.fromisoformat(e).astimezone(UTC) for e in row.exdates or ()),
        status=SeriesStatus(row.status))


class MootStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, build: Callable[[str], Moot], *, assembly: str, room_id: RoomId,
                     proposals: Iterable[Proposal] = ()) -> Moot:
        """Store the moot ``build(ref)`` returns (``ref``: ``assembly``'s next moot reference) and move
        its linked proposals to their new status, in one transaction; returns the moot."""
        linked = list(proposals)

        async def insert(connection: BaseDBAsyncClient) -> Moot:
            last = await MootRow.filter(assembly=assembly).using_db(connection).order_by("-number").first()
            number = (last.number if last else 0) + 1
            moot = build(make_moot_ref(assembly, number))
            await MootRow.create(
                ref=moot.ref, assembly=moot.assembly, number=number, topic=moot.topic,
                starts_at=as_utc(moot.starts_at, "starts_at"), duration_seconds=int(moot.duration.total_seconds()),
                scheduled_at=as_utc(moot.scheduled_at, "scheduled_at"), scheduled_by=moot.scheduled_by,
                proposals=list(moot.proposals), status=moot.status.value, minutes=moot.minutes,
                attendees=sorted(moot.attendees), evidence=list(moot.evidence), room_id=room_id,
                agenda=list(moot.agenda), series=moot.series, using_db=connection)
            for proposal in linked:
                await write_status(proposal, connection)
            return moot

        return await insert_numbered(self._scope, insert)

    async def get(self, ref: str) -> Moot | None:
        """The moot with reference ``ref`` (any letter case), or None."""
        with self._scope():
            row = await MootRow.get_or_none(ref__iexact=ref)
        return None if row is None else moot_from_row(row)

    async def room_of(self, ref: str) -> RoomId | None:
        """Where the moot's notices go."""
        with self._scope():
            row = await MootRow.get_or_none(ref=ref)
        return None if row is None else RoomId(row.room_id)

    async def save(self, moot: Moot) -> None:
        """Write back status, minutes, attendees, evidence, agenda and proposals."""
        with self._scope():
            await MootRow.filter(ref=moot.ref).update(
                status=moot.status.value, minutes=moot.minutes, attendees=sorted(moot.attendees),
                evidence=list(moot.evidence), agenda=list(moot.agenda), proposals=list(moot.proposals))

    async def create_series(self, build: Callable[[str], Series], *, assembly: str, room_id: RoomId) -> Series:
        """Store the series ``build(ref)`` returns, with ``assembly``'s next series reference."""

        async def insert(connection: BaseDBAsyncClient) -> Series:
            last = await MootSeriesRow.filter(assembly=assembly).using_db(connection).order_by("-number").first()
            number = (last.number if last else 0) + 1
            series = build(make_series_ref(assembly, number))
            await MootSeriesRow.create(
                ref=series.ref, assembly=assembly, number=number, topic=series.topic, rule=series.rule,
                first_start=as_utc(series.first_start, "first_start"), tz=series.tz,
                duration_seconds=int(series.duration.total_seconds()), scheduled_by=series.scheduled_by,
                created_at=as_utc(series.created_at, "created_at"),
                exdates=[e.isoformat() for e in series.exdates], status=series.status.value, room_id=room_id,
                using_db=connection)
            return series

        return await insert_numbered(self._scope, insert)

    async def get_series(self, ref: str) -> Series | None:
        """The series ``ref`` (any letter case), or None."""
        with self._scope():
            row = await MootSeriesRow.get_or_none(ref__iexact=ref)
        return None if row is None else _series(row)

    async def series_room(self, ref: str) -> RoomId | None:
        """Where the series' occurrences announce themselves."""
        with self._scope():
            row = await MootSeriesRow.get_or_none(ref=ref)
        return None if row is None else RoomId(row.room_id)

    async def active_series(self) -> list[Series]:
        """Every series still making occurrences."""
        with self._scope():
            rows = await MootSeriesRow.filter(status=SeriesStatus.ACTIVE.value).order_by("id")
        return [_series(r) for r in rows]

    async def save_series(self, series: Series) -> None:
        """Write back a series' exceptions and status."""
        with self._scope():
            await MootSeriesRow.filter(ref=series.ref).update(
                exdates=[e.isoformat() for e in series.exdates], status=series.status.value)

    async def occurrences(self, series: str) -> list[Moot]:
        """The moots made for ``series`` (any status), earliest first."""
        with self._scope():
            rows = await MootRow.filter(series=series).order_by("starts_at")
        return [moot_from_row(r) for r in rows]

    async def scheduled(self) -> list[Moot]:
        """Every moot still scheduled (the ones whose notices may be due)."""
        with self._scope():
            rows = await MootRow.filter(status=MootStatus.SCHEDULED.value).order_by("starts_at")
        return [moot_from_row(r) for r in rows]

    async def upcoming(self, *, assemblies: Iterable[str] | None, after: datetime) -> list[Moot]:
        """Scheduled moots that have not ended by ``after`` (of the given assemblies, or all)."""
        with self._scope():
            query = MootRow.filter(status=MootStatus.SCHEDULED.value)
            if assemblies is not None:
                query = query.filter(assembly__in=list(assemblies))
            rows = await query.order_by("starts_at")
        return [m for m in map(moot_from_row, rows) if m.ends_at > after]

    async def with_proposal(self, ref: str) -> list[Moot]:
        """The moots with proposal ``ref`` on their agenda, earliest first."""
        with self._scope():
            rows = await MootRow.all().order_by("starts_at")
        return [m for m in map(moot_from_row, rows) if ref in m.proposals]

    async def in_assembly(self, assembly: str) -> list[Moot]:
        """Every moot of ``assembly``, earliest first."""
        with self._scope():
            rows = await MootRow.filter(assembly=assembly).order_by("starts_at")
        return [moot_from_row(r) for r in rows]

    async def involving(self, user: str) -> list[Moot]:
        """The moots ``user`` scheduled or attended (for their data export)."""
        with self._scope():
            rows = await MootRow.all().order_by("id")
        return [m for m in map(moot_from_row, rows) if m.scheduled_by == user or user in m.attendees]

    async def forget_attendee(self, user: str) -> None:
        """Take ``user`` off every attendance list (for ``forget-me``)."""
        with self._scope():
            async with in_transaction("default") as connection:
                for row in await MootRow.all().using_db(connection):
                    if user in (row.attendees or []):
                        row.attendees = [u for u in row.attendees if u != user]
                        await row.save(using_db=connection, update_fields=["attendees"])


class NoticeStore:
    """Which notices were settled (sent or skipped). The unique key is what makes "never twice" hold."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def settled(self, prefix: str) -> set[str]:
        """Keys starting with ``prefix`` (e.g. ``"M-ops-3/"``) that were already settled."""
        with self._scope():
            rows = await SentNotice.filter(key__startswith=prefix).only("id", "key")
        return {row.key for row in rows}

    async def key_of(self, event_id: str) -> str | None:
        """The key of the notice posted as ``event_id`` (a moot's start notice takes attendance)."""
        with self._scope():
            row = await SentNotice.get_or_none(event_id=event_id)
        return None if row is None else row.key

    async def settle(self, key: str, *, at: datetime, event_id: str | None = None,
                     skipped: str | None = None) -> bool:
        """Mark ``key`` settled; False if it already was (someone else got there first)."""
        with self._scope():
            try:
                await SentNotice.create(key=key, event_id=event_id, skipped=skipped, at=as_utc(at, "at"))
            except IntegrityError:
                return False
        return True
