"""Stores of the ``consensus`` app. Methods take and return core types, never ORM rows.

Everything that must not be recorded half-way happens inside one transaction; the unique constraints
(references, notice keys, the chain's ``prev_hash``, one signature per member) are what make retries and
races safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from harmony_matrix.consensus.ballots import Ballot, BallotKind, BallotStatus
from harmony_matrix.consensus.decisions import ChainEntry, Decision, Level, Method, append
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.consensus.moots import Moot, MootStatus, make_moot_ref
from harmony_matrix.consensus.proposals import Proposal, ProposalStatus, make_proposal_ref
from harmony_matrix.consensus.roles import (
    HowDecided,
    Petition,
    PetitionStatus,
    Role,
    RoleAssignment,
    RoleChange,
    Signature,
)
from storage.consensus.models import (
    BallotRow,
    DecisionEntry,
    MootRow,
    PetitionRow,
    ProposalRow,
    RoleRow,
    SentNotice,
    SignatureRow,
)
from storage.scope import ContextScope

_ATTEMPTS = 5  # retries when two writers pick the same next number at once


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}")
    return moment.astimezone(UTC)


def _tx():  # type: ignore[no-untyped-def]
    return in_transaction("default")


# --- proposals ----------------------------------------------------------------------------------


def _proposal(row: ProposalRow) -> Proposal:
    return Proposal(
        ref=row.ref, assembly=row.assembly, number=row.number, title=row.title, details=row.details,
        author=UserId(row.author), created_at=row.created_at, status=ProposalStatus(row.status),
        thread_root=None if row.thread_root is None else EventId(row.thread_root),
        evidence=tuple(EventId(e) for e in row.evidence or ()),
    )


class ProposalStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, *, assembly: str, title: str, details: str, author: UserId, created_at: datetime,
                     room_id: RoomId, evidence: Sequence[EventId] = ()) -> Proposal:
        """Store a new proposal with the next number of its assembly and return it."""
        for attempt in range(_ATTEMPTS):
            with self._scope():
                try:
                    async with _tx() as conn:
                        last = await ProposalRow.filter(assembly=assembly).using_db(conn).order_by("-number").first()
                        number = (last.number if last else 0) + 1
                        row = await ProposalRow.create(
                            ref=make_proposal_ref(assembly, number), assembly=assembly, number=number,
                            title=title, details=details, author=author, created_at=_utc(created_at),
                            status=ProposalStatus.DISCUSSION.value, room_id=room_id,
                            evidence=list(evidence), using_db=conn)
                    return _proposal(row)
                except IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    async def get(self, ref: str) -> Proposal | None:
        with self._scope():
            row = await ProposalRow.get_or_none(ref__iexact=ref)
        return None if row is None else _proposal(row)

    async def save(self, proposal: Proposal) -> None:
        """Write back status, thread root and evidence."""
        with self._scope():
            await ProposalRow.filter(ref=proposal.ref).update(
                status=proposal.status.value, thread_root=proposal.thread_root,
                evidence=list(proposal.evidence))

    async def of_assembly(self, assembly: str) -> list[Proposal]:
        with self._scope():
            rows = await ProposalRow.filter(assembly=assembly).order_by("number")
        return [_proposal(r) for r in rows]

    async def by_author(self, user: str) -> list[Proposal]:
        with self._scope():
            rows = await ProposalRow.filter(author=user).order_by("id")
        return [_proposal(r) for r in rows]


# --- moots and notices --------------------------------------------------------------------------


def _moot(row: MootRow) -> Moot:
    return Moot(
        ref=row.ref, assembly=row.assembly, topic=row.topic, starts_at=row.starts_at.astimezone(UTC),
        duration=timedelta(seconds=row.duration_seconds), scheduled_at=row.scheduled_at.astimezone(UTC),
        scheduled_by=UserId(row.scheduled_by), proposals=tuple(row.proposals or ()),
        status=MootStatus(row.status), minutes=row.minutes,
        attendees=frozenset(UserId(u) for u in row.attendees or ()),
        evidence=tuple(EventId(e) for e in row.evidence or ()),
    )


class MootStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def next_ref(self, assembly: str) -> str:
        """The reference the next moot of ``assembly`` would get (``create`` re-checks it)."""
        with self._scope():
            last = await MootRow.filter(assembly=assembly).order_by("-number").first()
        return make_moot_ref(assembly, (last.number if last else 0) + 1)

    async def create(self, moot: Moot, *, room_id: RoomId,
                     proposals: Iterable[Proposal] = ()) -> None:
        """Store a new moot and move its linked proposals to ``moot``, in one transaction.

        Raises ``IntegrityError`` if the reference was taken meanwhile (the caller asks again).
        """
        number = int(moot.ref.rsplit("-", 1)[1])
        with self._scope():
            async with _tx() as conn:
                await MootRow.create(
                    ref=moot.ref, assembly=moot.assembly, number=number, topic=moot.topic,
                    starts_at=_utc(moot.starts_at), duration_seconds=int(moot.duration.total_seconds()),
                    scheduled_at=_utc(moot.scheduled_at), scheduled_by=moot.scheduled_by,
                    proposals=list(moot.proposals), status=moot.status.value, minutes=moot.minutes,
                    attendees=sorted(moot.attendees), evidence=list(moot.evidence), room_id=room_id,
                    using_db=conn)
                for proposal in proposals:
                    await ProposalRow.filter(ref=proposal.ref).using_db(conn).update(
                        status=proposal.status.value, evidence=list(proposal.evidence))

    async def get(self, ref: str) -> Moot | None:
        with self._scope():
            row = await MootRow.get_or_none(ref__iexact=ref)
        return None if row is None else _moot(row)

    async def room_of(self, ref: str) -> RoomId | None:
        with self._scope():
            row = await MootRow.get_or_none(ref=ref)
        return None if row is None else RoomId(row.room_id)

    async def save(self, moot: Moot) -> None:
        """Write back status, minutes, attendees and evidence."""
        with self._scope():
            await MootRow.filter(ref=moot.ref).update(
                status=moot.status.value, minutes=moot.minutes, attendees=sorted(moot.attendees),
                evidence=list(moot.evidence))

    async def scheduled(self) -> list[Moot]:
        """Every moot still scheduled (the ones whose notices may be due)."""
        with self._scope():
            rows = await MootRow.filter(status=MootStatus.SCHEDULED.value).order_by("starts_at")
        return [_moot(r) for r in rows]

    async def upcoming(self, *, assemblies: Iterable[str] | None, after: datetime) -> list[Moot]:
        """Scheduled moots that have not ended by ``after`` (of the given assemblies, or all)."""
        with self._scope():
            query = MootRow.filter(status=MootStatus.SCHEDULED.value)
            if assemblies is not None:
                query = query.filter(assembly__in=list(assemblies))
            rows = await query.order_by("starts_at")
        return [m for m in map(_moot, rows) if m.ends_at > after]

    async def latest(self, assembly: str, *, status: MootStatus | None = None) -> list[Moot]:
        """The assembly's moots, most recent start first."""
        with self._scope():
            query = MootRow.filter(assembly=assembly)
            if status is not None:
                query = query.filter(status=status.value)
            rows = await query.order_by("-starts_at")
        return [_moot(r) for r in rows]

    async def involving(self, user: str) -> list[Moot]:
        with self._scope():
            rows = await MootRow.all().order_by("id")
        return [m for m in map(_moot, rows) if m.scheduled_by == user or user in m.attendees]

    async def forget_attendee(self, user: str) -> None:
        with self._scope():
            async with _tx() as conn:
                for row in await MootRow.all().using_db(conn):
                    if user in (row.attendees or []):
                        row.attendees = [u for u in row.attendees if u != user]
                        await row.save(using_db=conn, update_fields=["attendees"])


