"""The issue-10 load scenario against a real, rate-limited Synapse: a 5-option poll (its announcement,
five option messages, 30 seed keycaps) and 30 commands sent at once, the bot not exempted from
``rc_message``. Used by tests/integration/test_rate_limits.py (a raised but binding limit) and by
bench/bench_rate_limits.py (Synapse's default limit).

The people are exempted (``override_ratelimit``) so that they can send everything at once; the bot
runs as ``harmony-matrix run`` in a subprocess, as in production.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from botrunner import BotProcess, write_bot_config
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.event_types import HARMONY_POST_PART, REACTION
from matrix_client import Event, TestMatrixUser, replies_to

APOLOGY = "something went wrong on my side"
SEED_KEYS = {f"{digit}\ufe0f\u20e3" for digit in range(6)}
#: 30 commands of every kind: answers, refusals, parse errors, unknown commands.
COMMANDS = [
    "!h ping", "!h version", "!h help", "!h help poll start", "!h polls", "!h poll show #1", "!h pnig",
    "!h poll show #99", "!h poll close #1", "!h vote #1 A=5", "!h assemblies", "!h moots", "!h ping extra",
    "!h poll show x", "!harmony ping", "!h decisions", "!h help vote", "!h draws", "!h seats", "!h mydata",
]
COMMANDS = (COMMANDS * 2)[:30]


@dataclass
class Outcome:
    """What the scenario measured."""

    seconds: float  # from the first command sent to the last expected event seen
    bot_events: int  # the bot's sends the rate limit counts (posts, seeds, replies)
    replies: dict[str, str] = field(default_factory=dict)  # command event ID -> the reply's body
    apologies: list[str] = field(default_factory=list)
    seeds_per_option: list[int] = field(default_factory=list)
    bot_log: str = ""


def floor_seconds(events: int, *, per_second: float, burst: int) -> float:
    """The least time ``events`` sends can take under ``rc_message`` (a full bucket at the start)."""
    return max(0.0, (events - burst) / per_second)


async def people(synapse: LocalSynapse, name: str, count: int) -> list[TestMatrixUser]:
    """``count`` users, each exempted from every rate limit."""
    users = []
    for number in range(count):
        registered = await synapse.register_user(f"{name}-{number}")
        await synapse.exempt_from_rate_limits(registered.user_id)
        users.append(TestMatrixUser(synapse.url, user_id=registered.user_id, access_token=registered.access_token,
                                    device_id=registered.device_id))
    return users


async def run_scenario(synapse: LocalSynapse, directory: Path, *, name: str, timeout: float) -> Outcome:
    """Run the scenario once on ``synapse`` (see the module docstring)."""
    chair, *others = await people(synapse, name, 4)
    bot_user = await synapse.register_user(f"{name}-bot")
    config_path = write_bot_config(directory, synapse=synapse, bot=bot_user, admins=[chair.user_id],
                                   polls={"chart": False}, sync={"timeout_ms": 5000})
    process = BotProcess(config_path)
    await process.start()
    outcome = Outcome(seconds=0.0, bot_events=0)
    try:
        room = await chair.create_room(name="Rate limits", preset="public_chat", invite=[bot_user.user_id])
        async with chair.listening() as listener:
            await listener.wait_for(room, lambda e: e.get("type") == "m.room.member"
                                    and e.get("state_key") == bot_user.user_id
                                    and e["content"].get("membership") == "join", timeout=120,
                                    description="the bot joining")
        for person in others:
            await person.join(room)
        async with chair.listening() as listener:
            started = time.monotonic()
            poll_command = await chair.send_text(room, "!h poll start Which day? | Mon | Tue | Wed | Thu | Fri")
            sent = await asyncio.gather(*(others[i % len(others)].send_text(room, text)
                                          for i, text in enumerate(COMMANDS)))
            commands = [poll_command, *sent]
            deadline = started + timeout
            outcome.bot_events = len(commands) + 6 + 30
            for event_id in commands:
                reply = await listener.wait_for(room, replies_to(event_id, sender=bot_user.user_id),
                                                timeout=max(1.0, deadline - time.monotonic()),
                                                description=f"the answer to {event_id}")
                outcome.replies[event_id] = reply["content"].get("body", "")
            options = await _option_events(listener, room, bot_user.user_id, deadline)
            for _ in range(6 * len(options)):
                await listener.wait_for(room, _seed_of(options, bot_user.user_id),
                                        timeout=max(1.0, deadline - time.monotonic()), description="a seed keycap")
            outcome.seconds = time.monotonic() - started
        outcome.apologies = [body for body in outcome.replies.values() if APOLOGY in body]
        for option in options:
            keys = [e["content"]["m.relates_to"]["key"] async for e in _relations(chair, room, option)
                    if e.get("sender") == bot_user.user_id]
            outcome.seeds_per_option.append(len(set(keys) & SEED_KEYS))
    except AssertionError as exc:
        tail = "\n".join(process.log_text().splitlines()[-40:])
        raise AssertionError(f"{exc}\n--- the bot's log, last lines ---\n{tail}") from None
    finally:
        await process.terminate()
        outcome.bot_log = process.log_text()
        for user in (chair, *others):
            await user.close()
    return outcome


async def _option_events(listener: Any, room: str, bot: str, deadline: float) -> list[str]:
    options = []
    for _ in range(5):
        event = await listener.wait_for(
            room, lambda e: e.get("sender") == bot and ":option:" in str(e["content"].get(HARMONY_POST_PART, "")),
            timeout=max(1.0, deadline - time.monotonic()), description="an option message")
        options.append(event["event_id"])
    return options


def _seed_of(options: list[str], bot: str) -> Any:
    def predicate(event: Event) -> bool:
        relates = event.get("content", {}).get("m.relates_to") or {}
        return (event.get("type") == REACTION and event.get("sender") == bot
                and relates.get("event_id") in options and relates.get("key") in SEED_KEYS)

    predicate.__name__ = "a seed keycap from the bot"
    return predicate


async def _relations(user: TestMatrixUser, room: str, event_id: str) -> Any:
    page = await user.request("GET", f"/_matrix/client/v1/rooms/{quote(room, safe='')}/relations/"
                                     f"{quote(event_id, safe='')}/m.annotation",
                              params={"limit": "100"})
    for event in page.get("chunk", []):
        yield event
