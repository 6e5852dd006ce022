"""The assembly commands: listing, joining and leaving, answering a declaration request, and the
management commands of secretaries and admins.

Each command declares its typed parameters (the core's parsers and length limits) and, for
management, the assembly it ``manages``: the router refuses everyone but that assembly's officers
and the admins before the handler runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from handlers.assemblies.enforcement import Enforcer
from handlers.assemblies.entry import Entry
from handlers.assemblies.facts import Facts
from handlers.assemblies.listing import HOW_TO_JOIN, ListingContext, render_assemblies
from handlers.assemblies.messages import with_code
from handlers.assemblies.presence import Presence
from handlers.assemblies.provisioning import ApplyReport
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import AuditLog, PeopleStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.render import bullet_list
from handlers.ports import Clock, RemoteTree
from harmony_matrix.assemblies.access import decide_access
from harmony_matrix.assemblies.assembly import (
    MAX_DECLARATION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REMIT_LENGTH,
    Access,
    Assembly,
    AssemblyKind,
    parse_access,
    parse_kind,
    parse_name,
    parse_slug,
)
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.assemblies.room_state import Drift
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role, parse_user
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId

__all__ = ["HOW_TO_JOIN", "AssemblyCommands", "RegistryChanges"]


class RegistryChanges(Protocol):
    """The changes commands make through the feature, which orders them and enforces afterwards."""

    async def apply_federation(self, desired: Federation, *, actor: str | None = None) -> ApplyReport: ...
    async def sync_all(self, slugs: Iterable[str] | None = None) -> dict[str, dict[str, list[Drift]]]: ...


def _slug_param(help_text: str = "an assembly's slug, e.g. cardiff-west", optional: bool = False) -> Param:
    return Param("assembly", help=help_text, optional=optional, parser=parse_slug)


class AssemblyCommands:
    """The commands of the assemblies feature; each gets its collaborators from the feature."""

    def __init__(self, *, registry: LiveRegistry, changes: RegistryChanges, entry: Entry, enforcer: Enforcer,
                 facts: Facts, presence: Presence, people: PeopleStore, audit: AuditLog, clock: Clock) -> None:
        self.registry = registry
        self.changes = changes
        self.entry = entry
        self.enforcer = enforcer
        self.facts = facts
        self.presence = presence
        self.people = people
        self.audit = audit
        self.clock = clock
        #: Nestings across instances, shown in the listing (``AssembliesFeature.use_remote``).
        self.remote: RemoteTree | None = None

    # -- everyone -----------------------------------------------------------------------------------

    @command("assemblies", summary="The assemblies, how they nest, and how to join each.",
             example="!h assemblies")
    async def cmd_assemblies(self, ctx: CommandContext) -> None:
        """The nesting tree, with how to get into each assembly."""
        federation = self.registry.current
        if not len(federation):
            await ctx.reply(*with_code(
                "There are no assemblies yet. An admin can import them with `harmony-matrix import FILE`, "
                f"or create one with `{ctx.prefix} assembly create`."))
            return
        rooms = await self.registry.all_rooms()
        space_aliases = {room.slug: room.alias for room in rooms if room.kind is RoomKind.SPACE and room.alias}
        # The first assembly's discussion room shows the pattern of room addresses.
        example = next((room.alias for slug in federation.slugs for room in rooms
                        if room.slug == slug and room.kind is RoomKind.DISCUSSION and room.alias), None)
        listing = ListingContext(prefix=ctx.prefix, bot=self.presence.bot, in_direct_chat=ctx.room.is_private,
                                 space_aliases=space_aliases, example_room_alias=example,
                                 remote=await self.remote.remote_listing() if self.remote is not None else {})
        await ctx.reply(*render_assemblies(federation, listing))

    @command("join", summary="Join an assembly, or ask to (self-identified ones ask you privately).",
             example="!h join cardiff-west", params=(_slug_param(),))
    async def cmd_join(self, ctx: CommandContext, assembly: str) -> None:
        """Admit, ask privately or refuse; the answer itself goes by direct message."""
        target = self.registry.assembly(assembly, prefix=ctx.prefix)
        if ctx.room.is_direct and not ctx.room.is_private and target.access is Access.SELF_IDENTIFIED:
            # Whatever the answer (the statement, or "welcome" to someone who confirmed it), it tells the
            # homeserver, which reads this unencrypted chat, what the person said about themselves.
            await ctx.reply(*with_code(
                f"Joining {target.name} asks you to confirm a statement about yourself, and your answer is "
                "private, so I only ask it in an encrypted direct chat; this one is not encrypted: the "
                "homeserver can read it. Start a new direct chat with me (Element encrypts direct chats by "
                "default) or turn on encryption in this room's settings, then send "
                f"`{ctx.prefix} join {target.slug}` there. I have done nothing."))
            return
        if ctx.room.is_direct:
            # Asked in the direct chat: answer right here, as a reply.
            async def here(text: str, html: str) -> RoomId:
                await ctx.reply(text, html)
                return ctx.room_id

            await self.entry.request_entry(ctx.sender, target.slug, prefix=ctx.prefix, answer=here)
            return
        await self.entry.request_entry(ctx.sender, target.slug, prefix=ctx.prefix)
        await ctx.reply("I have answered you in a direct message (if you do not see it, accept my invite "
                        "to a direct chat).")

    @command("leave", summary="Leave an assembly: I remove you from its space and rooms.",
             example="!h leave cardiff-west", params=(_slug_param(),))
    async def cmd_leave(self, ctx: CommandContext, assembly: str) -> None:
        """Remove the sender from the assembly's rooms and forget their admission to it."""
        target = self.registry.assembly(assembly, prefix=ctx.prefix)
        removed = await self.enforcer.remove_from(ctx.sender, target.slug, public_reason="left at their request",
                                                  private_reason=None, actor=ctx.sender)
        await self.people.revoke_admission(UserId(ctx.sender), target.slug)
        await ctx.reply(f"Done: you left {target.name}." if removed else f"You were not in {target.name}.")

    @command("confirm", summary="Confirm the statement I asked you about (privately), and join.",
             example="!h confirm", params=(_slug_param("which assembly, if I asked about several", True),),
             place=Place.ENCRYPTED_DIRECT)
    async def cmd_confirm(self, ctx: CommandContext, assembly: str | None) -> None:
        """Record the declaration and invite."""
        await ctx.reply(*with_code(await self.entry.confirm(ctx.sender, assembly, prefix=ctx.prefix)))

    @command("cancel", summary="Decline the statement I asked you about; nothing is recorded.",
             example="!h cancel", params=(_slug_param("which assembly, if I asked about several", True),),
             place=Place.DIRECT)
    async def cmd_cancel(self, ctx: CommandContext, assembly: str | None) -> None:
        """Drop the pending request."""
        await ctx.reply(await self.entry.cancel(ctx.sender, assembly))

    # -- officers and admins ------------------------------------------------------------------------

    @command("assembly create", summary="Create an assembly (a space with its rooms).",
             example='!h assembly create media "Media Working Group" kind=working-group access=open parent=party',
             params=(Param("slug", help="short name used in commands", parser=parse_slug),
                     # Room for the quotes around a name of the longest length.
                     Param("name", help="the full name", rest=True, parser=parse_name,
                           max_length=MAX_NAME_LENGTH + 2)),
             options=(Option("kind", help="working-group, committee, society, city, …", parser=parse_kind),
                      Option("access", help="open, participants, self-identified, members, invite",
                             parser=parse_access),
                      Option("parent", help="the umbrella assembly's slug", parser=parse_slug),
                      Option("remit", help="its purpose of action (the topic)", max_length=MAX_REMIT_LENGTH),
                      Option("declaration", help="for self-identified: the statement to confirm",
                             max_length=MAX_DECLARATION_LENGTH)),
             role=Role.SECRETARY, manages="parent")
    async def cmd_create(self, ctx: CommandContext, slug: str, name: str, kind: AssemblyKind | None,
                         access: Access | None, parent: str | None, remit: str | None,
                         declaration: str | None) -> None:
        """Create an assembly nested in ``parent`` (by default the room's own; admins: the top level)."""
        parent = parent or (ctx.room.assembly if ctx.role < Role.ADMIN else None)
        if slug in self.registry.current:
            raise UserError(f'There is already an assembly "{slug}".')
        new = Assembly(slug=slug, name=name, kind=kind or AssemblyKind.WORKING_GROUP, access=access or Access.OPEN,
                       remit=remit or "", declaration=declaration, parents=(parent,) if parent else ())
        report = await self.changes.apply_federation(self.registry.current.with_assembly(new), actor=ctx.sender)
        addresses = await self._addresses(slug)
        space = addresses.pop(RoomKind.SPACE, "")
        rooms = ", ".join(addresses.values())
        await ctx.reply(f"Created {new.name}: a space, {space}, with {report.rooms_created - 1} rooms: {rooms}.")

    async def _addresses(self, slug: str) -> dict[RoomKind, str]:
        """Each provisioned room of ``slug`` by its alias (its room ID where it has none), space first."""
        rooms = {room.kind: room.alias or room.room_id for room in await self.registry.all_rooms()
                 if room.slug == slug}
        return {kind: rooms[kind] for kind in RoomKind if kind in rooms}

    @command("assembly nest", summary="Nest an assembly in an umbrella assembly.",
             example="!h assembly nest cardiff-west cardiff",
             params=(Param("child", help="the assembly to nest", parser=parse_slug),
                     Param("parent", help="the umbrella", parser=parse_slug)),
             role=Role.SECRETARY, manages="parent")
    async def cmd_nest(self, ctx: CommandContext, child: str, parent: str) -> None:
        """Nest ``child`` in ``parent`` (officers of the umbrella decide what is nested in it)."""
        self.registry.assembly(child, prefix=ctx.prefix)
        report = await self.changes.apply_federation(self.registry.current.nest(child, parent), actor=ctx.sender)
        await ctx.reply(f"Nested {child} in {parent} ({report.state_writes} state change(s)).")

    @command("assembly unnest", summary="Take an assembly out of an umbrella assembly.",
             example="!h assembly unnest cardiff-west cardiff",
             params=(Param("child", help="the nested assembly", parser=parse_slug),
                     Param("parent", help="the umbrella", parser=parse_slug)),
             role=Role.SECRETARY, manages="parent")
    async def cmd_unnest(self, ctx: CommandContext, child: str, parent: str) -> None:
        """Take ``child`` out of ``parent``."""
        report = await self.changes.apply_federation(self.registry.current.unnest(child, parent),
                                                     actor=ctx.sender)
        await ctx.reply(f"{child} is no longer nested in {parent} ({report.state_writes} state change(s)).")

    @command("assembly sync", summary="Compare Matrix with the registry, repair drift and report it.",
             example="!h assembly sync", params=(_slug_param(optional=True),), role=Role.SECRETARY,
             manages="assembly")
    async def cmd_sync(self, ctx: CommandContext, assembly: str | None) -> None:
        """Repair one assembly's rooms (the named one, or the room's); admins may repair them all."""
        slug = assembly or ctx.room.assembly
        repaired = await self.changes.sync_all([slug] if slug else None)
        if not repaired:
            await ctx.reply("No drift: Matrix matches the registry.")
            return
        lines = [f"{s} {kind}: {d.describe()}" for s, kinds in repaired.items()
                 for kind, drifts in kinds.items() for d in drifts]
        plain, html = bullet_list(lines)
        await ctx.reply(f"Repaired {len(lines)} difference(s):\n{plain}", f"<b>Repaired</b>{html}")

    @command("assembly admit", summary="Admit someone to this assembly (secretaries).",
             example="!h assembly admit @sam:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),), role=Role.SECRETARY,
             place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def cmd_admit(self, ctx: CommandContext, user: UserId) -> None:
        """Record a secretary's admission and invite, where the assembly's rule lets admissions count."""
        slug = ctx.room.assembly
        assert slug is not None, "place=ASSEMBLY: the router runs this only in an assembly's room"
        assembly = self.registry.assembly(slug, prefix=ctx.prefix)
        person = await self.facts.about(user)
        # Decide on the admission before recording it, so a refusal leaves nothing behind.
        if_admitted = dataclasses.replace(person, invited_to=person.invited_to | {slug})
        if not decide_access(if_admitted, assembly, self.registry.current, prefix=ctx.prefix).admitted:
            # Members-only: the registry decides, not a secretary. Say so without saying why.
            raise UserError(f"{user} cannot be admitted to {assembly.name} by a secretary.")
        await self.people.admit(user, slug, by=UserId(ctx.sender), at=self.clock())
        space = RoomId((await self.registry.rooms_of(slug))[RoomKind.SPACE.value])
        await self.presence.invite(space, user)
        await self.audit.record("assembly.admit", at=self.clock(), room_id=space, target_user=user,
                                actor=UserId(ctx.sender), reason="admitted by a secretary")
        await ctx.reply(f"Invited {user} to {assembly.name}.")

    @command("assembly remove", summary="Remove someone from this assembly's rooms (secretaries).",
             example="!h assembly remove @sam:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),), role=Role.SECRETARY,
             place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def cmd_remove(self, ctx: CommandContext, user: UserId) -> None:
        """Forget the person's admission and remove them from every room of the assembly."""
        slug = ctx.room.assembly
        assert slug is not None, "place=ASSEMBLY: the router runs this only in an assembly's room"
        assembly = self.registry.assembly(slug, prefix=ctx.prefix)
        await self.people.revoke_admission(user, slug)
        removed = await self.enforcer.remove_from(user, slug, public_reason="removed by a secretary",
                                                  private_reason=f"A secretary removed you from {assembly.name}.",
                                                  actor=ctx.sender)
        await ctx.reply(f"Removed {user} from {removed} room(s) of {assembly.name}.")
