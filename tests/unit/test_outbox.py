"""The outbound queue on the recording gateway: priorities, rate limits, refusals, persistence,
coalescing and what it logs. (Against a real rate-limited Synapse: tests/integration/test_rate_limits.py.)"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from handlers.matrix.direct import DirectChats
from handlers.matrix.gateway import Forbidden, LimitExceeded
from handlers.matrix.outbox import Outbox, OutboxClosed
from handlers.matrix.posting import Poster
from harmony_matrix.event_types import REACTION, ROOM_MESSAGE
from harmony_matrix.ids import EventId
from harmony_matrix.outbound import OutboundItem, OutboundKind, Priority
from tests.fakes.harness import NOW
from tests.fakes.homeserver import RateLimitedGateway, TolerantGateway
from tests.fakes.outbox import MemoryOutboxStore
from tests.fakes.stores import MemoryDirectChatStore

pytestmark = pytest.mark.asyncio

ROOM = "!room:test"


def poster_on(gateway: TolerantGateway, records: MemoryOutboxStore | None = None) -> Poster:
    direct = DirectChats(gateway=gateway, records=MemoryDirectChatStore(), clock=lambda: NOW)
    return Poster(gateway=gateway, direct=direct, records=records, clock=lambda: NOW)


class GatedGateway(TolerantGateway):
    """Holds every send until the test opens the gate, so the queue fills up first."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                         txn_seed: str | None = None) -> EventId:
        await self.gate.wait()
        return await super().send_event(room_id, event_type, content, txn_seed=txn_seed)


async def test_answers_go_before_notices_and_seeds_whatever_the_order_they_came_in() -> None:
    gateway = GatedGateway()
    poster = poster_on(gateway)
    first = asyncio.create_task(poster.notice(ROOM, "in flight"))  # taken by the worker, held at the gate
    await asyncio.sleep(0)
    for key in ("0️⃣", "1️⃣", "2️⃣"):
        await poster.react(ROOM, "$option", key)
    notice = asyncio.create_task(poster.notice(ROOM, "a notice"))
    answer = asyncio.create_task(poster.notice(ROOM, "an answer", priority=Priority.ANSWER))
    await asyncio.sleep(0)
    gateway.gate.set()
    await asyncio.gather(first, notice, answer)
    await poster.outbox.drain()
    order = [s.body or s.content["m.relates_to"]["key"] for s in gateway.sent]
    assert order == ["in flight", "an answer", "a notice", "0️⃣", "1️⃣", "2️⃣"]
    await poster.close()


async def test_a_rate_limit_is_waited_out_as_the_homeserver_says_and_never_given_up() -> None:
    gateway = RateLimitedGateway(limited=12, retry_after_ms=15)
    poster = poster_on(gateway)
    started = time.monotonic()
    event_id = await poster.notice(ROOM, "patience")
    elapsed = time.monotonic() - started
    assert event_id.startswith("$sent") and [s.body for s in gateway.sent] == ["patience"]
    assert len(gateway.attempts) == 13  # twelve refusals, then through: nothing dropped
    assert elapsed >= 12 * 0.015  # each refusal waited its retry_after_ms
    assert poster.outbox.stats().rate_limits == 12
    await poster.close()


async def test_while_rate_limited_the_most_urgent_item_is_taken_when_the_homeserver_allows_again() -> None:
    gateway = RateLimitedGateway(limited=1, retry_after_ms=50)
    poster = poster_on(gateway)
    await poster.react(ROOM, "$option", "5️⃣")  # tried first, refused: it goes back in the queue
    await asyncio.sleep(0.01)
    answer = await poster.notice(ROOM, "answer", priority=Priority.ANSWER)  # came later, goes first
    await poster.outbox.drain()
    assert answer and [s.event_type for s in gateway.sent] == [ROOM_MESSAGE, REACTION]
    await poster.close()


async def test_a_refusal_goes_back_to_whoever_waits_and_a_queued_one_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(TolerantGateway):
        async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                             txn_seed: str | None = None) -> EventId:
            raise Forbidden("You may not post here", path="/send")

    poster = poster_on(Refusing())
    with pytest.raises(Forbidden):
        await poster.notice(ROOM, "hello")
    with caplog.at_level(logging.WARNING):
        await poster.react(ROOM, "$x", "1️⃣")
        await poster.outbox.drain()
    [line] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert "m.reaction in !room:test" in line.getMessage() and line.exc_info is None
    await poster.close()


async def test_durable_items_wait_in_the_store_until_sent_and_survive_a_stop() -> None:
    store = MemoryOutboxStore()
    gateway = GatedGateway()
    poster = poster_on(gateway, store)
    await poster.react(ROOM, "$a", "1️⃣", txn_seed="seed:$a:1")
    await poster.redact(ROOM, "$old", "replaced")
    assert len(await store.pending()) == 2
    await poster.close(grace_s=0)  # stopped before anything could be sent
    assert [s.item.kind for s in await store.pending()] == [OutboundKind.EVENT, OutboundKind.REDACTION]

    gateway.gate.set()
    restarted = poster_on(gateway, store)
    await restarted.start()
    await restarted.outbox.drain()
    assert await store.pending() == []
    assert [s.content["m.relates_to"]["key"] for s in gateway.sent] == ["1️⃣"]
    assert gateway.redactions == [(ROOM, "$old", "replaced")]
    # The same transaction as the first run's: the homeserver deduplicates a send repeated after a crash.
    await restarted.react(ROOM, "$a", "1️⃣", txn_seed="seed:$a:1")
    await restarted.outbox.drain()
    assert len(gateway.sent) == 1
    await restarted.close()


