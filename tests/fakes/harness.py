"""``EdgeHarness``: the Matrix edge wired as the composition root wires it (dispatcher -> router ->
commands -> poster -> gateway), on the in-memory stores and the recording gateway.

A test writes what a person sends and reads what the bot answered::

    harness = EdgeHarness(handlers=[BasicCommands()], admins=["@admin:test"])
    replies = await harness.say("!h ping", sender="@alice:test")
    assert replies[0].body == "Pong! I'm listening."

Events are built from client-format dicts with ``nio.Event.parse_event``, exactly as a sync would
deliver them, and go through ``Dispatcher.dispatch_events`` (own events and notices dropped,
deduplication by event ID, failures isolated).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from nio import Event, RoomMessageText

from handlers.matrix.commands import CommandRouter, ConfigPermissions, Permissions, collect_commands
from handlers.matrix.direct import DirectChats
from handlers.matrix.dispatcher import BatchStats, Dispatcher
from handlers.matrix.posting import Poster
from harmony_matrix.command_table import CommandTable
from harmony_matrix.ids import RoomId

from .gateway import FakeGateway, Sent
from .stores import MemoryDirectChatStore, MemoryMemberStore, MemoryProcessedEvents, MemorySyncStore

ROOM = RoomId("!room:test")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event_dict(body: str | None, *, sender: str, event_id: str, msgtype: str = "m.text",
               extra_content: dict[str, Any] | None = None) -> dict[str, Any]:
    """A client-format ``m.room.message`` event (``body=None`` leaves the body out: malformed)."""
    content: dict[str, Any] = {"msgtype": msgtype}
    if body is not None:
        content["body"] = body
    content.update(extra_content or {})
    return {"type": "m.room.message", "event_id": event_id, "sender": sender, "origin_server_ts": 1,
            "content": content}


class EdgeHarness:
    """The edge on fakes; see the module docstring."""

    def __init__(self, *, handlers: Iterable[object] = (), admins: Iterable[str] = (),
                 prefixes: tuple[str, ...] = ("!h", "!harmony"), permissions: Permissions | None = None,
                 bot: str = "@bot:test") -> None:
        self.gateway = FakeGateway(bot)
        self.tokens = MemorySyncStore()
        self.processed = MemoryProcessedEvents()
        self.direct_chats = MemoryDirectChatStore()
        self.members = MemoryMemberStore()
        self.now = NOW
        self.direct = DirectChats(gateway=self.gateway, records=self.direct_chats, clock=self.clock)
        self.poster = Poster(gateway=self.gateway, direct=self.direct)
        self.table = CommandTable()
        self.add_handlers(*handlers)
        self.permissions = permissions or ConfigPermissions(admins=admins, direct=self.direct)
        self.router = CommandRouter(poster=self.poster, table=self.table, prefixes=prefixes,
                                    permissions=self.permissions)
        self.dispatcher = Dispatcher(client=self.gateway.fake_client, gateway=self.gateway, tokens=self.tokens,
                                     processed=self.processed)
        self.dispatcher.on(RoomMessageText, self.router.handle_message)
        self._numbers = itertools.count(1)

    def add_handlers(self, *handlers: object) -> None:
        """Declare the ``@command`` methods of ``handlers`` (e.g. ones built on the harness's stores)."""
        for handler in handlers:
            for spec in collect_commands(handler):
                self.table.add(spec)

    def clock(self) -> datetime:
        """The harness's time (``now``, which a test may move)."""
        return self.now

    def new_event_id(self) -> str:
        """A fresh event ID for an incoming event."""
        return f"$in{next(self._numbers)}"

    async def deliver(self, raw_events: Sequence[dict[str, Any]], *, room_id: str = ROOM) -> BatchStats:
        """Hand client-format events to the dispatcher as one batch of ``room_id``."""
        stats = BatchStats()
        await self.dispatcher.dispatch_events(RoomId(room_id), [Event.parse_event(raw) for raw in raw_events],
                                              stats)
        return stats

    async def say(self, body: str | None, *, sender: str, room_id: str = ROOM, event_id: str | None = None,
                  extra_content: dict[str, Any] | None = None) -> list[Sent]:
        """``sender`` sends ``body`` in ``room_id``; returns what the bot sent while handling it."""
        before = len(self.gateway.sent)
        await self.deliver([event_dict(body, sender=sender, event_id=event_id or self.new_event_id(),
                                       extra_content=extra_content)], room_id=room_id)
        return self.gateway.sent[before:]

    async def open_direct_chat(self, user_id: str, room_id: str, *, encrypted: bool = True) -> None:
        """Record ``room_id`` as the bot's direct chat with ``user_id`` (as an accepted DM invite does),
        encrypted as Element opens direct chats unless ``encrypted`` is False."""
        await self.direct.remember(user_id, room_id)
        self.gateway.joined[room_id] = {self.gateway.user_id, user_id}
        if encrypted:
            self.gateway.encrypt(room_id)
