"""Consensus checks on the Matrix side: ``sense <proposal>``, ``sense show``, ``sense reason``, and the
reactions, redactions and thread replies that make up a check.

The rules (the scale, whose stance counts, how the stances are read) are the core's
(``harmony_matrix.consensus.checks``); this class stores what happens in the room and posts. The check's
message is seeded with the four stance reactions, so taking a stance is one click. A person who changes
their stance gets the older reaction redacted (the display stays honest); one who disagrees or blocks is
asked once, by direct message, for a reason, which they give in the check's thread or with
``sense reason``.
"""

from __future__ import annotations

import logging

from nio import ReactionEvent, RedactedEvent, RedactionEvent, RoomMessageText

from handlers.consensus.common import AssemblyLookup, ConsensusSettings, display_names, require_assembly
from handlers.consensus.stores import CheckStore, ProposalStore
from handlers.matrix.commands import CommandContext, command, thread_root_of
from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from handlers.ports import Clock, MemberRegistry
from harmony_matrix.commands import Param, Place
from harmony_matrix.consensus.checks import (
    Check,
    CheckStatus,
    Stance,
    StanceRecord,
    Tally,
    current_stances,
    parse_reason,
    render_tally,
    scale_text,
    stance_of_key,
    summary_line,
    tally,
)
from harmony_matrix.consensus.proposals import Proposal, parse_proposal_ref
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import CHECK_NOTICE, REACTION
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref

log = logging.getLogger(__name__)