async def test_the_same_send_queued_twice_is_sent_once_and_state_keeps_the_latest_content() -> None:
    gateway = GatedGateway()
    poster = poster_on(gateway)
    blocker = asyncio.create_task(poster.notice(ROOM, "blocker"))
    await asyncio.sleep(0)
    await poster.redact(ROOM, "$v", "replaced")
    await poster.redact(ROOM, "$v", "replaced again")
    await poster.react(ROOM, "$o", "3️⃣")
    await poster.react(ROOM, "$o", "3️⃣")
    first = asyncio.create_task(poster.put_state(ROOM, "m.room.topic", {"topic": "old"}))
    second = asyncio.create_task(poster.put_state(ROOM, "m.room.topic", {"topic": "new"}))
    await asyncio.sleep(0)
    gateway.gate.set()
    await asyncio.gather(blocker, first, second)
    await poster.outbox.drain()
    assert len(gateway.redactions) == 1
    assert [s.event_type for s in gateway.sent].count(REACTION) == 1
    assert gateway.state[(ROOM, "m.room.topic", "")] == {"topic": "new"}
    assert first.result() == second.result()
    assert [r for r in gateway.requests if "/state/" in r[1]] == [("PUT", "/v3/rooms/%21room%3Atest/state/m.room.topic/")]
    await poster.close()


async def test_one_warning_for_the_first_rate_limit_and_info_lines_while_items_wait(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("handlers.matrix.outbox.BACKLOG_AGE_S", 0.0)
    gateway = RateLimitedGateway(limited=6, retry_after_ms=10)
    poster = poster_on(gateway)
    poster.outbox.report_every = 0.0
    with caplog.at_level(logging.INFO, logger="handlers.matrix.outbox"):
        for key in ("0️⃣", "1️⃣", "2️⃣"):
            await poster.react(ROOM, "$o", key)
        await poster.outbox.drain()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "override_ratelimit" in warnings[0] and "@bot:test" in warnings[0]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("waiting (0 answers, 0 notices, 3 cosmetic), oldest" in line for line in infos), infos
    assert "empty again" in infos[-1]
    await poster.close()


async def test_nios_own_retries_stop_at_the_first_429_for_the_queue_but_not_for_other_calls() -> None:
    """nio calls the response callbacks on each 429 before it sleeps; for a send of the queue's own
    worker the callback ends nio's retries so the queue chooses what goes next."""

    class LimitError:  # what nio hands the callbacks: an ErrorResponse with the errcode
        status_code = "M_LIMIT_EXCEEDED"
        retry_after_ms = 10

    class NioLike(TolerantGateway):
        def __init__(self) -> None:
            super().__init__()
            self.callbacks: list[Any] = []
            self.fake_client.add_response_callback = lambda cb, _filter: self.callbacks.append(cb)  # type: ignore[attr-defined]
            self.tries = 0

        async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                             txn_seed: str | None = None) -> EventId:
            self.tries += 1
            if self.tries == 1:
                for callback in self.callbacks:  # as nio's _send does, then it would sleep and retry
                    await callback(LimitError())
                raise AssertionError("nio would have retried by itself")
            return await super().send_event(room_id, event_type, content, txn_seed=txn_seed)

    gateway = NioLike()
    poster = poster_on(gateway)
    assert await poster.notice(ROOM, "queued")
    assert gateway.tries == 2 and poster.outbox.stats().rate_limits == 1
    for callback in gateway.callbacks:  # the same callback in any other task: nio keeps retrying
        await callback(LimitError())
    await poster.close()


async def test_closing_tells_whoever_waits_and_refuses_new_items() -> None:
    gateway = GatedGateway()
    outbox = Outbox(gateway=gateway)
    waiting = asyncio.create_task(outbox.submit(OutboundItem(
        kind=OutboundKind.EVENT, room_id=ROOM, priority=Priority.ANSWER, txn_seed="t", event_type=ROOM_MESSAGE,
        content={"msgtype": "m.notice", "body": "never"})))
    await asyncio.sleep(0)
    await outbox.close()
    with pytest.raises(OutboxClosed):
        await waiting
    with pytest.raises(OutboxClosed):
        await outbox.submit(OutboundItem(kind=OutboundKind.REDACTION, room_id=ROOM, priority=Priority.COSMETIC,
                                         redacts="$x"))


async def test_a_limit_exceeded_raised_after_nios_retries_is_retried_by_the_queue() -> None:
    class GivesUp(TolerantGateway):
        tries = 0

        async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                             txn_seed: str | None = None) -> EventId:
            self.tries += 1
            if self.tries < 3:
                raise LimitExceeded("Too Many Requests", retry_after_ms=None, path="/send")  # no hint: 5 s by default
            return await super().send_event(room_id, event_type, content, txn_seed=txn_seed)

    gateway = GivesUp()
    poster = poster_on(gateway)
    poster.outbox.default_retry_after_ms = 5
    assert await poster.notice(ROOM, "late but there")
    assert gateway.tries == 3
    await poster.close()
