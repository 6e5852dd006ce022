"""The first hour of a new assembly against a real Synapse (issue 11): a fresh user gets into a nested
assembly by commands alone, every room is reachable by its alias, and a secretary named in the
federation file reaches the invite-only secretariat. Every bot message is checked to be balanced
HTML with a plain body that reads on its own."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio

from botrunner import start_app, write_bot_config
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.federation_file import load_federation
from matrix_client import TestMatrixUser, of_type
from tests.fakes.html_check import assert_readable

pytestmark = pytest.mark.asyncio(loop_scope="session")

KINDS = ("space", "discussion", "announcements", "votes", "secretariat")


def federation_text(tag: str, *, secretary: str | None = None) -> str:
    """A party and a committee open to its participants; slugs unique per test (aliases are server-wide)."""
    officer = f'\n    secretary: "{secretary}"' if secretary else ""
    return f"""
version: 1
assemblies:
  - slug: party-{tag}
    name: Test Party {tag}
    kind: party
    access: open
  - slug: fc-{tag}
    name: Foundational Committee {tag}
    kind: committee
    access: participants
    parents: [party-{tag}]{officer}
"""


@pytest_asyncio.fixture(loop_scope="session")
async def bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[tuple[App, TestMatrixUser]]:
    admin = await make_user("onb-admin")
    bot_user = await synapse.register_user(f"onbbot-{secrets.token_hex(3)}")
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   sync={"timeout_ms": 2000})
    app = await start_app(config_path)
    try:
        yield app, admin
    finally:
        await app.stop()


def feature(app: App) -> Any:
    return app.features["assemblies"]


async def open_direct_chat(user: TestMatrixUser, bot_id: str) -> str:
    """What a newcomer does first: start a direct chat with the bot, and wait until it has joined."""
    async with user.listening() as listener:
        room_id = await user.create_room(preset="trusted_private_chat", invite=[bot_id], is_direct=True)
        await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot_id
                                and e["content"].get("membership") == "join", description="the bot joining")
    return room_id


async def answer(user: TestMatrixUser, room_id: str, text: str, bot_id: str) -> str:
    reply = await user.send_and_wait_reply(room_id, text, from_user=bot_id)
    assert_readable(reply["content"])
    return str(reply["content"]["body"])


async def test_a_fresh_user_joins_a_nested_assembly_by_commands_alone(bot, make_user) -> None:
    app, _admin = bot
    bot_id, server = app.config.bot.user_id, app.gateway.server_name
    tag = secrets.token_hex(3)
    await feature(app).apply_federation(load_federation(federation_text(tag), source="onboarding.yaml"))
    party = await feature(app).rooms_of(f"party-{tag}")
    committee = await feature(app).rooms_of(f"fc-{tag}")
    fresh = await make_user("fresh")
    dm = await open_direct_chat(fresh, bot_id)

    async with fresh.listening() as listener:
        said = await answer(fresh, dm, f"!h join party-{tag}", bot_id)
        assert said.startswith(f"Welcome to Test Party {tag}. I have invited you to its space, #party-{tag}:{server}: "
                               f"accept the invite to join Test Party {tag}. In Element")
        await listener.wait_for_invite(party["space"])
    # Straight away, before accepting: the answer names the invite that is waiting.
    said = await answer(fresh, dm, f"!h join fc-{tag}", bot_id)
    assert said == (f"Foundational Committee {tag} is open to participants of Test Party {tag}. You have an invite "
                    f"to Test Party {tag} that you have not accepted yet: accept the invite to Test Party {tag} "
                    f"first, then send !h join fc-{tag} again.")
    await fresh.join(party["space"])
    async with fresh.listening() as listener:
        said = await answer(fresh, dm, f"!h join fc-{tag}", bot_id)
        assert said.startswith(f"Welcome to Foundational Committee {tag}. I have invited you to its space, "
                               f"#fc-{tag}:{server}")
        await listener.wait_for_invite(committee["space"])
    await fresh.join(committee["space"])
    await fresh.join(committee["discussion"], via=[server])
    assert fresh.user_id in await fresh.joined_members(committee["discussion"])
    # No "I have answered you in a direct message" inside the direct message itself.
    history = await app.gateway.request("GET", f"/v3/rooms/{quote(dm)}/messages", query={"dir": "b", "limit": 50})
    assert not [e for e in history["chunk"] if "answered you in a direct message" in e["content"].get("body", "")]


async def resolve(user: TestMatrixUser, alias: str) -> str:
    reply = await user.request("GET", f"/_matrix/client/v3/directory/room/{quote(alias, safe='')}")
    return str(reply["room_id"])


async def test_every_room_is_reachable_by_its_alias_and_sync_gives_one_back(bot, make_user) -> None:
    app, admin = bot
    bot_id, server = app.config.bot.user_id, app.gateway.server_name
    tag = secrets.token_hex(3)
    await feature(app).apply_federation(load_federation(federation_text(tag), source="aliases.yaml"))
    visitor = await make_user("visitor")
    for slug in (f"party-{tag}", f"fc-{tag}"):
        rooms = await feature(app).rooms_of(slug)
        for kind in KINDS:
            alias = f"#{slug}:{server}" if kind == "space" else f"#{slug}-{kind}:{server}"
            assert await resolve(visitor, alias) == rooms[kind], alias
            assert (await app.gateway.get_state_event(rooms[kind], "m.room.canonical_alias"))["alias"] == alias
    # People reach an open room by its name, in any client.
    party = await feature(app).rooms_of(f"party-{tag}")
    assert await visitor.join(f"#party-{tag}-discussion:{server}") == party["discussion"]
    # A room that lost its address (as rooms made before aliases have none) gets it back on sync.
    alias = f"#party-{tag}-votes:{server}"
    await app.gateway.put_state(party["votes"], "m.room.canonical_alias", {})
    await app.gateway.request("DELETE", f"/v3/directory/room/{quote(alias, safe='')}")
    await admin.join(party["space"])
    await admin.join(party["discussion"])
    reply = await admin.send_and_wait_reply(party["discussion"], f"!h assembly sync party-{tag}", from_user=bot_id)
    assert_readable(reply["content"])
    assert "m.room.canonical_alias: missing" in reply["content"]["body"]
    assert await resolve(visitor, alias) == party["votes"]
    listing = await admin.send_and_wait_reply(party["discussion"], "!h assemblies", from_user=bot_id)
    assert_readable(listing["content"])
    assert f"Test Party {tag} — party · #party-{tag}:{server}" in listing["content"]["body"]
    # A new assembly's reply names its rooms by their addresses.
    created = await admin.send_and_wait_reply(
        party["discussion"], f'!h assembly create media-{tag} "Media {tag}" parent=party-{tag}', from_user=bot_id)
    assert_readable(created["content"])
    rooms = ", ".join(f"#media-{tag}-{kind}:{server}" for kind in KINDS[1:])
    assert created["content"]["body"] == f"Created Media {tag}: a space, #media-{tag}:{server}, with 4 rooms: {rooms}."


async def test_a_secretary_added_in_the_federation_file_reaches_the_secretariat(bot, make_user) -> None:
    app, admin = bot
    bot_id = app.config.bot.user_id
    tag = secrets.token_hex(3)
    await feature(app).apply_federation(load_federation(federation_text(tag), source="before.yaml"))
    committee = await feature(app).rooms_of(f"fc-{tag}")
    secretary = await make_user("file-secretary")
    # The file now names a secretary for the existing committee: the import updates it.
    async with secretary.listening() as listener:
        report = await feature(app).apply_federation(load_federation(
            federation_text(tag, secretary=secretary.user_id), source="after.yaml"))
        assert [op.describe() for op in report.plan.operations] == [
            f"~ update fc-{tag}: secretary: (none) → '{secretary.user_id}'"]
        await listener.wait_for_invite(committee["secretariat"])
    await secretary.join(committee["secretariat"])
    for kind in KINDS:
        levels = await app.gateway.get_state_event(committee[kind], "m.room.power_levels")
        assert levels["users"].get(secretary.user_id) == 50, kind
    # Left it by mistake: the next sync invites them again, as `secretary set` would.
    await secretary.leave(committee["secretariat"])
    await admin.join((await feature(app).rooms_of(f"party-{tag}"))["space"])
    await admin.join(committee["space"])
    await admin.join(committee["discussion"])
    async with secretary.listening() as listener:
        reply = await admin.send_and_wait_reply(committee["discussion"], f"!h assembly sync fc-{tag}",
                                                from_user=bot_id)
        assert_readable(reply["content"])
        await listener.wait_for_invite(committee["secretariat"])
    await secretary.join(committee["secretariat"])
    assert secretary.user_id in await secretary.joined_members(committee["secretariat"])
    answered = await secretary.send_and_wait_reply(committee["secretariat"], "!h ping", from_user=bot_id)
    assert of_type("m.room.message", sender=bot_id)(answered)
