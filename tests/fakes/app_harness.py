"""``BotHarness``: the whole bot as ``harmony_app.app.App`` wires it (every feature, the real stores on
a fresh SQLite database) on the tolerant in-memory homeserver (``homeserver.TolerantGateway``).

Fast enough for fuzz tests (no Synapse, no network)::

    async with BotHarness(tmp_path, admins=["@admin:test"]) as bot:
        sent = await bot.say("!h ping", sender="@admin:test", room_id=ROOM)

Events go through ``Dispatcher.dispatch_events`` exactly as a sync would hand them over.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from nio import Event

from handlers.matrix.dispatcher import BatchStats
from harmony_app.app import App
from harmony_app.connection import Connection
from harmony_matrix.config import Config
from harmony_matrix.ids import RoomId
from storage.database import Database, open_database
from tests.db_template import seed_sqlite

from .gateway import Sent
from .harness import event_dict
from .homeserver import TolerantGateway

BOT = "@bot:test"


class BotHarness:
    """The composed bot on fakes; see the module docstring."""

    def __init__(self, directory: Path, *, admins: Sequence[str] = (), now: datetime | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.directory = directory
        self.now = now or datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        raw: dict[str, Any] = {
            "homeserver": {"url": "http://127.0.0.1:9"}, "bot": {"user_id": BOT, "password": "unused"},
            "database": {"url": f"sqlite://{directory / 'bot.db'}"}, "admins": list(admins),
            "polls": {"chart": False}, "base_dir": str(directory), **(config or {}),
        }
        self.config = Config.model_validate(raw)
        self.gateway = TolerantGateway(BOT)
        self.app = App(self.config, clock=self.clock)
        self._numbers = itertools.count(1)
        self._db: Database | None = None
        self._scheduler: AsyncIOScheduler | None = None

    def clock(self) -> datetime:
        """The harness's time (``now``, which a test may move)."""
        return self.now

    async def __aenter__(self) -> BotHarness:
        self._db = await open_database(seed_sqlite(self.config.database_url()))
        connection = Connection(db=self._db, client=self.gateway.fake_client, gateway=self.gateway)
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        # The composition root's own wiring, on the fakes (private on purpose: tests only).
        self.app._connection = connection
        self.app._running = self.app._wire(connection, self._scheduler)
        await self.app.running.poster.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for feature in self.app.features.values():
            await feature.stop()
        await self.app.running.poster.close(grace_s=0)
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._db is not None:
            await self._db.close()

    @property
    def db(self) -> Database:
        """The bot's database."""
        assert self._db is not None
        return self._db

    def new_event_id(self) -> str:
        """A fresh event ID for an incoming event."""
        return f"$in{next(self._numbers)}"

    async def deliver(self, raw_events: Sequence[dict[str, Any]], *, room_id: str) -> BatchStats:
        """Hand client-format events to the dispatcher as one batch of ``room_id``."""
        stats = BatchStats()
        await self.app.dispatcher.dispatch_events(RoomId(room_id), [Event.parse_event(raw) for raw in raw_events],
                                                  stats)
        return stats

    async def say(self, body: str, *, sender: str, room_id: str, event_id: str | None = None,
                  extra_content: dict[str, Any] | None = None) -> list[Sent]:
        """``sender`` sends ``body`` in ``room_id``; returns what the bot sent while handling it (the
        queue drained, so queued sends are included)."""
        before = len(self.gateway.sent)
        await self.deliver([event_dict(body, sender=sender, event_id=event_id or self.new_event_id(),
                                       extra_content=extra_content)], room_id=room_id)
        await self.app.running.poster.outbox.drain()
        return self.gateway.sent[before:]

    def join(self, user_id: str, *room_ids: str) -> None:
        """``user_id`` is joined to ``room_ids`` (in the server's answers and in the sync cache)."""
        from .gateway import FakeRoom

        for room_id in room_ids:
            self.gateway.joined.setdefault(room_id, set()).add(user_id)
            room = self.gateway.fake_client.rooms.setdefault(room_id, FakeRoom())
            room.users.add(user_id)
