"""The poll commands: ``poll start``, ``poll close``, ``polls``, ``poll show`` and ``vote``.

Each is one declared method; its arguments arrive typed (``harmony_matrix.polls.arguments``), and who may
run it where is declared with it.
"""

from __future__ import annotations

from typing import Protocol
from zoneinfo import ZoneInfo

from handlers.matrix.commands import CommandContext, command
from handlers.polls.render import render_results, render_status
from handlers.polls.store import PollStore
from handlers.polls.voting import PollVoting
from handlers.ports import Clock
from harmony_matrix.commands import ROOM_ASSEMBLY, Place, Role
from harmony_matrix.errors import UserError
from harmony_matrix.polls.arguments import (
    CLOSES,
    ELIGIBILITY,
    POLL_REF,
    POLL_TEXT,
    SCORES,
    SEATS,
    SECRET,
    PollText,
    poll_start_spec,
)
from harmony_matrix.polls.poll import Eligibility, Poll, PollSpec, option_letter, poll_ref
from harmony_matrix.when import When


class PollLifecycle(Protocol):
    """Opening and closing polls (``PollsFeature``)."""

    async def open_poll(self, spec: PollSpec, *, room_id: str, created_by: str, origin: str | None = None,
                        source_key: str | None = None) -> Poll: ...
    async def close_poll(self, number: int) -> Poll | None: ...


class PollCommands:
    """The poll commands, given what they use: the store (to read polls), opening and closing, the voting
    part (for ballots by DM), the clock and the time zone."""

    def __init__(self, *, store: PollStore, lifecycle: PollLifecycle, voting: PollVoting, clock: Clock,
                 tz: ZoneInfo, default_eligibility: Eligibility) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.voting = voting
        self.clock = clock
        self.tz = tz
        self.default_eligibility = default_eligibility

    @command("poll start", summary="Open a STAR poll: people score each option 0–5.",
             example='!h poll start Where do we meet? | Library | Café | Online closes=tomorrow 19:00',
             params=(POLL_TEXT,), options=(CLOSES, SEATS, ELIGIBILITY), flags=(SECRET,),
             role=Role.SECRETARY, manages=ROOM_ASSEMBLY)
    async def poll_start(self, ctx: CommandContext, poll: PollText, closes: When | None, seats: int | None,
                         eligibility: Eligibility | None, secret: bool) -> None:
        spec = poll_start_spec(poll, closes=closes, seats=seats, eligibility=eligibility, secret=secret,
                               now=self.clock(), tz=self.tz, default_eligibility=self.default_eligibility)
        opened = await self.lifecycle.open_poll(spec, room_id=ctx.room_id, created_by=ctx.sender,
                                                source_key=ctx.event_id)
        await ctx.reply(f"Poll {opened.ref} is open. Settings are locked now; {ctx.prefix} poll close "
                        f"{opened.ref} closes it early.")

    @command("poll close", summary="Close a poll now and post its results.", example="!h poll close #3",
             params=(POLL_REF,), role=Role.SECRETARY, manages=ROOM_ASSEMBLY)
    async def poll_close(self, ctx: CommandContext, poll: int) -> None:
        existing = await self._poll(poll)
        if not existing.is_open:
            await ctx.reply(f"Poll {existing.ref} is already closed; {ctx.prefix} poll show {existing.ref} "
                            "shows its results.")
            return
        closed = await self.lifecycle.close_poll(poll)
        assert closed is not None
        await ctx.reply(f"Poll {closed.ref} is closed; the results are posted under its announcement.")

    @command("polls", summary="Open polls here and the latest closed ones.", example="!h polls")
    async def polls(self, ctx: CommandContext) -> None:
        polls = await self.store.list_polls(room_id=None if ctx.room.is_direct else ctx.room_id, limit=15)
        if not polls:
            await ctx.reply("There are no polls here yet.")
            return
        lines = [render_status(p, turnout=await self.store.turnout(p.number), tz=self.tz) for p in polls]
        await ctx.reply("Polls:\n" + "\n".join(lines))

    @command("poll show", summary="A poll's status, or its results once closed.", example="!h poll show #3",
             params=(POLL_REF,))
    async def poll_show(self, ctx: CommandContext, poll: int) -> None:
        found = await self._poll(poll)
        if found.is_open or found.result is None:
            options = "\n".join(f"{option_letter(o.position)}. {o.label}" for o in found.options)
            await ctx.reply(render_status(found, turnout=await self.store.turnout(found.number), tz=self.tz)
                            + "\n" + options)
            return
        text, html = render_results(found, found.result)
        await ctx.reply(text, html)

    @command("vote", summary="Send a ballot by direct message (secret polls: an encrypted one; works for open "
             "polls too).", example="!h vote #3 A=5 B=3 C=0", params=(POLL_REF, SCORES), place=Place.DIRECT)
    async def vote(self, ctx: CommandContext, poll: int, scores: str) -> None:
        receipt = await self.voting.cast_ballot(number=poll, ballot_text=scores, voter=ctx.sender,
                                                event_id=ctx.event_id, room_id=ctx.room_id)
        await ctx.reply(receipt)

    async def _poll(self, number: int) -> Poll:
        found = await self.store.get(number)
        if found is None:
            raise UserError(f"there is no poll {poll_ref(number)}")
        return found
