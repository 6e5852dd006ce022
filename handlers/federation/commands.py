"""The federation commands: the peers and the nestings across instances, and a secretary's answer
to a peer's nesting request that waits for approval."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.matrix.commands import CommandContext, command
from harmony_matrix.commands import ROOM_ASSEMBLY, Param, Place, Role, parse_user
from harmony_matrix.errors import UserError
from harmony_matrix.federation_peers.links import Link, LinkState, Side
from harmony_matrix.ids import UserId, server_of

if TYPE_CHECKING:
    from handlers.federation.feature import FederationFeature


def _space(text: str) -> str:
    text = text.strip()
    if not text.startswith("!") or any(c.isspace() for c in text):
        raise ValueError(f'"{text[:60]}" is not a space ID like !abc…')
    return text


class FederationCommands:
    """``federation``, ``federation accept``, ``federation refuse``, ``delegate send``, ``delegate withdraw``."""

    def __init__(self, *, feature: FederationFeature) -> None:
        self.feature = feature

    @command("federation", summary="The peer instances and the nestings across instances.",
             example="!h federation")
    async def status(self, ctx: CommandContext) -> None:
        peers = list(self.feature.peers)
        lines = ["Peer instances: " + (", ".join(
            f"{p.user_id} ({', '.join(sorted(r.value for r in p.rights)) or 'no rights'})" for p in peers)
            if peers else "none configured (federation.peers).")]
        links = [link for link in await self.feature.store.links() if link.state is not LinkState.UNLINKED]
        for link in links:
            where = "nested in" if link.side is Side.CHILD else "has nested"
            lines.append(f"• {link.local_slug} {where} {link.remote_label or link.remote_space} "
                         f"({server_of(link.peer)}): {link.state.value}" + (f" — {link.reason}" if link.reason else ""))
        if not links:
            lines.append("No nesting across instances.")
        await ctx.reply("\n".join(lines))

    async def _waiting(self, ctx: CommandContext, space: str) -> Link:
        slug = ctx.room.assembly
        for link in await self.feature.store.links():
            if (link.side is Side.PARENT and link.state is LinkState.PENDING and link.remote_space == space
                    and link.local_slug == slug):
                return link
        raise UserError(f"no nesting request for {space} waits for {slug}; {ctx.prefix} federation lists them")

    @command("federation accept", summary="Accept a peer instance's request to nest its assembly in this one.",
             example="!h federation accept !abc:wales.example",
             params=(Param("space", help="the remote space's ID, as the request named it", parser=_space),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def accept(self, ctx: CommandContext, space: str) -> None:
        link = await self._waiting(ctx, space)
        await self.feature.accept(link)
        await ctx.reply(f"Done: {link.remote_label} is nested in {link.local_slug}, and {link.peer} was told.")

    @command("federation refuse", summary="Refuse a peer instance's request to nest its assembly in this one.",
             example="!h federation refuse !abc:wales.example",
             params=(Param("space", help="the remote space's ID, as the request named it", parser=_space),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def refuse(self, ctx: CommandContext, space: str) -> None:
        link = await self._waiting(ctx, space)
        await self.feature.refuse(link, f"refused by the secretary of {link.local_slug}")
        await ctx.reply(f"Refused: {link.remote_label} is not nested in {link.local_slug}; {link.peer} was told.")

    @command("delegate send", summary="Seat someone as this assembly's delegate in its umbrella on another instance.",
             example="!h delegate send @cy:wales.example #party:national.example",
             params=(Param("user", help="the delegate's Matrix ID", parser=parse_user),
                     Param("umbrella", help="the remote umbrella's alias (if the assembly is nested in several)",
                           optional=True)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def send_delegate(self, ctx: CommandContext, user: UserId, umbrella: str | None) -> None:
        slug = ctx.room.assembly
        if slug is None:
            raise UserError(f"Send a delegate from the room of the assembly they speak for: {ctx.prefix} delegate send")
        delegate = await self.feature.delegates.send(slug, user, umbrella=umbrella)
        await ctx.reply(f"I asked {delegate.peer} to seat {user} as a delegate of {slug}; its answer will be told in "
                        "the secretariat.")

    @command("delegate withdraw", summary="End a delegate's seat in the remote umbrella (they stood down, or are "
                                          "withdrawn).",
             example="!h delegate withdraw @cy:wales.example",
             params=(Param("user", help="the delegate's Matrix ID", parser=parse_user),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def withdraw_delegate(self, ctx: CommandContext, user: UserId) -> None:
        slug = ctx.room.assembly
        if slug is None:
            raise UserError(f"Withdraw a delegate from the room of the assembly they speak for: {ctx.prefix} "
                            "delegate withdraw")
        ended = await self.feature.delegates.withdraw(slug, user)
        await ctx.reply(f"I asked {', '.join(sorted({d.peer for d in ended}))} to end the seat of {user} as a "
                        f"delegate of {slug}.")
