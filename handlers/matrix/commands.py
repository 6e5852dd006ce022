"""Command routing: find the declared command, check who may run it where, parse, run, reply.

Commands are declared next to the code that runs them, maubot-style::

    class BasicCommands:
        @command("ping", summary="Check that I am listening.", example="!h ping")
        async def ping(self, ctx: CommandContext) -> None:
            await ctx.reply("Pong!")

and collected with ``collect_commands(handler_object)``. Permission and place checks happen once, here,
from the declaration — never inside a command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from nio import RoomMessageText

from handlers.matrix.direct import DirectChats
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.render import notice
from harmony_matrix.commands import (
    CommandParseError,
    CommandSpec,
    CommandTable,
    Flag,
    Option,
    Param,
    Place,
    Role,
    bind_arguments,
    find_invocation,
    management_refusal,
    refusal,
)
from harmony_matrix.errors import UserError

log = logging.getLogger(__name__)

_SPEC_ATTR = "__harmony_command__"


def command(name: str, *, summary: str, example: str, params: tuple[Param, ...] = (),
            options: tuple[Option, ...] = (), flags: tuple[Flag, ...] = (), aliases: tuple[str, ...] = (),
            role: Role = Role.EVERYONE, place: Place = Place.ANYWHERE,
            manages: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a command on a handler method (see the module docstring).

    ``manages`` names the parameter (or ``ROOM_ASSEMBLY``) giving the assembly the command acts on:
    the router lets only that assembly's officers, or admins, run it (``management_refusal``)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, _SPEC_ATTR, CommandSpec(
            name=name, summary=summary, example=example, params=params, options=options, flags=flags,
            aliases=aliases, role=role, place=place, manages=manages))
        return function

    return decorate


def collect_commands(handler_object: object) -> list[CommandSpec]:
    """The declared commands of an object, bound to its methods."""
    specs = []
    for attribute in dir(handler_object):
        method = getattr(handler_object, attribute, None)
        spec = getattr(method, _SPEC_ATTR, None)
        if isinstance(spec, CommandSpec):
            specs.append(spec.with_handler(method))
    return specs


@dataclass(frozen=True)
class RoomContext:
    """What the bot knows about the room a command came from."""

    room_id: str
    is_direct: bool
    assembly: str | None = None  # slug of the assembly this room belongs to
    room_kind: str | None = None  # discussion / announcements / votes / secretariat / space


class Permissions(Protocol):
    """Who the sender is, and what the room is. Later features (assemblies) supply richer ones."""

    async def room_context(self, room_id: str) -> RoomContext: ...
    async def role_of(self, user_id: str, room: RoomContext) -> Role: ...
    async def manages(self, user_id: str, slug: str) -> bool:
        """Whether ``user_id`` is an officer (secretary or deputy) of assembly ``slug``."""
        ...


class ConfigPermissions:
    """The foundation's permissions: config admins are ADMIN everywhere; DMs are recorded direct chats."""

    def __init__(self, *, admins: Iterable[str], direct: DirectChats) -> None:
        self.admins = frozenset(admins)
        self.direct = direct

    async def room_context(self, room_id: str) -> RoomContext:
        return RoomContext(room_id=room_id, is_direct=await self.direct.is_direct(room_id))

    async def role_of(self, user_id: str, room: RoomContext) -> Role:
        return Role.ADMIN if user_id in self.admins else Role.EVERYONE

    async def manages(self, user_id: str, slug: str) -> bool:
        return False  # without the assemblies feature there are no officers


