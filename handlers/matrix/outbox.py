"""The outbound queue: one worker sends everything the bot posts, in order of urgency, at the pace
the homeserver allows.

Items come from ``Poster`` (the one way to post). Each waits in memory, and a durable one (a timeline
send: replies, notices, a poll's posts, seed keycaps, redactions) also in the database until it is
sent, so a crash loses nothing: at the next start the leftovers are sent again under the same
transaction IDs, which the homeserver deduplicates.

Rate limits: the worker sends one item at a time. When the homeserver answers 429
``M_LIMIT_EXCEEDED`` the item goes back into the queue, the worker sleeps ``retry_after_ms`` and then
takes the most urgent item, which may be an answer that arrived meanwhile: an answer to a person never
waits behind a row of seed keycaps. A rate limit is never a reason to give up: only a refusal (say
``M_FORBIDDEN``) is, and it goes back to whoever asked. nio's own bounded 429 retries still serve every
other call the bot makes; for the queue's own sends a response callback stops them at the first 429
(so that the queue, not nio, decides what goes next).

The first 429 produces one WARNING saying how to exempt the bot; while items wait, one INFO line
every ``report_every`` seconds gives the queue's length and its oldest item's age (``stats()`` gives
the same numbers to code).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from nio import ErrorResponse

from handlers.matrix.gateway import DuplicateAnnotation, LimitExceeded, MatrixError, MatrixGateway, ServerUnavailable
from harmony_matrix.ids import EventId
from harmony_matrix.outbound import (
    OutboundItem,
    OutboundKind,
    Priority,
    StoredOutbound,
    coalesce,
    send_order,
)

log = logging.getLogger(__name__)

#: When the homeserver says 429 without ``retry_after_ms`` (nio waits the same).
DEFAULT_RETRY_AFTER_MS = 5000
#: Waits while the homeserver does not answer at all (seconds; the last one repeats).
UNAVAILABLE_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
#: An item waiting this long (or a rate limit) makes the queue worth a line in the log.
BACKLOG_AGE_S = 5.0


class OutboxRecords(Protocol):
    """Where durable items wait until they are sent (``storage.outbox.stores.OutboxStore``)."""

    async def add(self, item: OutboundItem, *, at: datetime) -> int:
        """Keep ``item``; returns its ID."""
        ...

    async def add_many(self, items: Sequence[OutboundItem], *, at: datetime) -> list[int]:
        """Keep many items at once (one transaction); returns their IDs in order."""
        ...

    async def remove(self, item_id: int) -> None:
        """Forget a sent (or refused) item."""
        ...

    async def pending(self) -> list[StoredOutbound]:
        """Every item not sent yet, oldest first."""
        ...


class OutboxClosed(MatrixError, errcode="HARMONY_OUTBOX_CLOSED", standard=False):
    """The bot is stopping: the item was not sent (a durable one is sent at the next start)."""


class _RateLimited(Exception):
    """Raised from nio's response callback to end nio's own 429 retries for a queue send."""

    def __init__(self, retry_after_ms: int | None) -> None:
        super().__init__(f"M_LIMIT_EXCEEDED (retry after {retry_after_ms} ms)")
        self.retry_after_ms = retry_after_ms


@dataclass(eq=False)
class _Entry:
    item: OutboundItem
    sequence: int
    queued_at: float  # monotonic, for the age
    stored_id: int | None = None
    waiters: list[asyncio.Future[EventId]] = field(default_factory=list)


@dataclass(frozen=True)
class OutboxStats:
    """The queue at one moment: for the log line and for tests, benchmarks and metrics."""

    waiting: int
    by_priority: dict[Priority, int]
    oldest_age_s: float
    rate_limited_until_s: float  # seconds from now until the homeserver said to retry (0: not limited)
    sent: int
    rate_limits: int  # 429 answers met so far


class Outbox:
    """The queue and its one worker (started on first use, or by ``start``)."""

    def __init__(self, *, gateway: MatrixGateway, records: OutboxRecords | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), report_every: float = 30.0) -> None:
        self.gateway = gateway
        self.records = records
        self.clock = clock
        self.report_every = report_every
        self.default_retry_after_ms = DEFAULT_RETRY_AFTER_MS
        self._pending: list[_Entry] = []
        self._by_key: dict[str, _Entry] = {}
        self._in_flight: _Entry | None = None
        self._sequence = itertools.count()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._limited_until = 0.0  # monotonic
        self._warned = False
        self._callback_installed = False
        self._last_report = float("-inf")
        self._backlog_since: float | None = None
        self.sent = 0
        self.rate_limits = 0

    # -- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue what a previous run left unsent, and start the worker."""
        self._closed = False
        if self.records is not None:
            left = await self.records.pending()
            for stored in left:
                self._enqueue(stored.item, stored_id=stored.id, waiter=None)
            if left:
                log.info("outbox: %d item(s) left unsent by the last run; sending them", len(left))
        self._ensure_worker()

    async def close(self, *, grace_s: float = 0.0) -> None:
        """Stop the worker, after up to ``grace_s`` seconds of sending what waits. Durable items not
        sent stay in the database for the next start; whoever waits for an item gets ``OutboxClosed``."""
        if grace_s > 0 and self._worker is not None and not self._worker.done():
            try:
                await asyncio.wait_for(self._idle.wait(), grace_s)
            except TimeoutError:
                log.info("outbox: stopping with %d item(s) unsent; durable ones go at the next start",
                         self.stats().waiting)
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except (asyncio.CancelledError, Exception):
                pass
        for entry in [*self._pending, *([self._in_flight] if self._in_flight else [])]:
            self._resolve(entry, error=OutboxClosed(f"not sent: the bot is stopping ({entry.item.describe()})"))
        self._pending.clear()
        self._by_key.clear()
        self._in_flight = None
        self._idle.set()

    # -- submitting -------------------------------------------------------------------------------

    async def submit(self, item: OutboundItem, *, wait: bool = True) -> EventId | None:
        """Queue ``item``. With ``wait``, return its event ID once sent (raising the homeserver's
        refusal as a ``MatrixError``); without, return once it is queued (and, if durable, stored)."""
        if self._closed:
            raise OutboxClosed(f"not sent: the bot is stopping ({item.describe()})")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[EventId] | None = loop.create_future() if wait else None
        key = item.coalesce_key
        pending = self._by_key.get(key) if key else None
        if pending is not None:
            pending.item = coalesce(pending.item, item)
            if waiter is not None:
                pending.waiters.append(waiter)
            log.debug("outbox: %s joins one already waiting", item.describe())
        else:
            stored_id = None
            if item.durable and self.records is not None:
                stored_id = await self.records.add(item, at=self.clock())
            self._enqueue(item, stored_id=stored_id, waiter=waiter)
        self._ensure_worker()
        if waiter is None:
            return None
        return await waiter

    async def submit_many(self, items: Sequence[OutboundItem]) -> None:
        """Queue many items without waiting for them (a catch-up's redactions): the durable ones are
        stored in one write, then all are queued; returns once they are."""
        if self._closed:
            raise OutboxClosed("not sent: the bot is stopping")
        fresh: dict[str | None, OutboundItem] = {}
        for index, item in enumerate(items):
            key = item.coalesce_key
            pending = self._by_key.get(key) if key else None
            if pending is not None:
                pending.item = coalesce(pending.item, item)
            elif key is not None and key in fresh:
                fresh[key] = coalesce(fresh[key], item)
            else:
                fresh[key if key is not None else f"\0{index}"] = item
        queued = list(fresh.values())
        durable = [index for index, item in enumerate(queued) if item.durable] if self.records is not None else []
        stored: dict[int, int] = {}
        if durable and self.records is not None:
            ids = await self.records.add_many([queued[index] for index in durable], at=self.clock())
            stored = dict(zip(durable, ids, strict=True))
        for index, item in enumerate(queued):
            self._enqueue(item, stored_id=stored.get(index), waiter=None)
        self._ensure_worker()

    async def drain(self) -> None:
        """Wait until everything queued so far has been sent (or refused)."""
        self._ensure_worker()
        await self._idle.wait()

    def stats(self) -> OutboxStats:
        """Length, per-priority counts and the oldest item's age, now."""
        now = time.monotonic()
        entries = [*self._pending, *([self._in_flight] if self._in_flight else [])]
        by_priority = {priority: 0 for priority in Priority}
        for entry in entries:
            by_priority[entry.item.priority] += 1
        oldest = min((entry.queued_at for entry in entries), default=now)
        return OutboxStats(waiting=len(entries), by_priority=by_priority, oldest_age_s=now - oldest,
                           rate_limited_until_s=max(0.0, self._limited_until - now), sent=self.sent,
                           rate_limits=self.rate_limits)

    def _enqueue(self, item: OutboundItem, *, stored_id: int | None, waiter: asyncio.Future[EventId] | None) -> None:
        entry = _Entry(item=item, sequence=next(self._sequence), queued_at=time.monotonic(), stored_id=stored_id,
                       waiters=[waiter] if waiter is not None else [])
        self._pending.append(entry)
        key = item.coalesce_key
        if key:
            self._by_key[key] = entry
        self._idle.clear()
        self._wakeup.set()

    def _ensure_worker(self) -> None:
        if self._closed:
            return
        if not self._callback_installed:
            add_callback = getattr(self.gateway.client, "add_response_callback", None)
            if callable(add_callback):
                add_callback(self._on_error_response, ErrorResponse)
            self._callback_installed = True
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="harmony-outbox")

    # -- the worker -------------------------------------------------------------------------------

    async def _run(self) -> None:
        unavailable = 0
        while True:
            wait_s = self._limited_until - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._report()
            entry = self._take()
            if entry is None:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._in_flight = entry
            try:
                event_id = await self._send(entry.item)
            except (LimitExceeded, _RateLimited) as exc:
                self._requeue(entry)
                self._note_rate_limit(exc.retry_after_ms)
                continue
            except ServerUnavailable as exc:
                self._requeue(entry)
                delay = UNAVAILABLE_BACKOFF_S[min(unavailable, len(UNAVAILABLE_BACKOFF_S) - 1)]
                unavailable += 1
                log.warning("outbox: the homeserver does not answer (%s); trying again in %.0f s", exc, delay)
                self._limited_until = time.monotonic() + delay
                continue
            except asyncio.CancelledError:
                self._requeue(entry)
                raise
            except DuplicateAnnotation:
                event_id = EventId("")  # the keycap is there already: done
            except MatrixError as exc:  # refused: whoever waits hears of it; nobody waits: the log does
                log.log(logging.DEBUG if entry.waiters else logging.WARNING, "outbox: the homeserver refused %s: %s",
                        entry.item.describe(), exc)
                await self._finish(entry, error=exc)
                continue
            except Exception as exc:  # a bug below us: the item is dropped, the worker goes on
                log.exception("outbox: sending %s failed", entry.item.describe())
                await self._finish(entry, error=exc)
                continue
            unavailable = 0
            self.sent += 1
            await self._finish(entry, event_id=event_id)

    def _take(self) -> _Entry | None:
        if not self._pending:
            return None
        entry = min(self._pending, key=lambda e: send_order(e.item.priority, e.sequence))
        self._pending.remove(entry)
        key = entry.item.coalesce_key
        if key and self._by_key.get(key) is entry:
            del self._by_key[key]
        return entry

    def _requeue(self, entry: _Entry) -> None:
        self._in_flight = None
        key = entry.item.coalesce_key
        twin = self._by_key.get(key) if key else None
        if twin is not None:  # the same send was queued again meanwhile: keep one
            twin.item = coalesce(entry.item, twin.item)
            twin.waiters.extend(entry.waiters)
            if entry.stored_id is not None and twin.stored_id is None:
                twin.stored_id = entry.stored_id
            return
        self._pending.append(entry)
        if key:
            self._by_key[key] = entry

    async def _send(self, item: OutboundItem) -> EventId:
        log.debug("outbox: sending %s", item.describe())
        if item.kind is OutboundKind.EVENT:
            return await self.gateway.send_event(item.room_id, item.event_type, dict(item.content),
                                                 txn_seed=item.txn_seed)
        if item.kind is OutboundKind.REDACTION:
            return await self.gateway.redact(item.room_id, item.redacts, item.reason, txn_seed=item.txn_seed)
        return await self.gateway.put_state(item.room_id, item.event_type, dict(item.content), item.state_key)

    async def _finish(self, entry: _Entry, *, event_id: EventId | None = None,
                      error: BaseException | None = None) -> None:
        self._in_flight = None
        if entry.stored_id is not None and self.records is not None:
            try:
                await self.records.remove(entry.stored_id)
            except Exception:  # the item would be sent again at the next start: deduplicated by its txn
                log.exception("outbox: could not forget the sent item %s", entry.stored_id)
        if error is None and not entry.waiters and not event_id and entry.item.kind is OutboundKind.EVENT:
            log.debug("outbox: %s was already there", entry.item.describe())
        self._resolve(entry, event_id=event_id, error=error)

    @staticmethod
    def _resolve(entry: _Entry, *, event_id: EventId | None = None, error: BaseException | None = None) -> None:
        for waiter in entry.waiters:
            if waiter.done():
                continue
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(event_id or EventId(""))
        entry.waiters.clear()

    # -- rate limits and reporting -----------------------------------------------------------------

    async def _on_error_response(self, response: Any) -> None:
        """nio's response callback: runs on every error answer, before nio sleeps on a 429."""
        status = getattr(getattr(response, "transport_response", None), "status", None)
        if getattr(response, "status_code", None) != LimitExceeded.errcode and status != 429:
            return
        retry_after = getattr(response, "retry_after_ms", None)
        if self._worker is not None and asyncio.current_task() is self._worker:
            raise _RateLimited(retry_after)  # the queue decides what to send next, not nio
        self._warn_once(retry_after)

    def _note_rate_limit(self, retry_after_ms: int | None) -> None:
        self.rate_limits += 1
        delay_ms = retry_after_ms if retry_after_ms and retry_after_ms > 0 else self.default_retry_after_ms
        self._limited_until = max(self._limited_until, time.monotonic() + delay_ms / 1000)
        self._warn_once(retry_after_ms)

    def _warn_once(self, retry_after_ms: int | None) -> None:
        if self._warned:
            return
        self._warned = True
        user = self.gateway.user_id
        log.warning(
            "the homeserver is rate-limiting me (M_LIMIT_EXCEEDED, retry after %.1f s): what I send waits in "
            "the outbox, answers first. To lift the limit, a server admin can exempt me: POST "
            "/_synapse/admin/v1/users/%s/override_ratelimit {\"messages_per_second\": 0, \"burst_count\": 0}",
            (retry_after_ms or self.default_retry_after_ms) / 1000, user)

    def _report(self) -> None:
        """One INFO line every ``report_every`` seconds while items wait (not for the instant sends of
        an idle bot), and one when the backlog is gone."""
        now = time.monotonic()
        stats = self.stats()
        if not self._pending:
            if self._backlog_since is not None:
                log.info("outbox: empty again after %.0f s; %d sent, %d rate limits so far",
                         now - self._backlog_since, stats.sent, stats.rate_limits)
                self._backlog_since = None
            return
        backed_up = stats.oldest_age_s >= BACKLOG_AGE_S or stats.rate_limited_until_s > 0
        if not backed_up or now - self._last_report < self.report_every:
            return
        if self._backlog_since is None:
            self._backlog_since = now - stats.oldest_age_s
        self._last_report = now
        counts = stats.by_priority
        log.info("outbox: %d waiting (%d answers, %d notices, %d cosmetic), oldest %.0f s; %d sent, %d rate limits",
                 stats.waiting, counts[Priority.ANSWER], counts[Priority.NOTICE], counts[Priority.COSMETIC],
                 stats.oldest_age_s, stats.sent, stats.rate_limits)
