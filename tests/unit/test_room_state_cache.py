"""The bot's copy of its rooms' non-member state (``handlers/matrix/state_cache.py``): what makes a room
known, how it is kept current from /sync batches and pushed transactions, what makes it unknown again,
and that ``MatrixGateway.current_state`` reads the server only for rooms it does not hold."""

from __future__ import annotations

from typing import Any

from nio import RoomJoinRulesEvent, RoomMemberEvent, RoomMessageText, SyncResponse

from handlers.matrix.dispatcher import Dispatcher, SyncSettings
from handlers.matrix.state_cache import RoomStateCache, sync_state
from harmony_matrix.ids import RoomId
from tests.fakes.gateway import FakeRoom
from tests.fakes.homeserver import TolerantGateway
from tests.fakes.stores import MemoryProcessedEvents, MemorySyncStore

BOT = "@bot:test"
ADMIN = "@admin:test"
ROOM = "!room:test"
OTHER = "!other:test"

_numbers = iter(range(1, 10_000))


def state(event_type: str, content: dict[str, Any], state_key: str = "", *, sender: str = ADMIN,
          event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A client-format state event."""
    return {"type": event_type, "state_key": state_key, "content": content, "sender": sender,
            "event_id": event_id or f"$e{next(_numbers)}", "origin_server_ts": 1, **extra}


def member(user: str, membership: str) -> dict[str, Any]:
    return state("m.room.member", {"membership": membership}, user, sender=user)


def create() -> dict[str, Any]:
    return state("m.room.create", {"room_version": "12"}, sender=BOT)


def join_rule(rule: str, **extra: Any) -> dict[str, Any]:
    return state("m.room.join_rules", {"join_rule": rule}, **extra)


def message(text: str = "hi") -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": f"$m{next(_numbers)}", "sender": ADMIN, "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": text}}


def contents(cache: RoomStateCache, room_id: str = ROOM) -> dict[tuple[str, str], Any] | None:
    held = cache.get(room_id)
    return None if held is None else {(e["type"], e["state_key"]): e["content"] for e in held}


def known_room(*events: dict[str, Any]) -> RoomStateCache:
    cache = RoomStateCache(lambda: BOT)
    cache.take_sync(ROOM, state=[create(), member(BOT, "join"), *events], timeline=[], full_state=True)
    return cache


# -- the rule ----------------------------------------------------------------------------------------


def test_full_state_then_the_timeline_in_order_the_later_event_wins_and_no_membership_is_kept() -> None:
    cache = RoomStateCache(lambda: BOT)
    cache.take_sync(ROOM, full_state=True,
                    state=[create(), member(BOT, "join"), member(ADMIN, "join"), join_rule("invite"),
                           state("m.room.name", {"name": "Before"})],
                    timeline=[join_rule("public"), message(), join_rule("knock"), member("@p:test", "join")])
    assert contents(cache) == {("m.room.create", ""): {"room_version": "12"},
                               ("m.room.join_rules", ""): {"join_rule": "knock"},
                               ("m.room.name", ""): {"name": "Before"}}
    # An incremental batch: its state section comes before its timeline.
    cache.take_sync(ROOM, state=[state("m.room.name", {"name": "Gap"}), join_rule("restricted")],
                    timeline=[state("m.room.name", {"name": "After"})])
    held = contents(cache)
    assert held is not None
    assert held[("m.room.name", "")] == {"name": "After"}
    assert held[("m.room.join_rules", "")] == {"join_rule": "restricted"}


def test_empty_content_is_kept_as_the_server_keeps_it_and_copies_are_handed_out() -> None:
    cache = known_room(state("m.space.child", {"via": ["test"]}, "!child:test"))
    cache.take_sync(ROOM, state=[], timeline=[state("m.space.child", {}, "!child:test")])
    assert contents(cache) is not None and contents(cache)[("m.space.child", "!child:test")] == {}  # type: ignore[index]
    copy = cache.get(ROOM)
    assert copy is not None
    for event in copy:
        event["content"]["tampered"] = True
    assert all("tampered" not in e["content"] for e in cache.get(ROOM) or [])


def test_a_room_becomes_known_only_from_a_batch_holding_its_whole_state() -> None:
    cache = RoomStateCache(lambda: BOT)
    cache.take_sync(ROOM, state=[join_rule("invite")], timeline=[message()])  # an increment: not the whole
    assert cache.get(ROOM) is None
    # The room from its first event (a room just created, or joined with a short history).
    cache.take_sync(ROOM, state=[], timeline=[create(), member(BOT, "join"), join_rule("public")])
    assert contents(cache) == {("m.room.create", ""): {"room_version": "12"},
                               ("m.room.join_rules", ""): {"join_rule": "public"}}
    # The full state of a room just joined (or loaded for a pushed transaction) in the state section.
    cache.take_sync(OTHER, state=[create(), member(BOT, "join"), join_rule("knock")], timeline=[])
    assert contents(cache, OTHER) == {("m.room.create", ""): {"room_version": "12"},
                                      ("m.room.join_rules", ""): {"join_rule": "knock"}}


def test_a_redaction_of_a_held_state_event_makes_the_room_unknown_others_do_not() -> None:
    rule = join_rule("public")
    cache = known_room(rule, state("m.room.topic", {"topic": "x"}, event_id="$topic",
                                   unsigned={"redacted_because": {"event_id": "$r0"}}))
    cache.take_sync(ROOM, state=[], timeline=[
        {"type": "m.room.redaction", "event_id": "$r1", "sender": ADMIN, "redacts": "$not-state", "content": {}},
        {"type": "m.room.redaction", "event_id": "$r2", "sender": ADMIN, "content": {"redacts": "$topic"}}])
    assert cache.knows(ROOM)  # a message, and an event whose redacted content is what is held
    cache.take_sync(ROOM, state=[], timeline=[
        {"type": "m.room.redaction", "event_id": "$r3", "sender": ADMIN, "content": {"redacts": rule["event_id"]}}])
    assert not cache.knows(ROOM)


def test_a_redaction_read_back_from_a_gap_counts_and_the_gap_s_state_does_not() -> None:
    rule = join_rule("public")
    cache = known_room(rule)
    cache.take_redactions(ROOM, [join_rule("invite")])
    assert contents(cache) is not None and contents(cache)[("m.room.join_rules", "")] == {"join_rule": "public"}  # type: ignore[index]
    cache.take_redactions(ROOM, [{"type": "m.room.redaction", "event_id": "$r", "sender": ADMIN,
                                  "redacts": rule["event_id"], "content": {}}])
    assert not cache.knows(ROOM)


def test_the_bot_leaving_or_removed_makes_the_room_unknown_others_leaving_does_not() -> None:
    cache = known_room(join_rule("public"))
    cache.take_sync(ROOM, state=[], timeline=[member(ADMIN, "leave"), member(BOT, "join")])
    assert cache.knows(ROOM)
    cache.take_sync(ROOM, state=[], timeline=[state("m.room.member", {"membership": "leave"}, BOT),
                                              join_rule("invite")])
    assert not cache.knows(ROOM)  # and what followed is not taken in
    cache = known_room()
    cache.left(ROOM)
    assert cache.get(ROOM) is None


def test_the_bot_s_own_write_is_held_at_once_for_a_known_room_only() -> None:
    cache = known_room(join_rule("public"))
    cache.wrote(ROOM, "m.room.join_rules", "", {"join_rule": "invite"}, event_id="$w", sender=BOT)
    cache.wrote(OTHER, "m.room.join_rules", "", {"join_rule": "invite"}, event_id="$w2", sender=BOT)
    held = {(e["type"], e["state_key"]): e for e in cache.get(ROOM) or []}
    assert held[("m.room.join_rules", "")]["content"] == {"join_rule": "invite"}
    assert held[("m.room.join_rules", "")]["event_id"] == "$w"
    assert cache.get(OTHER) is None


def test_a_read_is_kept_when_it_shows_the_bot_joined_and_nothing_changed_meanwhile() -> None:
    cache = RoomStateCache(lambda: BOT)
    full = [create(), member(BOT, "join"), member(ADMIN, "join"), join_rule("public")]
    mark = cache.mark(ROOM)
    assert [e["type"] for e in cache.remember_read(ROOM, full, mark=mark)] == ["m.room.create", "m.room.join_rules"]
    assert cache.knows(ROOM)
    # A room the bot has left (the server answers with the state at its leave): read, not kept.
    left = [create(), member(BOT, "leave"), join_rule("public")]
    assert len(cache.remember_read(OTHER, left, mark=cache.mark(OTHER))) == 2
    assert not cache.knows(OTHER)
    # A change arrived while the room was read: the answer may be older than it, so it is not kept.
    mark = cache.mark(OTHER)
    cache.take_sync(OTHER, state=[], timeline=[join_rule("knock")])
    cache.remember_read(OTHER, [create(), member(BOT, "join"), join_rule("public")], mark=mark)
    assert not cache.knows(OTHER)


# -- the gateway and the dispatcher ------------------------------------------------------------------


def homeserver() -> TolerantGateway:
    gateway = TolerantGateway(BOT)
    gateway.state[(ROOM, "m.room.create", "")] = {"room_version": "12"}
    gateway.state[(ROOM, "m.room.member", BOT)] = {"membership": "join"}
    gateway.state[(ROOM, "m.room.join_rules", "")] = {"join_rule": "public"}
    return gateway


def state_reads(gateway: TolerantGateway) -> list[str]:
    return [path for method, path in gateway.requests if method == "GET" and path.endswith("/state")]


async def test_current_state_reads_the_server_once_then_holds_the_room_and_writes_go_into_it() -> None:
    gateway = homeserver()
    first = await gateway.current_state(ROOM)
    assert {(e["type"], e["state_key"]) for e in first} == {("m.room.create", ""), ("m.room.join_rules", "")}
    gateway.state[(ROOM, "m.room.join_rules", "")] = {"join_rule": "knock"}  # not yet seen by the bot
    again = await gateway.current_state(ROOM)
    assert len(state_reads(gateway)) == 1
    assert {e["type"]: e["content"] for e in again}["m.room.join_rules"] == {"join_rule": "public"}
    await gateway.put_state(ROOM, "m.room.join_rules", {"join_rule": "invite"})
    after = {e["type"]: e for e in await gateway.current_state(ROOM)}
    assert after["m.room.join_rules"]["content"] == {"join_rule": "invite"}
    assert after["m.room.join_rules"]["sender"] == BOT
    assert len(state_reads(gateway)) == 1


async def test_a_room_the_bot_is_not_in_is_read_from_the_server_every_time() -> None:
    gateway = homeserver()
    gateway.state[(ROOM, "m.room.member", BOT)] = {"membership": "leave"}
    await gateway.current_state(ROOM)
    await gateway.current_state(ROOM)
    assert len(state_reads(gateway)) == 2


def sync_body(next_batch: str, *, join: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]],
              leave: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"next_batch": next_batch, "rooms": {
        "join": {room: {"state": {"events": s}, "timeline": {"events": t, "limited": False, "prev_batch": "p"}}
                 for room, (s, t) in join.items()},
        "leave": {room: {"state": {"events": []}, "timeline": {"events": []}} for room in leave}}}


async def test_the_dispatcher_keeps_the_copy_current_before_handlers_run_and_drops_rooms_left() -> None:
    gateway = TolerantGateway(BOT)
    dispatcher = Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=MemorySyncStore(),
                            processed=MemoryProcessedEvents())
    seen: list[Any] = []

    async def on_rule(room_id: RoomId, event: Any) -> None:
        seen.append({e["type"]: e["content"] for e in await gateway.current_state(room_id)}["m.room.join_rules"])

    dispatcher.on(RoomJoinRulesEvent, on_rule)
    full = [create(), member(BOT, "join"), join_rule("public")]
    gateway.fake_client.sync_responses += [  # /sync bodies as the server sends them
        sync_body("s1", join={ROOM: (full, [message()]), OTHER: ([create(), member(BOT, "join")], [])}),
        sync_body("s2", join={ROOM: ([], [join_rule("knock")])}, leave=(OTHER,)),
    ]
    await dispatcher.sync_once(first=True)
    assert gateway.fake_client.sync_calls[0]["full_state"] is True
    assert gateway.room_state.knows(ROOM) and gateway.room_state.knows(OTHER)
    await dispatcher.sync_once()
    assert seen == [{"join_rule": "knock"}]  # the handler read the copy the batch had already updated
    assert not gateway.room_state.knows(OTHER)
    assert state_reads(gateway) == []


async def test_a_pushed_batch_keeps_the_same_copy() -> None:
    gateway = TolerantGateway(BOT)
    dispatcher = Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=MemorySyncStore(),
                            processed=MemoryProcessedEvents())
    # Appservice mode loads the full state of a room it has no cache of into the state section.
    loaded = [create(), member(BOT, "join"), join_rule("public")]

    async def push(body: dict[str, Any]) -> None:  # as PushedFeed does: the state copied, then parsed
        copied = sync_state(body, bot=BOT)
        await dispatcher.handle_pushed(SyncResponse.from_dict(body), state=copied)

    await push(sync_body("as1", join={ROOM: (loaded, [])}))
    await push(sync_body("as2", join={ROOM: ([], [join_rule("invite")])}))
    assert contents(gateway.room_state) == {("m.room.create", ""): {"room_version": "12"},
                                            ("m.room.join_rules", ""): {"join_rule": "invite"}}
    await push(sync_body("as3", join={}, leave=(ROOM,)))
    assert not gateway.room_state.knows(ROOM)


async def test_the_copy_holds_the_server_s_content_not_what_nio_fills_in_as_it_parses() -> None:
    gateway = TolerantGateway(BOT)
    dispatcher = Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=MemorySyncStore(),
                            processed=MemoryProcessedEvents())
    levels = {"users": {ADMIN: 100}, "events": {}, "state_default": 100}
    child = {"via": ["test"]}
    body = sync_body("s1", join={ROOM: ([create(), member(BOT, "join"), state("m.room.power_levels", levels),
                                         state("m.space.child", child, "!c:test")], [])})
    gateway.fake_client.sync_responses.append(body)
    await dispatcher.sync_once(first=True)
    # nio's schemas filled their defaults into the body's own dicts as it parsed them...
    parsed = body["rooms"]["join"][ROOM]["state"]["events"]
    assert "notifications" in parsed[2]["content"] and "suggested" in parsed[3]["content"]
    # ...and the copy holds the events as the server sent them.
    assert contents(gateway.room_state) == {
        ("m.room.create", ""): {"room_version": "12"},
        ("m.room.power_levels", ""): {"users": {ADMIN: 100}, "events": {}, "state_default": 100},
        ("m.space.child", "!c:test"): {"via": ["test"]}}


# -- restarting without the whole state (sync.full_state_at_start off) -------------------------------


def test_a_room_is_whole_from_a_batch_with_its_whole_state_until_the_bot_leaves_or_it_is_redacted() -> None:
    cache = RoomStateCache(lambda: BOT)
    cache.take_sync(ROOM, state=[], timeline=[join_rule("public")])  # a change only: nio's room is partial
    assert not cache.came_whole(ROOM)
    cache.take_sync(OTHER, state=[], timeline=[create(), member(BOT, "join")])  # joined in this batch
    assert cache.came_whole(OTHER)
    cache.take_sync(ROOM, state=[member(ADMIN, "join")], timeline=[], full_state=True)
    assert cache.came_whole(ROOM)
    cache.take_sync(ROOM, state=[], timeline=[member(ADMIN, "leave")])  # someone else leaving: still whole
    assert cache.came_whole(ROOM)
    cache.take_sync(OTHER, state=[], timeline=[member(BOT, "leave")])
    assert not cache.came_whole(OTHER)
    rule = join_rule("knock")
    cache.take_sync(ROOM, state=[], timeline=[rule])
    cache.take_sync(ROOM, state=[], timeline=[{"type": "m.room.redaction", "redacts": rule["event_id"],
                                               "event_id": "$r1", "sender": ADMIN, "content": {}}])
    assert not cache.came_whole(ROOM)


async def test_a_restart_without_full_state_answers_members_from_nio_only_for_rooms_it_holds_whole() -> None:
    gateway = TolerantGateway(BOT)
    gateway.caches_every_joined_room = False  # as sync.full_state_at_start false sets it
    tokens = MemorySyncStore()
    tokens.tokens[gateway.user_id] = "s0"  # a restart: the bot synced before
    dispatcher = Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=tokens,
                            processed=MemoryProcessedEvents(), settings=SyncSettings(full_state_at_start=False))
    # Since the restart a message came in ROOM (nio takes the room in from that alone: partial), and the
    # bot joined OTHER (its whole state comes in the batch).
    gateway.fake_client.sync_responses.append(sync_body("s1", join={
        ROOM: ([], [message()]), OTHER: ([create(), member(BOT, "join"), member(ADMIN, "join")], [])}))
    gateway.fake_client.rooms[ROOM] = FakeRoom(users={BOT})  # nio's partial view: only what it saw
    gateway.fake_client.rooms[OTHER] = FakeRoom(users={BOT, ADMIN}, join_rule="public")
    gateway.joined[RoomId(ROOM)] = {gateway.user_id, RoomId(ADMIN)}  # the server's answer
    gateway.state[(ROOM, "m.room.join_rules", "")] = {"join_rule": "public"}
    await dispatcher.sync_once(first=True)
    assert gateway.fake_client.sync_calls[0]["full_state"] is False
    assert gateway.cached_joined(ROOM) is None  # not nio's partial list ...
    assert await gateway.current_joined(ROOM) == {BOT, ADMIN}  # ... the server's
    assert await gateway.join_rule(ROOM) == "public"
    assert gateway.cached_joined(OTHER) == {BOT, ADMIN}
    # The default (and a first start ever) asks for the whole state.
    fresh = TolerantGateway(BOT)
    fresh.fake_client.sync_responses.append(sync_body("s1", join={}))
    await Dispatcher(client=fresh.fake_client, gateway=fresh, tokens=MemorySyncStore(), processed=MemoryProcessedEvents(),
                     settings=SyncSettings(full_state_at_start=False)).sync_once(first=True)
    assert fresh.fake_client.sync_calls[0]["full_state"] is True


async def test_a_batch_s_state_changes_are_handed_on_in_order_before_its_timelines_are_handled() -> None:
    gateway = TolerantGateway(BOT)
    tokens = MemorySyncStore()
    tokens.tokens[gateway.user_id] = "s0"
    dispatcher = Dispatcher(client=gateway.fake_client, gateway=gateway, tokens=tokens,
                            processed=MemoryProcessedEvents())
    handed: list[tuple[str, list[tuple[str, str]]]] = []
    handled: list[int] = []

    def on_state(room_id: RoomId, events: list[Any]) -> None:
        handed.append((room_id, [(event.state_key, event.membership) for event in events
                                 if isinstance(event, RoomMemberEvent)]))

    async def on_message(room_id: RoomId, event: Any) -> None:
        handled.append(len(handed))

    dispatcher.on_room_state(on_state)
    dispatcher.on(RoomMessageText, on_message)
    gateway.fake_client.sync_responses.append(sync_body("s1", join={
        ROOM: ([member(ADMIN, "join")], [message(), member(ADMIN, "leave"), join_rule("public")]),
        OTHER: ([], [message()])}))
    await dispatcher.sync_once(first=True)
    assert handed == [(ROOM, [(ADMIN, "join"), (ADMIN, "leave")])]  # OTHER changed no state
    assert handled == [1, 1]  # both rooms' timelines handled after
