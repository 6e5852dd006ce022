"""The role store: who holds which office in an assembly now, and the history of every assignment."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from harmony_matrix.consensus.authority import Tenure
from harmony_matrix.consensus.ballots import Ballot
from harmony_matrix.consensus.roles import HowDecided, Role, RoleAssignment, RoleChange
from harmony_matrix.ids import EventId, UserId
from storage.consensus.ballots import settle_ballot
from storage.consensus.models import RoleRow
from storage.scope import ContextScope
from storage.timestamps import as_utc, as_utc_or_none


def _role(row: RoleRow) -> RoleAssignment:
    return RoleAssignment(
        assembly=row.assembly, user=UserId(row.user), role=Role(row.role), since=row.since.astimezone(UTC),
        how_decided=HowDecided(row.how_decided),
        term_ends=None if row.term_ends is None else row.term_ends.astimezone(UTC),
        evidence=tuple(EventId(e) for e in row.evidence or ()), decision_ref=row.decision_ref,
    )


class RoleStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def current(self, assembly: str | None = None) -> list[RoleAssignment]:
        """Roles held now (of one assembly, or all)."""
        with self._scope():
            query = RoleRow.filter(ended_at__isnull=True)
            if assembly is not None:
                query = query.filter(assembly=assembly)
            rows = await query.order_by("id")
        return [_role(r) for r in rows]

    async def apply(self, change: RoleChange, *, at: datetime, ballot: Ballot | None = None) -> None:
        """End the removed assignments and store the added ones (and settle the election's ballot), in
        one transaction."""
        with self._scope():
            async with in_transaction("default") as connection:
                for gone in change.removed:
                    await RoleRow.filter(
                        assembly=gone.assembly, user=gone.user, role=gone.role.value, ended_at__isnull=True,
                    ).using_db(connection).update(ended_at=as_utc(at, "at"))
                for new in change.added:
                    await RoleRow.create(
                        assembly=new.assembly, user=new.user, role=new.role.value,
                        since=as_utc(new.since, "since"), how_decided=new.how_decided.value,
                        term_ends=as_utc_or_none(new.term_ends, "term_ends"), evidence=list(new.evidence),
                        decision_ref=new.decision_ref, using_db=connection)
                if ballot is not None:
                    await settle_ballot(ballot, connection)

    async def history(self, user: str) -> list[RoleAssignment]:
        """Every role ``user`` held or holds (for their data export)."""
        with self._scope():
            rows = await RoleRow.filter(user=user).order_by("id")
        return [_role(r) for r in rows]

    async def tenures(self) -> list[Tenure]:
        """Every office held or held before, with when it began and ended (for checking who could record
        a decision at the time: ``export-decisions --verify``)."""
        with self._scope():
            rows = await RoleRow.all().order_by("id")
        return [Tenure(assembly=r.assembly, user=UserId(r.user), role=r.role, since=r.since.astimezone(UTC),
                       until=None if r.ended_at is None else r.ended_at.astimezone(UTC)) for r in rows]
