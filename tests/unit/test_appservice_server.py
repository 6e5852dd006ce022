"""The appservice's HTTP side and worker without a homeserver: an aiohttp test server, the in-memory store
of pushed transactions and, for the last tests, the real dispatcher on the fake gateway. A transaction is
acknowledged only once stored, stored and fed once per transaction ID, and what an earlier run stored is
fed on start."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from nio import RoomMessageText

from handlers.matrix.appservice import KEEP_HANDLED, PRUNE_EVERY, AppserviceServer, PushedFeed
from handlers.matrix.dispatcher import Dispatcher
from harmony_matrix.ids import RoomId
from tests.fakes.appservice import MemoryPushedTransactions
from tests.fakes.gateway import FakeGateway
from tests.fakes.stores import MemoryProcessedEvents, MemorySyncStore

TOKEN = "hs-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOT = "@bot:test"
ROOM = "!room:test"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PATH = "/_matrix/app/v1/transactions/{}"


def message(event_id: str, body: str = "!h ping", room: str = ROOM) -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": event_id, "room_id": room, "sender": "@alice:test",
            "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body}}


class RecordingFeed:
    """Records what it is fed; fails the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.fed: list[str] = []
        self.failures = failures

    async def __call__(self, txn_id: str, body: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("the homeserver went away")
        self.fed.append(txn_id)


def make_server(store: MemoryPushedTransactions, feed: Any) -> AppserviceServer:
    return AppserviceServer(hs_token=TOKEN, store=store, feed=feed, clock=lambda: NOW, port=0,
                            retry_backoff_s=(0.01,))


@pytest_asyncio.fixture(loop_scope="session")
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], AppserviceServer, MemoryPushedTransactions,
                                          RecordingFeed]]:
    store, feed = MemoryPushedTransactions(), RecordingFeed()
    server = make_server(store, feed)
    client = TestClient(TestServer(server.application()))
    await client.start_server()
    try:
        yield client, server, store, feed
    finally:
        await client.close()


async def test_requests_without_the_hs_token_are_refused_with_the_specs_errcodes(served) -> None:  # type: ignore[no-untyped-def]
    client, _server, store, _feed = served
    for headers, params, status, errcode in (
            ({}, {}, 401, "M_UNAUTHORIZED"),
            ({"Authorization": "Bearer wrong"}, {}, 403, "M_FORBIDDEN"),
            ({}, {"access_token": "wrong"}, 403, "M_FORBIDDEN")):
        response = await client.put(PATH.format("t1"), json={"events": [message("$1")]}, headers=headers,
                                    params=params)
        assert (response.status, (await response.json())["errcode"]) == (status, errcode)
        ping = await client.post("/_matrix/app/v1/ping", json={}, headers=headers, params=params)
        assert ping.status == status
    assert store.rows == []
    legacy = await client.put(PATH.format("t1"), json={"events": []}, params={"access_token": TOKEN})
    assert legacy.status == 200
    ping = await client.post("/_matrix/app/v1/ping", json={"transaction_id": "p"}, headers=AUTH)
    assert (ping.status, await ping.json()) == (200, {})
    user = await client.get("/_matrix/app/v1/users/@someone:test", headers=AUTH)
    assert (user.status, (await user.json())["errcode"]) == (404, "M_NOT_FOUND")


async def test_a_transaction_is_stored_once_by_its_id_and_a_retry_is_acknowledged(served) -> None:  # type: ignore[no-untyped-def]
    client, server, store, _feed = served
    first = await client.put(PATH.format("t1"), json={"events": [message("$1")]}, headers=AUTH)
    again = await client.put(PATH.format("t1"), json={"events": [message("$other")]}, headers=AUTH)
    legacy = await client.put("/transactions/t1", json={"events": []}, headers=AUTH)

    assert [r.status for r in (first, again, legacy)] == [200, 200, 200]
    assert await first.json() == {}
    assert [(row.txn_id, row.body) for row in store.rows] == [("t1", {"events": [message("$1")]})]
    assert server.received == 1


async def test_what_is_not_json_or_not_a_transaction_is_refused(served) -> None:  # type: ignore[no-untyped-def]
    client, _server, store, _feed = served
    not_json = await client.put(PATH.format("t1"), data=b"{nope", headers=AUTH)
    not_events = await client.put(PATH.format("t2"), json={"events": "x"}, headers=AUTH)
    assert (not_json.status, (await not_json.json())["errcode"]) == (400, "M_NOT_JSON")
    assert (not_events.status, (await not_events.json())["errcode"]) == (400, "M_BAD_JSON")
    assert store.rows == []


