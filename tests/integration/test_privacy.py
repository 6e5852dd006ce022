"""The membership registry and people's own data, in direct chats only: a room with just the person
and the bot, whatever flag created it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from botrunner import start_app, write_bot_config
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from matrix_client import TestMatrixUser, of_type

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOT_DIRECT = "a room with only you and me in it, which nobody joins without an invite."


async def open_dm(user: TestMatrixUser, bot_id: str) -> str:
    """A direct chat with the bot, as Element creates one; returns once the bot has joined."""
    async with user.listening() as listener:
        room_id = await user.create_room(preset="private_chat", invite=[bot_id], is_direct=True)
        await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot_id
                                and e["content"].get("membership") == "join", description="the bot joining the DM")
    return room_id


@pytest_asyncio.fixture(loop_scope="session")
async def bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[tuple[App, TestMatrixUser]]:
    admin = await make_user("privacy-admin")
    bot_user = await synapse.register_user(f"privbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    app = await start_app(write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id]))
    try:
        yield app, admin
    finally:
        await app.stop()


async def test_membership_is_managed_only_by_admins_in_direct_chats(bot, make_user) -> None:
    app, admin = bot
    bot_id = app.config.bot.user_id
    sam = await make_user("sam")
    # An admin's three-person room (the bot joins group rooms admins invite it to): not private.
    group = await admin.create_room(name="Group", preset="private_chat", invite=[bot_id, sam.user_id])
    async with admin.listening() as listener:
        await listener.wait_for(group, of_type("m.room.member", state_key=bot_id), description="bot joins group")
    reply = await admin.send_and_wait_reply(group, f"!h member add {sam.user_id}", from_user=bot_id)
    assert reply["content"]["body"] == f"!h member add works in a direct message with me: {NOT_DIRECT}"
    assert not await app.db.members.is_member(sam.user_id)

    sam_dm = await open_dm(sam, bot_id)
    reply = await sam.send_and_wait_reply(sam_dm, f"!h member add {sam.user_id}", from_user=bot_id)
    assert reply["content"]["body"] == "!h member add is for admins only."

    admin_dm = await open_dm(admin, bot_id)
    reply = await admin.send_and_wait_reply(admin_dm, f"!h member add {sam.user_id}", from_user=bot_id)
    assert "is now registered as a party member" in reply["content"]["body"]
    assert await app.db.members.is_member(sam.user_id)
    reply = await admin.send_and_wait_reply(admin_dm, f"!h member add {sam.user_id}", from_user=bot_id)
    assert "was already registered" in reply["content"]["body"]


async def test_mydata_exports_and_forget_me_erases(bot, make_user) -> None:
    app, admin = bot
    bot_id = app.config.bot.user_id
    kim = await make_user("kim")
    await app.db.members.add(kim.user_id, by=admin.user_id, at=app.clock())
    dm = await open_dm(kim, bot_id)

    async with kim.listening() as listener:
        command = await kim.send_text(dm, "!h mydata")
        file_event = await listener.wait_for(dm, lambda e: e["content"].get("msgtype") == "m.file",
                                             description="the exported file")
        await listener.wait_for(dm, lambda e: (e["content"].get("m.relates_to") or {}).get("m.in_reply_to", {})
                                .get("event_id") == command, description="the reply to mydata")
    server, media_id = file_event["content"]["url"][len("mxc://"):].split("/", 1)
    exported = await kim.request("GET", f"/_matrix/client/v1/media/download/{server}/{media_id}")
    assert exported["user_id"] == kim.user_id
    assert exported["party_membership"]["added_by"] == admin.user_id

    reply = await kim.send_and_wait_reply(dm, "!h forget-me", from_user=bot_id)
    assert "forget-me confirm" in reply["content"]["body"]
    assert await app.db.members.is_member(kim.user_id)  # nothing erased without confirmation
    reply = await kim.send_and_wait_reply(dm, "!h forget-me confirm", from_user=bot_id)
    assert reply["content"]["body"].startswith("Done")
    assert not await app.db.members.is_member(kim.user_id)


async def test_a_room_with_just_the_person_and_the_bot_is_a_direct_chat_without_the_flag(bot, make_user) -> None:
    """A client that sets no ``is_direct`` (or a room made by hand): with only the person and the bot in
    it, private commands work there; once a third person is in, they are refused with the reason."""
    app, admin = bot
    bot_id = app.config.bot.user_id
    lou, guest = await make_user("lou"), await make_user("guest")
    await app.db.members.add(lou.user_id, by=admin.user_id, at=app.clock())
    async with lou.listening() as listener:
        room = await lou.create_room(name="Me and the bot", preset="private_chat", invite=[bot_id])
        await listener.wait_for(room, of_type("m.room.member", state_key=bot_id), description="the bot joining")
        command = await lou.send_text(room, "!h mydata")
        file_event = await listener.wait_for(room, lambda e: e["content"].get("msgtype") == "m.file",
                                             description="the exported file")
        await listener.wait_for(room, lambda e: (e["content"].get("m.relates_to") or {}).get("m.in_reply_to", {})
                                .get("event_id") == command, description="the reply to mydata")
    server, media_id = file_event["content"]["url"][len("mxc://"):].split("/", 1)
    exported = await lou.request("GET", f"/_matrix/client/v1/media/download/{server}/{media_id}")
    assert exported["user_id"] == lou.user_id and exported["party_membership"]["added_by"] == admin.user_id

    await lou.invite(room, guest.user_id)  # invited is enough: they could join and read what follows
    reply = await lou.send_and_wait_reply(room, "!h mydata", from_user=bot_id)
    assert reply["content"]["body"] == f"!h mydata works in a direct message with me: {NOT_DIRECT}"


async def test_a_group_room_from_someone_else_is_declined_after_a_look(bot, make_user) -> None:
    app, _admin = bot
    bot_id = app.config.bot.user_id
    ned, friend = await make_user("ned"), await make_user("friend")
    async with ned.listening() as listener:
        room = await ned.create_room(name="Us three", preset="private_chat", invite=[bot_id, friend.user_id])
        left = await listener.wait_for(room, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot_id
                                       and e["content"].get("membership") == "leave", description="the bot leaving")
    assert "a direct chat with me is always fine" in left["content"]["reason"]
    assert await app.db.direct_chats.room_of(ned.user_id) is None