class CommandContext:
    """Everything a command needs about its invocation, and how to answer it."""

    def __init__(self, *, gateway: MatrixGateway, room: RoomContext, sender: str, event_id: str,
                 prefix: str, role: Role, thread_root: str | None, table: CommandTable,
                 permissions: Permissions) -> None:
        self.gateway = gateway
        self.room = room
        self.room_id = room.room_id
        self.sender = sender
        self.event_id = event_id
        self.prefix = prefix
        self.role = role
        self.thread_root = thread_root
        self.table = table
        self.permissions = permissions
        self._replies = 0

    async def reply(self, text: str, html: str | None = None, *, mention: bool = False) -> str:
        """Answer as a reply to the command. Replies carry a deterministic transaction ID derived from
        the command's event ID, so a command re-handled after a crash does not answer twice."""
        self._replies += 1
        content = notice(text, html, reply_to=self.event_id, thread_root=self.thread_root,
                         mentions=[self.sender] if mention else [])
        return await self.gateway.send_event(self.room_id, "m.room.message", content,
                                             txn_seed=f"reply:{self.event_id}:{self._replies}")

    async def send(self, room_id: str, text: str, html: str | None = None) -> str:
        """Post a notice in another room (e.g. the announcements room), also deduplicated on replay."""
        self._replies += 1
        return await self.gateway.send_event(room_id, "m.room.message", notice(text, html),
                                             txn_seed=f"send:{self.event_id}:{self._replies}")


class CommandRouter:
    """Turns ``!h …`` messages into command calls."""

    def __init__(self, *, gateway: MatrixGateway, table: CommandTable, prefixes: tuple[str, ...],
                 permissions: Permissions) -> None:
        self.gateway = gateway
        self.table = table
        self.prefixes = prefixes
        self.permissions = permissions

    async def handle_message(self, room_id: str, event: RoomMessageText) -> None:
        invocation = find_invocation(event.body or "", self.prefixes)
        if invocation is None:
            return
        room = await self.permissions.room_context(room_id)
        role = await self.permissions.role_of(event.sender, room)
        relates = (event.source.get("content") or {}).get("m.relates_to") or {}
        thread_root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        ctx = CommandContext(gateway=self.gateway, room=room, sender=event.sender, event_id=event.event_id,
                             prefix=invocation.prefix, role=role, thread_root=thread_root, table=self.table,
                             permissions=self.permissions)
        await self.run(ctx, invocation.text or "help")

    async def run(self, ctx: CommandContext, text: str) -> None:
        resolved = self.table.resolve(text)
        if resolved is None:
            await ctx.reply(self._unknown(text, ctx.prefix))
            return
        spec, rest = resolved
        why_not = refusal(spec, role=ctx.role, place_ok=place_allows(spec.place, ctx.room), prefix=ctx.prefix)
        if why_not:
            await ctx.reply(why_not)
            return
        try:
            args = bind_arguments(spec, rest, prefix=ctx.prefix)
            slug = spec.managed_assembly(args, ctx.room.assembly)
            why_not = management_refusal(
                spec, slug=slug, is_admin=ctx.role >= Role.ADMIN, prefix=ctx.prefix,
                manages=slug is not None and await self.permissions.manages(ctx.sender, slug))
            if why_not:
                await ctx.reply(why_not)
                return
            assert spec.handler is not None, f"{spec.name} has no handler"
            await spec.handler(ctx, **args)
        except CommandParseError as exc:
            await ctx.reply(exc.message)
        except UserError as exc:
            await ctx.reply(exc.message)
        except Exception:
            log.exception("command %r failed (event %s in %s)", spec.name, ctx.event_id, ctx.room_id)
            await ctx.reply(f"Sorry, something went wrong on my side while running {ctx.prefix} {spec.name}. "
                            f"It has been logged (reference {ctx.event_id}); nothing was changed half-way "
                            "that you need to undo.")

    def _unknown(self, text: str, prefix: str) -> str:
        words = text.split()
        group = self.table.group_names(words[0]) if words else []
        # "poll strat": the group exists, the subcommand does not — name both words, not just "poll".
        asked = " ".join(words[:2]) if group and len(words) > 1 else (words[0] if words else text)
        suggestions = group or self.table.suggest(text)
        hint = ""
        if suggestions:
            hint = " Did you mean: " + ", ".join(f"{prefix} {s}" for s in suggestions) + "?"
        return f'I don\'t know the command "{asked}".{hint} Send {prefix} help for the list.'


def place_allows(place: Place, room: RoomContext) -> bool:
    if place is Place.DIRECT:
        return room.is_direct
    if place is Place.ASSEMBLY:
        return room.assembly is not None
    return True
