"""Malformed events (wrong types in any content field) reach every handler of the whole bot and are
ignored cleanly: no traceback, no ERROR, at most one DEBUG line each; well-formed events around them
still work. Hypothesis generates the contents; the bot runs on the fast harness (no Synapse)."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nio import BadEvent, Event, UnknownBadEvent
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harmony_app.logs import install_log_filters
from tests.fakes.app_harness import BOT, BotHarness

ADMIN, SECRETARY, PERSON = "@admin:test", "@sec:test", "@person:test"
ADMIN_DM = "!admin-dm:test"

pytestmark = pytest.mark.asyncio


class Records(logging.Handler):
    """Every record logged while it is installed (level DEBUG and up)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    removers = install_log_filters()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for remove in removers:
            remove()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """The whole bot with one assembly (``ops``), its secretary, a participant and an open poll."""
    harness = BotHarness(Path(tmp_path_factory.mktemp("malformed")), admins=[ADMIN])
    async with harness:
        await harness.app.running.poster.direct.remember(ADMIN, ADMIN_DM)
        harness.join(ADMIN, ADMIN_DM)
        harness.join(BOT, ADMIN_DM)
        [created] = await harness.say("!h assembly create ops Operations", sender=ADMIN, room_id=ADMIN_DM)
        assert created.body.startswith("Created"), created.body
        rooms = await harness.app.features["assemblies"].rooms_of("ops")  # type: ignore[attr-defined]
        harness.join(BOT, *rooms.values())
        harness.join(ADMIN, *rooms.values())
        harness.join(PERSON, rooms["discussion"], rooms["votes"])
        await harness.say(f"!h secretary set {SECRETARY}", sender=ADMIN, room_id=rooms["secretariat"])
        harness.join(SECRETARY, *rooms.values())
        sent = await harness.say("!h poll start Lunch? | Pizza | Sushi", sender=SECRETARY, room_id=rooms["votes"])
        options = [s.event_id for s in sent if s.body.startswith(("A.", "B."))]
        assert len(options) == 2, [s.body for s in sent]
        yield {"harness": harness, "rooms": rooms, "options": options}


