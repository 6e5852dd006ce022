"""The bot runtime against a real Synapse: commands, invites, failures, crashes, restarts, gaps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from botrunner import BotProcess, start_app, write_bot_config
from handlers.matrix.commands import CommandContext, command
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from matrix_client import TestMatrixUser, replies_to

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Exploding:
    """A command group whose command always raises, to prove one failure stops nothing."""

    @command("boom", summary="Raise an error (test only).", example="!h boom")
    async def boom(self, ctx: CommandContext) -> None:
        raise RuntimeError("kaboom")


@pytest_asyncio.fixture(loop_scope="session")
async def bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[tuple[App, TestMatrixUser, str]]:
    """An in-process bot, its admin, and a room where both are joined."""
    admin = await make_user("admin")
    bot_user = await synapse.register_user(f"bot-{tmp_path.name[-12:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id])
    app = await start_app(config_path, extra_command_handlers=[Exploding()])
    room_id = await admin.create_room(name="Runtime test", preset="private_chat", invite=[bot_user.user_id])
    async with admin.listening() as listener:
        await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member"
                                and e.get("state_key") == bot_user.user_id
                                and e["content"].get("membership") == "join",
                                description="the bot joining after the admin's invite")
    try:
        yield app, admin, room_id
    finally:
        await app.stop()


async def test_help_lists_the_commands_the_sender_may_use(bot) -> None:
    app, admin, room_id = bot
    reply = await admin.send_and_wait_reply(room_id, "!h help", from_user=app.config.bot.user_id)
    body = reply["content"]["body"]
    assert reply["content"]["msgtype"] == "m.notice"
    assert "!h ping" in body and "!h version" in body
    assert reply["content"]["m.mentions"] == {"user_ids": []}
    assert "<code>" in reply["content"]["formatted_body"]


async def test_help_for_one_command_and_the_long_prefix(bot) -> None:
    app, admin, room_id = bot
    reply = await admin.send_and_wait_reply(room_id, "!harmony help ping", from_user=app.config.bot.user_id)
    assert "Usage: !harmony ping" in reply["content"]["body"]
    assert "Example: !harmony ping" in reply["content"]["body"]


async def test_unknown_command_and_bad_arguments_get_specific_answers(bot) -> None:
    app, admin, room_id = bot
    reply = await admin.send_and_wait_reply(room_id, "!h pnig", from_user=app.config.bot.user_id)
    assert 'I don\'t know the command "pnig"' in reply["content"]["body"]
    assert "!h ping" in reply["content"]["body"]
    reply = await admin.send_and_wait_reply(room_id, "!h ping extra words", from_user=app.config.bot.user_id)
    assert 'unexpected "extra words"' in reply["content"]["body"]
    assert "Usage: !h ping" in reply["content"]["body"]


async def test_a_failing_handler_does_not_stop_the_bot(bot) -> None:
    app, admin, room_id = bot
    reply = await admin.send_and_wait_reply(room_id, "!h boom", from_user=app.config.bot.user_id)
    assert "something went wrong on my side" in reply["content"]["body"]

    # An event callback that raises is isolated too, and the sync loop keeps going.
    async def explode(room: str, event: object) -> None:
        raise ValueError("callback failure")

    from nio import RoomMessageText

    app.dispatcher.on(RoomMessageText, explode)
    reply = await admin.send_and_wait_reply(room_id, "!h ping", from_user=app.config.bot.user_id)
    assert reply["content"]["body"].startswith("Pong")
    assert not app._sync_task.done()


async def test_invites_from_strangers_are_declined_politely(bot, make_user) -> None:
    app, _admin, _room = bot
    stranger, friend = await make_user("stranger"), await make_user("friend")
    # A group room (a room with just the stranger and the bot would be a direct chat: test_privacy.py).
    room_id = await stranger.create_room(name="Strange", preset="private_chat",
                                         invite=[app.config.bot.user_id, friend.user_id])
    async with stranger.listening() as listener:
        event = await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member"
                                        and e.get("state_key") == app.config.bot.user_id
                                        and e["content"].get("membership") == "leave",
                                        description="the bot declining the invite")
    assert "administrator" in event["content"].get("reason", "")


async def test_messages_from_the_bot_itself_and_notices_are_ignored(bot) -> None:
    app, admin, room_id = bot
    async with admin.listening() as listener:
        notice_id = await admin.send_event(room_id, "m.room.message", {"msgtype": "m.notice", "body": "!h ping"})
        ping_id = await admin.send_text(room_id, "!h ping")
        await listener.wait_for(room_id, replies_to(ping_id), description="reply to the text ping")
    assert not [e for e in listener.events if replies_to(notice_id)(e)]


@pytest.mark.postgres_too
async def test_crash_between_commands_loses_nothing_and_answers_once(synapse: LocalSynapse, make_user,
                                                                    tmp_path: Path) -> None:
    """SIGKILL the bot; a command sent while it is down is answered exactly once after the restart,
    even behind more messages than one sync timeline holds (the gap is filled); earlier commands are
    not answered again."""
    admin = await make_user("crash-admin")
    bot_user = await synapse.register_user(f"crashbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   sync={"timeline_limit": 10, "timeout_ms": 2000})
    process = BotProcess(config_path)
    await process.start()
    try:
        room_id = await admin.create_room(name="Crash test", preset="private_chat", invite=[bot_user.user_id])
        first = await admin.send_and_wait_reply(room_id, "!h ping", from_user=bot_user.user_id, timeout=60)
        first_command = first["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]

        await process.kill()
        down_command = await admin.send_text(room_id, "!h version")
        for number in range(15):  # more than timeline_limit: the bot must fill the gap
            await admin.send_text(room_id, f"chatter {number}")

        async with admin.listening() as listener:
            await process.start()
            await listener.wait_for(room_id, replies_to(down_command, sender=bot_user.user_id), timeout=60,
                                    description="the answer to the command sent while the bot was down")
            sentinel = await admin.send_text(room_id, "!h ping")
            await listener.wait_for(room_id, replies_to(sentinel, sender=bot_user.user_id), timeout=30,
                                    description="the answer to a later ping")
        history = await admin.request("GET", f"/_matrix/client/v3/rooms/{room_id}/messages",
                                      params={"dir": "b", "limit": "200"})
        replies = [e for e in history["chunk"] if e.get("sender") == bot_user.user_id
                   and e.get("type") == "m.room.message"]
        to_down = [e for e in replies if replies_to(down_command)(e)]
        to_first = [e for e in replies if replies_to(first_command)(e)]
        assert len(to_down) == 1, process.log_text()
        assert len(to_first) == 1, process.log_text()
        assert "harmony-matrix" in to_down[0]["content"]["body"]
    finally:
        await process.terminate()
    assert "Traceback" not in process.log_text()


async def test_clean_shutdown_on_sigterm(synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    admin = await make_user("term-admin")
    bot_user = await synapse.register_user(f"termbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id])
    process = BotProcess(config_path)
    await process.start()
    room_id = await admin.create_room(name="Term test", preset="private_chat", invite=[bot_user.user_id])
    await admin.send_and_wait_reply(room_id, "!h ping", from_user=bot_user.user_id, timeout=60)
    assert await process.terminate() == 0
    assert "harmony-matrix stopped" in process.log_text()


async def test_password_login_reuses_its_device_across_restarts(synapse: LocalSynapse, make_user,
                                                              tmp_path: Path) -> None:
    admin = await make_user("device-admin")
    bot_user = await synapse.register_user(f"devbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id])
    devices = []
    for _ in range(2):
        app = await start_app(config_path)
        devices.append(app.client.device_id)
        await app.stop()
    assert devices[0] == devices[1]


async def test_a_homeserver_restart_is_survived(bot, synapse: LocalSynapse) -> None:
    app, admin, room_id = bot
    await synapse.restart()
    reply = await admin.send_and_wait_reply(room_id, "!h ping", from_user=app.config.bot.user_id, timeout=90)
    assert reply["content"]["body"].startswith("Pong")
    assert not app._sync_task.done()
