"""Outcomes and the decision record on the Matrix side: ``consensus <proposal> reached|rejected|deadlock|
ballot`` and ``decisions [assembly] [topic]``.

Flow of a deadlock: ``consensus P-ops-1 deadlock`` records the deadlock and a pending ballot; a
secretary confirms with ``consensus P-ops-1 ballot``, which starts a STAR poll through the polls
feature with the ballot as its origin; when the poll closes, its result becomes a decision (with the
score totals), appended to the hash-chained record and posted to the announcements room.

Who may record what is the core's rule (``harmony_matrix.consensus.authority``): an All Thing decision
only by the All Thing body's secretary with its moot or ballot as evidence, a decision trumping a nested
assembly's only by the umbrella's own officers. A verdict must agree with the proposal's open consensus
check (``harmony_matrix.consensus.checks.verdict_refusal``), which the decision then cites; a block is
overridden only by a ballot.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import replace

from handlers.consensus.checks import ConsensusChecks
from handlers.consensus.common import AssemblyLookup, ConsensusSettings, PollOutcome, require_assembly
from handlers.consensus.stores import BallotStore, DecisionStore, MootStore, ProposalStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.matrix.render import with_links
from handlers.ports import Clock, PollStarter, PublicLinks, RemoteDecisions
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role
from harmony_matrix.consensus.authority import check_all_thing, check_trump
from harmony_matrix.consensus.ballots import (
    DEFAULT_DEADLOCK_OPTIONS,
    Ballot,
    BallotKind,
    BallotStatus,
    ballot_origin,
    parse_ballot_options,
)
from harmony_matrix.consensus.checks import summary_line, verdict_refusal
from harmony_matrix.consensus.decisions import (
    Decision,
    Level,
    Method,
    ballot_statement,
    make_decision_ref,
    normalize_topic,
    parse_topic,
    parse_topics,
)
from harmony_matrix.consensus.moots import Moot, MootStatus
from harmony_matrix.consensus.precedence import decisions_in_force
from harmony_matrix.federation_peers.decisions import RemoteRecord, ancestors_across
from harmony_matrix.consensus.proposals import Proposal, ProposalStatus, parse_proposal_ref, transition
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import DECISION_NOTICE
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref


class Decisions:
    """Records proposals' outcomes, runs deadlock ballots, and answers what is in force."""

    def __init__(self, *, proposals: ProposalStore, decisions: DecisionStore, ballots: BallotStore,
                 moots: MootStore, checks: ConsensusChecks, assemblies: AssemblyLookup, polls: PollStarter | None,
                 poster: Poster, clock: Clock, settings: ConsensusSettings, links: PublicLinks | None = None) -> None:
        self.links = links
        self.proposals = proposals
        self.decisions = decisions
        self.ballots = ballots
        self.moots = moots
        self.checks = checks
        self.assemblies = assemblies
        self.polls = polls
        self.poster = poster
        self.clock = clock
        self.settings = settings
        #: Decisions of remote umbrellas on peer instances (the federation feature, when built).
        self.remote: RemoteDecisions | None = None

    @command("consensus", summary="Record a proposal's outcome; a deadlock goes to a STAR ballot once confirmed.",
             example="!h consensus P-ops-2 reached level=moot statement=We buy the projector. topics=equipment",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2", parser=parse_proposal_ref),
                     Param("outcome", choices=("reached", "rejected", "deadlock", "ballot"))),
             options=(Option("level", help="moot (this assembly) or all-thing (only the All Thing body's "
                                           "secretary, citing its moot)", parser=Level.parse),
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
        if outcome == "ballot":
            await self._start_ballot(ctx, found)
            return
        chosen = level or Level.MOOT
        tags = topics or (normalize_topic(found.title),)
        evidence = EventId(ctx.event_id)
        moot = await self._moot_of(found)
        if chosen is Level.ALL_THING:
            check_all_thing(assembly=assembly, recorder=ctx.sender, federation=self.assemblies.federation(),
                            evidence=moot.ref if moot else None, needs_evidence=outcome != "deadlock",
                            proposal=found.ref, prefix=ctx.prefix)
        reading = await self.checks.reading(found.ref)
        if reading is not None and outcome in ("reached", "rejected"):
            refusal = verdict_refusal(outcome, check=reading[0], result=reading[1], prefix=ctx.prefix)
            if refusal:
                raise UserError(refusal)
        cites = tuple(ref for ref in (moot.ref if moot else None, reading[0].ref if reading else None) if ref)
        if outcome == "deadlock":
            moved = transition(found, ProposalStatus.DEADLOCK, evidence=evidence)
            choices = options or DEFAULT_DEADLOCK_OPTIONS
            check_evidence = (reading[0].event_id,) if reading and reading[0].event_id else ()
            await self.ballots.create(Ballot(
                id=0, kind=BallotKind.DEADLOCK, assembly=assembly, room_id=RoomId(ctx.room_id), options=choices,
                created_by=UserId(ctx.sender), created_at=self.clock(), proposal=found.ref, level=chosen.value,
                statement=statement or found.title, topics=tags, evidence=(evidence, *check_evidence)), proposal=moved)
            if reading is not None:
                await self.checks.close(reading[0])
            cited = f" ({summary_line(*reading)})" if reading else ""
            await ctx.reply(f"Deadlock on {found.ref} recorded{cited}. A STAR ballot on: {' | '.join(choices)}.\n"
                            f"A secretary confirms it with: {ctx.prefix} consensus {found.ref} ballot")
            return
        reached = outcome == "reached"
        moved = transition(found, ProposalStatus.CONSENSUS if reached else ProposalStatus.REJECTED, evidence=evidence)
        check_event = (reading[0].event_id,) if reading and reading[0].event_id else ()
        quorum = self.settings.quorum_for(assembly)
        candidate = Decision(
            ref="D-new", assembly=assembly, level=chosen, method=Method.CONSENSUS if reached else Method.REJECTED,
            outcome="adopted" if reached else "not adopted",
            statement=statement or (found.title if reached else f"Not adopted: {found.title}"), topics=tags,
            decided_at=self.clock(), evidence=(*moved.evidence, *check_event), proposal=found.ref,
            recorded_by=UserId(ctx.sender), cites=cites,
            without_quorum=moot is not None and quorum > 0 and len(moot.attendees) < quorum)
        if chosen is Level.MOOT:
            check_trump(candidate, await self.decisions.decisions(), recorder=ctx.sender,
                        officers=self.assemblies.officers(assembly), descendants_of=self.assemblies.descendants(),
                        assembly_name=self.assemblies.name_of(assembly))
        entry = await self.decisions.append(lambda n: replace(candidate, ref=make_decision_ref(assembly, n)),
                                            assembly=assembly, proposal=moved)
        if reading is not None:
            await self.checks.close(reading[0])
        await self.announce(entry.decision, fallback=ctx.room_id, check_line=summary_line(*reading) if reading else None)
        cited = f" Cites {', '.join(cites)}." if cites else ""
        unquorate = f" Marked: the moot lacked its quorum of {quorum}." if candidate.without_quorum else ""
        await ctx.reply(f"Recorded {entry.decision.ref}: {found.ref} {'adopted' if reached else 'not adopted'} "
                        f"({chosen.value} level).{cited}{unquorate}")

    async def _moot_of(self, proposal: Proposal) -> Moot | None:
        """The latest moot of the proposal's assembly that had it on its agenda and has started."""
        now = self.clock()
        started = [m for m in await self.moots.with_proposal(proposal.ref)
                   if m.assembly == proposal.assembly and m.status is not MootStatus.CANCELLED and m.starts_at <= now]
        return started[-1] if started else None

    async def _start_ballot(self, ctx: CommandContext, found: Proposal) -> None:
        ballot = await self.ballots.pending_for(found.ref)
        if found.status is not ProposalStatus.DEADLOCK or ballot is None or ballot.status is not BallotStatus.PENDING:
            raise UserError(f"{found.ref} is in {found.status.value}, not deadlocked; record a deadlock first: "
                            f"{ctx.prefix} consensus {found.ref} deadlock")
        if ballot.level == Level.ALL_THING.value:
            check_all_thing(assembly=found.assembly, recorder=ctx.sender, federation=self.assemblies.federation(),
                            evidence=None, needs_evidence=False, proposal=found.ref, prefix=ctx.prefix)
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
        await ctx.reply(f"The STAR ballot on {found.ref} is open as poll {poll_ref} in the votes room; its result "
                        f"becomes the decision. It closes by itself, or a secretary closes it there with: "
                        f"{ctx.prefix} poll close {poll_ref}")

    async def ballot_result(self, ballot: Ballot, poll_ref: str, result: PollOutcome) -> None:
        """A deadlock ballot's poll closed: its winner becomes a decision, recorded and announced once."""
        proposal = await self.proposals.get(ballot.proposal or "")
        winner = result.winners[0] if result.winners else "no result"
        moved = transition(proposal, ProposalStatus.DECIDED) if proposal is not None else None
        entry = await self.decisions.append(
            lambda n: Decision(
                ref=make_decision_ref(ballot.assembly, n), assembly=ballot.assembly, level=Level(ballot.level),
                method=Method.STAR_BALLOT, outcome=winner, statement=ballot_statement(ballot.statement, winner),
                topics=ballot.topics, decided_at=self.clock(), evidence=ballot.evidence, proposal=ballot.proposal,
                score_totals=tuple((option, result.totals.get(option, 0)) for option in ballot.options),
                recorded_by=ballot.created_by, cites=(poll_ref,)),
            assembly=ballot.assembly, proposal=moved, ballot=ballot)
        await self.announce(entry.decision, fallback=ballot.room_id, poll_ref=poll_ref)

    async def announce(self, decision: Decision, *, fallback: str, poll_ref: str | None = None,
                       check_line: str | None = None) -> None:
        """Post a recorded decision in its assembly's announcements room (once: keyed by its reference)."""
        room = await self.assemblies.room(decision.assembly, "announcements", fallback=fallback)
        lines = [f"📜 Decision {decision.ref} ({decision.level.value}, {decision.method.value}): {decision.statement}"]
        if decision.proposal:
            lines.append(f"Proposal: {decision.proposal}")
        if decision.topics:
            lines.append("Topics: " + ", ".join(decision.topics))
        if decision.score_totals:
            lines.append("Score totals: " + ", ".join(f"{o} {t}" for o, t in decision.score_totals))
        if check_line:
            lines.append(check_line)
        moots = [c for c in decision.cites if c.startswith("M-")]
        if moots:
            lines.append("At moot: " + ", ".join(moots) + (" (without quorum)" if decision.without_quorum else ""))
        if poll_ref:
            lines.append(f"Ballot: {poll_ref}")
        page = self.links.url_for_decision(decision.ref) if self.links is not None else None
        text, html = with_links("\n".join(lines), [("Public page", page)])
        await self.poster.notice(room, text, html, extra={DECISION_NOTICE: {"ref": decision.ref}},
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
        slug = self.assemblies.which(slug, here=ctx.room.assembly, usage="decisions <assembly> [topic]",
                                     prefix=ctx.prefix)
        topic = None if topic is None else parse_topic(topic)
        record = await self.decisions.decisions()
        ancestors_of: Callable[[str], AbstractSet[str]] = self.assemblies.ancestors()
        remote = await self.remote.remote_record(slug) if self.remote is not None else RemoteRecord()
        chains = {r.decision.ref: r for r in remote.decisions}
        if remote.decisions:
            record = [*record, *(r.decision for r in remote.decisions)]
            ancestors_of = ancestors_across(ancestors_of, remote)
        in_force = decisions_in_force(record, assembly=slug, topic=topic, ancestors_of=ancestors_of)
        about = f" on {topic}" if topic else ""
        if not in_force:
            await ctx.reply(f"No decision is in force for {slug}{about}.")
            return
        lines = [f"In force for {slug}{about}:"]
        for item in in_force:
            d = item.decision
            lines.append(f"• {d.ref} ({d.level.value}, {d.method.value}, {d.decided_at:%Y-%m-%d}): {d.statement}"
                         + (f" [{', '.join(item.topics)}]" if item.topics else ""))
            if d.score_totals:
                lines.append("    score totals: " + ", ".join(f"{o} {t}" for o, t in d.score_totals))
            for link in item.displaced:
                lines.append(f"    {link.relation.value}: {link.loser} by {link.winner}"
                             + (f" on {link.topic}" if link.topic else ""))
            if item.conflicts_with:
                lines.append(f"    conflicts with: {', '.join(item.conflicts_with)}")
            if d.ref in chains:
                remote_entry = chains[d.ref]
                head = (f"; its chain's head #{remote_entry.head[0]} {remote_entry.head[1][:16]}…"
                        if remote_entry.head else "")
                lines.append(f"    decided on {remote_entry.server} (another instance): chain entry "
                             f"#{remote_entry.entry.seq}, hash {remote_entry.entry.hash[:16]}… (verified), previous "
                             f"{remote_entry.entry.prev_hash[:16]}…{head}")
        await ctx.reply("\n".join(lines))

    async def _find(self, assembly: str, ref: Ref) -> Proposal:
        found = await self.proposals.get(ref.resolve(assembly))
        if found is None or found.assembly != assembly:
            raise UserError(f"there is no proposal {ref.text} in {assembly}")
        return found