def templates(rooms: dict[str, str], options: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Well-formed events of every kind some handler listens to: (room, event without IDs)."""
    votes, discussion = rooms["votes"], rooms["discussion"]
    thread = {"rel_type": "m.thread", "event_id": options[0], "is_falling_back": True,
              "m.in_reply_to": {"event_id": options[0]}}
    return [
        (votes, {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "!h poll show #1"}}),
        (discussion, {"type": "m.room.message", "content": {
            "msgtype": "m.text", "body": "!h ping", "format": "org.matrix.custom.html",
            "formatted_body": "<b>!h ping</b>", "m.relates_to": thread, "m.mentions": {"user_ids": [BOT]}}}),
        (discussion, {"type": "m.room.message", "content": {
            "msgtype": "m.text", "body": "a reason", "m.relates_to": thread}}),
        (votes, {"type": "m.reaction", "content": {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": options[0], "key": "4\ufe0f\u20e3"}}}),
        (votes, {"type": "m.room.redaction", "redacts": "$some-vote", "content": {"reason": "changed my mind"}}),
        (discussion, {"type": "m.room.member", "state_key": PERSON, "content": {
            "membership": "join", "displayname": "Person", "avatar_url": "mxc://x/y"}}),
        (discussion, {"type": "m.room.member", "state_key": "@knocker:test", "content": {
            "membership": "knock", "reason": "let me in"}}),
        (discussion, {"type": "m.room.power_levels", "state_key": "", "content": {
            "users": {BOT: 100, PERSON: 100}, "users_default": 0, "events": {"m.room.name": 50},
            "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": 50}}),
        (discussion, {"type": "m.room.join_rules", "state_key": "", "content": {
            "join_rule": "public", "allow": [{"type": "m.room_membership", "room_id": rooms["space"]}]}}),
        (rooms["space"], {"type": "m.space.child", "state_key": discussion, "content": {
            "via": ["test"], "order": "a", "suggested": True}}),
        (discussion, {"type": "m.space.parent", "state_key": rooms["space"], "content": {
            "via": ["test"], "canonical": True}}),
        (discussion, {"type": "org.harmony.assembly", "state_key": "", "content": {"slug": "ops", "kind": "x"}}),
        (discussion, {"type": "m.room.server_acl", "state_key": "", "content": {
            "allow": ["*"], "deny": [], "allow_ip_literals": False}}),
    ]


WRONG = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                  st.text(max_size=20), st.lists(st.integers(), max_size=3),
                  st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a nested dict/list (where a wrong value can go)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


@st.composite
def malformed(draw: st.DrawFn, count: int) -> tuple[int, dict[str, Any]]:
    """A template (by index) with one to three content fields given a value of another type."""
    index = draw(st.integers(0, count - 1))
    return index, {"replacements": draw(st.lists(st.tuples(st.integers(0, 10**6), WRONG), min_size=1, max_size=3)),
                   "sender": draw(st.sampled_from([ADMIN, SECRETARY, PERSON, "@stranger:test"]))}


def corrupt(event: dict[str, Any], replacements: list[tuple[int, Any]]) -> dict[str, Any]:
    """``event`` with the content fields picked by ``replacements`` set to the wrong values."""
    event = copy.deepcopy(event)
    for pick, value in replacements:
        targets = paths(event["content"])
        if not targets:
            event["content"] = value if isinstance(value, dict) else {"body": value}
            continue
        path = targets[pick % len(targets)]
        holder: Any = event["content"]
        for step in path[:-1]:
            holder = holder[step]
        if isinstance(holder, (dict, list)):
            holder[path[-1]] = value
    return event


numbers = iter(range(10**9))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=malformed(13))
async def test_malformed_contents_never_raise_in_any_handler(bot: dict[str, Any], records: Records,
                                                             case: tuple[int, dict[str, Any]]) -> None:
    harness: BotHarness = bot["harness"]
    index, how = case
    room_id, template = templates(bot["rooms"], bot["options"])[index]
    event = corrupt(template, how["replacements"])
    event.update(event_id=f"$fuzz{next(numbers)}", sender=how["sender"], origin_server_ts=1_767_000_000_000)
    records.records.clear()
    stats = await harness.deliver([event], room_id=room_id)
    await harness.app.running.poster.outbox.drain()
    problems = [r for r in records.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not problems, (event, [r.getMessage() for r in problems])
    assert stats.failed == 0, event
    malformed_lines = [r for r in records.records if "malformed" in r.getMessage()]
    assert len(malformed_lines) <= 1 and all(r.levelno == logging.DEBUG for r in malformed_lines), event
    assert all("\n" not in r.getMessage() for r in malformed_lines)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(case=malformed(13))
async def test_malformed_contents_that_pass_nios_schemas_reach_the_handlers_and_are_ignored(
        bot: dict[str, Any], records: Records, case: tuple[int, dict[str, Any]]) -> None:
    """The same, only for contents nio parses into its event classes: those reach our handlers."""
    harness: BotHarness = bot["harness"]
    index, how = case
    room_id, template = templates(bot["rooms"], bot["options"])[index]
    event = corrupt(template, how["replacements"])
    event.update(event_id=f"$fuzz{next(numbers)}", sender=how["sender"], origin_server_ts=1_767_000_000_000)
    assume(not isinstance(Event.parse_event(copy.deepcopy(event)), (BadEvent, UnknownBadEvent)))
    records.records.clear()
    stats = await harness.deliver([event], room_id=room_id)
    await harness.app.running.poster.outbox.drain()
    problems = [r for r in records.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not problems, (event, [r.getMessage() for r in problems])
    assert stats.failed == 0, event


async def test_the_relates_to_garbage_case_of_the_issue_is_answered(bot: dict[str, Any], records: Records) -> None:
    harness: BotHarness = bot["harness"]
    records.records.clear()
    sent = await harness.say("!h ping", sender=PERSON, room_id=bot["rooms"]["discussion"],
                             extra_content={"m.relates_to": "garbage"})
    assert [s.body for s in sent] == ["Pong! I'm listening."]
    assert not [r for r in records.records if r.exc_info or r.levelno >= logging.WARNING]


async def test_a_body_of_the_wrong_type_is_one_debug_line(bot: dict[str, Any], records: Records) -> None:
    harness: BotHarness = bot["harness"]
    records.records.clear()
    stats = await harness.deliver([{"type": "m.room.message", "event_id": "$badbody", "sender": PERSON,
                                    "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": ["!h ping"]}}],
                                  room_id=bot["rooms"]["discussion"])
    assert stats.failed == 0
    [line] = [r for r in records.records if r.name.startswith("nio") or "malformed" in r.getMessage()]
    assert line.levelno == logging.DEBUG and "\n" not in line.getMessage()
    assert "['!h ping']" not in line.getMessage()  # the content itself is never logged
