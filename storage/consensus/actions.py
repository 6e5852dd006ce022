"""The action store: action items and decisions' review dates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from harmony_matrix.consensus.actions import Action, ActionStatus, Review, make_action_ref
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.consensus.models import ActionRow, ReviewRow
from storage.consensus.numbering import insert_numbered
from storage.scope import ContextScope
from storage.timestamps import as_utc, as_utc_or_none


def _action(row: ActionRow) -> Action:
    return Action(ref=row.ref, assembly=row.assembly, text=row.text, owner=UserId(row.owner), source=row.source,
                  created_by=UserId(row.created_by), created_at=row.created_at.astimezone(UTC),
                  room_id=RoomId(row.room_id), due_at=None if row.due_at is None else row.due_at.astimezone(UTC),
                  status=ActionStatus(row.status), note=row.note,
                  closed_at=None if row.closed_at is None else row.closed_at.astimezone(UTC),
                  event_id=None if row.event_id is None else EventId(row.event_id))


class ActionStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, build: Callable[[str], Action], *, assembly: str) -> Action:
        """Store the action ``build(ref)`` returns, with ``assembly``'s next reference."""

        async def insert(connection: BaseDBAsyncClient) -> Action:
            last = await ActionRow.filter(assembly=assembly).using_db(connection).order_by("-number").first()
            number = (last.number if last else 0) + 1
            action = build(make_action_ref(assembly, number))
            await ActionRow.create(
                ref=action.ref, assembly=assembly, number=number, text=action.text, owner=action.owner,
                source=action.source, created_by=action.created_by, created_at=as_utc(action.created_at),
                room_id=action.room_id, due_at=as_utc_or_none(action.due_at), status=action.status.value,
                using_db=connection)
            return action

        return await insert_numbered(self._scope, insert)

    async def save(self, action: Action) -> None:
        """Write back status, note, closing time and message."""
        with self._scope():
            await ActionRow.filter(ref=action.ref).update(
                status=action.status.value, note=action.note, closed_at=as_utc_or_none(action.closed_at),
                event_id=action.event_id)

    async def get(self, ref: str) -> Action | None:
        with self._scope():
            row = await ActionRow.get_or_none(ref__iexact=ref)
        return None if row is None else _action(row)

    async def by_event(self, event_id: str) -> Action | None:
        """The action posted as ``event_id``."""
        with self._scope():
            row = await ActionRow.get_or_none(event_id=event_id)
        return None if row is None else _action(row)

    async def open(self, *, assembly: str | None = None, owner: str | None = None) -> list[Action]:
        """Open actions (of an assembly, or of an owner), soonest due first."""
        with self._scope():
            query = ActionRow.filter(status=ActionStatus.OPEN.value)
            if assembly is not None:
                query = query.filter(assembly=assembly)
            if owner is not None:
                query = query.filter(owner=owner)
            rows = await query.order_by("id")
        far = datetime.max.replace(tzinfo=UTC)
        return sorted(map(_action, rows), key=lambda a: (a.due_at or far, a.ref))

    async def set_review(self, review: Review) -> None:
        """Set (or replace) a decision's review date."""
        with self._scope():
            await ReviewRow.update_or_create(
                defaults={"assembly": review.assembly, "review_at": as_utc(review.review_at), "set_by": review.set_by},
                decision=review.decision)

    async def reviews(self) -> list[Review]:
        """Every review date."""
        with self._scope():
            rows = await ReviewRow.all().order_by("review_at")
        return [Review(decision=r.decision, assembly=r.assembly, review_at=r.review_at.astimezone(UTC),
                       set_by=UserId(r.set_by)) for r in rows]

    async def of_user(self, user: str) -> list[dict[str, str]]:
        """The actions ``user`` owns (for their data export)."""
        with self._scope():
            rows = await ActionRow.filter(owner=user).order_by("id")
        return [{"ref": r.ref, "text": r.text, "status": r.status} for r in rows]