class FailingOnce(MemoryPushedTransactions):
    """The database fails the first time, before anything is stored."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def add(self, txn_id: str, body: dict[str, Any], *, at: datetime) -> bool:
        if not self.failed:
            self.failed = True
            raise ConnectionError("the database went away")
        return await super().add(txn_id, body, at=at)


async def test_a_transaction_that_could_not_be_stored_is_not_acknowledged_and_its_retry_is() -> None:
    store, feed = FailingOnce(), RecordingFeed()
    server = make_server(store, feed)
    async with TestClient(TestServer(server.application())) as client:
        failed = await client.put(PATH.format("t1"), json={"events": [message("$1")]}, headers=AUTH)
        assert (failed.status, (await failed.json())["errcode"]) == (500, "M_UNKNOWN")
        assert store.rows == []
        retried = await client.put(PATH.format("t1"), json={"events": [message("$1")]}, headers=AUTH)
        assert retried.status == 200
    assert [row.txn_id for row in store.rows] == ["t1"]


class Held(MemoryPushedTransactions):
    """Storing waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def add(self, txn_id: str, body: dict[str, Any], *, at: datetime) -> bool:
        await self.release.wait()
        return await super().add(txn_id, body, at=at)


async def test_the_acknowledgement_waits_for_the_store() -> None:
    store = Held()
    server = make_server(store, RecordingFeed())
    async with TestClient(TestServer(server.application())) as client:
        put = asyncio.ensure_future(client.put(PATH.format("t1"), json={"events": []}, headers=AUTH))
        done, _ = await asyncio.wait({put}, timeout=0.2)
        assert not done, "acknowledged before it was stored"
        store.release.set()
        assert (await put).status == 200
    assert [row.txn_id for row in store.rows] == ["t1"]


async def test_on_start_what_an_earlier_run_stored_is_fed_in_order_and_a_failed_feed_retried() -> None:
    store, feed = MemoryPushedTransactions(), RecordingFeed(failures=1)
    for number in range(3):
        await store.add(f"t{number}", {"events": []}, at=NOW)
    await store.mark_handled("t0", at=NOW)
    server = make_server(store, feed)
    await server.start()
    try:
        await asyncio.wait_for(server.idle.wait(), 5)
    finally:
        await server.stop()
    assert feed.fed == ["t1", "t2"]
    assert await store.pending() == []


# -- fed to the real dispatcher ------------------------------------------------------------------------


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(BOT)


async def _fed(gateway: FakeGateway, transactions: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    async def on_message(room_id: RoomId, event: Any) -> None:
        seen.append((room_id, event.event_id))

    dispatcher = Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=MemorySyncStore(),  # type: ignore[arg-type]
                            processed=MemoryProcessedEvents())
    dispatcher.on(RoomMessageText, on_message)
    feed = PushedFeed(client=gateway.fake_client, gateway=gateway, dispatcher=dispatcher)  # type: ignore[arg-type]
    for txn_id, body in transactions:
        await feed(txn_id, body)
    return seen


async def test_pushed_events_reach_the_handlers_once_with_the_rooms_state_loaded_once(gateway: FakeGateway) -> None:
    gateway.room_states[ROOM] = [{"type": "m.room.create", "state_key": "", "sender": "@alice:test",
                                  "event_id": "$create", "origin_server_ts": 0, "content": {}}]
    gateway.room_states["!gone:test"] = None
    seen = await _fed(gateway, [("t1", {"events": [message("$1"), message("$x", room="!gone:test")]}),
                                ("t2", {"events": [message("$1"), message("$2")]})])  # $1 again: a replay

    assert seen == [(ROOM, "$1"), (ROOM, "$2")]
    first, second = gateway.fake_client.received
    assert [e.event_id for e in first.rooms.join[ROOM].state] == ["$create"]
    assert second.rooms.join[ROOM].state == []  # the client has the room now: not loaded again
    assert "!gone:test" in first.rooms.leave  # the bot is not in that room: nothing acted on