class ConsensusChecks:
    """Runs consensus checks; ``reading`` gives the decisions their citation."""

    def __init__(self, *, checks: CheckStore, proposals: ProposalStore, members: MemberRegistry,
                 assemblies: AssemblyLookup, poster: Poster, gateway: MatrixGateway, clock: Clock,
                 settings: ConsensusSettings, prefix: str) -> None:
        self.checks = checks
        self.proposals = proposals
        self.members = members
        self.assemblies = assemblies
        self.poster = poster
        self.gateway = gateway
        self.clock = clock
        self.settings = settings
        self.prefix = prefix

    # -- commands ----------------------------------------------------------------------------------

    @command("sense", summary="Ask the assembly for its stance on a proposal (agree, stand aside, disagree, "
                              "block) by reaction; the secretary's verdict then cites it.",
             example="!h sense P-ops-2",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2", parser=parse_proposal_ref),),
             place=Place.ASSEMBLY)
    async def sense(self, ctx: CommandContext, proposal: Ref) -> None:
        assembly = require_assembly(ctx.room.assembly)
        found = await self.proposals.get(proposal.resolve(assembly))
        if found is None or found.assembly != assembly:
            raise UserError(f"there is no proposal {proposal.text} in {assembly}")
        if found.is_closed:
            raise UserError(f"{found.ref} is already {found.status.value}; raise a new proposal to revisit it")
        current = await self.open_check(found.ref)
        if current is not None:
            raise UserError(f"{current.ref} is already open on {found.ref}; see {ctx.prefix} sense show {found.ref}")
        check = await self.checks.open(
            lambda ref: Check(ref=ref, assembly=assembly, proposal=found.ref, room_id=RoomId(ctx.room_id),
                              opened_at=self.clock(), opened_by=UserId(ctx.sender)), assembly=assembly)
        event_id = await self.poster.notice(
            ctx.room_id, self._check_text(check, found, ctx.prefix), reply_to=ctx.event_id,
            txn_seed=f"check:{check.ref}", extra={CHECK_NOTICE: {"check": check.ref, "proposal": found.ref}})
        await self.checks.posted(check.ref, event_id)
        for stance in Stance:
            try:
                await self.poster.react(ctx.room_id, event_id, stance.key, txn_seed=f"check-seed:{check.ref}:{stance}")
            except MatrixError as exc:
                log.warning("could not seed %s on %s: %s", stance, check.ref, exc)

    def _check_text(self, check: Check, proposal: Proposal, prefix: str) -> str:
        return (f"🧭 Consensus check {check.ref} on {proposal.ref}: {proposal.title}\n"
                f"React with your stance:\n{scale_text()}\n"
                f"If you disagree or block, say why: reply in this message's thread, or send me "
                f"{prefix} sense reason {proposal.ref} <why>. Reasons are shown with the tally.\n"
                "Only registered party members' stances are counted; others are shown apart.\n"
                f"The tally: {prefix} sense show {proposal.ref}")

    @command("sense show", summary="The tally of a proposal's latest consensus check, with the reasons given.",
             example="!h sense show P-ops-2",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2", parser=parse_proposal_ref),))
    async def show(self, ctx: CommandContext, proposal: Ref) -> None:
        ref = proposal.resolve(ctx.room.assembly)
        checks = await self.checks.for_proposal(ref)
        if not checks:
            raise UserError(f"there is no consensus check on {ref}; start one in its assembly with "
                            f"{ctx.prefix} sense {ref}")
        await ctx.reply(await self.describe(checks[-1]))

    @command("sense reason", summary="Say why you disagree with or block a proposal (shown with the tally).",
             example="!h sense reason P-ops-2 It costs more than our whole budget.",
             params=(Param("proposal", help="the proposal's reference, e.g. P-ops-2", parser=parse_proposal_ref),
                     Param("reason", help="your reason", parser=parse_reason, rest=True)))
    async def reason(self, ctx: CommandContext, proposal: Ref, reason: str) -> None:
        ref = proposal.resolve(ctx.room.assembly)
        check = await self.open_check(ref)
        if check is None:
            raise UserError(f"there is no open consensus check on {ref}")
        mine = await self._stance_of(check, ctx.sender)
        if mine is None:
            raise UserError(f"take a stance on {check.ref} first (react to its message), then give your reason")
        await self.checks.give_reason(check.ref, ctx.sender, reason, at=self.clock())
        await ctx.reply(f"Your reason for your stance ({mine.stance.value}) on {ref} is recorded; it is shown "
                        "with the tally.")

    # -- what the decisions read -------------------------------------------------------------------

    async def open_check(self, proposal: str) -> Check | None:
        """The proposal's open check, if there is one."""
        checks = await self.checks.for_proposal(proposal)
        return next((c for c in reversed(checks) if c.status is CheckStatus.OPEN), None)

    async def reading(self, proposal: str) -> tuple[Check, Tally] | None:
        """The open check on ``proposal`` and its tally now, or None without an open check."""
        check = await self.open_check(proposal)
        if check is None:
            return None
        return check, tally(await self.checks.stances(check.ref), self.settings.thresholds_for(check.assembly))

    async def summaries(self, proposal: str) -> list[str]:
        """One line per check on ``proposal``: its reference, state, the members' counts and the reading."""
        lines = []
        for check in await self.checks.for_proposal(proposal):
            result = tally(await self.checks.stances(check.ref), self.settings.thresholds_for(check.assembly))
            lines.append(f"{summary_line(check, result)} ({check.status.value})")
        return lines

    async def close(self, check: Check) -> None:
        """A verdict was recorded: stances no longer change."""
        await self.checks.close(check.ref, at=self.clock())

    async def describe(self, check: Check) -> str:
        """The tally of ``check`` as text, with reasons and display names."""
        thresholds = self.settings.thresholds_for(check.assembly)
        records = await self.checks.stances(check.ref)
        result = tally(records, thresholds)
        proposal = await self.proposals.get(check.proposal)
        names = await display_names(self.gateway, [r.user for r in result.objections])
        return render_tally(check, result, title=proposal.title if proposal else "", reasons=await self.checks.reasons(check.ref),
                            names={UserId(k): v for k, v in names.items()}, thresholds=thresholds)

    # -- events ------------------------------------------------------------------------------------

    async def on_reaction(self, room_id: str, event: ReactionEvent) -> None:
        """A stance: store it, redact the sender's older one, and ask for a reason once."""
        stance = stance_of_key(event.key)
        if stance is None:
            return
        check = await self.checks.by_event(event.reacts_to)
        if check is None or check.room_id != room_id:
            return
        ts = int(event.server_timestamp)
        if check.status is not CheckStatus.OPEN or not check.takes_stances_at(ts):
            return
        record = StanceRecord(user=UserId(event.sender), stance=stance, event_id=EventId(event.event_id), ts=ts,
                              member=await self.members.is_member(event.sender))
        if not await self.checks.add_stance(check.ref, record):
            return  # a replayed sync: handled before
        standing = [r for r in await self.checks.stances(check.ref)
                    if r.user == record.user and not r.withdrawn]
        latest = max(standing, key=lambda r: (r.ts, r.event_id))
        for older in standing:
            if older is not latest:
                await self.checks.withdraw(older.event_id)
                await self._redact(room_id, older.event_id, "replaced by a newer stance on this check")
        if latest.stance.wants_reason and latest.user not in await self.checks.reasons(check.ref):
            await self._ask_reason(check, latest)

    async def on_redaction(self, room_id: str, event: RedactionEvent) -> None:
        """A withdrawn reaction is no longer a stance."""
        if event.redacts:
            await self.checks.withdraw(event.redacts)

    async def on_redacted(self, room_id: str, event: RedactedEvent) -> None:
        """A reaction that arrived already redacted is no longer a stance."""
        if event.type == REACTION:
            await self.checks.withdraw(event.event_id)

    async def on_message(self, room_id: str, event: RoomMessageText) -> None:
        """A reply in a check's thread from someone who took a stance is their reason."""
        root = thread_root_of(event.source)
        body = event.body if isinstance(event.body, str) else ""
        if root is None or not body.strip() or body.lstrip().startswith("!"):
            return  # not in a thread, or a command (the router's)
        check = await self.checks.by_event(root)
        if check is None or check.room_id != room_id or check.status is not CheckStatus.OPEN:
            return
        if await self._stance_of(check, event.sender) is None:
            return
        try:
            reason = parse_reason(body)
        except UserError:
            reason = " ".join(body.split())[:997] + "…"
        await self.checks.give_reason(check.ref, event.sender, reason, at=self.clock())
        try:
            await self.poster.react(room_id, event.event_id, "✅", txn_seed=f"reason-ack:{event.event_id}")
        except MatrixError as exc:
            log.warning("could not acknowledge a reason on %s: %s", check.ref, exc)

    # -- helpers -----------------------------------------------------------------------------------

    async def _stance_of(self, check: Check, user: str) -> StanceRecord | None:
        return current_stances(await self.checks.stances(check.ref)).get(UserId(user))

    async def _ask_reason(self, check: Check, record: StanceRecord) -> None:
        if not await self.checks.mark_asked(check.ref, record.user, at=self.clock()):
            return
        verb = "blocked" if record.stance is Stance.BLOCK else "disagreed with"
        text = (f"You {verb} {check.proposal} in consensus check {check.ref}. Please say why, so the assembly "
                f"can weigh it: reply in the check's thread, or send me here: {self.prefix} sense reason "
                f"{check.proposal} <your reason>. Your reason is shown with the tally.")
        try:
            await self.poster.dm(record.user, text, txn_seed=f"check-ask:{check.ref}:{record.user}")
        except MatrixError as exc:
            log.warning("could not ask for a reason on %s: %s", check.ref, exc)

    async def _redact(self, room_id: str, event_id: str, reason: str) -> None:
        try:
            await self.poster.redact(room_id, event_id, reason, txn_seed=f"redact:{event_id}")
        except MatrixError as exc:
            log.warning("could not redact %s in %s: %s", event_id, room_id, exc)