class NoticeStore:
    """Which notices were settled (sent or skipped). The unique key is what makes "never twice" hold."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def settled(self, prefix: str) -> set[str]:
        """Keys starting with ``prefix`` (e.g. ``"M-ops-3/"``) that were already settled."""
        with self._scope():
            keys = await SentNotice.filter(key__startswith=prefix).values_list("key", flat=True)
        return set(keys)

    async def settle(self, key: str, *, at: datetime, event_id: str | None = None,
                     skipped: str | None = None) -> bool:
        """Mark ``key`` settled; False if it already was (someone else got there first)."""
        with self._scope():
            try:
                await SentNotice.create(key=key, event_id=event_id, skipped=skipped, at=_utc(at))
            except IntegrityError:
                return False
        return True


# --- the decision record ------------------------------------------------------------------------


def _decision(row: DecisionEntry) -> Decision:
    totals = row.score_totals
    return Decision(
        ref=row.ref, assembly=row.assembly, level=Level(row.level), method=Method(row.method),
        outcome=row.outcome, statement=row.statement, topics=tuple(row.topics or ()),
        decided_at=row.decided_at, evidence=tuple(EventId(e) for e in row.evidence or ()),
        proposal=row.proposal, score_totals=None if totals is None else tuple((o, t) for o, t in totals),
        supersedes=row.supersedes,
    )


def _entry(row: DecisionEntry) -> ChainEntry:
    return ChainEntry(seq=row.seq, decision=_decision(row), prev_hash=row.prev_hash, hash=row.hash)


class DecisionStore:
    """The append-only record. There is no update or delete method on purpose."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def chain(self) -> list[ChainEntry]:
        """Every entry, in order."""
        with self._scope():
            rows = await DecisionEntry.all().order_by("seq")
        return [_entry(r) for r in rows]

    async def decisions(self) -> list[Decision]:
        return [entry.decision for entry in await self.chain()]

    async def append(self, build: Callable[[int], Decision], *, assembly: str,
                     proposal: Proposal | None = None, ballot: Ballot | None = None) -> ChainEntry:
        """Append the decision ``build(number)`` returns (``number``: ``assembly``'s next decision number).

        In one transaction: the entry (chained to the current head), the proposal's new status and the
        ballot's settlement. Two writers racing for the head collide on the unique ``prev_hash`` (or
        ``seq``) and the loser retries on the new head.
        """
        for attempt in range(_ATTEMPTS):
            with self._scope():
                try:
                    async with _tx() as conn:
                        rows = await DecisionEntry.all().using_db(conn).order_by("seq")
                        number = max((r.number for r in rows if r.assembly == assembly), default=0) + 1
                        decision = build(number)
                        entry = append([_entry(r) for r in rows], decision)
                        await DecisionEntry.create(
                            seq=entry.seq, ref=decision.ref, assembly=decision.assembly, number=number,
                            level=decision.level.value, method=decision.method.value,
                            outcome=decision.outcome, statement=decision.statement,
                            topics=list(decision.topics), decided_at=decision.decided_at,
                            evidence=list(decision.evidence), proposal=decision.proposal,
                            score_totals=None if decision.score_totals is None
                            else [[o, t] for o, t in decision.score_totals],
                            supersedes=decision.supersedes, prev_hash=entry.prev_hash, hash=entry.hash,
                            using_db=conn)
                        if proposal is not None:
                            await ProposalRow.filter(ref=proposal.ref).using_db(conn).update(
                                status=proposal.status.value, evidence=list(proposal.evidence))
                        if ballot is not None:
                            await BallotRow.filter(id=ballot.id).using_db(conn).update(
                                status=BallotStatus.DONE.value)
                    return entry
                except IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    async def next_number(self, assembly: str) -> int:
        with self._scope():
            last = await DecisionEntry.filter(assembly=assembly).order_by("-number").first()
        return (last.number if last else 0) + 1


