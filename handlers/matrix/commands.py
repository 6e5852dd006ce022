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

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from nio import RoomMessageText

from handlers.matrix.direct import DirectChats
from handlers.matrix.gateway import LimitExceeded, MatrixError, MatrixGateway, ServerUnavailable
from handlers.matrix.outbox import OutboxClosed
from handlers.matrix.posting import Poster
from harmony_matrix.command_table import CommandTable, unknown_command
from harmony_matrix.commands import (
    CommandParseError,
    CommandSpec,
    Flag,
    Option,
    Param,
    Place,
    Role,
    bind_arguments,
    find_invocation,
    length_refusal,
    management_refusal,
    refusal,
)
from harmony_matrix.errors import PrivateRefusal, UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.outbound import Priority

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
        if isinstance(spec, CommandSpec) and callable(method):
            specs.append(spec.with_handler(method))
    return specs


@dataclass(frozen=True)
class RoomContext:
    """What the bot knows about the room a command came from."""

    room_id: RoomId
    is_direct: bool
    assembly: str | None = None  # slug of the assembly this room belongs to
    room_kind: str | None = None  # discussion / announcements / votes / secretariat / space
    #: A direct chat private enough for special-category data (``Place.ENCRYPTED_DIRECT``): end-to-end
    #: encrypted, or any direct chat where ``privacy.private_commands_need_encryption`` is off. The
    #: router fills it in (``CommandRouter.private_needs_encryption``).
    is_private: bool = False


class Permissions(Protocol):
    """Who the sender is, and what the room is. Later features (assemblies) supply richer ones."""

    async def room_context(self, room_id: RoomId) -> RoomContext: ...
    async def role_of(self, user_id: UserId, room: RoomContext) -> Role: ...

    async def manages(self, user_id: UserId, slug: str) -> bool:
        """Whether ``user_id`` is an officer (secretary or deputy) of assembly ``slug``."""
        ...

    async def may_invite_bot(self, user_id: UserId) -> bool:
        """Whether ``user_id``, not being an admin, may bring the bot into a group room."""
        ...


class ConfigPermissions:
    """The foundation's permissions: config admins are ADMIN everywhere; DMs are recorded direct chats."""

    def __init__(self, *, admins: Iterable[str], direct: DirectChats) -> None:
        self.admins = frozenset(admins)
        self.direct = direct

    async def room_context(self, room_id: RoomId) -> RoomContext:
        """A room is direct when it is a recorded direct chat; without assemblies it is in none."""
        return RoomContext(room_id=room_id, is_direct=await self.direct.is_direct(room_id))

    async def role_of(self, user_id: UserId, room: RoomContext) -> Role:
        """Config admins are admins everywhere; everyone else is everyone."""
        return Role.ADMIN if user_id in self.admins else Role.EVERYONE

    async def manages(self, user_id: UserId, slug: str) -> bool:
        """Without the assemblies feature there are no officers."""
        return False

    async def may_invite_bot(self, user_id: UserId) -> bool:
        """Only admins bring the bot into group rooms (``InvitePolicy`` checks them itself)."""
        return False


class CommandContext:
    """Everything a command needs about its invocation, and how to answer it."""

    def __init__(self, *, poster: Poster, room: RoomContext, sender: UserId, event_id: EventId,
                 prefix: str, role: Role, thread_root: EventId | None, table: CommandTable,
                 permissions: Permissions) -> None:
        self.poster = poster
        self.gateway: MatrixGateway = poster.gateway
        self.room = room
        self.room_id: RoomId = room.room_id
        self.sender = sender
        self.event_id = event_id
        self.prefix = prefix
        self.role = role
        self.thread_root = thread_root
        self.table = table
        self.permissions = permissions
        self._posts = 0

    async def reply(self, text: str, html: str | None = None, *, mention: bool = False) -> EventId:
        """Answer as a reply to the command (in its thread, if it was sent in one). Replies carry a
        deterministic transaction ID derived from the command's event ID, so a command re-handled
        after a crash does not answer twice."""
        self._posts += 1
        return await self.poster.notice(
            self.room_id, text, html, txn_seed=f"reply:{self.event_id}:{self._posts}", reply_to=self.event_id,
            thread_root=self.thread_root, mentions=[self.sender] if mention else [], priority=Priority.ANSWER)

    async def send(self, room_id: str, text: str, html: str | None = None) -> EventId:
        """Post a notice in another room (e.g. the announcements room), also deduplicated on replay."""
        self._posts += 1
        return await self.poster.notice(room_id, text, html, txn_seed=f"send:{self.event_id}:{self._posts}")


