"""Encrypted direct messages, as Element creates them: the bot reads and answers them encrypted, runs the
private flows there (the membership registry, self-identified declarations, people's own data), sends
files encrypted, keeps its one device across a crash, says once when it cannot read a message, and
never writes what was said to its log."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from nio import MegolmEvent, RoomMessageNotice

from botrunner import BotProcess, start_app, write_bot_config
from e2ee_client import E2EEUser, nio_replies_to
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.federation_file import load_federation
from matrix_client import TestMatrixUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

UNREADABLE = "I could not read your encrypted message"
SELF_IDENTIFIED = """
version: 1
assemblies:
  - slug: quiet
    name: Quiet Caucus
    kind: society
    access: self-identified
    declaration: I am a member of the quiet caucus.
"""
STATEMENT = "I am a member of the quiet caucus."


@pytest_asyncio.fixture(loop_scope="session")
async def bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[tuple[App, TestMatrixUser]]:
    admin = await make_user("e2ee-admin")
    bot_user = await synapse.register_user(f"e2eebot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    app = await start_app(write_bot_config(tmp_path / "bot", synapse=synapse, bot=bot_user,
                                           admins=[admin.user_id], encrypt_direct_chats=True))
    try:
        yield app, admin
    finally:
        await app.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def e2ee_users(tmp_path: Path) -> AsyncIterator[list[E2EEUser]]:
    """Closes the encrypting clients a test starts (append them)."""
    users: list[E2EEUser] = []
    try:
        yield users
    finally:
        for user in users:
            await user.close()


async def person(make_user, tmp_path: Path, users: list[E2EEUser], name: str) -> E2EEUser:
    user = await E2EEUser.start(await make_user(name), tmp_path)
    users.append(user)
    return user


async def encrypted_on_server(user: E2EEUser, room_id: str, event_id: str, *, not_in: str) -> None:
    """The homeserver holds ``event_id`` as Megolm ciphertext, without ``not_in`` in it."""
    on_server = await user.raw_event(room_id, event_id)
    assert on_server["type"] == "m.room.encrypted"
    assert on_server["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
    assert not_in not in json.dumps(on_server)


async def test_an_encrypted_dm_gets_help_answered_encrypted(bot, make_user, tmp_path: Path, e2ee_users) -> None:
    app, _admin = bot
    bot_id = app.config.bot.user_id
    alice = await person(make_user, tmp_path, e2ee_users, "alice")
    dm = await alice.create_dm(bot_id)

    reply = await alice.send_and_wait_reply(dm, "!h help", from_user=bot_id)

    assert isinstance(reply, RoomMessageNotice), f"not decrypted: {reply}"
    assert "!h ping" in reply.body and "!h mydata" in reply.body
    await encrypted_on_server(alice, dm, reply.event_id, not_in="!h ping")
    assert (await alice.raw_event(dm, reply.event_id))["content"]["device_id"] == app.client.device_id


@pytest.mark.postgres_too
async def test_an_admin_keeps_the_registry_in_an_encrypted_dm(bot, tmp_path: Path, make_user, e2ee_users) -> None:
    app, admin_plain = bot
    bot_id = app.config.bot.user_id
    admin = await E2EEUser.start(admin_plain, tmp_path)
    e2ee_users.append(admin)
    sam = await make_user("sam")
    dm = await admin.create_dm(bot_id)

    added = await admin.send_and_wait_reply(dm, f"!h member add {sam.user_id}", from_user=bot_id)

    assert isinstance(added, RoomMessageNotice), f"not decrypted: {added}"
    assert added.body == f"{sam.user_id} is now registered as a party member."
    assert await app.db.members.is_member(sam.user_id)
    await encrypted_on_server(admin, dm, added.event_id, not_in="registered")
    removed = await admin.send_and_wait_reply(dm, f"!h member remove {sam.user_id}", from_user=bot_id)
    assert removed.body == f"{sam.user_id} is no longer registered as a party member."
    assert not await app.db.members.is_member(sam.user_id)


async def test_a_self_identified_declaration_in_an_encrypted_dm(bot, make_user, tmp_path: Path, e2ee_users) -> None:
    """``join`` asks the statement privately in the person's encrypted DM; ``confirm`` there records the
    declaration and invites them; the statement and the answer are ciphertext on the server."""
    app, _admin = bot
    bot_id = app.config.bot.user_id
    await app.features["assemblies"].apply_federation(load_federation(SELF_IDENTIFIED, source="test"))
    space = (await app.features["assemblies"].rooms_of("quiet"))["space"]
    eve = await person(make_user, tmp_path, e2ee_users, "eve")
    dm = await eve.create_dm(bot_id)

    await eve.send_text(dm, "!h join quiet")
    question = await eve.wait_for(dm, lambda e: e.sender == bot_id and STATEMENT in getattr(e, "body", ""),
                                  description="the private question")
    confirmed = await eve.send_and_wait_reply(dm, "!h confirm", from_user=bot_id)
    await eve.wait_for_invite(space)

    assert isinstance(question, RoomMessageNotice) and "!h confirm" in question.body
    assert isinstance(confirmed, RoomMessageNotice) and "invited you" in confirmed.body
    await encrypted_on_server(eve, dm, question.event_id, not_in=STATEMENT)
    await encrypted_on_server(eve, dm, confirmed.event_id, not_in="invited")
    assert not eve.undecryptable(dm)


async def test_mydata_in_an_encrypted_dm_comes_as_an_encrypted_file(bot, make_user, tmp_path: Path,
                                                                   e2ee_users) -> None:
    app, _admin = bot
    bot_id = app.config.bot.user_id
    kim = await person(make_user, tmp_path, e2ee_users, "kim")
    await app.db.members.add(kim.user_id, by=bot_id, at=app.clock())
    dm = await kim.create_dm(bot_id)

    command = await kim.send_text(dm, "!h mydata")
    file_event = await kim.wait_for(dm, lambda e: e.sender == bot_id
                                    and (e.source.get("content") or {}).get("msgtype") == "m.file",
                                    description="the exported file")
    await kim.wait_for(dm, nio_replies_to(command, sender=bot_id), description="the reply to mydata")

    content = file_event.source["content"]
    assert "url" not in content and content["file"]["url"].startswith("mxc://")
    assert (await kim.raw_event(dm, file_event.event_id))["type"] == "m.room.encrypted"
    exported = json.loads(await kim.download(content))
    assert exported["user_id"] == kim.user_id
    assert exported["party_membership"]["added_by"] == bot_id
    ciphertext_on_server = await kim.download({"url": content["file"]["url"]})
    assert kim.user_id.encode() not in ciphertext_on_server


async def test_mydata_in_an_unencrypted_dm_is_refused_and_no_file_is_sent(bot, make_user, tmp_path: Path,
                                                                         e2ee_users) -> None:
    """A direct chat created without ``m.room.encryption`` (preset trusted_private_chat) is readable by the
    homeserver: ``mydata`` there is refused with the remedy and nothing is sent; in the same person's
    encrypted direct chat it comes, encrypted."""
    app, _admin = bot
    bot_id = app.config.bot.user_id
    plain = await make_user("lou")
    await app.db.members.add(plain.user_id, by=bot_id, at=app.clock())
    async with plain.listening() as listener:
        dm = await plain.create_room(preset="trusted_private_chat", invite=[bot_id], is_direct=True)
        await listener.wait_for(dm, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot_id
                                and e["content"].get("membership") == "join", description="the bot joining the DM")
    assert await plain.get_state(dm, "m.room.encryption") is None

    reply = await plain.send_and_wait_reply(dm, "!h mydata", from_user=bot_id)
    refusal = (
        "!h mydata carries private data (party membership, declarations, self-descriptions), so I only do it in "
        "an encrypted direct chat, and this one is not encrypted: the homeserver can read it. Start a new "
        "direct chat with me (Element encrypts direct chats by default) or turn on encryption in this room's "
        "settings, then send it again. I have done nothing.")
    assert reply["content"]["body"] == refusal
    history = await plain.request("GET", f"/_matrix/client/v3/rooms/{quote(dm, safe='')}/messages",
                                  params={"dir": "b", "limit": "50"})
    from_bot = [e for e in history["chunk"] if e["sender"] == bot_id and e["type"] == "m.room.message"]
    assert [e["content"]["msgtype"] for e in from_bot] == ["m.notice"]
    assert "party_membership" not in json.dumps(history)

    lou = await E2EEUser.start(plain, tmp_path)
    e2ee_users.append(lou)
    secret_dm = await lou.create_dm(bot_id)
    await lou.send_text(secret_dm, "!h mydata")
    file_event = await lou.wait_for(secret_dm, lambda e: e.sender == bot_id
                                    and (e.source.get("content") or {}).get("msgtype") == "m.file",
                                    description="the exported file")
    assert (await lou.raw_event(secret_dm, file_event.event_id))["type"] == "m.room.encrypted"
    assert json.loads(await lou.download(file_event.source["content"]))["user_id"] == lou.user_id


async def test_a_dm_the_bot_opens_is_encrypted(bot, make_user, tmp_path: Path, e2ee_users) -> None:
    """The bot tells someone something privately: it opens the DM encrypted and shares the key with the
    invited person's device before they join, so they read it once they do."""
    app, _admin = bot
    bot_id = app.config.bot.user_id
    ada = await person(make_user, tmp_path, e2ee_users, "ada")

    dm = await app.running.poster.dm(ada.user_id, "Only you can read this.", txn_seed=f"test:{ada.user_id}")
    await ada.join_when_invited(dm)
    told = await ada.wait_for(dm, lambda e: e.sender == bot_id and isinstance(e, (RoomMessageNotice, MegolmEvent)),
                              description="the private message")

    assert isinstance(told, RoomMessageNotice), f"not decrypted: {told}"
    assert told.body == "Only you can read this."
    assert await ada.plain.get_state(dm, "m.room.encryption") == {"algorithm": "m.megolm.v1.aes-sha2"}
    assert (await ada.raw_event(dm, told.event_id))["type"] == "m.room.encrypted"
    reply = await ada.send_and_wait_reply(dm, "!h ping", from_user=bot_id)
    assert reply.body.startswith("Pong")