async def test_what_was_said_before_the_bot_joined_is_handled_with_the_join(gateway: FakeGateway) -> None:
    invite = {"type": "m.room.member", "event_id": "$invite", "room_id": ROOM, "sender": "@alice:test",
              "state_key": BOT, "origin_server_ts": 1, "content": {"membership": "invite"}}
    join = {**invite, "event_id": "$join", "sender": BOT, "content": {"membership": "join"},
            "unsigned": {"prev_content": {"membership": "invite"}}}
    gateway.room_states[ROOM] = []
    gateway.history[ROOM] = [invite, message("$early", "!h help"), join]  # oldest first; paged back newest first

    seen = await _fed(gateway, [("t1", {"events": [invite]}), ("t2", {"events": [join, message("$late")]})])

    assert seen == [(ROOM, "$early"), (ROOM, "$late")]


async def test_handled_transaction_ids_are_forgotten_after_a_week_while_running() -> None:
    now = [NOW]
    store, feed = MemoryPushedTransactions(), RecordingFeed()
    await store.add("old", {"events": []}, at=NOW)
    await store.mark_handled("old", at=NOW)
    server = AppserviceServer(hs_token=TOKEN, store=store, feed=feed, clock=lambda: now[0], port=0)
    await server.start()
    try:
        assert await store.is_stored("old")  # a week has not passed
        now[0] = NOW + KEEP_HANDLED + PRUNE_EVERY
        async with TestClient(TestServer(server.application())) as client:
            assert (await client.put(PATH.format("new"), json={"events": []}, headers=AUTH)).status == 200
            await asyncio.wait_for(server.idle.wait(), 5)
    finally:
        await server.stop()
    assert not await store.is_stored("old") and await store.is_stored("new")
    assert feed.fed == ["new"]


async def test_a_full_transaction_of_large_events_is_accepted(served) -> None:  # type: ignore[no-untyped-def]
    client, _server, store, _feed = served
    events = [message(f"$big{n}", "x" * 60_000) for n in range(100)]  # about 6 MB: over aiohttp's default
    response = await client.put(PATH.format("big"), json={"events": events}, headers=AUTH)
    assert response.status == 200
    assert len(store.rows[0].body["events"]) == 100


async def test_a_port_in_use_is_a_one_line_startup_error() -> None:
    from harmony_app.appservice import start_appservice
    from harmony_app.connection import StartupError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = AppserviceServer(hs_token=TOKEN, store=MemoryPushedTransactions(), feed=RecordingFeed(),
                                  clock=lambda: NOW, port=port)
        dispatcher = Dispatcher(client=FakeGateway(BOT).fake_client, gateway=FakeGateway(BOT),  # type: ignore[arg-type]
                                tokens=MemorySyncStore(), processed=MemoryProcessedEvents())
        with pytest.raises(StartupError, match=rf"appservice.bind/appservice.port: cannot listen on 127.0.0.1:{port}"):
            await start_appservice(server, dispatcher)
    assert not dispatcher.synced.is_set()


async def test_once_listening_the_homeserver_is_asked_to_ping_back_and_a_failed_ping_only_warns(caplog) -> None:
    from handlers.matrix.gateway import MatrixError
    from harmony_app.appservice import start_appservice

    def fresh() -> tuple[AppserviceServer, Dispatcher]:
        server = AppserviceServer(hs_token=TOKEN, store=MemoryPushedTransactions(), feed=RecordingFeed(),
                                  clock=lambda: NOW, port=0)
        dispatcher = Dispatcher(client=FakeGateway(BOT).fake_client, gateway=FakeGateway(BOT),  # type: ignore[arg-type]
                                tokens=MemorySyncStore(), processed=MemoryProcessedEvents())
        return server, dispatcher

    server, dispatcher = fresh()
    seen: list[bool] = []

    async def ping() -> int:
        seen.append(server._runner is not None and dispatcher.synced.is_set())  # listening when asked
        return 12

    caplog.set_level("INFO", logger="harmony_app.appservice")
    try:
        await start_appservice(server, dispatcher, ping=ping)
    finally:
        await server.stop()
    assert seen == [True]
    assert "pinged this appservice back (12 ms)" in caplog.text

    server, dispatcher = fresh()

    async def refused() -> int:
        raise MatrixError("cannot reach http://bot.example:9000", errcode="M_CONNECTION_FAILED")

    try:
        await start_appservice(server, dispatcher, ping=refused)
    finally:
        await server.stop()
    assert dispatcher.synced.is_set()  # the bot runs on
    assert "could not ping this appservice back (cannot reach http://bot.example:9000" in caplog.text