# --- roles --------------------------------------------------------------------------------------


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
        """End the removed assignments and store the added ones, in one transaction."""
        with self._scope():
            async with _tx() as conn:
                for gone in change.removed:
                    await RoleRow.filter(
                        assembly=gone.assembly, user=gone.user, role=gone.role.value, ended_at__isnull=True,
                    ).using_db(conn).update(ended_at=_utc(at))
                for new in change.added:
                    await RoleRow.create(
                        assembly=new.assembly, user=new.user, role=new.role.value, since=_utc(new.since),
                        how_decided=new.how_decided.value, term_ends=_utc(new.term_ends),
                        evidence=list(new.evidence), decision_ref=new.decision_ref, using_db=conn)
                if ballot is not None:
                    await BallotRow.filter(id=ballot.id).using_db(conn).update(status=BallotStatus.DONE.value)

    async def history(self, user: str) -> list[RoleAssignment]:
        with self._scope():
            rows = await RoleRow.filter(user=user).order_by("id")
        return [_role(r) for r in rows]


# --- petitions ----------------------------------------------------------------------------------


async def _petition(row: PetitionRow, conn: Any = None) -> Petition:
    query = SignatureRow.filter(petition_id=row.id).order_by("id")
    if conn is not None:
        query = query.using_db(conn)
    signatures = await query
    return Petition(
        ref=row.ref, assembly=row.assembly, role=Role(row.role), opened_at=row.opened_at.astimezone(UTC),
        opened_by=UserId(row.opened_by),
        signatures=tuple(Signature(UserId(s.user), s.signed_at.astimezone(UTC),
                                   None if s.event_id is None else EventId(s.event_id)) for s in signatures),
        status=PetitionStatus(row.status),
        candidates=tuple(UserId(c) for c in row.candidates or ()),
    )


class PetitionStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def open_for(self, assembly: str) -> list[Petition]:
        with self._scope():
            rows = await PetitionRow.filter(assembly=assembly, status=PetitionStatus.OPEN.value).order_by("id")
            return [await _petition(r) for r in rows]

    async def next_ref(self, assembly: str) -> str:
        with self._scope():
            count = await PetitionRow.filter(assembly=assembly).count()
        return f"R-{assembly}-{count + 1}"

    async def save(self, petition: Petition) -> None:
        """Create or update the petition and add its new signatures, in one transaction."""
        with self._scope():
            async with _tx() as conn:
                row = await PetitionRow.get_or_none(ref=petition.ref).using_db(conn)
                if row is None:
                    row = await PetitionRow.create(
                        ref=petition.ref, assembly=petition.assembly, role=petition.role.value,
                        opened_at=_utc(petition.opened_at), opened_by=petition.opened_by,
                        status=petition.status.value, candidates=list(petition.candidates), using_db=conn)
                else:
                    await PetitionRow.filter(id=row.id).using_db(conn).update(
                        status=petition.status.value, candidates=list(petition.candidates))
                have = set(await SignatureRow.filter(petition_id=row.id).using_db(conn)
                           .values_list("user", flat=True))
                for signature in petition.signatures:
                    if signature.user not in have:
                        await SignatureRow.create(petition_id=row.id, user=signature.user,
                                                  signed_at=_utc(signature.signed_at),
                                                  event_id=signature.event_id, using_db=conn)
                await SignatureRow.filter(petition_id=row.id).exclude(
                    user__in=[s.user for s in petition.signatures]).using_db(conn).delete()

    async def signed_by(self, user: str) -> list[str]:
        with self._scope():
            rows = await SignatureRow.filter(user=user).prefetch_related("petition")
        return [r.petition.ref for r in rows]

    async def forget_signer(self, user: str) -> None:
        with self._scope():
            await SignatureRow.filter(user=user).delete()


# --- ballots ------------------------------------------------------------------------------------


def _ballot(row: BallotRow) -> Ballot:
    return Ballot(
        id=row.id, kind=BallotKind(row.kind), assembly=row.assembly, room_id=RoomId(row.room_id),
        options=tuple(row.options or ()), created_by=UserId(row.created_by),
        created_at=row.created_at.astimezone(UTC), status=BallotStatus(row.status), proposal=row.proposal,
        role=row.role, seats=row.seats, level=row.level, statement=row.statement,
        topics=tuple(row.topics or ()), poll_ref=row.poll_ref,
        evidence=tuple(EventId(e) for e in row.evidence or ()),
    )


class BallotStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def create(self, ballot: Ballot, *, proposal: Proposal | None = None) -> Ballot:
        """Store a ballot (and the proposal's new status) in one transaction; returns it with its ID."""
        with self._scope():
            async with _tx() as conn:
                row = await BallotRow.create(
                    kind=ballot.kind.value, assembly=ballot.assembly, proposal=ballot.proposal,
                    role=ballot.role, seats=ballot.seats, options=list(ballot.options), level=ballot.level,
                    statement=ballot.statement, topics=list(ballot.topics), status=ballot.status.value,
                    poll_ref=ballot.poll_ref, room_id=ballot.room_id, created_by=ballot.created_by,
                    created_at=_utc(ballot.created_at), evidence=list(ballot.evidence), using_db=conn)
                if proposal is not None:
                    await ProposalRow.filter(ref=proposal.ref).using_db(conn).update(
                        status=proposal.status.value, evidence=list(proposal.evidence))
        return replace(ballot, id=row.id)

    async def get(self, ballot_id: int) -> Ballot | None:
        with self._scope():
            row = await BallotRow.get_or_none(id=ballot_id)
        return None if row is None else _ballot(row)

    async def pending_for(self, proposal: str) -> Ballot | None:
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
            async with _tx() as conn:
                await BallotRow.filter(id=ballot.id).using_db(conn).update(
                    status=BallotStatus.STARTED.value, poll_ref=poll_ref)
                if proposal is not None:
                    await ProposalRow.filter(ref=proposal.ref).using_db(conn).update(
                        status=proposal.status.value, evidence=list(proposal.evidence))
        return replace(ballot, status=BallotStatus.STARTED, poll_ref=poll_ref)


class ConsensusStores:
    """The stores of the consensus process, as one ``Database`` attribute (``db.consensus``)."""

    def __init__(self, scope: ContextScope) -> None:
        self.proposals = ProposalStore(scope)
        self.moots = MootStore(scope)
        self.notices = NoticeStore(scope)
        self.decisions = DecisionStore(scope)
        self.roles = RoleStore(scope)
        self.petitions = PetitionStore(scope)
        self.ballots = BallotStore(scope)
