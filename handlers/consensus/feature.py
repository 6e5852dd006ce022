"""The consensus process on the Matrix side: proposals, outcomes, the decision record, and the feature
object that wires moots (``handlers/consensus/moots.py``) and roles (``handlers/consensus/roles.py``) in.

Flow of a deadlock: ``!h consensus P-ops-1 deadlock`` records the deadlock and a pending ballot; a
secretary confirms with ``!h consensus P-ops-1 ballot``, which starts a STAR poll through the polls
feature with the ballot as its origin; when the poll closes, its result becomes a decision (with the
score totals), appended to the hash-chained record and posted to the announcements room.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from handlers.matrix.commands import CommandContext, command
from handlers.consensus.common import BALLOT_NOTICE, DECISION_NOTICE, PROPOSAL_NOTICE, Deps, require_assembly
from handlers.consensus.moots import MootCommands, MootNotices
from handlers.consensus.roles import RoleCommands
from harmony_matrix.consensus.ballots import DEFAULT_DEADLOCK_OPTIONS, Ballot, BallotKind, BallotStatus, ballot_origin, parse_ballot_origin
from harmony_matrix.commands import Option, Param, Place, Role
from harmony_matrix.consensus.decisions import (
    Decision,
    Level,
    Method,
    decisions_in_force,
    make_decision_ref,
    normalize_topic,
    parse_topics,
)
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.consensus.proposals import Proposal, ProposalStatus, parse_proposal_ref, parse_propose_args, transition

log = logging.getLogger(__name__)


class ProposalCommands:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @command("propose", summary="Raise a proposal in this assembly; it gets a reference and a discussion thread.",
             example="!h propose Buy a projector | For the monthly film nights; about £300.",
             params=(Param("text", help="a title, then optionally | and details", rest=True),), place=Place.ASSEMBLY)
    async def propose(self, ctx: CommandContext, text: str) -> None:
        assembly = require_assembly(ctx.room.assembly)
        title, details = parse_propose_args(text)
        proposal = await self.deps.stores.proposals.create(
            assembly=assembly, title=title, details=details, author=UserId(ctx.sender), created_at=self.deps.now(),
            room_id=RoomId(ctx.room_id), evidence=[EventId(ctx.event_id)])
        body = f"💡 Proposal {proposal.ref}: {title}" + (f"\n{details}" if details else "")
        body += "\nDiscuss it in this thread."
        root = await ctx.reply(body)
        await self.deps.stores.proposals.save(replace(proposal, thread_root=EventId(root)))


class OutcomeCommands:
    def __init__(self, deps: Deps, roles: RoleCommands) -> None:
        self.deps = deps
        self.roles = roles

    @command("consensus", summary="Record a proposal's outcome; a deadlock goes to a STAR ballot once confirmed.",
             example="!h consensus P-ops-2 reached level=moot statement=We buy the projector. topics=equipment",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2"),
                     Param("outcome", choices=("reached", "rejected", "deadlock", "ballot"))),
             options=(Option("level", help="moot (this assembly) or all-thing"),
                      Option("statement", help="what was decided, in quotes"),
                      Option("topics", help="topic tags, e.g. housing,budget (default: from the title)"),
                      Option("options", help="for a deadlock: the ballot's options, separated by |")),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def consensus(self, ctx: CommandContext, proposal: str, outcome: str, level: str | None,
                        statement: str | None, topics: str | None, options: str | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        found = await self._find(assembly, proposal)
        chosen = Level.parse(level) if level else Level.MOOT
        tags = parse_topics(topics) if topics else (normalize_topic(found.title),)
        evidence = EventId(ctx.event_id)
        if outcome in ("reached", "rejected"):
            status = ProposalStatus.CONSENSUS if outcome == "reached" else ProposalStatus.REJECTED
            moved = transition(found, status, evidence=evidence)
            method = Method.CONSENSUS if outcome == "reached" else Method.REJECTED
            text = statement or (found.title if outcome == "reached" else f"Not adopted: {found.title}")
            entry = await self.deps.stores.decisions.append(
                lambda n: Decision(ref=make_decision_ref(assembly, n), assembly=assembly, level=chosen, method=method,
                                   outcome="adopted" if outcome == "reached" else "not adopted", statement=text,
                                   topics=tags, decided_at=self.deps.now(), evidence=moved.evidence,
                                   proposal=found.ref),
                assembly=assembly, proposal=moved)
            await self.announce(entry.decision, fallback=ctx.room_id)
            await ctx.reply(f"Recorded {entry.decision.ref}: {found.ref} {'adopted' if outcome == 'reached' else 'not adopted'} "
                            f"({chosen.value} level).")
        elif outcome == "deadlock":
            moved = transition(found, ProposalStatus.DEADLOCK, evidence=evidence)
            choices = tuple(o.strip() for o in options.split("|") if o.strip()) if options else DEFAULT_DEADLOCK_OPTIONS
            if len(choices) < 2 or len(set(choices)) != len(choices):
                raise UserError("a ballot needs at least two different options: options=\"A | B\"")
            await self.deps.stores.ballots.create(Ballot(
                id=0, kind=BallotKind.DEADLOCK, assembly=assembly, room_id=RoomId(ctx.room_id), options=choices,
                created_by=UserId(ctx.sender), created_at=self.deps.now(), proposal=found.ref, level=chosen.value,
                statement=statement or found.title, topics=tags, evidence=(evidence,)), proposal=moved)
            await ctx.reply(f"Deadlock on {found.ref} recorded. A STAR ballot on: {' | '.join(choices)}.\n"
                            f"A secretary confirms it with: {ctx.prefix} consensus {found.ref} ballot")
        else:
            await self._start_ballot(ctx, found)

    async def _start_ballot(self, ctx: CommandContext, found: Proposal) -> None:
        ballot = await self.deps.stores.ballots.pending_for(found.ref)
        if found.status is not ProposalStatus.DEADLOCK or ballot is None or ballot.status is not BallotStatus.PENDING:
            raise UserError(f"{found.ref} is in {found.status.value}, not deadlocked; record a deadlock first: "
                            f"{ctx.prefix} consensus {found.ref} deadlock")
        polls = self.deps.polls
        if polls is None:
            raise UserError("polls are not available on this bot, so the deadlock can't go to a ballot")
        votes = await self.deps.room(found.assembly, "votes", fallback=ctx.room_id)
        poll_ref = await polls.start_poll(
            room_id=votes, question=f"{found.ref}: {found.title}", options=list(ballot.options), seats=1,
            closes_at=self.deps.now() + self.deps.settings.ballot_duration, created_by=ctx.sender,
            origin=ballot_origin(ballot.id))
        moved = transition(found, ProposalStatus.BALLOT, evidence=EventId(ctx.event_id))
        await self.deps.stores.ballots.started(replace(ballot, evidence=(*ballot.evidence, EventId(ctx.event_id))),
                                               poll_ref=poll_ref, proposal=moved)
        await ctx.reply(f"The STAR ballot on {found.ref} is open ({poll_ref}); its result becomes the decision.")

    async def on_poll_closed(self, poll_ref: str, origin: str, result: Any) -> None:
        """A poll closed: if it was one of our ballots, apply its result (once)."""
        ballot_id = parse_ballot_origin(origin or "")
        if ballot_id is None:
            return
        ballot = await self.deps.stores.ballots.get(ballot_id)
        if ballot is None or ballot.status in (BallotStatus.DONE, BallotStatus.ABANDONED):
            return
        if ballot.kind is BallotKind.ELECTION:
            await self.roles.election_result(ballot, poll_ref, result)
            return
        proposal = await self.deps.stores.proposals.get(ballot.proposal or "")
        winners = tuple(getattr(result, "winners", ()))
        totals = getattr(result, "totals", {}) or {}
        winner = winners[0] if winners else "no result"
        moved = transition(proposal, ProposalStatus.DECIDED) if proposal is not None else None
        entry = await self.deps.stores.decisions.append(
            lambda n: Decision(
                ref=make_decision_ref(ballot.assembly, n), assembly=ballot.assembly, level=Level(ballot.level),
                method=Method.STAR_BALLOT, outcome=winner, statement=f"{ballot.statement}: {winner}",
                topics=ballot.topics, decided_at=self.deps.now(), evidence=ballot.evidence, proposal=ballot.proposal,
                score_totals=tuple((option, int(totals.get(option, 0))) for option in ballot.options)),
            assembly=ballot.assembly, proposal=moved, ballot=ballot)
        await self.announce(entry.decision, fallback=ballot.room_id, poll_ref=poll_ref)

    async def announce(self, decision: Decision, *, fallback: str, poll_ref: str | None = None) -> None:
        room = await self.deps.room(decision.assembly, "announcements", fallback=fallback)
        lines = [f"📜 Decision {decision.ref} ({decision.level.value}, {decision.method.value}): {decision.statement}"]
        if decision.proposal:
            lines.append(f"Proposal: {decision.proposal}")
        if decision.topics:
            lines.append("Topics: " + ", ".join(decision.topics))
        if decision.score_totals:
            lines.append("Score totals: " + ", ".join(f"{o} {t}" for o, t in decision.score_totals))
        if poll_ref:
            lines.append(f"Ballot: {poll_ref}")
        await self.deps.post(room, "\n".join(lines), marker=(DECISION_NOTICE, {"ref": decision.ref}),
                             txn_seed=f"decision:{decision.ref}")

    @command("decisions", summary="The decisions in force for an assembly (on a topic), with what they replaced.",
             example="!h decisions ops budget",
             params=(Param("assembly", help="an assembly's short name (default: this one)", optional=True),
                     Param("topic", help="a topic tag", optional=True)))
    async def decisions(self, ctx: CommandContext, assembly: str | None, topic: str | None) -> None:
        slug = assembly
        if assembly is not None and topic is None and ctx.room.assembly is not None \
                and not await self.deps.known_assembly(assembly) and assembly != ctx.room.assembly:
            slug, topic = ctx.room.assembly, assembly  # "!h decisions budget" in an assembly's room
        slug = slug or ctx.room.assembly
        if slug is None:
            raise UserError(f"which assembly? {ctx.prefix} decisions <assembly> [topic]")
        record = await self.deps.stores.decisions.decisions()
        in_force = decisions_in_force(record, assembly=slug, topic=topic, ancestors_of=await self.deps.ancestors_of())
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

    async def _find(self, assembly: str, text: str) -> Proposal:
        slug, number = parse_proposal_ref(text, default_assembly=assembly)
        found = await self.deps.stores.proposals.get(f"P-{slug}-{number}")
        if found is None or found.assembly != assembly:
            raise UserError(f"there is no proposal {text} in {assembly}")
        return found


class ConsensusFeature:
    """The consensus process as a feature of the app (see ``harmony_app.app.Feature``)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.notices = MootNotices(deps)
        self.roles = RoleCommands(deps)
        self.proposals = ProposalCommands(deps)
        self.outcomes = OutcomeCommands(deps, self.roles)
        self.moots = MootCommands(deps, self.notices)
        self._subscribed = False

    def command_handlers(self) -> list[object]:
        return [self.proposals, self.outcomes, self.moots, self.roles]

    def register(self, dispatcher: object) -> None:
        """No events of its own: everything arrives as commands or poll results."""

    async def start(self) -> None:
        polls = self.deps.polls  # every feature is built by now, whatever the builders' order
        if polls is not None and hasattr(polls, "on_closed") and not self._subscribed:
            polls.on_closed(self.outcomes.on_poll_closed)
            self._subscribed = True
        await self.notices.start()
        self.deps.scheduler.add_job(self._terms, "interval", seconds=self.deps.settings.check_interval.total_seconds(),
                                    id="consensus-terms", replace_existing=True, coalesce=True, max_instances=1)
        await self._terms()

    async def _terms(self) -> None:
        try:
            await self.roles.remind_terms(self.deps.now())
        except Exception:
            log.exception("term reminders failed")

    async def stop(self) -> None:
        for job_id in ("consensus-sweep", "consensus-terms"):
            try:
                self.deps.scheduler.remove_job(job_id)
            except Exception:
                pass

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """What the consensus process holds about ``user_id`` (for ``!h mydata``)."""
        stores = self.deps.stores
        return {
            "proposals": [{"ref": p.ref, "title": p.title, "created_at": p.created_at.isoformat()}
                          for p in await stores.proposals.by_author(user_id)],
            "moots": [{"ref": m.ref, "scheduled_by_you": m.scheduled_by == user_id, "attended": user_id in m.attendees}
                      for m in await stores.moots.involving(user_id)],
            "roles": [{"assembly": a.assembly, "role": a.role.value, "since": a.since.isoformat(),
                       "term_ends": a.term_ends.isoformat() if a.term_ends else None, "how_decided": a.how_decided.value}
                      for a in await stores.roles.history(user_id)],
            "petitions_signed": await stores.petitions.signed_by(user_id),
        }

    async def erase_user_data(self, user_id: str) -> None:
        """Erase attendance and petition signatures (``!h forget-me``). Proposals, roles and the decision
        record are the assembly's public record and stay."""
        await self.deps.stores.moots.forget_attendee(user_id)
        await self.deps.stores.petitions.forget_signer(user_id)
