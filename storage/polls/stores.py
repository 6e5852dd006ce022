"""The polls store: polls, votes (counted, superseded, withdrawn or refused), secret ballots, private-notice
markers, reconciliation.

Takes and returns core types (``harmony_matrix.polls``), never ORM rows, and decides nothing: which vote
counts is ``harmony_matrix.polls.reactions``, applied by the handler to what this store returns.
Idempotency comes from unique constraints: a reaction's event ID is stored once; a poll's
``source_key`` opens one poll.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from harmony_matrix.polls.poll import Eligibility, Poll, PollOption, PollSpec
from harmony_matrix.polls.reactions import CountedReaction, build_ballots
from harmony_matrix.polls.results import PollResult
from storage.polls.models import (
    AnonymousBallotRow,
    PollOptionRow,
    PollRow,
    ReactionRow,
    ReconciliationRow,
    SecretBallotRow,
    ToldRow,
)
from storage.batches import ROWS_PER_INSERT, chunks
from storage.scope import ContextScope
from storage.timestamps import as_utc, as_utc_or_none


@dataclass(frozen=True)
class Reconciliation:
    poll: int
    kind: str
    event_id: str
    detail: str
    at: datetime


class PollStore:
    """Everything the polls feature keeps."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    # -- polls -------------------------------------------------------------------------------------

    async def create(self, spec: PollSpec, *, room_id: str, created_by: str, created_at: datetime,
                     origin: str | None = None, source_key: str | None = None) -> tuple[Poll, bool]:
        """Open a poll; returns (poll, created). With a ``source_key`` already used, the existing
        poll is returned and ``created`` is False (a command replayed after a crash)."""
        with self._scope():
            if source_key is not None:
                existing = await PollRow.get_or_none(source_key=source_key)
                if existing is not None:
                    return await self._poll(existing), False
            try:
                async with in_transaction():
                    row = await PollRow.create(
                        room_id=room_id, question=spec.question, seats=spec.seats, secret=spec.secret,
                        eligibility=spec.eligibility.value,
                        closes_at=as_utc_or_none(spec.closes_at, "closes_at"),
                        status="open", created_by=created_by, created_at=as_utc(created_at, "created_at"),
                        origin=origin,
                        source_key=source_key)
                    for position, label in enumerate(spec.options):
                        await PollOptionRow.create(poll_id=row.id, position=position, label=label)
            except IntegrityError:
                existing = await PollRow.get(source_key=source_key)
                return await self._poll(existing), False
            return await self._poll(row), True

    async def get(self, number: int) -> Poll | None:
        with self._scope():
            row = await PollRow.get_or_none(id=number)
            return None if row is None else await self._poll(row)

    async def list_polls(self, *, status: str | None = None, room_id: str | None = None,
                         limit: int = 50) -> list[Poll]:
        """Polls, newest first."""
        with self._scope():
            query = PollRow.all()
            if status is not None:
                query = query.filter(status=status)
            if room_id is not None:
                query = query.filter(room_id=room_id)
            rows = await query.order_by("-id").limit(limit)
            return [await self._poll(row) for row in rows]

    async def unfinished(self) -> list[Poll]:
        """Open polls, and closed ones whose results were not posted or whose origin was not told."""
        with self._scope():
            rows = await PollRow.filter(status="open").order_by("id")
            rows += await PollRow.filter(status="closed", results_event_id=None).order_by("id")
            rows += await PollRow.filter(status="closed", origin_notified=False).exclude(
                origin=None).exclude(results_event_id=None).order_by("id")
            seen: set[int] = set()
            polls = []
            for row in rows:
                if row.id not in seen:
                    seen.add(row.id)
                    polls.append(await self._poll(row))
            return polls

    async def set_header(self, number: int, event_id: str) -> None:
        with self._scope():
            await PollRow.filter(id=number).update(header_event_id=event_id)

    async def set_option_event(self, number: int, position: int, event_id: str) -> None:
        with self._scope():
            await PollOptionRow.filter(poll_id=number, position=position).update(event_id=event_id)

    async def option_by_event(self, event_id: str) -> tuple[Poll, int] | None:
        """The poll and option position whose option message is ``event_id``."""
        with self._scope():
            option = await PollOptionRow.get_or_none(event_id=event_id)
            if option is None:
                return None
            row = await PollRow.get(id=option.poll_id)
            return await self._poll(row), option.position

    async def options_by_events(self, event_ids: Collection[str]) -> dict[str, tuple[Poll, int]]:
        """``option_by_event`` for many event IDs at once: those that are option messages → (poll, position)."""
        found: dict[str, tuple[Poll, int]] = {}
        polls: dict[int, Poll] = {}
        with self._scope():
            for chunk in chunks(sorted(set(event_ids))):
                for option in await PollOptionRow.filter(event_id__in=chunk):
                    if option.poll_id not in polls:
                        polls[option.poll_id] = await self._poll(await PollRow.get(id=option.poll_id))
                    found[str(option.event_id)] = (polls[option.poll_id], option.position)
        return found

    async def close(self, number: int, *, closed_at: datetime, result: PollResult) -> bool:
        """Mark the poll closed with its result; unlink secret ballots from voters (copy the scores to
        anonymous ballots in random order, delete the linked rows) in the same transaction.
        Returns False if it was already closed."""
        with self._scope():
            async with in_transaction():
                updated = await PollRow.filter(id=number, status="open").update(
                    status="closed", closed_at=as_utc(closed_at, "closed_at"), result=result.to_json())
                if not updated:
                    return False
                linked = await SecretBallotRow.filter(poll_id=number)
                scores = [row.scores for row in linked]
                random.SystemRandom().shuffle(scores)
                for score in scores:
                    await AnonymousBallotRow.create(poll_id=number, scores=score)
                await SecretBallotRow.filter(poll_id=number).delete()
        return True

    async def mark_results_posted(self, number: int, event_id: str) -> None:
        with self._scope():
            await PollRow.filter(id=number).update(results_event_id=event_id)

    async def mark_origin_notified(self, number: int) -> None:
        with self._scope():
            await PollRow.filter(id=number).update(origin_notified=True)

    # -- reactions ---------------------------------------------------------------------------------

    async def add_reactions(self, number: int, reactions: Sequence[CountedReaction], *,
                            settle: Callable[[tuple[CountedReaction, ...], tuple[CountedReaction, ...]],
                                             Collection[str]]) -> tuple[CountedReaction, ...]:
        """Store many votes in one transaction (a catch-up) and mark superseded, in the same transaction,
        what ``settle(stored, live_before)`` names (the handler's rule, ``reactions.settle_votes``):
        ``stored`` are the votes stored now (in the order given; those stored before, replays, left
        out), ``live_before`` the votes of the same voters on the same options that counted before
        them. Returns ``stored``."""
        if not reactions:
            return ()
        with self._scope():
            async with in_transaction():
                known: set[str] = set()
                for chunk in chunks([r.event_id for r in reactions]):
                    known.update(str(e) for e in await ReactionRow.filter(event_id__in=chunk)
                                 .values_list("event_id", flat=True))
                fresh: dict[str, CountedReaction] = {}
                for reaction in reactions:
                    if reaction.event_id not in known:
                        fresh.setdefault(reaction.event_id, reaction)
                pairs = {(r.voter, r.option) for r in fresh.values()}
                live: list[CountedReaction] = []
                for chunk in chunks(sorted({voter for voter, _ in pairs})):
                    rows = await ReactionRow.filter(poll_id=number, voter__in=chunk, withdrawn=False,
                                                    superseded=False, refused=None).order_by("ts", "event_id")
                    live.extend(_counted(row) for row in rows if (row.voter, row.position) in pairs)
                await ReactionRow.bulk_create([
                    ReactionRow(event_id=r.event_id, poll_id=number, position=r.option, voter=r.voter,
                                score=r.score, ts=r.ts, source=r.source) for r in fresh.values()],
                    batch_size=ROWS_PER_INSERT)
                stored = tuple(fresh.values())
                superseded = sorted(settle(stored, tuple(live)))
                for chunk in chunks(superseded):
                    await ReactionRow.filter(event_id__in=chunk).update(superseded=True)
        return stored

    async def refuse(self, number: int, reaction: CountedReaction, reason: str) -> bool:
        """Store a vote as refused (``reason``: why), so it is never counted later. True when the event
        is stored as refused (now, or before: a replay); False when it was stored before as taken."""
        with self._scope():
            try:
                await ReactionRow.create(
                    event_id=reaction.event_id, poll_id=number, position=reaction.option, voter=reaction.voter,
                    score=reaction.score, ts=reaction.ts, source=reaction.source, refused=reason)
            except IntegrityError:
                existing = await ReactionRow.get(event_id=reaction.event_id)
                return existing.refused is not None
        return True

    async def withdraw(self, event_id: str) -> int | None:
        """Withdraw a counted reaction (it was redacted); returns its poll number, or None if it was
        never counted, already withdrawn, or refused (a refused vote stays refused)."""
        with self._scope():
            row = await ReactionRow.get_or_none(event_id=event_id)
            if row is None or row.withdrawn or row.refused is not None:
                return None
            await ReactionRow.filter(id=row.id).update(withdrawn=True)
            return row.poll_id

    async def live_reactions(self, number: int, *, source: str | None = None) -> list[CountedReaction]:
        """Counted votes: neither withdrawn, superseded nor refused."""
        with self._scope():
            query = ReactionRow.filter(poll_id=number, withdrawn=False, superseded=False, refused=None)
            if source is not None:
                query = query.filter(source=source)
            return [_counted(row) for row in await query.order_by("ts", "event_id")]

    async def known_reaction_ids(self, number: int) -> dict[str, str]:
        """Every stored reaction event ID of the poll → "live", "superseded", "withdrawn" or "refused"."""
        with self._scope():
            rows = await ReactionRow.filter(poll_id=number, source="reaction")
            return {row.event_id: _state(row) for row in rows}

    async def ballots(self, number: int) -> list[dict[int, int]]:
        """The poll's ballots as option position → score: anonymous ballots of a closed secret poll,
        linked ones of an open secret poll, or the latest counted votes per voter of a public poll."""
        with self._scope():
            poll = await PollRow.get(id=number)
            if poll.secret:
                if poll.status == "closed":
                    scores = [row.scores for row in await AnonymousBallotRow.filter(poll_id=number).order_by("id")]
                else:
                    scores = [row.scores for row in await SecretBallotRow.filter(poll_id=number).order_by("id")]
                return [{int(k): int(v) for k, v in ballot.items()} for ballot in scores]
        built = build_ballots(await self.live_reactions(number))
        return [built.ballots[voter] for voter in sorted(built.ballots)]

    # -- secret ballots ----------------------------------------------------------------------------

    async def save_secret_ballot(self, number: int, voter: str, scores: Mapping[int, int], *,
                                 at: datetime) -> bool:
        """Store (or replace) a voter's secret ballot on an open poll; True if it replaced one."""
        data = {str(k): int(v) for k, v in sorted(scores.items())}
        with self._scope():
            async with in_transaction():
                updated = await SecretBallotRow.filter(poll_id=number, voter=voter).update(
                    scores=data, updated_at=as_utc(at, "at"))
                if updated:
                    return True
                await SecretBallotRow.create(poll_id=number, voter=voter, scores=data, updated_at=as_utc(at, "at"))
                return False

    async def turnout(self, number: int) -> int:
        """How many people have a ballot in the poll."""
        with self._scope():
            poll = await PollRow.get(id=number)
            if poll.secret:
                model = AnonymousBallotRow if poll.status == "closed" else SecretBallotRow
                return await model.filter(poll_id=number).count()
        return len(build_ballots(await self.live_reactions(number)).ballots)

    # -- private notices ---------------------------------------------------------------------------

    async def was_told(self, number: int, user_id: str) -> bool:
        with self._scope():
            return await ToldRow.exists(poll_id=number, user_id=user_id)

    async def mark_told(self, number: int, user_id: str, reason: str) -> bool:
        """Record that ``user_id`` was told about ``number``; False if they already had been."""
        with self._scope():
            try:
                await ToldRow.create(poll_id=number, user_id=user_id, reason=reason)
            except IntegrityError:
                return False
        return True

    # -- reconciliation ----------------------------------------------------------------------------

    async def record_reconciliation(self, number: int, *, kind: str, event_id: str, detail: str,
                                    at: datetime) -> None:
        with self._scope():
            await ReconciliationRow.create(poll_id=number, kind=kind, event_id=event_id, detail=detail,
                                           at=as_utc(at, "at"))

    async def reconciliations(self, number: int) -> list[Reconciliation]:
        with self._scope():
            rows = await ReconciliationRow.filter(poll_id=number).order_by("id")
            return [Reconciliation(row.poll_id, row.kind, row.event_id, row.detail, row.at) for row in rows]

    # -- privacy -----------------------------------------------------------------------------------

    async def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything stored about ``user_id`` (for ``mydata``)."""
        with self._scope():
            votes = await ReactionRow.filter(voter=user_id).order_by("poll_id", "ts")
            secret = await SecretBallotRow.filter(voter=user_id).order_by("poll_id")
            told = await ToldRow.filter(user_id=user_id).order_by("poll_id")
            created = await PollRow.filter(created_by=user_id).order_by("id")
        return {
            "votes": [{"poll": f"#{row.poll_id}", "option": row.position, "score": row.score,
                       "event_id": row.event_id, "ts": row.ts, "source": row.source,
                       "status": "counted" if _state(row) == "live" else _state(row),
                       **({"refused_because": row.refused} if row.refused else {})}
                      for row in votes],
            "secret_ballots_of_open_polls": [{"poll": f"#{row.poll_id}", "scores": row.scores} for row in secret],
            "private_notices": [{"poll": f"#{row.poll_id}", "reason": row.reason} for row in told],
            "polls_started": [f"#{row.id}" for row in created],
        }

    async def erase_user(self, user_id: str) -> None:
        """Unlink ``user_id`` from everything: their votes keep counting under a random pseudonym
        (one per call, so each poll still has one ballot per person); private-notice markers go."""
        alias = "@forgotten-" + secrets.token_hex(8) + ":invalid"
        with self._scope():
            async with in_transaction():
                await ReactionRow.filter(voter=user_id).update(voter=alias)
                await SecretBallotRow.filter(voter=user_id).update(voter=alias)
                await PollRow.filter(created_by=user_id).update(created_by=alias)
                await ToldRow.filter(user_id=user_id).delete()

    # -- rows -> core types ------------------------------------------------------------------------

    async def _poll(self, row: PollRow) -> Poll:
        options = await PollOptionRow.filter(poll_id=row.id).order_by("position")
        return Poll(
            number=row.id, room_id=row.room_id, question=row.question,
            options=tuple(PollOption(o.position, o.label, o.event_id) for o in options),
            seats=row.seats, secret=row.secret, eligibility=Eligibility(row.eligibility), closes_at=row.closes_at,
            status=row.status, created_by=row.created_by, created_at=row.created_at, closed_at=row.closed_at,
            origin=row.origin, header_event_id=row.header_event_id,
            result=None if row.result is None else PollResult.from_json(row.result),
            results_event_id=row.results_event_id, origin_notified=row.origin_notified)


def _state(row: ReactionRow) -> str:
    """A stored vote's state; refused wins (a refused vote was never counted, whatever happened after)."""
    if row.refused is not None:
        return "refused"
    return "withdrawn" if row.withdrawn else "superseded" if row.superseded else "live"


def _counted(row: ReactionRow) -> CountedReaction:
    return CountedReaction(event_id=row.event_id, voter=row.voter, option=row.position, score=row.score,
                           ts=row.ts, source=row.source)


__all__: Sequence[str] = ["PollStore", "Reconciliation"]
