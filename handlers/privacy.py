"""The party membership registry commands, and people's own data: ``!h mydata`` / ``!h forget-me``.

Membership is sensitive data, so every command here works only in a direct conversation with the
bot, and nothing here is logged with the person's status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from handlers.matrix.commands import CommandContext, command
from harmony_matrix.commands import Flag, Param, Place, Role, parse_user

log = logging.getLogger(__name__)


class MemberRegistry(Protocol):
    async def is_member(self, user_id: str) -> bool: ...
    async def add(self, user_id: str, *, by: str, at: datetime) -> bool: ...
    async def remove(self, user_id: str) -> bool: ...
    async def export(self, user_id: str) -> dict[str, str] | None: ...


class PersonalData(Protocol):
    """What a feature holds about one person, and how to erase it."""

    async def export_user_data(self, user_id: str) -> dict[str, Any]: ...
    async def erase_user_data(self, user_id: str) -> None: ...


class MembershipCommands:
    def __init__(self, *, members: MemberRegistry, clock: Callable[[], datetime]) -> None:
        self.members = members
        self.clock = clock

    @command("member add", summary="Register someone as a party member (they can then vote).",
             example="!h member add @sam:example.org", params=(Param("user", parser=parse_user),),
             role=Role.ADMIN, place=Place.DIRECT)
    async def add(self, ctx: CommandContext, user: str) -> None:
        added = await self.members.add(user, by=ctx.sender, at=self.clock())
        await ctx.reply(f"{user} is now registered as a party member." if added
                        else f"{user} was already registered as a party member.")

    @command("member remove", summary="Remove someone from the party membership registry.",
             example="!h member remove @sam:example.org", params=(Param("user", parser=parse_user),),
             role=Role.ADMIN, place=Place.DIRECT)
    async def remove(self, ctx: CommandContext, user: str) -> None:
        removed = await self.members.remove(user)
        await ctx.reply(f"{user} is no longer registered as a party member." if removed
                        else f"{user} was not registered as a party member; nothing changed.")


class PrivacyCommands:
    def __init__(self, *, members: MemberRegistry, features: Mapping[str, object]) -> None:
        self.members = members
        self.features = features

    def _holders(self) -> dict[str, PersonalData]:
        return {name: feature for name, feature in self.features.items()  # type: ignore[misc]
                if hasattr(feature, "export_user_data") and hasattr(feature, "erase_user_data")}

    @command("mydata", summary="Get a copy of everything I hold about you (sent privately).",
             example="!h mydata", place=Place.DIRECT)
    async def mydata(self, ctx: CommandContext) -> None:
        export: dict[str, Any] = {"user_id": ctx.sender, "party_membership": await self.members.export(ctx.sender)}
        for name, holder in sorted(self._holders().items()):
            export[name] = await holder.export_user_data(ctx.sender)
        data = json.dumps(export, indent=2, sort_keys=True, default=str).encode()
        mxc = await ctx.gateway.upload(data, content_type="application/json", filename="harmony-mydata.json")
        await ctx.gateway.send_event(ctx.room_id, "m.room.message", {
            "msgtype": "m.file", "body": "harmony-mydata.json", "filename": "harmony-mydata.json", "url": mxc,
            "info": {"mimetype": "application/json", "size": len(data)},
        }, txn_seed=f"mydata:{ctx.event_id}")
        sections = ", ".join(k for k, v in export.items() if v and k != "user_id") or "nothing"
        await ctx.reply(f"Here is everything I hold about you, as a JSON file above (sections: {sections}). "
                        f"Send {ctx.prefix} forget-me to erase it.")

    @command("forget-me", summary="Erase what I hold about you (membership, declarations, your votes' link to you).",
             example="!h forget-me confirm", flags=(Flag("confirm", help="really erase"),), place=Place.DIRECT)
    async def forget_me(self, ctx: CommandContext, confirm: bool) -> None:
        if not confirm:
            await ctx.reply(
                "This erases your party membership record, your private declarations, and the link between "
                "you and your ballots (tallies keep anonymous counts; decisions already recorded stay, "
                "without your name where the record allows). You will have to register and declare again "
                f"to vote or join restricted assemblies. To go ahead, send: {ctx.prefix} forget-me confirm")
            return
        await self.members.remove(ctx.sender)
        for name, holder in sorted(self._holders().items()):
            await holder.erase_user_data(ctx.sender)
        log.info("erased personal data on request (event %s)", ctx.event_id)
        await ctx.reply("Done: I have erased what I held about you.")
