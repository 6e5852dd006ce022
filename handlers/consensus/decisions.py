"""Outcomes and the decision record on the Matrix side: ``consensus <proposal> reached|rejected|deadlock|
ballot`` and ``decisions [assembly] [topic]``.

Flow of a deadlock: ``consensus P-ops-1 deadlock`` records the deadlock and a pending ballot; a
secretary confirms with ``consensus P-ops-1 ballot``, which starts a STAR poll through the polls
feature with the ballot as its origin; when the poll closes, its result becomes a decision (with the
score totals), appended to the hash-chained record and posted to the announcements room.
"""

from __future__ import annotations

from dataclasses import replace

from handlers.consensus.common import AssemblyLookup, ConsensusSettings, PollOutcome, require_assembly
from handlers.consensus.stores import BallotStore, DecisionStore, ProposalStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.ports import Clock, PollStarter
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role
from harmony_matrix.consensus.ballots import (
    DEFAULT_DEADLOCK_OPTIONS,
    Ballot,
    BallotKind,
    BallotStatus,
    ballot_origin,
    parse_ballot_options,
)
from harmony_matrix.consensus.decisions import (
    Decision,
    Level,
    Method,
    make_decision_ref,
    normalize_topic,
    parse_topics,
)
from harmony_matrix.consensus.precedence import decisions_in_force
from harmony_matrix.consensus.proposals import Proposal, ProposalStatus, parse_proposal_ref, transition
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import DECISION_NOTICE
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref


class Decisions:
    """Records proposals' outcomes, runs deadlock ballots, and answers what is in force."""

    def __init__(self, *, proposals: ProposalStore, decisions: DecisionStore, ballots: BallotStore,
                 assemblies: AssemblyLookup, polls: PollStarter | None, poster: Poster, clock: Clock,
                 settings: ConsensusSettings) -> None:
        self.proposals = proposals
        self.decisions = decisions
        self.ballots = ballots
        self.assemblies = assemblies
        self.polls = polls
        self.poster = poster
        self.clock = clock
        self.settings = settings

    @command("consensus", summary="Record a proposal's outcome; a deadlock goes to a STAR ballot once confirmed.",
             example="!h consensus P-ops-2 reached level=moot statement=We buy the projector. topics=equipment",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2", parser=parse_proposal_ref),
                     Param("outcome", choices=("reached", "rejected", "deadlock", "ballot"))),
             options=(Option("level", help="moot (this assembly) or all-thing", parser=Level.parse),
                      Option("statement", help="what was decided, in quotes"),
                      Option("topics", help="topic tags, e.g. housing,budget (default: from the title)",
                             parser=parse_topics),
                      Option("options", help="for a deadlock: the ballot's options, separated by |",
                             parser=parse_ballot_options)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def consensus(self, ctx: CommandContext, proposal: Ref, outcome: str, level: Level | None,
                        statement: str | None, topics: tuple[str, ...] | None,
                        options: tuple[str, ...] | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        found = await self._find(assembly, proposal)
        chosen = level or Level.MOOT
        tags = topics or (normalize_topic(found.title),)
        evidence = EventId(ctx.event_id)
        if outcome in ("reached", "rejected"):
            reached = outcome == "reached"
            moved = transition(found, ProposalStatus.CONSENSUS if reached else ProposalStatus.REJECTED,
                               evidence=evidence)
            text = statement or (found.title if reached else f"Not adopted: {found.title}")
            entry = await self.decisions.append(
                lambda n: Decision(ref=make_decision_ref(assembly, n), assembly=assembly, level=chosen,
                                   method=Method.CONSENSUS if reached else Method.REJECTED,
                                   outcome="adopted" if reached else "not adopted", statement=text,
                                   topics=tags, decided_at=self.clock(), evidence=moved.evidence,
                                   proposal=found.ref),
                assembly=assembly, proposal=moved)
            await self.announce(entry.decision, fallback=ctx.room_id)
            await ctx.reply(f"Recorded {entry.decision.ref}: {found.ref} {'adopted' if reached else 'not adopted'} "
                            f"({chosen.value} level).")
        elif outcome == "deadlock":
            moved = transition(found, ProposalStatus.DEADLOCK, evidence=evidence)
            choices = options or DEFAULT_DEADLOCK_OPTIONS
            await self.ballots.create(Ballot(
                id=0, kind=BallotKind.DEADLOCK, assembly=assembly, room_id=RoomId(ctx.room_id), options=choices,
                created_by=UserId(ctx.sender), created_at=self.clock(), proposal=found.ref, level=chosen.value,
                statement=statement or found.title, topics=tags, evidence=(evidence,)), proposal=moved)
            await ctx.reply(f"Deadlock on {found.ref} recorded. A STAR ballot on: {' | '.join(choices)}.\n"
                            f"A secretary confirms it with: {ctx.prefix} consensus {found.ref} ballot")
        else:
            await self._start_ballot(ctx, found)

    async def _start_ballot(self, ctx: CommandContext, found: Proposal) -> None:
        ballot = await self.ballots.pending_for(found.ref)
        if found.status is not ProposalStatus.DEADLOCK or ballot is None or ballot.status is not BallotStatus.PENDING:
            raise UserError(f"{found.ref} is in {found.status.value}, not deadlocked; record a deadlock first: "
                            f"{ctx.prefix} consensus {found.ref} deadlock")
        if self.polls is None:
            raise UserError("polls are not available on this bot, so the deadlock can't go to a ballot")
        votes = await self.assemblies.room(found.assembly, "votes", fallback=ctx.room_id)
        poll_ref = await self.polls.start_poll(
            room_id=votes, question=f"{found.ref}: {found.title}", options=list(ballot.options), seats=1,
            closes_at=self.clock() + self.settings.ballot_duration, created_by=ctx.sender,
            origin=ballot_origin(ballot.id))
        moved = transition(found, ProposalStatus.BALLOT, evidence=EventId(ctx.event_id))
        await self.ballots.started(replace(ballot, evidence=(*ballot.evidence, EventId(ctx.event_id))),
                                   poll_ref=poll_ref, proposal=moved)
        await ctx.reply(f"The STAR ballot on {found.ref} is open ({poll_ref}); its result becomes the decision.")

    async def ballot_result(self, ballot: Ballot, poll_ref: str, result: PollOutcome) -> None:
        """A deadlock ballot's poll closed: its winner becomes a decision, recorded and announced once."""
        proposal = await self.proposals.get(ballot.proposal or "")
        winner = result.winners[0] if result.winners else "no result"
        moved = transition(proposal, ProposalStatus.DECIDED) if proposal is not None else None
        entry = await self.decisions.append(
            lambda n: Decision(
                ref=make_decision_ref(ballot.assembly, n), assembly=ballot.assembly, level=Level(ballot.level),
                method=Method.STAR_BALLOT, outcome=winner, statement=f"{ballot.statement}: {winner}",
                topics=ballot.topics, decided_at=self.clock(), evidence=ballot.evidence, proposal=ballot.proposal,
                score_totals=tuple((option, result.totals.get(option, 0)) for option in ballot.options)),
            assembly=ballot.assembly, proposal=moved, ballot=ballot)
        await self.announce(entry.decision, fallback=ballot.room_id, poll_ref=poll_ref)

    async def announce(self, decision: Decision, *, fallback: str, poll_ref: str | None = None) -> None:
        """Post a recorded decision in its assembly's announcements room (once: keyed by its reference)."""
        room = await self.assemblies.room(decision.assembly, "announcements", fallback=fallback)
        lines = [f"📜 Decision {decision.ref} ({decision.level.value}, {decision.method.value}): {decision.statement}"]
        if decision.proposal:
            lines.append(f"Proposal: {decision.proposal}")
        if decision.topics:
            lines.append("Topics: " + ", ".join(decision.topics))
        if decision.score_totals:
            lines.append("Score totals: " + ", ".join(f"{o} {t}" for o, t in decision.score_totals))
        if poll_ref:
            lines.append(f"Ballot: {poll_ref}")
        await self.poster.notice(room, "\n".join(lines), extra={DECISION_NOTICE: {"ref": decision.ref}},
                                 txn_seed=f"decision:{decision.ref}")

    @command("decisions", summary="The decisions in force for an assembly (on a topic), with what they replaced.",
             example="!h decisions ops budget",
             params=(Param("assembly", help="an assembly's short name (default: this one)", optional=True),
                     Param("topic", help="a topic tag", optional=True)))
    async def in_force(self, ctx: CommandContext, assembly: str | None, topic: str | None) -> None:
        slug = assembly
        if assembly is not None and topic is None and ctx.room.assembly is not None \
                and not self.assemblies.known(assembly) and assembly != ctx.room.assembly:
            slug, topic = ctx.room.assembly, assembly  # "decisions budget" in an assembly's room
        slug = slug or ctx.room.assembly
        if slug is None:
            raise UserError(f"which assembly? {ctx.prefix} decisions <assembly> [topic]")
        record = await self.decisions.decisions()
        in_force = decisions_in_force(record, assembly=slug, topic=topic, ancestors_of=self.assemblies.ancestors())
        about = f" on {normalize_topic(topic)}" if topic else ""
        if not in_force:
            await ctx.reply(f"No decision is in force for {slug}{about}.")
            return
        lines = [f"In force for {slug}{about}:"]
        for item in in_force:
            d = item.decision
            lines.append(f"• {d.ref} ({d.level.value}, {d.method.value}, {d.decided_at:%Y-%m-%d}): {d.statement}"
                         + (f" [{', '.join(item.topics)}]" if item.topics else ""))
            for link in item.displaced:
                lines.append(f"    {link.relation.value}: {link.loser} by {link.winner}"
                             + (f" on {link.topic}" if link.topic else ""))
            if item.conflicts_with:
                lines.append(f"    conflicts with: {', '.join(item.conflicts_with)}")
        await ctx.reply("\n".join(lines))

    async def _find(self, assembly: str, ref: Ref) -> Proposal:
        found = await self.proposals.get(ref.resolve(assembly))
        if found is None or found.assembly != assembly:
            raise UserError(f"there is no proposal {ref.text} in {assembly}")
        return found
