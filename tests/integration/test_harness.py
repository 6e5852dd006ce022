"""Tests of the integration harness itself: LocalSynapse, the fixtures and TestMatrixUser."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import aiohttp
import pytest
from matrix_client import MakeUser, TestMatrixUser, of_type

from harmony_app.local_synapse import LocalSynapse
from storage.admin import create_postgres_database, drop_postgres_database


def _text(body: str):
    def predicate(event: dict) -> bool:
        return event["type"] == "m.room.message" and event["content"].get("body") == body

    predicate.__name__ = f"the message {body!r}"
    return predicate


async def test_server_answers(synapse: LocalSynapse) -> None:
    assert synapse.url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{synapse.url}/health") as response:
            assert await response.text() == "OK"
        async with http.get(f"{synapse.url}/_matrix/client/versions") as response:
            assert "v1.11" in (await response.json())["versions"]


async def test_a_user_creates_a_room_and_another_joins_and_reads(make_user: MakeUser) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await alice.create_room(name="Harness", preset="public_chat")

    assert await bob.join(room_id) == room_id
    async with bob.listening() as listener:
        event_id = await alice.send_text(room_id, "hello bob")
        event = await listener.wait_for(room_id, _text("hello bob"), timeout=10)

    assert event["event_id"] == event_id
    assert event["sender"] == alice.user_id
    assert await alice.joined_members(room_id) == {alice.user_id, bob.user_id}


async def test_send_and_wait_reply_returns_the_reply(make_user: MakeUser) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await alice.create_room(invite=[bob.user_id], preset="private_chat")
    assert await bob.wait_for_invite(timeout=10) == room_id
    await bob.join(room_id)

    async with bob.listening() as bob_listener:  # bob, playing the bot, listens first

        async def answer_like_a_bot() -> None:
            question = await bob_listener.wait_for(room_id, _text("!ping"), timeout=10)
            await bob.send_text(room_id, "noise first")  # not a reply: must be ignored
            await bob.send_text(room_id, "pong", reply_to=question["event_id"])

        bot = asyncio.create_task(answer_like_a_bot())
        reply = await alice.send_and_wait_reply(room_id, "!ping", from_user=bob.user_id, timeout=10)
        await bot

    assert reply["content"]["body"] == "pong"
    assert reply["sender"] == bob.user_id


async def test_waiting_for_a_reply_that_never_comes_fails_clearly(make_user: MakeUser) -> None:
    alice = await make_user("alice")
    room_id = await alice.create_room()

    with pytest.raises(AssertionError) as failure:
        await alice.send_and_wait_reply(room_id, "!help", from_user="@bot:localhost", timeout=0.5)

    message = str(failure.value)
    assert "timed out after 0.5 s waiting for a reply from @bot:localhost" in message
    assert "'!help'" in message
    assert "m.room.message from " + alice.user_id in message  # lists what it did see


async def test_wait_for_event_needs_a_listening_block(make_user: MakeUser) -> None:
    alice = await make_user("alice")
    with pytest.raises(RuntimeError, match="listening"):
        await alice.wait_for_event(None, of_type("m.room.message"))


async def test_reactions_redactions_and_state(make_user: MakeUser) -> None:
    alice = await make_user("alice")
    room_id = await alice.create_room(name="Before")
    message_id = await alice.send_text(room_id, "vote on me")

    async with alice.listening() as listener:
        reaction_id = await alice.react(room_id, message_id, "3\ufe0f\u20e3")
        await alice.redact(room_id, reaction_id)
        await alice.put_state(room_id, "m.room.name", {"name": "After"})
        reaction = await listener.wait_for(room_id, of_type("m.reaction"))
        redaction = await listener.wait_for(room_id, of_type("m.room.redaction"))

    assert reaction["event_id"] == reaction_id
    assert redaction["content"]["redacts"] == reaction_id
    assert await alice.get_state(room_id, "m.room.name") == {"name": "After"}
    assert await alice.get_state(room_id, "org.harmony.absent") is None


async def test_restart_keeps_data(tmp_path: Path) -> None:
    async with LocalSynapse(tmp_path / "hs") as server:
        registered = await server.register_user("carol")
        carol = TestMatrixUser(server.url, user_id=registered.user_id, access_token=registered.access_token)
        try:
            room_id = await carol.create_room(name="Survives")
            url = server.url

            await server.restart()

            assert server.url == url
            assert room_id in await carol.joined_rooms()
            assert (await carol.sync())["next_batch"]
            again = await server.register_user("carol")  # exists now: logs in instead
            assert again.user_id == registered.user_id
            assert again.access_token != registered.access_token
        finally:
            await carol.close()
    assert not server.running


async def test_reuse_keeps_the_data_dir(tmp_path: Path) -> None:
    async with LocalSynapse(tmp_path / "hs") as first:
        user = await first.register_user("dave")
    async with LocalSynapse(tmp_path / "hs", reuse=True) as second:
        assert (second.server_name, second.client_port) == (first.server_name, first.client_port)
        assert (await second.register_user("dave")).user_id == user.user_id


async def test_a_remote_user_joins_a_public_room_with_via(
    synapse_pair: tuple[LocalSynapse, LocalSynapse], make_user: MakeUser
) -> None:
    hs1, hs2 = synapse_pair
    alice = await make_user("alice", server=hs1)
    bob = await make_user("bob", server=hs2)
    room_id = await alice.create_room(name="Federated", preset="public_chat")

    async with alice.listening() as listener:
        assert await bob.join(room_id, via=[hs1.server_name]) == room_id
        await listener.wait_for(room_id, of_type("m.room.member", state_key=bob.user_id), timeout=15)
        await bob.send_text(room_id, "hello from hs2")
        event = await listener.wait_for(room_id, _text("hello from hs2"), timeout=15)

    assert event["sender"] == bob.user_id
    assert bob.server_name == hs2.server_name != hs1.server_name


@pytest.mark.postgres
async def test_synapse_on_postgres(tmp_path: Path) -> None:
    admin_dsn = os.environ["HARMONY_TEST_POSTGRES"]
    name = f"harmony_synapse_{secrets.token_hex(4)}"
    dsn = await create_postgres_database(admin_dsn, name)
    try:
        async with LocalSynapse(tmp_path / "hs", database=dsn) as server:
            user = await server.register_user("erin")
            assert user.user_id == "@erin:localhost"
    finally:
        await drop_postgres_database(admin_dsn, name)
