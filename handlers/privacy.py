"""The party membership registry commands, and people's own data: ``!h mydata`` / ``!h forget-me``.

Membership is sensitive data, so every command here works only in a direct conversation with the
bot, and nothing here is logged with the person's status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from handlers.matrix.commands import CommandContext, command
from handlers.ports import Clock
from harmony_matrix.commands import Flag, Param, Place, Role, parse_user
from harmony_matrix.ids import UserId

log = logging.getLogger(__name__)


class MembershipRecords(Protocol):
    """What these commands change in the party membership registry (``storage.core.stores.MemberStore``)."""

    async def add(self, user_id: str, *, by: str, at: datetime) -> bool: ...
    async def remove(self, user_id: str) -> bool: ...
    async def export(self, user_id: str) -> dict[str, str] | None: ...


class PersonalData(Protocol):
    """What a feature holds about one person, and how to erase it (every feature answers both)."""

    async def export_user_data(self, user_id: str) -> dict[str, Any]: ...
    async def erase_user_data(self, user_id: str) -> None: ...


class MembershipCommands:
    """``member add`` / ``member remove``: admins keep the registry, in a direct chat with the bot."""

    def __init__(self, *, members: MembershipRecords, clock: Clock) -> None:
        self.members = members
        self.clock = clock

    @command("member add", summary="Register someone as a party member (they can then vote).",
             example="!h member add @sam:example.org", params=(Param("user", parser=parse_user),),
             role=Role.ADMIN, place=Place.ENCRYPTED_DIRECT)
    async def add(self, ctx: CommandContext, user: UserId) -> None:
        """Register ``user`` as a party member."""
        added = await self.members.add(user, by=ctx.sender, at=self.clock())
        await ctx.reply(f"{user} is now registered as a party member." if added
                        else f"{user} was already registered as a party member.")

    @command("member remove", summary="Remove someone from the party membership registry.",
             example="!h member remove @sam:example.org", params=(Param("user", parser=parse_user),),
             role=Role.ADMIN, place=Place.ENCRYPTED_DIRECT)
    async def remove(self, ctx: CommandContext, user: UserId) -> None:
        """Remove ``user`` from the registry."""
        removed = await self.members.remove(user)
        await ctx.reply(f"{user} is no longer registered as a party member." if removed
                        else f"{user} was not registered as a party member; nothing changed.")


class PrivacyCommands:
    """``mydata`` and ``forget-me``: a person's copy of their data, and its erasure.

    ``holders`` are the features by name; the mapping is read at each command, so features built
    after these commands are included."""

    def __init__(self, *, members: MembershipRecords, holders: Mapping[str, PersonalData]) -> None:
        self.members = members
        self.holders = holders

    @command("mydata", summary="Get a copy of everything I hold about you (sent privately).",
             example="!h mydata", place=Place.ENCRYPTED_DIRECT)
    async def mydata(self, ctx: CommandContext) -> None:
        """Send the sender everything held about them, as a JSON file in this direct chat."""
        export: dict[str, Any] = {"user_id": ctx.sender, "party_membership": await self.members.export(ctx.sender)}
        for name, holder in sorted(self.holders.items()):
            export[name] = await holder.export_user_data(ctx.sender)
        data = json.dumps(export, indent=2, sort_keys=True, default=str).encode()
        await ctx.poster.attachment(ctx.room_id, data, {
            "msgtype": "m.file", "body": "harmony-mydata.json", "filename": "harmony-mydata.json",
            "info": {"mimetype": "application/json", "size": len(data)},
        }, content_type="application/json", txn_seed=f"mydata:{ctx.event_id}")
        sections = ", ".join(k for k, v in export.items() if v and k != "user_id") or "nothing"
        await ctx.reply(f"Here is everything I hold about you, as a JSON file above (sections: {sections}). "
                        f"Send {ctx.prefix} forget-me to erase it.")

    @command("forget-me", summary="Erase what I hold about you (membership, declarations, your votes' link to you).",
             example="!h forget-me confirm", flags=(Flag("confirm", help="really erase"),), place=Place.DIRECT)
    async def forget_me(self, ctx: CommandContext, confirm: bool) -> None:
        """Erase what is held about the sender, after they confirm."""
        if not confirm:
            await ctx.reply(
                "This erases your party membership record, your private declarations, and the link between "
                "you and your ballots (tallies keep anonymous counts; decisions already recorded stay, "
                "without your name where the record allows). You will have to register and declare again "
                f"to vote or join restricted assemblies. To go ahead, send: {ctx.prefix} forget-me confirm")
            return
        await self.members.remove(ctx.sender)
        for _, holder in sorted(self.holders.items()):
            await holder.erase_user_data(ctx.sender)
        log.info("erased personal data on request (event %s)", ctx.event_id)
        await ctx.reply("Done: I have erased what I held about you.")
