"""Shared set-up of the poll benchmarks: a LocalSynapse, a bot (in-process App), voters, a poll room."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from botrunner import start_app, write_bot_config  # noqa: E402
from matrix_client import TestMatrixUser  # noqa: E402

from harmony_app.app import App  # noqa: E402
from harmony_app.local_synapse import LocalSynapse, RegisteredUser  # noqa: E402
from harmony_matrix.polls.poll import parse_poll_ref  # noqa: E402

KEYS = [f"{d}\ufe0f\u20e3" for d in range(6)]


@dataclass
class Setup:
    synapse: LocalSynapse
    config_path: Path
    bot: RegisteredUser
    admin: TestMatrixUser
    voters: list[TestMatrixUser]
    room: str


async def set_up(n_voters: int) -> Setup:
    base = Path(tempfile.mkdtemp(prefix="harmony-bench-"))
    synapse = LocalSynapse(base / "synapse")
    await synapse.start()
    users = []
    for name in ["admin"] + [f"voter{i}" for i in range(n_voters)]:
        registered = await synapse.register_user(name)
        users.append(TestMatrixUser(synapse.url, user_id=registered.user_id, access_token=registered.access_token))
    bot = await synapse.register_user("bot")
    config_path = write_bot_config(base / "bot", synapse=synapse, bot=bot, admins=[users[0].user_id],
                                   polls={"seed_reactions": False, "chart": False},
                                   logging={"level": "WARNING"})
    room = await users[0].create_room(name="Bench", preset="public_chat", invite=[bot.user_id],
                                      power_level_content_override={"users": {bot.user_id: 50}})
    for voter in users[1:]:
        await voter.join(room)
    return Setup(synapse, config_path, bot, users[0], users[1:], room)


async def open_poll(setup: Setup, app: App, options: int) -> tuple[int, list[str]]:
    reply = await setup.admin.send_and_wait_reply(
        setup.room, "!h poll start Bench? | " + " | ".join(f"Option {i}" for i in range(options))
        + " eligibility=participants", from_user=setup.bot.user_id, timeout=60)
    number = parse_poll_ref(reply["content"]["body"].split()[1])
    poll = await app.db.polls.get(number)
    assert poll is not None
    return number, [str(o.event_id) for o in poll.options]


async def tear_down(setup: Setup) -> None:
    for user in (setup.admin, *setup.voters):
        await user.close()
    await setup.synapse.stop()


__all__ = ["KEYS", "Setup", "open_poll", "set_up", "start_app", "tear_down"]
