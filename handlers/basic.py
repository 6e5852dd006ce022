"""Commands every deployment has: help, ping, version; and the policy for room invites."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from handlers.matrix.commands import CommandContext, command, place_allows
from handlers.matrix.direct import DirectChats
from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.render import escape
from harmony_matrix import __version__
from harmony_matrix.command_table import help_detail, help_overview
from harmony_matrix.commands import Param
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)


class BasicCommands:
    """``help``, ``ping`` and ``version``: the commands that need nothing but the command table."""

    @command("help", summary="List the commands you can use here, or explain one.",
             example="!h help poll start",
             params=(Param("command", help="a command name, e.g. poll start", optional=True, rest=True),))
    async def help(self, ctx: CommandContext, command: str | None) -> None:
        """One command's details, or every command the sender may use here (by role and place)."""
        if command:
            spec = ctx.table.get(command)
            if spec is None:
                resolved = ctx.table.resolve(command)
                spec = resolved[0] if resolved else None
            if spec is None:
                group = ctx.table.suggest(command)
                hint = (" Related: " + ", ".join(group) + ".") if group else ""
                await ctx.reply(f'There is no command "{command}".{hint} Send {ctx.prefix} help for the list.')
                return
            lines = help_detail(spec, prefix=ctx.prefix)
            html = f"<b>{escape(lines[0])}</b><br>" + "<br>".join(
                f"<code>{escape(line)}</code>" if line.startswith(("Usage:", "Example:")) else escape(line)
                for line in lines[1:])
            await ctx.reply("\n".join(lines), html)
            return
        usable = [s for s in ctx.table if ctx.role >= s.role and place_allows(s.place, ctx.room)]
        elsewhere = [s for s in ctx.table if ctx.role >= s.role and not place_allows(s.place, ctx.room)]
        rows = help_overview(usable, prefix=ctx.prefix)
        plain = ["Commands you can use here:"] + [f"{usage} — {summary}" for usage, summary in rows]
        html = "<b>Commands you can use here:</b><ul>" + "".join(
            f"<li><code>{escape(usage)}</code> — {escape(summary)}</li>" for usage, summary in rows) + "</ul>"
        if elsewhere:
            names = ", ".join(sorted(s.name for s in elsewhere))
            plain.append(f"Elsewhere (in a DM with me or in an assembly's rooms): {names}")
            html += f"<p>Elsewhere (in a DM with me or in an assembly's rooms): {escape(names)}</p>"
        tail = f"Send {ctx.prefix} help <command> for details and an example."
        await ctx.reply("\n".join(plain + [tail]), html + f"<p>{escape(tail)}</p>")

    @command("ping", summary="Check that I am listening.", example="!h ping")
    async def ping(self, ctx: CommandContext) -> None:
        """Answer, to show the bot is listening."""
        await ctx.reply("Pong! I'm listening.")

    @command("version", summary="Which harmony-matrix this is.", example="!h version")
    async def version(self, ctx: CommandContext) -> None:
        """Name the running version."""
        await ctx.reply(f"harmony-matrix {__version__}")


class TrustedInviters(Protocol):
    """Whether someone besides the admins may bring the bot into a group room (``Permissions`` has it:
    the assemblies feature trusts officers)."""

    async def may_invite_bot(self, user_id: UserId) -> bool: ...


class InvitePolicy:
    """Which rooms the bot joins when invited.

    Direct chats from anyone: people talk to the bot privately (ballots, declarations, their data).
    A direct chat is what ``DirectChats`` says it is, whatever flag the invite carries: an invite without
    ``is_direct`` from someone else is joined to look, and kept when the room holds just them and the
    bot. Group rooms only from admins and secretaries; other invites are declined politely.
    """

    def __init__(self, *, gateway: MatrixGateway, admins: Iterable[str], direct: DirectChats,
                 trusted: TrustedInviters) -> None:
        self.gateway = gateway
        self.direct = direct
        self.admins = frozenset(admins)
        self.trusted = trusted

    async def on_invite(self, room_id: RoomId, inviter: UserId, is_direct: bool = False) -> None:
        """Join or decline ``room_id`` (the dispatcher's invite callback)."""
        trusted = is_direct or inviter in self.admins or await self.trusted.may_invite_bot(inviter)
        try:
            await self.gateway.join(room_id)  # untrusted too: only members can see who else is in a room
            if not trusted:
                is_direct = trusted = await self.direct.person_in(room_id) == inviter
            if trusted:
                if is_direct:
                    await self.direct.remember(inviter, room_id)
                log.info("joined %s on an invite from %s", room_id, inviter)
            else:
                await self.gateway.leave(room_id, reason=(
                    "Thanks for the invite! I only join group rooms when an administrator or an assembly "
                    "secretary of this harmony-matrix instance invites me; a direct chat with me is always fine."))
                log.info("declined an invite to %s from %s", room_id, inviter)
        except MatrixError as exc:
            log.warning("could not answer the invite to %s: %s", room_id, exc)
