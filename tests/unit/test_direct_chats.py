"""What counts as a direct chat (``handlers/matrix/direct.py``): the bot and exactly one person, in a
room nobody joins without an invite, whatever flag created it. The same rule decides where private
commands run and where the bot writes to someone privately."""

from __future__ import annotations

import pytest

from handlers.matrix.commands import CommandContext, command
from handlers.matrix.gateway import Member
from handlers.privacy import PrivacyCommands
from harmony_matrix.errors import PrivateRefusal
from harmony_matrix.event_types import ROOM_JOIN_RULES
from harmony_matrix.ids import UserId
from tests.fakes.gateway import FakeRoom
from tests.fakes.harness import EdgeHarness

BOT = "@bot:test"
ALICE = "@alice:test"
BOB = "@bob:test"
TWO = "!two:test"
REFUSAL = ("!h mydata works in an encrypted direct message with me: a room with only you and me in it, "
           "encrypted so that not even the homeserver can read it.")


@pytest.fixture
def edge() -> EdgeHarness:
    edge = EdgeHarness()
    edge.add_handlers(PrivacyCommands(members=edge.members, holders={}))
    return edge


async def test_a_two_person_room_is_direct_whatever_created_it(edge: EdgeHarness) -> None:
    edge.gateway.joined[TWO] = {BOT, ALICE}  # never recorded: no is_direct invite, not opened by the bot
    edge.gateway.encrypt(TWO)
    assert await edge.direct.person_in(TWO) == ALICE
    [file, reply] = await edge.say("!h mydata", sender=ALICE, room_id=TWO)
    assert file.content["msgtype"] == "m.file"
    assert reply.body.startswith("Here is everything I hold about you")


async def test_a_third_person_joined_or_invited_makes_it_a_group_room(edge: EdgeHarness) -> None:
    await edge.open_direct_chat(ALICE, TWO)  # recorded as her direct chat, then someone else came in
    edge.gateway.joined[TWO] = {BOT, ALICE, BOB}
    [reply] = await edge.say("!h mydata", sender=ALICE, room_id=TWO)
    assert reply.body == REFUSAL

    edge.gateway.joined[TWO] = {BOT, ALICE}
    edge.gateway.member_lists[TWO] = [Member(UserId(BOB), "invite")]
    assert not await edge.direct.is_direct(TWO)
    [reply] = await edge.say("!h mydata", sender=ALICE, room_id=TWO)
    assert reply.body == REFUSAL


async def test_a_room_anyone_can_join_is_not_private(edge: EdgeHarness) -> None:
    edge.gateway.joined[TWO] = {BOT, ALICE}
    edge.gateway.state[(TWO, ROOM_JOIN_RULES, "")] = {"join_rule": "public"}
    assert not await edge.direct.is_direct(TWO)
    edge.gateway.state[(TWO, ROOM_JOIN_RULES, "")] = {"join_rule": "knock"}
    assert await edge.direct.is_direct(TWO)


async def test_the_sync_cache_answers_when_it_knows_the_room(edge: EdgeHarness) -> None:
    edge.gateway.fake_client.rooms[TWO] = FakeRoom(users={BOT, ALICE, BOB}, invited_users={BOB})
    assert not await edge.direct.is_direct(TWO)
    edge.gateway.fake_client.rooms[TWO] = FakeRoom(users={BOT, ALICE})
    assert await edge.direct.person_in(TWO) == ALICE
    edge.gateway.fake_client.rooms[TWO] = FakeRoom(users={BOT, ALICE}, join_rule="restricted")
    assert not await edge.direct.is_direct(TWO)


async def test_the_bot_writes_privately_only_where_it_is_still_a_direct_chat(edge: EdgeHarness) -> None:
    await edge.open_direct_chat(ALICE, TWO)
    assert await edge.direct.room_for(ALICE) == TWO
    edge.gateway.joined[TWO].add(BOB)
    room = await edge.poster.dm(ALICE, "only for you")
    assert room != TWO and edge.gateway.created[-1]["invite"] == [ALICE]
    assert edge.gateway.bodies(room) == ["only for you"] and edge.gateway.bodies(TWO) == []
    assert await edge.direct_chats.room_of(ALICE) == room


async def test_where_the_bot_opens_encrypted_chats_it_does_not_write_privately_in_an_unencrypted_one(
        edge: EdgeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A person may have made their direct chat with the bot unencrypted; what the bot starts telling them
    privately (a declaration's statement, a refusal's reason) goes to an encrypted one it opens, once."""
    await edge.open_direct_chat(ALICE, TWO, encrypted=False)
    assert await edge.direct.room_for(ALICE) == TWO  # the bot opens plain chats: the recorded one serves
    monkeypatch.setattr(type(edge.gateway), "opens_encrypted_direct_chats", property(lambda self: True))
    room = await edge.poster.dm(ALICE, "only for you")
    assert room != TWO and edge.gateway.created[-1]["invite"] == [ALICE]
    assert [e["type"] for e in edge.gateway.created[-1]["initial_state"]] == ["m.room.encryption"]
    assert edge.gateway.bodies(room) == ["only for you"] and edge.gateway.bodies(TWO) == []
    assert await edge.direct_chats.room_of(ALICE) == room
    created = len(edge.gateway.created)
    assert await edge.direct.room_for(ALICE) == room and len(edge.gateway.created) == created  # kept


class _Standing:
    @command("stand-here", summary="Stand (a test command refused for a reason about the person).",
             example="!h stand-here")
    async def stand_here(self, ctx: CommandContext) -> None:
        raise PrivateRefusal("Only registered party members may stand.", doing="standing here")


async def test_a_refusal_about_someone_is_not_said_in_their_unencrypted_chat_when_an_encrypted_one_can_be_had(
        edge: EdgeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    edge.add_handlers(_Standing())
    await edge.open_direct_chat(ALICE, TWO, encrypted=False)
    monkeypatch.setattr(type(edge.gateway), "opens_encrypted_direct_chats", property(lambda self: True))
    replies = await edge.say("!h stand-here", sender=ALICE, room_id=TWO)
    here = [sent.body for sent in replies if sent.room_id == TWO]
    assert here == ["I can't do that (standing here): I have sent you the reason in a direct message."]
    [elsewhere] = [sent for sent in replies if sent.room_id != TWO]
    assert elsewhere.body == "Only registered party members may stand."
    assert [e["type"] for e in edge.gateway.created[-1]["initial_state"]] == ["m.room.encryption"]
    # In an encrypted direct chat the reason is said right there.
    await edge.open_direct_chat(BOB, "!bob:test")
    [reply] = await edge.say("!h stand-here", sender=BOB, room_id="!bob:test")
    assert (reply.room_id, reply.body) == ("!bob:test", "Only registered party members may stand.")