class CommandRouter:
    """Turns ``!h …`` messages into command calls: parse, check who may run it where, run, reply."""

    def __init__(self, *, poster: Poster, table: CommandTable, prefixes: tuple[str, ...],
                 permissions: Permissions, private_needs_encryption: bool = True) -> None:
        self.poster = poster
        self.table = table
        self.prefixes = prefixes
        self.permissions = permissions
        #: Whether only an encrypted direct chat counts as private (``RoomContext.is_private``).
        self.private_needs_encryption = private_needs_encryption

    async def handle_message(self, room_id: RoomId, event: RoomMessageText) -> None:
        """Run the command in ``event``, if it addresses the bot (the dispatcher's callback)."""
        invocation = find_invocation(event.body if isinstance(event.body, str) else "", self.prefixes)
        if invocation is None:
            return
        sender = UserId(event.sender)
        room = await self.permissions.room_context(room_id)
        if room.is_direct:
            private = not self.private_needs_encryption or await self.poster.gateway.is_encrypted(room_id)
            room = dataclasses.replace(room, is_private=private)
        role = await self.permissions.role_of(sender, room)
        ctx = CommandContext(poster=self.poster, room=room, sender=sender, event_id=EventId(event.event_id),
                             prefix=invocation.prefix, role=role, thread_root=thread_root_of(event.source),
                             table=self.table, permissions=self.permissions)
        try:
            await self.run(ctx, invocation.text or "help")
        except MatrixError as exc:  # the answer itself could not be posted: one line, no traceback
            log.warning("could not answer event %s in %s: %s", ctx.event_id, ctx.room_id, exc)

    async def run(self, ctx: CommandContext, text: str) -> None:
        """Resolve ``text`` (the words after the prefix), check the declaration's rules, run it, and
        answer every failure the sender can do something about."""
        too_long = length_refusal(text)
        if too_long:
            await ctx.reply(too_long)
            return
        resolved = self.table.resolve(text)
        if resolved is None:
            await ctx.reply(unknown_command(self.table, text, prefix=ctx.prefix))
            return
        spec, rest = resolved
        why_not = refusal(spec, role=ctx.role, place_ok=place_allows(spec.place, ctx.room), prefix=ctx.prefix,
                          in_direct=ctx.room.is_direct)
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
        except PrivateRefusal as exc:
            await self.tell_privately(ctx, exc, spec)
        except UserError as exc:
            await ctx.reply(exc.message)
        except OutboxClosed:
            raise  # stopping: nothing more can be posted
        except MatrixError as exc:
            # Not a bug: the homeserver refused or limited a call the command made.
            log.warning("command %r (event %s in %s): the homeserver answered %s", spec.name, ctx.event_id,
                        ctx.room_id, exc)
            await ctx.reply(homeserver_refusal(spec, exc, prefix=ctx.prefix))
        except Exception:
            log.exception("command %r failed (event %s in %s)", spec.name, ctx.event_id, ctx.room_id)
            await ctx.reply(f"Sorry, something went wrong on my side while running {ctx.prefix} {spec.name}. "
                            f"It has been logged (reference {ctx.event_id}). Part of it may have been done "
                            "before it failed: please check before trying again.")


    async def tell_privately(self, ctx: CommandContext, refusal: PrivateRefusal, spec: CommandSpec) -> None:
        """A refusal about the sender, said to them alone: here if this is their direct chat and one the bot
        speaks privately in (``DirectChats.speaks_privately_in``), else by DM with a neutral word in the
        room (``PrivateRefusal``)."""
        if ctx.room.is_direct and (ctx.room.is_private or await self.poster.direct.speaks_privately_in(ctx.room_id)):
            await ctx.reply(refusal.message)
            return
        await self.poster.dm(ctx.sender, refusal.message, txn_seed=f"private-refusal:{ctx.event_id}")
        doing = refusal.doing or f"{ctx.prefix} {spec.name}"
        await ctx.reply(f"I can't do that ({doing}): I have sent you the reason in a direct message.")


def homeserver_refusal(spec: CommandSpec, exc: MatrixError, *, prefix: str) -> str:
    """The answer when the homeserver refused or limited a call a command made (not a bug of ours)."""
    partly = "Part of it may have been done before that: please check before trying again."
    if isinstance(exc, LimitExceeded):
        return (f"The homeserver is limiting how fast I may act, so {prefix} {spec.name} could not finish. "
                f"{partly}")
    if isinstance(exc, ServerUnavailable):
        return f"The homeserver did not answer, so {prefix} {spec.name} could not finish. {partly}"
    return (f"The homeserver refused a step of {prefix} {spec.name} ({exc.errcode}: {shorten(exc.message, 200)}). "
            f"{partly}")


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with "…" (for quoting what someone or something sent)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def thread_root_of(source: Mapping[str, Any]) -> EventId | None:
    """The thread a message was sent in, from its raw event; None outside threads (and for relations
    that are not well-formed: a client's mistake must not stop the command)."""
    content = source.get("content")
    relates = content.get("m.relates_to") if isinstance(content, Mapping) else None
    if not isinstance(relates, Mapping) or relates.get("rel_type") != "m.thread":
        return None
    root = relates.get("event_id")
    return EventId(root) if isinstance(root, str) and root else None


def place_allows(place: Place, room: RoomContext) -> bool:
    """Whether a command declared for ``place`` may run in ``room``."""
    if place is Place.DIRECT:
        return room.is_direct
    if place is Place.ENCRYPTED_DIRECT:
        return room.is_direct and room.is_private
    if place is Place.ASSEMBLY:
        return room.assembly is not None
    return True
