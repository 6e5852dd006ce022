"""The sync loop's batch handling without a homeserver: sync responses and events are built from
client-format dicts with nio's own parsers (``SyncResponse.from_dict``, ``Event.parse_event``), and
the in-memory stores and recording gateway of ``tests/fakes`` stand in for the database and server."""

from __future__ import annotations

from typing import Any

import pytest
from nio import Event, RoomMemberEvent, RoomMessageText, SyncError, SyncResponse

from handlers.matrix.dispatcher import BatchStats, Dispatcher
from handlers.matrix.gateway import MatrixError
from harmony_matrix.ids import RoomId, UserId
from tests.fakes.gateway import FakeGateway
from tests.fakes.harness import event_dict
from tests.fakes.stores import MemoryProcessedEvents, MemorySyncStore

BOT = "@bot:test"
ALICE = "@alice:test"
ROOM = "!room:test"


def message(event_id: str, body: str = "hello", *, sender: str = ALICE, msgtype: str = "m.text") -> dict[str, Any]:
    return event_dict(body, sender=sender, event_id=event_id, msgtype=msgtype)


def sync(next_batch: str, *, timeline: dict[str, list[dict[str, Any]]] | None = None, limited: bool = False,
         invites: dict[str, dict[str, Any]] | None = None) -> SyncResponse:
    """A /sync response as the server sends it, parsed by nio."""
    join = {room: {"timeline": {"events": events, "limited": limited, "prev_batch": f"prev-{next_batch}"},
                   "state": {"events": []}}
            for room, events in (timeline or {}).items()}
    invite = {room: {"invite_state": {"events": [
        {"type": "m.room.member", "state_key": BOT, "sender": inviter["sender"],
         "content": {"membership": "invite", "is_direct": inviter.get("is_direct", False)}}]}}
        for room, inviter in (invites or {}).items()}
    return SyncResponse.from_dict({"next_batch": next_batch, "rooms": {"join": join, "invite": invite}})


