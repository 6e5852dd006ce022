"""The proposal store: proposals, their numbers per assembly, and their status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from harmony_matrix.consensus.proposals import Proposal, ProposalStatus, make_proposal_ref
from harmony_matrix.ids import EventId, RoomId, UserId
from storage.consensus.models import ProposalRow
from storage.consensus.numbering import insert_numbered
from storage.scope import ContextScope
from storage.timestamps import as_utc


def proposal_from_row(row: ProposalRow) -> Proposal:
    """The core proposal a row holds."""
    return Proposal(
        ref=row.ref, assembly=row.assembly, number=row.number, title=row.title, details=row.details,
        author=UserId(row.author), created_at=row.created_at, status=ProposalStatus(row.status),
        thread_root=None if row.thread_root is None else EventId(row.thread_root),
        evidence=tuple(EventId(e) for e in row.evidence or ()),
        room_id=None if row.room_id is None else RoomId(row.room_id),
    )


async def write_status(proposal: Proposal, connection: BaseDBAsyncClient) -> None:
    """Store a proposal's new status and evidence as part of another record's transaction (a moot, a
    ballot, a decision), so the proposal never moves without the record that moved it."""
    await ProposalRow.filter(ref=proposal.ref).using_db(connection).update(
        status=proposal.status.value, evidence=list(proposal.evidence))


class ProposalStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, *, assembly: str, title: str, details: str, author: UserId, created_at: datetime,
                     room_id: RoomId, evidence: Sequence[EventId] = ()) -> Proposal:
        """Store a new proposal with the next number of its assembly and return it."""

        async def insert(connection: BaseDBAsyncClient) -> Proposal:
            last = await ProposalRow.filter(assembly=assembly).using_db(connection).order_by("-number").first()
            number = (last.number if last else 0) + 1
            row = await ProposalRow.create(
                ref=make_proposal_ref(assembly, number), assembly=assembly, number=number, title=title,
                details=details, author=author, created_at=as_utc(created_at, "created_at"),
                status=ProposalStatus.DISCUSSION.value, room_id=room_id, evidence=list(evidence),
                using_db=connection)
            return proposal_from_row(row)

        return await insert_numbered(self._scope, insert)

    async def get(self, ref: str) -> Proposal | None:
        """The proposal with reference ``ref`` (any letter case), or None."""
        with self._scope():
            row = await ProposalRow.get_or_none(ref__iexact=ref)
        return None if row is None else proposal_from_row(row)

    async def save(self, proposal: Proposal) -> None:
        """Write back status, thread root and evidence."""
        with self._scope():
            await ProposalRow.filter(ref=proposal.ref).update(
                status=proposal.status.value, thread_root=proposal.thread_root,
                evidence=list(proposal.evidence))

    async def in_assembly(self, assembly: str) -> list[Proposal]:
        """Every proposal of ``assembly``, newest first."""
        with self._scope():
            rows = await ProposalRow.filter(assembly=assembly).order_by("-number")
        return [proposal_from_row(r) for r in rows]

    async def by_author(self, user: str) -> list[Proposal]:
        """The proposals ``user`` raised (for their data export)."""
        with self._scope():
            rows = await ProposalRow.filter(author=user).order_by("id")
        return [proposal_from_row(r) for r in rows]
