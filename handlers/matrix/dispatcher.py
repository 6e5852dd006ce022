"""The sync loop and event dispatcher.

Why not nio's ``sync_forever`` and event callbacks: nio advances (and would persist) ``next_batch``
*before* it runs callbacks, and an exception in a callback ends ``sync_forever``. Here each /sync
response is handled as one batch:

0. the bot's copy of its rooms' state other than memberships takes in what the batch says about state
   (``handlers/matrix/state_cache.py``), so every handler after it reads current state;
1. gaps (``limited`` timelines) are filled from ``/messages`` back to the previous token; with
   end-to-end encryption (``crypto``), each room's events are then decrypted, and those that cannot be
   are reported and left out (``handlers/matrix/crypto.py``);
2. every event is offered to the handlers registered for its class, in order, except the bot's own
   events, ``m.notice`` messages and events already processed (deduplicated by event ID, persisted);
3. a handler that raises is logged with the event ID and does not stop the batch or the loop;
4. only then is the batch's ``next_batch`` token stored.

A crash at any point therefore re-delivers at most the unfinished batch, and deduplication by event
ID keeps that from double-handling anything that was already finished.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nio import (
    AsyncClient,
    Event,
    InviteMemberEvent,
    RoomMessageNotice,
    SyncResponse,
)

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.state_cache import SyncState
from harmony_matrix.ids import EventId, RoomId, UserId

log = logging.getLogger(__name__)

#: ``callback(room_id, event)`` for a nio event of a registered class.
EventCallback = Callable[[RoomId, Any], Awaitable[None]]
#: ``callback(room_id, events)`` for a run of new events of a class registered with ``on_batch``.
BatchCallback = Callable[[RoomId, list[Any]], Awaitable[None]]
#: ``callback(room_id, inviter, is_direct)`` when the bot is invited.
InviteCallback = Callable[[RoomId, UserId, bool], Awaitable[None]]
#: ``callback(room_id, events)`` for the state changes a batch carries for a room (``on_room_state``).
StateSectionCallback = Callable[[RoomId, list[Any]], None]

# Keep gap filling bounded: after a very long outage we catch up at most this many events per room.
MAX_GAP_EVENTS = 5000
#: Events per /messages page when filling a gap (Synapse serves up to 1,000 per page).
GAP_PAGE = 1000


class SyncTokenStore(Protocol):
    """Where the token of the last fully handled batch is kept, per bot account."""

    async def get_token(self, user_id: UserId) -> str | None: ...
    async def set_token(self, user_id: UserId, token: str) -> None: ...


class ProcessedEvents(Protocol):
    """Which events were handled, so a replayed batch does not act twice."""

    async def is_processed(self, event_id: EventId) -> bool: ...

    async def mark_processed(self, event_id: EventId, room_id: RoomId, kind: str) -> bool:
        """Record ``event_id`` as handled; False when it already was."""
        ...

    async def processed_among(self, event_ids: Collection[EventId]) -> set[EventId]:
        """Which of ``event_ids`` were handled (one read for a run of events)."""
        ...

    async def mark_processed_many(self, event_ids: Collection[EventId], room_id: RoomId, kind: str) -> None:
        """Record many events as handled in one write."""
        ...


class SyncCrypto(Protocol):
    """End-to-end encryption around each /sync (``handlers/matrix/crypto.py``, ``CryptoSync``)."""

    async def upkeep(self) -> None:
        """Key upload, query and claim and queued to-device messages (nio's ``sync_forever`` chores)."""
        ...

    async def prepare(self, room_id: RoomId, events: Sequence[Any]) -> list[Any]:
        """Decrypt what can be; report and leave out what cannot."""
        ...


@dataclass
class SyncSettings:
    """How the sync loop asks and backs off (from ``config.sync``)."""

    timeout_ms: int = 30000
    timeline_limit: int = 100
    #: Whether the first /sync after a restart asks for every joined room's whole state (``full_state``).
    full_state_at_start: bool = False
    # Backoff when /sync fails with an error the server sent (not a dropped connection; nio retries those).
    error_backoff_s: tuple[float, ...] = (1, 2, 5, 10, 30)


@dataclass
class _Route:
    event_types: tuple[type, ...]
    callback: EventCallback
    include_own: bool = False


@dataclass
class _BatchRoute:
    event_types: tuple[type, ...]
    batch: BatchCallback
    single: EventCallback


@dataclass
class BatchStats:
    """What handling one batch did (tests and logs read it)."""

    handled: int = 0
    skipped_duplicates: int = 0
    failed: int = 0
    gap_events: int = 0
    failed_event_ids: list[EventId] = field(default_factory=list)


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """No presence, typing or account data; a larger timeline; full member lists (the bot answers
    "has this person joined?" from its sync cache, so lazy loading of members stays off)."""
    return {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "ephemeral": {"not_types": ["*"]},
            "timeline": {"limit": timeline_limit},
            "state": {"lazy_load_members": False},
        },
    }


