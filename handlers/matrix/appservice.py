"""Appservice mode: the bot as a Matrix application service, the homeserver pushing transactions to it.

* ``AppserviceServer`` (aiohttp) answers the homeserver: ``PUT /_matrix/app/v1/transactions/{txnId}``
  stores the transaction and only then answers 200, so a crash before the transaction is stored loses
  nothing (no 200: the homeserver retries it), and a retry of a stored transaction is answered 200
  without being stored again (idempotent by transaction ID). ``POST /_matrix/app/v1/ping`` answers the
  homeserver's ping. Every request must carry the registration's ``hs_token``
  (``harmony_matrix.appservice.check_hs_token``: 401 ``M_UNAUTHORIZED`` without one, 403 ``M_FORBIDDEN``
  with a wrong one).
* A worker hands the stored transactions, in arrival order, to ``feed`` and marks each handled once fed;
  on start it first feeds what an earlier run stored and did not finish. A transaction half handled at a
  crash is fed again; the dispatcher's deduplication by event ID keeps that from acting twice.
* ``PushedFeed`` is that ``feed``: the transaction shaped as a /sync batch
  (``harmony_matrix.appservice.pushed_batch``), the full state of a room the client has no cache of yet
  loaded once (nio's "has this person joined?" cache stays complete, as with /sync's full state, and the
  bot's copy of the room's other state starts from it: ``handlers/matrix/state_cache.py``), then
  ``Dispatcher.handle_pushed``: the same event path as the sync loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from nio import AsyncClient, SyncResponse

from handlers.matrix.errors import Forbidden, MatrixError, NotFound
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.state_cache import SyncState, sync_state
from handlers.ports import Clock
from harmony_matrix.appservice import check_hs_token, own_join, pushed_batch, pushed_rooms, said_while_invited
from harmony_matrix.ids import RoomId

log = logging.getLogger(__name__)

#: ``feed(txn_id, body)``: handle one stored transaction (``PushedFeed``).
Feed = Callable[[str, dict[str, Any]], Awaitable[None]]

# Synapse puts up to 100 events (64 KiB each at most), 100 ephemeral and 100 to-device messages in one
# transaction; aiohttp's default limit (1 MiB) would refuse a full one with 413, and Synapse would retry
# it forever.
MAX_TRANSACTION_BYTES = 32 * 1024 * 1024

# Pages of /messages read back for what was said while the bot was invited (100 events each).
MAX_PAGES_WHILE_INVITED = 3

# How long handled transaction IDs are kept to recognise a retry (Synapse gives up far sooner).
KEEP_HANDLED = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=6)


class PushedTransactions(Protocol):
    """Where pushed transactions wait until handled (``storage/appservice``)."""

    async def add(self, txn_id: str, body: dict[str, Any], *, at: datetime) -> bool:
        """Store durably; False when ``txn_id`` was stored before."""
        ...

    async def pending(self, limit: int = 50) -> list[tuple[str, dict[str, Any]]]:
        """Stored, not yet handled, oldest first."""
        ...

    async def mark_handled(self, txn_id: str, *, at: datetime) -> None:
        """Every event of ``txn_id`` was handed to the dispatcher."""
        ...

    async def prune(self, *, before: datetime) -> int:
        """Forget handled transactions older than ``before``."""
        ...


class PushedBatches(Protocol):
    """The dispatcher, as appservice mode feeds it (``Dispatcher.handle_pushed``)."""

    async def handle_pushed(self, response: SyncResponse, *, state: SyncState | None = None) -> Any: ...


def _error(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)


class AppserviceServer:
    """The HTTP side of appservice mode and the worker that feeds stored transactions to the dispatcher."""

    def __init__(self, *, hs_token: str, store: PushedTransactions, feed: Feed, clock: Clock,
                 bind: str = "127.0.0.1", port: int = 9009,
                 retry_backoff_s: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30)) -> None:
        self.hs_token = hs_token
        self.store = store
        self.feed = feed
        self.clock = clock
        self.bind = bind
        self.port = port
        self.retry_backoff_s = retry_backoff_s
        self.received = 0  # transactions stored by this run (retries of stored ones not counted)
        self.handled = 0  # transactions fed to the dispatcher by this run
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task[None] | None = None
        self._pruned_at = clock()
        self.idle = asyncio.Event()  # set while nothing stored waits to be handled

    def application(self) -> web.Application:
        """The aiohttp application (tests serve it on a test server)."""
        app = web.Application(middlewares=[self._authenticate], client_max_size=MAX_TRANSACTION_BYTES)
        for prefix in ("/_matrix/app/v1", ""):  # "" : the legacy paths of homeservers before spec r0
            app.router.add_put(prefix + "/transactions/{txn_id}", self._transaction)
        app.router.add_post("/_matrix/app/v1/ping", self._ping)
        app.router.add_get("/_matrix/app/v1/users/{user_id}", self._no_such_thing)
        app.router.add_get("/_matrix/app/v1/rooms/{alias}", self._no_such_thing)
        return app

    # -- HTTP -------------------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        refusal = check_hs_token(authorization=request.headers.get("Authorization"),
                                 query_token=request.query.get("access_token"), expected=self.hs_token)
        if refusal is not None:
            log.warning("refused a request to %s: %s", request.path, refusal.error)
            return _error(refusal.status, refusal.errcode, refusal.error)
        return await handler(request)

    async def _transaction(self, request: web.Request) -> web.Response:
        txn_id = request.match_info["txn_id"]
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "M_NOT_JSON", "the transaction is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("events", []), list):
            return _error(400, "M_BAD_JSON", "a transaction is an object with an events list")
        try:
            stored = await self.store.add(txn_id, body, at=self.clock())
        except Exception:
            # Not stored, so not acknowledged: the homeserver sends the same transaction again.
            log.exception("could not store transaction %s; the homeserver will retry it", txn_id)
            return _error(500, "M_UNKNOWN", "the transaction could not be stored; retry it")
        if stored:
            self.received += 1
            self.idle.clear()
            self._wake.set()
        else:
            log.debug("transaction %s was stored before: acknowledged again", txn_id)
        return web.json_response({})

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _no_such_thing(self, request: web.Request) -> web.Response:
        # The bot's namespace is the bot alone: there are no users or aliases to create on demand.
        return _error(404, "M_NOT_FOUND", "this appservice creates no users or rooms on demand")

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, and start feeding what is stored (first what an earlier run left)."""
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.port)
        await site.start()
        await self._prune()
        self._wake.set()
        self._worker = asyncio.create_task(self._work(), name="harmony-appservice")
        log.info("appservice listening on %s:%d", self.bind, self.port)

    async def _prune(self) -> None:
        self._pruned_at = self.clock()
        try:
            await self.store.prune(before=self._pruned_at - KEEP_HANDLED)
        except Exception:
            log.exception("could not prune old transaction IDs")

    async def stop(self) -> None:
        """Stop listening and feeding; what is stored and not handled is handled on the next start."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
            self._worker = None

    async def drain(self) -> int:
        """Feed every stored transaction not handled yet, in order; returns how many. A transaction
        whose feeding fails stays stored and stops the drain (the worker retries it)."""
        count = 0
        while True:
            batch = await self.store.pending()
            if not batch:
                return count
            for txn_id, body in batch:
                await self.feed(txn_id, body)
                await self.store.mark_handled(txn_id, at=self.clock())
                self.handled += 1
                count += 1

    async def _work(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
                failures = 0
                if self.clock() - self._pruned_at >= PRUNE_EVERY:
                    await self._prune()
                if not self._wake.is_set():
                    self.idle.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the homeserver or the database is away: retry, never drop
                delay = self.retry_backoff_s[min(failures, len(self.retry_backoff_s) - 1)]
                failures += 1
                log.warning("could not handle a pushed transaction (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                self._wake.set()


class PushedFeed:
    """Feeds one stored transaction to the dispatcher as a /sync batch (see the module docstring)."""

    def __init__(self, *, client: AsyncClient, gateway: MatrixGateway, dispatcher: PushedBatches) -> None:
        self.client = client
        self.gateway = gateway
        self.dispatcher = dispatcher

    async def __call__(self, txn_id: str, body: dict[str, Any]) -> None:
        batch = pushed_batch(body, txn_id=txn_id, bot=self.gateway.user_id, device_id=str(self.client.device_id or ""))
        rooms = batch["rooms"]
        for room_id in pushed_rooms(batch):
            if room_id in self.client.rooms:
                continue
            try:
                rooms["join"][room_id]["state"]["events"] = await self.gateway.get_state(room_id)
            except (Forbidden, NotFound):
                # The bot is not in the room (any more): like a room /sync lists under "leave".
                rooms["leave"][room_id] = rooms["join"].pop(room_id)
        for room_id in pushed_rooms(batch):
            timeline = rooms["join"][room_id]["timeline"]
            join_event = own_join(timeline["events"], self.gateway.user_id)
            if join_event is not None:
                earlier = await self._said_while_invited(RoomId(room_id), join_event)
                pushed_ids = {event.get("event_id") for event in timeline["events"]}
                timeline["events"] = [e for e in earlier if e.get("event_id") not in pushed_ids] + timeline["events"]
        # Copied before nio parses the batch (it fills defaults into the events it checks).
        state = sync_state(batch, bot=self.gateway.user_id)
        response = SyncResponse.from_dict(batch)
        if not isinstance(response, SyncResponse):
            raise MatrixError(f"transaction {txn_id} could not be read as a batch: {response}")
        await self.dispatcher.handle_pushed(response, state=state)

    async def _said_while_invited(self, room_id: RoomId, join_event_id: str) -> list[dict[str, Any]]:
        """What was said in ``room_id`` between the bot's invite and its join (``said_while_invited``), at
        most a few pages back."""
        newest_first: list[dict[str, Any]] = []
        start: str | None = None
        for _ in range(MAX_PAGES_WHILE_INVITED):
            try:
                page = await self.gateway.messages(room_id, start=start, direction="b")
            except MatrixError as exc:
                log.warning("could not read what was said in %s before the bot joined: %s", room_id, exc)
                break
            newest_first.extend(page.get("chunk", []))
            events, reached = said_while_invited(newest_first, bot=self.gateway.user_id, join_event_id=join_event_id)
            if reached or not page.get("chunk") or not page.get("end") or page.get("end") == start:
                return events
            start = page["end"]
        return said_while_invited(newest_first, bot=self.gateway.user_id, join_event_id=join_event_id)[0]