async def test_an_unreadable_message_gets_one_notice(bot, make_user, tmp_path: Path, e2ee_users,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Two messages whose key the bot never gets (a Megolm session shared with nobody): the sender is
    told once, in the room, to send again; the log names the events, never their content; messages
    after that are read and answered as usual."""
    caplog.set_level(logging.INFO)
    app, _admin = bot
    bot_id = app.config.bot.user_id
    sam = await person(make_user, tmp_path, e2ee_users, "sam")
    dm = await sam.create_dm(bot_id)
    secret = f"my vote is {secrets.token_hex(4)}"

    async with sam.withholding_keys(dm):
        first = await sam.send_text(dm, f"!h ping {secret}")
        second = await sam.send_text(dm, "!h help")
    notice = await sam.wait_for(dm, nio_replies_to(first, sender=bot_id), description="the could-not-read notice")
    ping = await sam.send_and_wait_reply(dm, "!h ping", from_user=bot_id)

    assert isinstance(notice, RoomMessageNotice) and notice.body.startswith(UNREADABLE)
    assert sam.user_id in notice.source["content"]["m.mentions"]["user_ids"]
    assert ping.body.startswith("Pong")
    from_bot = [e for r, e in sam.events if r == dm and e.sender == bot_id]
    assert not [e for e in from_bot if isinstance(e, MegolmEvent)], "the bot's messages must all be readable"
    assert [e.body for e in from_bot if isinstance(e, RoomMessageNotice) and e.body.startswith(UNREADABLE)] \
        == [notice.body], "told once per session"
    assert not [e for e in from_bot if nio_replies_to(second)(e)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "handlers.matrix.crypto"]
    assert any(first in line for line in warnings) and any(second in line for line in warnings)
    assert secret not in caplog.text


async def test_a_killed_bot_keeps_its_device_and_reads_the_same_dm(synapse: LocalSynapse, make_user,
                                                                   tmp_path: Path, e2ee_users) -> None:
    """SIGKILL and restart: the same device, the same Olm/Megolm sessions, so messages sent into the
    same DM while the bot was down (more than one sync timeline holds: the gap is filled from /messages
    and decrypted) and after the restart are read and answered; the DEBUG log holds nothing said."""
    admin = await make_user("e2ee-crash-admin")
    bot_user = await synapse.register_user(f"e2eecrash-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path / "bot", synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   logging={"level": "DEBUG"}, sync={"timeout_ms": 2000, "timeline_limit": 10},
                                   encrypt_direct_chats=True)
    process = BotProcess(config_path)
    await process.start()
    said = [f"a private word {secrets.token_hex(6)}", f"!h ping {secrets.token_hex(6)}"]
    try:
        lee = await person(make_user, tmp_path, e2ee_users, "lee")
        dm = await lee.create_dm(bot_user.user_id, timeout=90)
        before = await lee.send_and_wait_reply(dm, "!h help", from_user=bot_user.user_id, timeout=60)
        await lee.send_text(dm, said[0])
        quoted = await lee.send_and_wait_reply(dm, said[1], from_user=bot_user.user_id)
        assert isinstance(before, RoomMessageNotice) and isinstance(quoted, RoomMessageNotice)
        device = (await lee.raw_event(dm, before.event_id))["content"]["device_id"]

        await process.kill()
        down = await lee.send_text(dm, "!h version")
        for number in range(12):
            said.append(f"chatter {number} {secrets.token_hex(6)}")
            await lee.send_text(dm, said[-1])
        await process.start()
        answer = await lee.wait_for(dm, nio_replies_to(down, sender=bot_user.user_id), timeout=90,
                                    description="the answer to the command sent while the bot was down")
        after = await lee.send_and_wait_reply(dm, "!h ping", from_user=bot_user.user_id)

        assert isinstance(answer, RoomMessageNotice), f"not decrypted after the restart: {answer}"
        assert "harmony-matrix" in answer.body and after.body.startswith("Pong")
        assert (await lee.raw_event(dm, answer.event_id))["content"]["device_id"] == device
        keys = await lee.plain.request("POST", "/_matrix/client/v3/keys/query",
                                       body={"device_keys": {bot_user.user_id: []}})
        assert list(keys["device_keys"][bot_user.user_id]) == [device], "one device, never a new one per start"
        assert not lee.undecryptable(dm)
    finally:
        await process.terminate()
    log = process.log_text()
    assert "DEBUG" in log and "end-to-end encryption on: device " + device in log
    for words in said:
        assert words.split()[-1] not in log, f"{words!r} is in the bot's log"
    assert UNREADABLE not in log and "Traceback" not in log
