"""Votes: reactions on option messages, their redactions, and ballots sent by direct message.

Each vote is stored under its event ID (unique), so a replayed sync counts nothing twice, and a
redaction whose original arrives already stripped (``RedactedEvent``) is still applied. Which of a
voter's votes counts is the core's rule (``reactions.settle_votes``), applied by :func:`record_votes`
in the transaction that stores the votes;
who may vote is ``Electorates`` (facts) and ``harmony_matrix.polls.eligibility`` (the rule: eligible
when the vote was sent).

Every reaction, whether it arrives live or the recount at close finds it first, goes through
:meth:`PollVoting.judge`: taken, or refused — stored as refused with its reason (never counted later),
removed from the room, and its sender told privately, once per poll.

Secret ballots are taken only in an encrypted direct chat; once recorded, the ballot message is removed
from the chat, so the scores are not kept in its history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from nio import ReactionEvent, RedactedEvent, RedactionEvent

from handlers.matrix.people import display_names
from handlers.polls import outbound as reasons
from handlers.polls.electorate import Electorates
from handlers.polls.outbound import PollOutbound
from handlers.polls.render import NOT_COUNTED, eligibility_remedy, secret_receipt, unencrypted_refusal
from handlers.polls.store import PollStore
from handlers.ports import Clock
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import REACTION
from harmony_matrix.polls.arguments import parse_ballot
from harmony_matrix.polls.poll import Poll, option_letter, poll_ref, timestamp_ms
from harmony_matrix.polls.reactions import (
    FROM_DM,
    CountedReaction,
    VoteOutcome,
    score_of_key,
    settle_votes,
)
from harmony_matrix.when import format_local

log = logging.getLogger(__name__)

#: What :meth:`PollVoting.judge` did with a reaction (``PENDING``: waiting for the voter's home instance).
COUNTED, SUPERSEDED, REFUSED, KNOWN, PENDING = "counted", "superseded", "refused", "known", "pending"


async def record_votes(store: PollStore, number: int, votes: list[CountedReaction]) -> dict[str, VoteOutcome]:
    """Store ``votes`` and settle, in the same transaction, which of each voter's votes on each option
    counts (``reactions.settle_votes``: as if one by one, in order), marking the others superseded; so a
    crash can never leave two votes counting. Returns the outcome of each vote stored now (a replay,
    stored before, changes nothing and is left out)."""
    outcomes: dict[str, VoteOutcome] = {}

    def settle(stored: tuple[CountedReaction, ...], live: tuple[CountedReaction, ...]) -> set[str]:
        outcomes.update(settle_votes(stored, live))
        return {event_id for outcome in outcomes.values() for event_id in outcome.superseded}

    stored = await store.add_reactions(number, votes, settle=settle)
    return {vote.event_id: outcomes[vote.event_id] for vote in stored}


async def record_vote(store: PollStore, number: int, vote: CountedReaction) -> VoteOutcome | None:
    """:func:`record_votes` for one vote; None when it was stored before (a replay: nothing changed)."""
    return (await record_votes(store, number, [vote])).get(vote.event_id)


class PollVoting:
    """Counts reactions and DM ballots; tells a voter privately, once per poll, why a reaction did not count."""

    def __init__(self, *, outbound: PollOutbound, store: PollStore, electorates: Electorates, clock: Clock,
                 tz: ZoneInfo, prefix: str, admins: Iterable[str] = ()) -> None:
        self.outbound = outbound
        self.admins = tuple(dict.fromkeys(admins))
        self.store = store
        self.electorates = electorates
        self.clock = clock
        self.tz = tz
        self.prefix = prefix
        #: Reactions waiting for the voter's home instance to say whether they were a member, by
        #: (voter, moment). Kept in memory only: after a restart the recount at close finds them again
        #: on the server and judges them with the answer recorded meanwhile.
        self.waiting: dict[tuple[str, int], list[tuple[int, CountedReaction]]] = {}

    # -- reactions -------------------------------------------------------------------------------------

    async def on_reaction(self, room_id: str, event: ReactionEvent) -> None:
        """A reaction: judge it if it is a score on an option message of a public poll."""
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
            await self.outbound.redact(room_id, event.event_id, reasons.SECRET_REACTION)
            await self._tell_once(poll, event.sender, "secret")
            return
        await self.judge(poll, CountedReaction(event_id=event.event_id, voter=event.sender, option=position,
                                               score=score, ts=int(event.server_timestamp)))

    async def on_reactions(self, room_id: str, events: list[ReactionEvent]) -> None:
        """Many reactions at once (a catch-up delivers thousands): the option messages looked up in one
        read, each poll's votes judged together (``judge_many``). The same rules as ``on_reaction``."""
        keyed = [(event, score) for event in events if (score := score_of_key(event.key)) is not None]
        if not keyed:
            return
        options = await self.store.options_by_events({event.reacts_to for event, _ in keyed})
        polls: dict[int, tuple[Poll, list[CountedReaction]]] = {}
        for event, score in keyed:
            found = options.get(event.reacts_to)
            if found is None or found[0].room_id != room_id:
                continue
            poll, position = found
            if poll.secret or self.electorates.asks_home(event.sender):
                await self.on_reaction(room_id, event)  # one by one: may wait for a peer's answer
                continue
            polls.setdefault(poll.number, (poll, []))[1].append(CountedReaction(
                event_id=event.event_id, voter=event.sender, option=position, score=score,
                ts=int(event.server_timestamp)))
        for poll, votes in polls.values():
            await self.judge_many(poll, votes)

    async def judge_many(self, poll: Poll, votes: list[CountedReaction]) -> None:
        """``judge`` for many reactions of one poll, in their order: eligibility at each one's own
        moment (the facts about each voter read once), the taken ones stored in one transaction and
        settled as if one by one (``reactions.settle_votes``), the redactions of what they supersede
        queued in one write; refusals go the way of ``judge``."""
        eligible = await self.electorates.may_vote_many(poll, [(vote.voter, vote.ts) for vote in votes],
                                                        sent_in_room=True)
        taken: list[CountedReaction] = []
        refused: list[tuple[CountedReaction, str]] = []
        for vote, ok in zip(votes, eligible, strict=True):
            if not poll.takes_votes_at(vote.ts):
                refused.append((vote, "closed"))
            elif not ok:
                refused.append((vote, "not-eligible"))
            else:
                taken.append(vote)
        outcomes = await record_votes(self.store, poll.number, taken)
        redactions: list[tuple[str, str, str]] = []
        for event_id, outcome in outcomes.items():
            redactions.extend((poll.room_id, older, reasons.REPLACED) for older in outcome.replaced)
            if not outcome.counts:
                redactions.append((poll.room_id, event_id, reasons.OUTDATED))
        await self.outbound.redact_many(redactions)
        for vote, reason in refused:
            if await self.store.refuse(poll.number, vote, reason):
                await self.remove_refused(poll, vote.event_id)
                await self._tell_once(poll, vote.voter, reason)

    async def judge(self, poll: Poll, vote: CountedReaction, *, final: bool = False) -> str:
        """Take or refuse a reaction in ``poll``'s room: the one path for reactions seen live and for
        those the recount finds first. Returns ``COUNTED``, ``SUPERSEDED`` (a newer score of the same
        voter on the option counts), ``REFUSED``, or ``KNOWN`` (stored before: a replay).

        A vote counts if the poll took votes at its timestamp and its sender was eligible then. A
        refused one is stored as refused (so nothing counts it later), removed from the room, and its
        sender told privately why, once per poll.

        A voter whose home instance must say whether they were a member leaves the vote ``PENDING`` until
        it answers (:meth:`eligibility_answered`); at the recount at close (``final``) a vote still
        unanswered is refused as unconfirmed."""
        eligible: bool | None = None
        if poll.takes_votes_at(vote.ts):
            eligible = await self.electorates.judge(poll, vote.voter, at=vote.ts, sent_in_room=True)
        if not poll.takes_votes_at(vote.ts):
            reason = "closed"
        elif eligible is None and not final:
            waiting = self.waiting.setdefault((vote.voter, vote.ts), [])
            if all(v.event_id != vote.event_id for _, v in waiting):
                waiting.append((poll.number, vote))
            return PENDING
        elif eligible is None:
            reason = "unconfirmed"
        elif not eligible:
            reason = "not-eligible"
        else:
            outcome = await record_vote(self.store, poll.number, vote)
            if outcome is None:
                return KNOWN
            for older in outcome.replaced:
                await self.outbound.redact(poll.room_id, older, reasons.REPLACED)
            if not outcome.counts:
                await self.outbound.redact(poll.room_id, vote.event_id, reasons.OUTDATED)
            return COUNTED if outcome.counts else SUPERSEDED
        if not await self.store.refuse(poll.number, vote, reason):
            return KNOWN  # taken before (e.g. counted by the recount before this sync delivered it)
        await self.remove_refused(poll, vote.event_id)
        await self._tell_once(poll, vote.voter, reason)
        return REFUSED

    async def eligibility_answered(self, user_id: str, at: int) -> None:
        """The home instance of ``user_id`` answered about the moment ``at``: judge the votes waiting for it."""
        for number, vote in self.waiting.pop((user_id, at), []):
            poll = await self.store.get(number)
            if poll is not None and poll.is_open:
                await self.judge(poll, vote)

    async def remove_refused(self, poll: Poll, event_id: str) -> None:
        """Remove a refused reaction from the room, so what is shown on an option is what counts."""
        await self.outbound.redact(poll.room_id, event_id, reasons.NOT_COUNTED)

    async def on_redaction(self, room_id: str, event: RedactionEvent) -> None:
        """A redaction: a vote it removes no longer counts."""
        if event.redacts:
            await self.store.withdraw(event.redacts)

    async def on_redacted(self, room_id: str, event: RedactedEvent) -> None:
        """An event that arrived already redacted: if it was a counted reaction, it no longer counts."""
        if event.type == REACTION:
            await self.store.withdraw(event.event_id)

    # -- ballots by DM ---------------------------------------------------------------------------------

    async def cast_ballot(self, *, number: int, ballot_text: str, voter: str, event_id: str, room_id: str) -> str:
        """``vote #3 A=5 B=3`` sent in the direct chat ``room_id``: check and store the ballot; returns the
        receipt. Raises UserError with the reason it was not counted.

        A secret poll's ballot is taken only in an encrypted chat (elsewhere it is refused, and removed
        if the bot may), and the message is removed from the chat once the ballot is stored."""
        poll = await self.store.get(number)
        if poll is None:
            raise UserError(f"there is no poll {poll_ref(number)}; send {self.prefix} polls for the open ones")
        if poll.secret and not await self.outbound.is_encrypted(room_id):
            removed = await self.outbound.remove_now(room_id, event_id, reasons.BALLOT_NOT_RECORDED)
            raise UserError(unencrypted_refusal(poll, prefix=self.prefix, removed=removed))
        now = self.clock()
        if not poll.takes_votes_at(timestamp_ms(now)):
            raise UserError(f"poll {poll.ref} is closed; your ballot was not counted")
        scores = parse_ballot(ballot_text, poll.labels)
        if not await self.electorates.may_vote(poll, voter, at=timestamp_ms(now)):
            raise UserError(f"only {await self.electorates.describe(poll)} may vote in poll {poll.ref}; "
                            f"your ballot was not counted. {await self.remedy(poll, voter)}")
        until = f" until {format_local(poll.closes_at, self.tz)}" if poll.closes_at else " until it closes"
        if poll.secret:
            replaced = await self.store.save_secret_ballot(poll.number, voter, scores, at=now)
            removed = await self.outbound.remove_now(room_id, event_id, reasons.BALLOT_RECORDED)
            return secret_receipt(poll, replaced=replaced, removed=removed, until=until)
        replaced = False
        ts = timestamp_ms(now)
        for position, score in sorted(scores.items()):
            vote = CountedReaction(event_id=f"{event_id}#{position}", voter=voter, option=position, score=score,
                                   ts=ts, source=FROM_DM)
            outcome = await record_vote(self.store, poll.number, vote)
            for older in outcome.replaced if outcome else ():
                replaced = True
                await self.outbound.redact(poll.room_id, older, reasons.REPLACED_BY_DM)
        lines = [f"{option_letter(o.position)}. {o.label}: {scores.get(o.position, 0)}" for o in poll.options]
        head = "Your new ballot replaces the previous one." if replaced else "Ballot received."
        return (f"{head} Poll {poll.ref}: {poll.question}\n" + "\n".join(lines)
                + f"\nYou may vote again{until}; only your last ballot counts.")

    # -- helpers ---------------------------------------------------------------------------------------

    async def remedy(self, poll: Poll, user_id: str) -> str:
        """What ``user_id``, not eligible in ``poll``, can do: join the assembly, or (members only)
        register, themselves if they are an admin, else through whom (the assembly's secretaries and
        deputies by name, or the admins)."""
        electorate = await self.electorates.of(poll)
        directory = self.electorates.assemblies
        assembly: tuple[str, str] | None = None
        officers: tuple[str, ...] = ()
        slug = await directory.assembly_of_room(poll.room_id) if directory is not None else None
        if directory is not None and slug is not None and slug in directory.federation():
            found = directory.federation()[slug]
            assembly, officers = (found.slug, found.name), found.officers
        gateway = self.outbound.gateway
        others = [o for o in officers if o != user_id]
        named = await display_names(gateway, [*others, *self.admins])
        return eligibility_remedy(
            user_id=user_id, prefix=self.prefix, members_only=electorate.asks_membership,
            is_admin=user_id in self.admins, assembly=assembly, officers=[named[o] for o in others],
            admins=[named[a] for a in self.admins], is_officer=user_id in officers)

    async def _tell_once(self, poll: Poll, user_id: str, reason: str) -> None:
        """Tell ``user_id`` privately why their reaction did not count — once per poll and person.

        The message is sent before the marker is stored, with a transaction ID derived from both, so a
        crash in between re-sends into the same transaction rather than telling twice or never."""
        if await self.store.was_told(poll.number, user_id):
            return
        remedy = await self.remedy(poll, user_id) if reason == "not-eligible" else ""
        text = NOT_COUNTED[reason].format(ref=poll.ref, question=poll.question, prefix=self.prefix,
                                          who=await self.electorates.describe(poll), remedy=remedy)
        if await self.outbound.tell(user_id, text, txn_seed=f"told:{poll.room_id}:{poll.number}:{user_id}"):
            await self.store.mark_told(poll.number, user_id, reason)
