"""The ballot store: deadlock and election ballots, from pending to started to done."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from harmony_matrix.consensus.ballots import Ballot, BallotKind, BallotStatus
from harmony_matrix.consensus.proposals import Proposal
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.consensus.models import BallotRow
from storage.consensus.proposals import write_status
from storage.scope import ContextScope
from storage.timestamps import as_utc


def _ballot(row: BallotRow) -> Ballot:
    return Ballot(
        id=row.id, kind=BallotKind(row.kind), assembly=row.assembly, room_id=RoomId(row.room_id),
        options=tuple(row.options or ()), created_by=UserId(row.created_by),
        created_at=row.created_at.astimezone(UTC), status=BallotStatus(row.status), proposal=row.proposal,
        role=row.role, seats=row.seats, level=row.level, statement=row.statement,
        topics=tuple(row.topics or ()), poll_ref=row.poll_ref,
        evidence=tuple(EventId(e) for e in row.evidence or ()),
    )


async def settle_ballot(ballot: Ballot, connection: BaseDBAsyncClient) -> None:
    """Mark a ballot done as part of the transaction that applies its result (a decision, a role
    change), so a result is applied once."""
    await BallotRow.filter(id=ballot.id).using_db(connection).update(status=BallotStatus.DONE.value)


class BallotStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, ballot: Ballot, *, proposal: Proposal | None = None) -> Ballot:
        """Store a ballot (and the proposal's new status) in one transaction; returns it with its ID."""
        with self._scope():
            async with in_transaction("default") as connection:
                row = await BallotRow.create(
                    kind=ballot.kind.value, assembly=ballot.assembly, proposal=ballot.proposal,
                    role=ballot.role, seats=ballot.seats, options=list(ballot.options), level=ballot.level,
                    statement=ballot.statement, topics=list(ballot.topics), status=ballot.status.value,
                    poll_ref=ballot.poll_ref, room_id=ballot.room_id, created_by=ballot.created_by,
                    created_at=as_utc(ballot.created_at, "created_at"), evidence=list(ballot.evidence),
                    using_db=connection)
                if proposal is not None:
                    await write_status(proposal, connection)
        return replace(ballot, id=row.id)

    async def get(self, ballot_id: int) -> Ballot | None:
        """The ballot with this ID, or None."""
        with self._scope():
            row = await BallotRow.get_or_none(id=ballot_id)
        return None if row is None else _ballot(row)

    async def pending_for(self, proposal: str) -> Ballot | None:
        """The latest ballot on ``proposal`` (whatever its status), or None."""
        with self._scope():
            row = await BallotRow.filter(proposal=proposal).order_by("-id").first()
        return None if row is None else _ballot(row)

    async def abandon(self, ballot: Ballot) -> None:
        """Mark a pending ballot whose poll could not be opened as abandoned (never applied)."""
        with self._scope():
            await BallotRow.filter(id=ballot.id, status=BallotStatus.PENDING.value).update(
                status=BallotStatus.ABANDONED.value)

    async def started(self, ballot: Ballot, *, poll_ref: str, proposal: Proposal | None = None) -> Ballot:
        """Record that the ballot's poll is open (and the proposal is now in ``ballot``)."""
        with self._scope():
            async with in_transaction("default") as connection:
                await BallotRow.filter(id=ballot.id).using_db(connection).update(
                    status=BallotStatus.STARTED.value, poll_ref=poll_ref)
                if proposal is not None:
                    await write_status(proposal, connection)
        return replace(ballot, status=BallotStatus.STARTED, poll_ref=poll_ref)
