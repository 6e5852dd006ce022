"""Raising a proposal: ``propose <title> [| details]``."""

from __future__ import annotations

from dataclasses import replace

from handlers.consensus.common import require_assembly
from handlers.consensus.stores import ProposalStore
from handlers.matrix.commands import CommandContext, command
from handlers.ports import Clock
from harmony_matrix.commands import Param, Place
from harmony_matrix.consensus.proposals import parse_propose_args
from harmony_matrix.ids import EventId, RoomId, UserId


class Proposals:
    """Raises proposals; each gets a reference and a discussion thread under the bot's answer."""

    def __init__(self, *, proposals: ProposalStore, clock: Clock) -> None:
        self.proposals = proposals
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
        body += "\nDiscuss it in this thread."
        root = await ctx.reply(body)
        await self.proposals.save(replace(proposal, thread_root=EventId(root)))
