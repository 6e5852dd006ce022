"""Votes: reactions on option messages, their redactions, and ballots sent by direct message.

Each vote is stored under its event ID (unique), so a replayed sync counts nothing twice, and a
redaction whose original arrives already stripped (``RedactedEvent``) is still applied. Which of a
voter's votes counts is the core's rule (``reactions.settle_vote``), applied by :func:`record_vote`;
who may vote is ``Electorates`` (facts) and ``harmony_matrix.polls.eligibility`` (the rule).
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from nio import ReactionEvent, RedactedEvent, RedactionEvent

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from handlers.polls.electorate import Electorates
from handlers.polls.render import NOT_COUNTED
from handlers.polls.store import PollStore
from handlers.ports import Clock
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import REACTION
from harmony_matrix.polls.arguments import parse_ballot
from harmony_matrix.polls.poll import Poll, option_letter, poll_ref, timestamp_ms
from harmony_matrix.polls.reactions import FROM_DM, CountedReaction, VoteOutcome, score_of_key, settle_vote
from harmony_matrix.when import format_local

log = logging.getLogger(__name__)


async def record_vote(store: PollStore, number: int, vote: CountedReaction) -> VoteOutcome | None:
    """Store ``vote`` and settle which of its voter's votes on its option counts (``settle_vote``), marking
    the others superseded. None when the vote was stored before (a replay: nothing changed)."""
    live = await store.add_reaction(number, vote)
    if live is None:
        return None
    outcome = settle_vote(vote, live)
    await store.supersede(outcome.superseded)
    return outcome


class PollVoting:
    """Counts reactions and DM ballots; tells a voter privately, once per poll, why a reaction did not count."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster, store: PollStore, electorates: Electorates,
                 clock: Clock, tz: ZoneInfo, prefix: str) -> None:
        self.gateway = gateway
        self.poster = poster
        self.store = store
        self.electorates = electorates
        self.clock = clock
        self.tz = tz
        self.prefix = prefix

    # -- reactions -------------------------------------------------------------------------------------

    async def on_reaction(self, room_id: str, event: ReactionEvent) -> None:
        """A reaction: count it if it is a score on an option message of an open public poll."""
        score = score_of_key(event.key)
        if score is None:
            return
        found = await self.store.option_by_event(event.reacts_to)
        if found is None:
            return
        poll, position = found
        if poll.room_id != room_id:
            return
        if poll.secret:
            await self._redact(room_id, event.event_id, "secret ballot: vote by direct message")
            await self._tell_once(poll, event.sender, "secret")
            return
        ts = int(event.server_timestamp)
        if not poll.takes_votes_at(ts):
            if event.event_id in await self.store.known_reaction_ids(poll.number):
                return  # counted by the recount at close, before this sync delivered it
            await self._tell_once(poll, event.sender, "closed")
            return
        if not await self.electorates.may_vote(poll, event.sender):
            await self._tell_once(poll, event.sender, "not-eligible")
            return
        vote = CountedReaction(event_id=event.event_id, voter=event.sender, option=position, score=score, ts=ts)
        outcome = await record_vote(self.store, poll.number, vote)
        if outcome is None:
            return
        for older in outcome.replaced:
            await self._redact(room_id, older, "replaced by a newer score on this option")
        if not outcome.counts:
            await self._redact(room_id, event.event_id, "a newer score on this option counts")

    async def on_redaction(self, room_id: str, event: RedactionEvent) -> None:
        """A redaction: a vote it removes no longer counts."""
        if event.redacts:
            await self.store.withdraw(event.redacts)

    async def on_redacted(self, room_id: str, event: RedactedEvent) -> None:
        """An event that arrived already redacted: if it was a counted reaction, it no longer counts."""
        if event.type == REACTION:
            await self.store.withdraw(event.event_id)

    # -- ballots by DM ---------------------------------------------------------------------------------

    async def cast_ballot(self, *, number: int, ballot_text: str, voter: str, event_id: str) -> str:
        """``vote #3 A=5 B=3``: check and store the ballot; returns the receipt. Raises UserError with
        the reason it was not counted."""
        poll = await self.store.get(number)
        if poll is None:
            raise UserError(f"there is no poll {poll_ref(number)}; send {self.prefix} polls for the open ones")
        now = self.clock()
        if not poll.takes_votes_at(timestamp_ms(now)):
            raise UserError(f"poll {poll.ref} is closed; your ballot was not counted")
        scores = parse_ballot(ballot_text, poll.labels)
        if not await self.electorates.may_vote(poll, voter):
            raise UserError(f"only {await self.electorates.describe(poll)} may vote in poll {poll.ref}; "
                            "your ballot was not counted")
        if poll.secret:
            replaced = await self.store.save_secret_ballot(poll.number, voter, scores, at=now)
        else:
            replaced = False
            ts = timestamp_ms(now)
            for position, score in sorted(scores.items()):
                vote = CountedReaction(event_id=f"{event_id}#{position}", voter=voter, option=position, score=score,
                                       ts=ts, source=FROM_DM)
                outcome = await record_vote(self.store, poll.number, vote)
                for older in outcome.replaced if outcome else ():
                    replaced = True
                    await self._redact(poll.room_id, older, "replaced by a ballot sent by direct message")
        lines = [f"{option_letter(o.position)}. {o.label}: {scores.get(o.position, 0)}" for o in poll.options]
        until = f" until {format_local(poll.closes_at, self.tz)}" if poll.closes_at else " until it closes"
        head = "Your new ballot replaces the previous one." if replaced else "Ballot received."
        return (f"{head} Poll {poll.ref}: {poll.question}\n" + "\n".join(lines)
                + f"\nYou may vote again{until}; only your last ballot counts.")

    # -- helpers ---------------------------------------------------------------------------------------

    async def _redact(self, room_id: str, event_id: str, reason: str) -> None:
        try:
            await self.gateway.redact(room_id, event_id, reason, txn_seed=f"redact:{event_id}")
        except MatrixError as exc:
            log.warning("could not redact %s in %s: %s", event_id, room_id, exc)

    async def _tell_once(self, poll: Poll, user_id: str, reason: str) -> None:
        """Tell ``user_id`` privately why their reaction did not count — once per poll and person.

        The message is sent before the marker is stored, with a transaction ID derived from both, so a
        crash in between re-sends into the same transaction rather than telling twice or never."""
        if await self.store.was_told(poll.number, user_id):
            return
        text = NOT_COUNTED[reason].format(ref=poll.ref, question=poll.question, prefix=self.prefix,
                                          who=await self.electorates.describe(poll))
        try:
            await self.poster.dm(user_id, text, txn_seed=f"told:{poll.room_id}:{poll.number}:{user_id}")
        except MatrixError as exc:
            log.warning("could not tell %s privately about poll %s: %s", user_id, poll.ref, exc)
            return
        await self.store.mark_told(poll.number, user_id, reason)
