"""Proposals on the Matrix side: ``propose <title> [| details]``, ``proposals [assembly]`` and
``proposal show <proposal>`` (the proposal's page of evidence: thread, checks, moots, ballot, decisions)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from handlers.consensus.checks import ConsensusChecks
from handlers.consensus.common import AssemblyLookup, display_names, require_assembly
from handlers.consensus.stores import BallotStore, DecisionStore, MootStore, ProposalStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.gateway import MatrixGateway
from handlers.ports import Clock
from harmony_matrix.commands import Param, Place
from harmony_matrix.consensus.proposals import Proposal, parse_proposal_ref, parse_propose_args
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref
from harmony_matrix.when import format_local

#: How many proposals ``proposals`` lists (newest first).
LIST_MAX = 30


def permalink(room_id: str, event_id: str) -> str:
    """A matrix.to link to an event (the proposal's thread)."""
    return f"https://matrix.to/#/{quote(room_id, safe='!:')}/{quote(event_id, safe='$:')}"


class Proposals:
    """Raises proposals (each gets a reference and a discussion thread under the bot's answer), lists
    them with their status, and shows one with its evidence."""

    def __init__(self, *, proposals: ProposalStore, moots: MootStore, ballots: BallotStore,
                 decisions: DecisionStore, checks: ConsensusChecks, assemblies: AssemblyLookup,
                 gateway: MatrixGateway, clock: Clock) -> None:
        self.proposals = proposals
        self.moots = moots
        self.ballots = ballots
        self.decisions = decisions
        self.checks = checks
        self.assemblies = assemblies
        self.gateway = gateway
        self.clock = clock

    @command("propose", summary="Raise a proposal in this assembly; it gets a reference and a discussion thread.",
             example="!h propose Buy a projector | For the monthly film nights; about £300.",
             params=(Param("text", help="a title, then optionally | and details", parser=parse_propose_args,
                           label="title [| details]", rest=True),),
             place=Place.ASSEMBLY)
    async def propose(self, ctx: CommandContext, text: tuple[str, str]) -> None:
        assembly = require_assembly(ctx.room.assembly)
        title, details = text
        proposal = await self.proposals.create(
            assembly=assembly, title=title, details=details, author=UserId(ctx.sender), created_at=self.clock(),
            room_id=RoomId(ctx.room_id), evidence=[EventId(ctx.event_id)])
        body = f"💡 Proposal {proposal.ref}: {title}" + (f"\n{details}" if details else "")
        body += (f"\nDiscuss it in this thread. Its status and evidence: {ctx.prefix} proposal show {proposal.ref}; "
                 f"ask for the assembly's stance: {ctx.prefix} sense {proposal.ref}")
        root = await ctx.reply(body)
        await self.proposals.save(replace(proposal, thread_root=EventId(root)))

    @command("proposals", summary="The proposals of an assembly (this one by default), newest first, with status.",
             example="!h proposals ops",
             params=(Param("assembly", help="an assembly's short name", optional=True),))
    async def list_proposals(self, ctx: CommandContext, assembly: str | None) -> None:
        slug = self.assemblies.which(assembly, here=ctx.room.assembly, usage="proposals <assembly>",
                                     prefix=ctx.prefix)
        found = await self.proposals.in_assembly(slug)
        if not found:
            await ctx.reply(f"No proposals in {slug} yet; raise one there with {ctx.prefix} propose <title>.")
            return
        lines = [f"Proposals of {self.assemblies.name_of(slug)} (newest first):"]
        for proposal in found[:LIST_MAX]:
            check = await self.checks.open_check(proposal.ref)
            open_check = f", check {check.ref} open" if check else ""
            lines.append(f"• {proposal.ref}: {proposal.title} — {proposal.status.value}{open_check}")
        if len(found) > LIST_MAX:
            lines.append(f"… and {len(found) - LIST_MAX} older ones.")
        lines.append(f"One with its evidence: {ctx.prefix} proposal show <P-…>")
        await ctx.reply("\n".join(lines))

    @command("proposal show", summary="A proposal's status and evidence: thread, consensus checks, moots, ballot, "
                                      "decisions.",
             example="!h proposal show P-ops-2",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2", parser=parse_proposal_ref),))
    async def show(self, ctx: CommandContext, proposal: Ref) -> None:
        found = await self.proposals.get(proposal.resolve(ctx.room.assembly))
        if found is None:
            raise UserError(f"there is no proposal {proposal.text}; {ctx.prefix} proposals lists them")
        await ctx.reply(await self.page(found))

    async def page(self, proposal: Proposal) -> str:
        """The proposal's page of evidence, as text."""
        tz = self.assemblies.tz_of(proposal.assembly)
        author = (await display_names(self.gateway, [proposal.author]))[proposal.author]
        lines = [f"💡 {proposal.ref}: {proposal.title} — {proposal.status.value}",
                 f"Raised by {author} on {format_local(proposal.created_at, tz)} in "
                 f"{self.assemblies.name_of(proposal.assembly)}."]
        if proposal.details:
            lines.append(f"Details: {proposal.details}")
        if proposal.thread_root and proposal.room_id:
            lines.append(f"Discussion thread: {permalink(proposal.room_id, proposal.thread_root)}")
        checks = await self.checks.summaries(proposal.ref)
        lines += checks or ["Consensus checks: none yet"]
        moots = await self.moots.with_proposal(proposal.ref)
        lines.append("Moots: " + ("; ".join(f"{m.ref} ({format_local(m.starts_at, tz)}, {m.status.value})"
                                            for m in moots) or "none"))
        ballot = await self.ballots.pending_for(proposal.ref)
        if ballot is not None:
            poll = f"poll {ballot.poll_ref}" if ballot.poll_ref else "not opened yet"
            lines.append(f"Ballot: {poll} ({ballot.status.value}) on {' | '.join(ballot.options)}")
        decided = [d for d in await self.decisions.decisions() if d.proposal == proposal.ref]
        for d in decided:
            totals = (" — score totals: " + ", ".join(f"{o} {t}" for o, t in d.score_totals)) if d.score_totals else ""
            lines.append(f"Decision {d.ref} ({d.level.value}, {d.method.value}, {d.decided_at:%Y-%m-%d}): "
                         f"{d.statement}{totals}")
        if not decided:
            lines.append("Decisions: none yet")
        return "\n".join(lines)
