"""The decision store: the append-only, hash-chained record. There is no update or delete on purpose."""

from __future__ import annotations

from collections.abc import Callable

from tortoise.backends.base.client import BaseDBAsyncClient

from harmony_matrix.consensus.ballots import Ballot
from harmony_matrix.consensus.decisions import ChainEntry, Decision, Level, Method, append
from harmony_matrix.consensus.proposals import Proposal
from harmony_matrix.ids import EventId, UserId
from storage.consensus.ballots import settle_ballot
from storage.consensus.models import DecisionEntry
from storage.consensus.numbering import insert_numbered
from storage.consensus.proposals import write_status
from storage.scope import ContextScope


def _decision(row: DecisionEntry) -> Decision:
    totals = row.score_totals
    return Decision(
        ref=row.ref, assembly=row.assembly, level=Level(row.level), method=Method(row.method),
        outcome=row.outcome, statement=row.statement, topics=tuple(row.topics or ()),
        decided_at=row.decided_at, evidence=tuple(EventId(e) for e in row.evidence or ()),
        proposal=row.proposal, supersedes=row.supersedes,
        recorded_by=None if row.recorded_by is None else UserId(row.recorded_by),
        cites=tuple(row.cites or ()), without_quorum=bool(row.without_quorum),
        score_totals=None if totals is None else tuple((str(o), int(t)) for o, t in totals),
    )


def _entry(row: DecisionEntry) -> ChainEntry:
    return ChainEntry(seq=row.seq, decision=_decision(row), prev_hash=row.prev_hash, hash=row.hash)


class DecisionStore:
    """The append-only record."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def chain(self) -> list[ChainEntry]:
        """Every entry, in order."""
        with self._scope():
            rows = await DecisionEntry.all().order_by("seq")
        return [_entry(r) for r in rows]

    async def count(self) -> int:
        """How many entries the record holds (cheap: to notice a new one)."""
        with self._scope():
            return await DecisionEntry.all().count()

    async def decisions(self) -> list[Decision]:
        """Every decision, in the record's order."""
        return [entry.decision for entry in await self.chain()]

    async def append(self, build: Callable[[int], Decision], *, assembly: str,
                     proposal: Proposal | None = None, ballot: Ballot | None = None) -> ChainEntry:
        """Append the decision ``build(number)`` returns (``number``: ``assembly``'s next decision number).

        In one transaction: the entry (chained to the current head), the proposal's new status and the
        ballot's settlement. Two writers racing for the head collide on the unique ``prev_hash`` (or
        ``seq``) and the loser tries again on the new head (``insert_numbered``).
        """

        async def insert(connection: BaseDBAsyncClient) -> ChainEntry:
            rows = await DecisionEntry.all().using_db(connection).order_by("seq")
            number = max((r.number for r in rows if r.assembly == assembly), default=0) + 1
            decision = build(number)
            entry = append([_entry(r) for r in rows], decision)
            await DecisionEntry.create(
                seq=entry.seq, ref=decision.ref, assembly=decision.assembly, number=number,
                level=decision.level.value, method=decision.method.value, outcome=decision.outcome,
                statement=decision.statement, topics=list(decision.topics), decided_at=decision.decided_at,
                evidence=list(decision.evidence), proposal=decision.proposal,
                score_totals=None if decision.score_totals is None
                else [[o, t] for o, t in decision.score_totals],
                supersedes=decision.supersedes, recorded_by=decision.recorded_by, cites=list(decision.cites),
                without_quorum=decision.without_quorum, prev_hash=entry.prev_hash, hash=entry.hash,
                using_db=connection)
            if proposal is not None:
                await write_status(proposal, connection)
            if ballot is not None:
                await settle_ballot(ballot, connection)
            return entry

        return await insert_numbered(self._scope, insert)