class Recorder:
    """Callbacks that record what reached them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.invites: list[tuple[str, str, bool]] = []

    async def on_event(self, room_id: RoomId, event: Any) -> None:
        self.seen.append((room_id, event.event_id))

    async def on_invite(self, room_id: RoomId, inviter: UserId, is_direct: bool) -> None:
        self.invites.append((room_id, inviter, is_direct))


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(BOT)


@pytest.fixture
def tokens() -> MemorySyncStore:
    return MemorySyncStore()


@pytest.fixture
def processed() -> MemoryProcessedEvents:
    return MemoryProcessedEvents()


@pytest.fixture
def dispatcher(gateway: FakeGateway, tokens: MemorySyncStore, processed: MemoryProcessedEvents) -> Dispatcher:
    return Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=tokens, processed=processed)


async def test_a_first_start_skips_history_but_answers_invites_and_stores_the_token(
        dispatcher: Dispatcher, gateway: FakeGateway, tokens: MemorySyncStore) -> None:
    recorder = Recorder()
    dispatcher.on(RoomMessageText, recorder.on_event)
    dispatcher.on_invite(recorder.on_invite)
    gateway.fake_client.sync_responses.append(sync(
        "s1", timeline={ROOM: [message("$old")]}, invites={"!dm:test": {"sender": ALICE, "is_direct": True}}))

    await dispatcher.sync_once(first=True)

    assert recorder.seen == []
    assert recorder.invites == [("!dm:test", ALICE, True)]
    assert tokens.tokens == {BOT: "s1"}
    assert dispatcher.synced.is_set()
    assert gateway.fake_client.sync_calls[0]["since"] is None
    assert gateway.fake_client.sync_calls[0]["full_state"] is True


async def test_a_restart_resumes_from_the_stored_token(
        dispatcher: Dispatcher, gateway: FakeGateway, tokens: MemorySyncStore) -> None:
    tokens.tokens[UserId(BOT)] = "s5"
    recorder = Recorder()
    dispatcher.on(RoomMessageText, recorder.on_event)
    gateway.fake_client.sync_responses.append(sync("s6", timeline={ROOM: [message("$new")]}))

    stats = await dispatcher.sync_once(first=True)

    assert gateway.fake_client.sync_calls[0]["since"] == "s5"
    assert recorder.seen == [(ROOM, "$new")]
    assert stats.handled == 1
    assert tokens.tokens[UserId(BOT)] == "s6"


async def test_a_gap_is_filled_oldest_first_before_the_timeline(
        dispatcher: Dispatcher, gateway: FakeGateway, tokens: MemorySyncStore) -> None:
    tokens.tokens[UserId(BOT)] = "s1"
    recorder = Recorder()
    dispatcher.on(RoomMessageText, recorder.on_event)
    gateway.history[ROOM] = [message("$gap1"), message("$gap2")]
    gateway.fake_client.sync_responses.append(sync("s2", timeline={ROOM: [message("$live")]}, limited=True))

    stats = await dispatcher.sync_once(first=True)

    assert recorder.seen == [(ROOM, "$gap1"), (ROOM, "$gap2"), (ROOM, "$live")]
    assert stats.gap_events == 2


async def test_each_event_is_handled_once_across_batches(
        dispatcher: Dispatcher, processed: MemoryProcessedEvents) -> None:
    recorder = Recorder()
    dispatcher.on(RoomMessageText, recorder.on_event)
    events = [RoomMessageText.from_dict(message("$a")), RoomMessageText.from_dict(message("$b"))]
    first = await _dispatch(dispatcher, events)
    again = await _dispatch(dispatcher, events)

    assert recorder.seen == [(ROOM, "$a"), (ROOM, "$b")]
    assert (first.handled, again.handled, again.skipped_duplicates) == (2, 0, 2)
    assert {event_id: record.kind for event_id, record in processed.records.items()} == {
        "$a": "handled", "$b": "handled"}


async def test_own_events_and_notices_are_not_offered_unless_asked_for(dispatcher: Dispatcher) -> None:
    everyone, including_own = Recorder(), Recorder()
    dispatcher.on(RoomMessageText, everyone.on_event)
    dispatcher.on(RoomMessageText, including_own.on_event, include_own=True)
    await _dispatch(dispatcher, [RoomMessageText.from_dict(message("$mine", sender=BOT)),
                                 _parse(message("$notice", msgtype="m.notice")),
                                 RoomMessageText.from_dict(message("$theirs"))])

    assert everyone.seen == [(ROOM, "$theirs")]
    assert including_own.seen == [(ROOM, "$mine"), (ROOM, "$theirs")]


async def test_a_failing_handler_is_isolated_and_its_event_marked_failed(
        dispatcher: Dispatcher, processed: MemoryProcessedEvents, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()

    async def explode(room_id: RoomId, event: Any) -> None:
        if event.event_id == "$bad":
            raise RuntimeError("kaboom")

    dispatcher.on(RoomMessageText, explode)
    dispatcher.on(RoomMessageText, recorder.on_event)
    stats = await _dispatch(dispatcher, [RoomMessageText.from_dict(message("$bad")),
                                         RoomMessageText.from_dict(message("$good"))])

    assert recorder.seen == [(ROOM, "$bad"), (ROOM, "$good")]  # the other handler still ran
    assert (stats.handled, stats.failed, stats.failed_event_ids) == (1, 1, ["$bad"])
    assert processed.records["$bad"].kind == "failed"  # retrying a throwing handler would only throw again
    assert "$bad" in caplog.text and "kaboom" in caplog.text


async def test_malformed_events_reach_no_handler(dispatcher: Dispatcher, processed: MemoryProcessedEvents) -> None:
    recorder = Recorder()
    dispatcher.on(RoomMessageText, recorder.on_event)
    dispatcher.on(RoomMemberEvent, recorder.on_event)
    bad = _parse({"type": "m.room.message", "event_id": "$nobody", "sender": ALICE, "origin_server_ts": 1,
                  "content": {"msgtype": "m.text"}})
    stats = await _dispatch(dispatcher, [bad])

    assert recorder.seen == [] and stats.handled == 0 and processed.records == {}


async def test_the_token_is_stored_only_after_the_batch_and_after_batch_work_runs_then(
        dispatcher: Dispatcher, gateway: FakeGateway, tokens: MemorySyncStore) -> None:
    tokens.tokens[UserId(BOT)] = "s1"
    order: list[str] = []

    async def on_event(room_id: RoomId, event: Any) -> None:
        order.append(f"event, token {tokens.tokens[UserId(BOT)]}")

    async def after() -> None:
        order.append(f"after, token {tokens.tokens[UserId(BOT)]}")

    async def broken_after() -> None:
        raise RuntimeError("after-batch failure")

    dispatcher.on(RoomMessageText, on_event)
    dispatcher.after_batch(broken_after)
    dispatcher.after_batch(after)
    gateway.fake_client.sync_responses.append(sync("s2", timeline={ROOM: [message("$x")]}))
    await dispatcher.sync_once(first=True)

    assert order == ["event, token s1", "after, token s2"]


async def test_a_refused_sync_raises_so_the_loop_backs_off(dispatcher: Dispatcher, gateway: FakeGateway,
                                                           tokens: MemorySyncStore) -> None:
    gateway.fake_client.sync_responses.append(SyncError.from_dict({"errcode": "M_UNKNOWN_TOKEN", "error": "bad"}))
    with pytest.raises(MatrixError, match="sync refused"):
        await dispatcher.sync_once(first=True)
    assert tokens.tokens == {}


def _parse(raw: dict[str, Any]) -> Any:
    return Event.parse_event(raw)


async def _dispatch(dispatcher: Dispatcher, events: list[Any]) -> BatchStats:
    stats = BatchStats()
    await dispatcher.dispatch_events(RoomId(ROOM), events, stats)
    return stats