def _sources(events: Sequence[Any]) -> list[dict[str, Any]]:
    """The events as the server sent them (nio keeps each one's JSON as ``source``, parsed or not)."""
    return [event.source for event in events if isinstance(getattr(event, "source", None), dict)]


class Dispatcher:
    """Runs /sync and hands each new event, once, to the handlers that asked for its type."""

    def __init__(self, *, client: AsyncClient, gateway: MatrixGateway, tokens: SyncTokenStore,
                 processed: ProcessedEvents, settings: SyncSettings | None = None,
                 crypto: SyncCrypto | None = None) -> None:
        self.client = client
        self.crypto = crypto
        self.gateway = gateway
        self.tokens = tokens
        self.processed = processed
        self.settings = settings or SyncSettings()
        self._routes: list[_Route] = []
        self._batch_routes: list[_BatchRoute] = []
        self._invite_callbacks: list[InviteCallback] = []
        self._batch_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._state_callbacks: list[StateSectionCallback] = []
        self.token: str | None = None
        self.synced = asyncio.Event()  # set after the first successful batch

    def on(self, event_types: type | tuple[type, ...], callback: EventCallback, *,
           include_own: bool = False) -> None:
        """Call ``callback(room_id, event)`` for new events of these nio classes."""
        types = event_types if isinstance(event_types, tuple) else (event_types,)
        self._routes.append(_Route(types, callback, include_own))

    def on_batch(self, event_types: type | tuple[type, ...], batch: BatchCallback, *, single: EventCallback) -> None:
        """Hand runs of new events of these nio classes (others' only) to ``batch(room_id, events)`` at
        once: a catch-up's thousands of reactions are then stored in a few writes, not one event at a
        time. A run is consecutive in the timeline (whatever comes between is handled in between, so
        the order of events is kept); it is deduplicated and marked processed in one read and one
        write. If ``batch`` raises, the run is handled again one event at a time by ``single``, each
        failure isolated as for any event."""
        types = event_types if isinstance(event_types, tuple) else (event_types,)
        self._batch_routes.append(_BatchRoute(types, batch, single))

    def on_invite(self, callback: InviteCallback) -> None:
        """Call ``callback(room_id, inviter, is_direct)`` when the bot is invited to a room."""
        self._invite_callbacks.append(callback)

    def on_room_state(self, callback: StateSectionCallback) -> None:
        """Call ``callback(room_id, events)`` for each joined room of a batch as it arrives, before any
        timeline is handled: its state section (nio's events: the state as of the timeline's start,
        carrying every change made in a gap, as the bot does not lazy-load members; or the whole state),
        then the timeline's state events, in order, whether handled before or not. So ``events`` end at
        the room's state after the batch. Nothing is dispatched or marked processed for them."""
        self._state_callbacks.append(callback)

    def after_batch(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run after each batch is handled and its token stored (e.g. reconcile work)."""
        self._batch_callbacks.append(callback)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until ``stop`` is set. Dropped connections are retried by nio with backoff."""
        first = True
        failures = 0
        while not stop.is_set():
            try:
                await self.sync_once(first=first)
                first = False
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must survive anything a batch throws at it
                delay = self.settings.error_backoff_s[min(failures, len(self.settings.error_backoff_s) - 1)]
                failures += 1
                log.warning("sync failed (%s); retrying in %.0f s", exc, delay)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass

    async def sync_once(self, *, first: bool = False) -> BatchStats:
        """One /sync request and its batch. On the first call after start, state is fetched in full
        (unless ``settings.full_state_at_start`` is off: then only a first start ever gets it)."""
        user_id = self.gateway.user_id
        if first:
            self.token = await self.tokens.get_token(user_id)
        fresh_start = self.token is None
        if first and self.crypto is not None:
            await self.crypto.upkeep()  # the device's keys are on the server before anyone needs them
        # nio handles the response before returning it: to-device events (room keys) first, then it
        # decrypts the timelines with them.
        # A first start (no token) gets every room whole anyway; a restart only when configured to.
        whole = first and (fresh_start or self.settings.full_state_at_start)
        asked = time.monotonic()
        response = await self.client.sync(
            timeout=0 if first else self.settings.timeout_ms,
            sync_filter=sync_filter(self.settings.timeline_limit),
            since=self.token,
            full_state=whole,
        )
        if not isinstance(response, SyncResponse):
            raise MatrixError(f"sync refused: {getattr(response, 'message', response)}",
                              errcode=str(getattr(response, "status_code", "M_UNKNOWN")))
        if first:
            log.info("first sync answered in %.0f ms", (time.monotonic() - asked) * 1000)
        if self.crypto is not None:
            await self.crypto.upkeep()  # devices of new members are known before any reply is encrypted
        # Before any handler reads it: the bot's copy of the rooms' state (handlers/matrix/state_cache.py).
        pop_sync_state = getattr(self.client, "pop_sync_state", None)
        update = pop_sync_state() if pop_sync_state is not None else None
        if update is not None:
            self.gateway.room_state.take(update, full_state=whole)
        self._offer_state(response)
        stats = BatchStats()
        if fresh_start:
            # A first start never replays old history: only pending invites are looked at.
            log.info("first start: skipping %d rooms of history", len(response.rooms.join))
        else:
            await self._handle_timelines(response, stats)
        await self._handle_invites(response)
        next_batch = str(response.next_batch)
        await self.tokens.set_token(user_id, next_batch)
        self.token = next_batch
        self.synced.set()
        await self._after_batch()
        return stats

    async def handle_pushed(self, response: SyncResponse, *, state: SyncState | None = None) -> BatchStats:
        """One batch the homeserver pushed (appservice mode: ``handlers/matrix/appservice.py`` shapes a
        transaction as a /sync response), handled exactly as a /sync batch: nio takes in its to-device
        keys, room state and device lists first, then each room's events go to the same handlers. No
        gap to fill and no token to store: the homeserver pushes every event once it is acknowledged.
        ``state``: what the batch says about room state, copied before nio parsed it (``sync_state``)."""
        await self.client.receive_response(response)
        if self.crypto is not None:
            await self.crypto.upkeep()
        if state is not None:
            self.gateway.room_state.take(state)
        self._offer_state(response)
        stats = BatchStats()
        await self._handle_timelines(response, stats)
        await self._handle_invites(response)
        self.synced.set()
        await self._after_batch()
        return stats

    def _offer_state(self, response: SyncResponse) -> None:
        if not self._state_callbacks:
            return
        for room, info in response.rooms.join.items():
            events = [*info.state, *(e for e in info.timeline.events if isinstance(getattr(e, "state_key", None), str))]
            if events:
                for callback in self._state_callbacks:
                    callback(RoomId(room), events)

    async def _after_batch(self) -> None:
        for callback in self._batch_callbacks:
            try:
                await callback()
            except Exception:
                log.exception("after-batch callback failed")

    # -- batch handling -------------------------------------------------------------------------

    async def _handle_timelines(self, response: SyncResponse, stats: BatchStats) -> None:
        for room, info in response.rooms.join.items():
            room_id = RoomId(room)
            events: list[Any] = []
            if info.timeline.limited and info.timeline.prev_batch and self.token:
                gap = await self._fill_gap(room_id, info.timeline.prev_batch, self.token)
                stats.gap_events += len(gap)
                self.gateway.room_state.take_redactions(room_id, _sources(gap))
                events.extend(gap)
            events.extend(info.timeline.events)
            if self.crypto is not None:
                events = await self.crypto.prepare(room_id, events)
            started = time.monotonic()
            await self.dispatch_events(room_id, events, stats)
            if len(events) > 100:
                log.debug("handled %d events of %s in %.0f ms", len(events), room_id,
                          (time.monotonic() - started) * 1000)

    async def _fill_gap(self, room_id: RoomId, prev_batch: str, since: str) -> list[Any]:
        """Events between our last token and the start of a limited timeline, oldest first."""
        collected: list[dict[str, Any]] = []
        start = prev_batch
        while len(collected) < MAX_GAP_EVENTS:
            try:
                page = await self.gateway.messages(room_id, start=start, end=since, direction="b",
                                                   limit=GAP_PAGE)
            except MatrixError as exc:
                log.warning("could not fill the gap in %s: %s", room_id, exc)
                break
            chunk = page.get("chunk", [])
            collected.extend(chunk)
            if not chunk or not page.get("end") or page.get("end") == start:
                break
            start = page["end"]
        if len(collected) >= MAX_GAP_EVENTS:
            log.warning("gap in %s is larger than %d events; older ones are not replayed", room_id,
                        MAX_GAP_EVENTS)
        collected.reverse()
        parsing = time.monotonic()
        # New rooms the bot just created also come as "limited"; only real gaps are worth an INFO line.
        log.log(logging.INFO if collected else logging.DEBUG, "filled a gap of %d events in %s",
                len(collected), room_id)
        events = [Event.parse_event(raw) for raw in collected]
        log.debug("parsed the %d events of the gap in %.0f ms", len(events), (time.monotonic() - parsing) * 1000)
        return events

    async def dispatch_events(self, room_id: RoomId, events: Sequence[Any], stats: BatchStats) -> None:
        """Offer each event to its handlers once; failures are isolated per event (``on_batch`` runs:
        see there)."""
        own = self.gateway.user_id
        run: list[tuple[EventId, Any, list[_Route]]] = []
        run_route: _BatchRoute | None = None
        for event in events:
            raw_id = getattr(event, "event_id", None)
            if not raw_id:
                continue
            event_id = EventId(str(raw_id))
            if isinstance(event, RoomMessageNotice):
                continue
            routes = [r for r in self._routes if isinstance(event, r.event_types)
                      and (r.include_own or getattr(event, "sender", None) != own)]
            batch_route = None
            if getattr(event, "sender", None) != own:
                batch_route = next((r for r in self._batch_routes if isinstance(event, r.event_types)), None)
            if run and batch_route is not run_route:
                await self._dispatch_run(room_id, run, run_route, stats)
                run = []
            if batch_route is not None:
                run.append((event_id, event, routes))
                run_route = batch_route
                continue
            if not routes:
                continue
            if await self.processed.is_processed(event_id):
                stats.skipped_duplicates += 1
                continue
            await self._dispatch_one(room_id, event, event_id, routes, stats)
        if run:
            await self._dispatch_run(room_id, run, run_route, stats)

    async def _dispatch_one(self, room_id: RoomId, event: Any, event_id: EventId, routes: Sequence[_Route],
                            stats: BatchStats, *, mark: bool = True) -> bool:
        ok = True
        for route in routes:
            try:
                await route.callback(room_id, event)
            except asyncio.CancelledError:
                raise
            except Exception:
                ok = False
                log.exception("handler %s failed on event %s in %s",
                              getattr(route.callback, "__qualname__", route.callback), event_id, room_id)
        if ok:
            stats.handled += 1
        else:
            stats.failed += 1
            stats.failed_event_ids.append(event_id)
        # A failed event is marked too: retrying a handler that throws would only throw again.
        if mark or not ok:
            await self.processed.mark_processed(event_id, room_id, "handled" if ok else "failed")
        return ok

    async def _dispatch_run(self, room_id: RoomId, run: list[tuple[EventId, Any, list[_Route]]],
                            route: _BatchRoute | None, stats: BatchStats) -> None:
        """A run of events with a batch route: deduplicated in one read, handed to the batch handler,
        then to each event's other handlers, and marked processed in one write."""
        assert route is not None
        done = await self.processed.processed_among([event_id for event_id, _, _ in run])
        fresh: dict[EventId, tuple[Any, list[_Route]]] = {}
        for event_id, event, routes in run:
            if event_id in done or event_id in fresh:
                stats.skipped_duplicates += 1
            else:
                fresh[event_id] = (event, routes)
        if not fresh:
            return
        single = _Route(route.event_types, route.single)
        try:
            await route.batch(room_id, [event for event, _ in fresh.values()])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch handler %s failed on %d events in %s; handling them one by one",
                          getattr(route.batch, "__qualname__", route.batch), len(fresh), room_id)
            for event_id, (event, routes) in fresh.items():
                if not await self.processed.is_processed(event_id):
                    await self._dispatch_one(room_id, event, event_id, [single, *routes], stats)
            return
        handled = []
        for event_id, (event, routes) in fresh.items():
            if not routes:
                stats.handled += 1
                handled.append(event_id)
            elif await self._dispatch_one(room_id, event, event_id, routes, stats, mark=False):
                handled.append(event_id)
        await self.processed.mark_processed_many(handled, room_id, "handled")

    async def _handle_invites(self, response: SyncResponse) -> None:
        own = self.gateway.user_id
        for room, info in response.rooms.invite.items():
            room_id = RoomId(room)
            inviter: UserId | None = None
            is_direct = False
            for event in info.invite_state:
                if (isinstance(event, InviteMemberEvent) and event.state_key == own
                        and event.membership == "invite"):
                    inviter = UserId(event.sender)
                    is_direct = bool(event.content.get("is_direct"))
            if inviter is None:
                continue
            for callback in self._invite_callbacks:
                try:
                    await callback(room_id, inviter, is_direct)
                except Exception:
                    log.exception("invite handler failed for %s (invited by %s)", room_id, inviter)
