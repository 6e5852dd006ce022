"""The consensus check store: checks, the reactions (stances) on them and the reasons given."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from harmony_matrix.consensus.checks import Check, CheckStatus, Stance, StanceRecord, make_check_ref
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.consensus.models import CheckRow, ReasonRow, StanceRow
from storage.consensus.numbering import insert_numbered
from storage.scope import ContextScope
from storage.timestamps import as_utc


def _check(row: CheckRow) -> Check:
    return Check(ref=row.ref, assembly=row.assembly, proposal=row.proposal, room_id=RoomId(row.room_id),
                 opened_at=row.opened_at.astimezone(UTC), opened_by=UserId(row.opened_by),
                 status=CheckStatus(row.status), event_id=None if row.event_id is None else EventId(row.event_id),
                 closed_at=None if row.closed_at is None else row.closed_at.astimezone(UTC))


def _stance(row: StanceRow) -> StanceRecord:
    return StanceRecord(user=UserId(row.user), stance=Stance(row.stance), event_id=EventId(row.event_id), ts=row.ts,
                        member=row.member, withdrawn=row.withdrawn)


class CheckStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def open(self, build: Callable[[str], Check], *, assembly: str) -> Check:
        """Store the check ``build(ref)`` returns, with ``assembly``'s next reference."""

        async def insert(connection: BaseDBAsyncClient) -> Check:
            last = await CheckRow.filter(assembly=assembly).using_db(connection).order_by("-number").first()
            number = (last.number if last else 0) + 1
            check = build(make_check_ref(assembly, number))
            await CheckRow.create(ref=check.ref, assembly=assembly, number=number, proposal=check.proposal,
                                  room_id=check.room_id, event_id=check.event_id,
                                  opened_at=as_utc(check.opened_at, "opened_at"), opened_by=check.opened_by,
                                  status=check.status.value, using_db=connection)
            return check

        return await insert_numbered(self._scope, insert)

    async def posted(self, ref: str, event_id: str) -> None:
        """Remember the message people react to."""
        with self._scope():
            await CheckRow.filter(ref=ref).update(event_id=event_id)

    async def close(self, ref: str, *, at: datetime) -> None:
        """No stance changes after ``at``."""
        with self._scope():
            await CheckRow.filter(ref=ref, status=CheckStatus.OPEN.value).update(
                status=CheckStatus.CLOSED.value, closed_at=as_utc(at, "at"))

    async def get(self, ref: str) -> Check | None:
        with self._scope():
            row = await CheckRow.get_or_none(ref__iexact=ref)
        return None if row is None else _check(row)

    async def by_event(self, event_id: str) -> Check | None:
        """The check posted as ``event_id``."""
        with self._scope():
            row = await CheckRow.get_or_none(event_id=event_id)
        return None if row is None else _check(row)

    async def for_proposal(self, proposal: str) -> list[Check]:
        """Every check on ``proposal``, oldest first."""
        with self._scope():
            rows = await CheckRow.filter(proposal=proposal).order_by("number")
        return [_check(r) for r in rows]

    async def add_stance(self, ref: str, record: StanceRecord) -> bool:
        """Store a reaction; False when it was stored before (a replayed sync)."""
        with self._scope():
            row = await CheckRow.get(ref=ref)
            try:
                await StanceRow.create(check=row, user=record.user, stance=record.stance.value,
                                       event_id=record.event_id, ts=record.ts, member=record.member,
                                       withdrawn=record.withdrawn)
            except IntegrityError:
                return False
        return True

    async def withdraw(self, event_id: str) -> bool:
        """A reaction was redacted; True when it was a stance."""
        with self._scope():
            return bool(await StanceRow.filter(event_id=event_id).update(withdrawn=True))

    async def stances(self, ref: str) -> list[StanceRecord]:
        """Every reaction stored on the check, withdrawn ones included."""
        with self._scope():
            rows = await StanceRow.filter(check__ref=ref).order_by("id")
        return [_stance(r) for r in rows]

    async def reasons(self, ref: str) -> dict[UserId, str]:
        """The reasons given on the check, by person."""
        with self._scope():
            rows = await ReasonRow.filter(check__ref=ref, reason__isnull=False)
        return {UserId(r.user): r.reason for r in rows if r.reason}

    async def give_reason(self, ref: str, user: str, reason: str, *, at: datetime) -> None:
        """Store (or replace) ``user``'s reason."""
        with self._scope():
            row = await CheckRow.get(ref=ref)
            existing = await ReasonRow.get_or_none(check=row, user=user)
            if existing is None:
                await ReasonRow.create(check=row, user=user, reason=reason, given_at=as_utc(at, "at"))
            else:
                existing.reason, existing.given_at = reason, as_utc(at, "at")
                await existing.save()

    async def mark_asked(self, ref: str, user: str, *, at: datetime) -> bool:
        """Note that ``user`` was asked for a reason; False when they had been asked (or answered) before."""
        with self._scope():
            row = await CheckRow.get(ref=ref)
            try:
                await ReasonRow.create(check=row, user=user, asked_at=as_utc(at, "at"))
            except IntegrityError:
                return False
        return True

    async def of_user(self, user: str) -> list[dict[str, str]]:
        """``user``'s stances and reasons (for their data export)."""
        with self._scope():
            stances = await StanceRow.filter(user=user).prefetch_related("check").order_by("id")
            reasons = await ReasonRow.filter(user=user, reason__isnull=False).prefetch_related("check")
        return ([{"check": s.check.ref, "stance": s.stance, "withdrawn": str(s.withdrawn).lower()} for s in stances]
                + [{"check": r.check.ref, "reason": r.reason or ""} for r in reasons])

    async def forget(self, user: str) -> None:
        """Erase ``user``'s stances and reasons (``forget-me``)."""
        with self._scope():
            await StanceRow.filter(user=user).delete()
            await ReasonRow.filter(user=user).delete()
