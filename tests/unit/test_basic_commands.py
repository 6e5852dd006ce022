"""``help``, ``ping``, ``version`` and the invite policy on the in-memory edge (``tests/fakes``)."""

from __future__ import annotations

import pytest

from handlers.basic import BasicCommands, InvitePolicy
from handlers.matrix.gateway import Forbidden
from handlers.privacy import MembershipCommands, PrivacyCommands
from harmony_matrix import __version__
from harmony_matrix.ids import RoomId, UserId
from tests.fakes.harness import EdgeHarness

ADMIN = "@admin:test"
ALICE = "@alice:test"


@pytest.fixture
def edge() -> EdgeHarness:
    edge = EdgeHarness(admins=[ADMIN])
    edge.add_handlers(BasicCommands(), MembershipCommands(members=edge.members, clock=edge.clock),
                      PrivacyCommands(members=edge.members, holders={}))
    return edge


async def test_help_lists_what_the_sender_may_use_here_and_names_the_rest(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!harmony help", sender=ALICE)
    lines = reply.body.split("\n")
    assert lines[0] == "Commands you can use here:"
    assert "!harmony ping — Check that I am listening." in lines
    assert not any("member add" in line for line in lines)  # admins only
    assert "Elsewhere (in a DM with me or in an assembly's rooms): forget-me, mydata" in lines
    assert lines[-1] == "Send !harmony help <command> for details and an example."
    assert "<code>!harmony ping</code>" in reply.content["formatted_body"]


async def test_help_for_an_admin_in_a_direct_chat_lists_the_registry_commands(edge: EdgeHarness) -> None:
    await edge.open_direct_chat(ADMIN, "!dm:test")
    [reply] = await edge.say("!h help", sender=ADMIN, room_id="!dm:test")
    assert "!h member add <user> — Register someone as a party member (they can then vote)." in reply.body
    assert "Elsewhere" not in reply.body


async def test_help_for_one_command_uses_the_prefix(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!harmony help member add", sender=ALICE)
    assert reply.body.split("\n") == [
        "Register someone as a party member (they can then vote).",
        "Usage: !harmony member add <user>",
        "Who: admins; where: in an encrypted direct message with me.",
        "Example: !harmony member add @sam:example.org",
    ]


async def test_help_for_an_unknown_command_suggests_related_ones(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!h help pnig", sender=ALICE)
    assert reply.body == 'There is no command "pnig". Related: ping. Send !h help for the list.'


async def test_ping_and_version(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!h ping", sender=ALICE)
    assert reply.body == "Pong! I'm listening."
    [reply] = await edge.say("!h version", sender=ALICE)
    assert reply.body == f"harmony-matrix {__version__}"


class Officers:
    async def may_invite_bot(self, user_id: UserId) -> bool:
        return user_id == "@sec:test"


@pytest.fixture
def policy(edge: EdgeHarness) -> InvitePolicy:
    return InvitePolicy(gateway=edge.gateway, admins=[ADMIN], direct=edge.direct, trusted=Officers())


async def test_anyone_may_open_a_direct_chat(policy: InvitePolicy, edge: EdgeHarness) -> None:
    await policy.on_invite(RoomId("!dm:test"), UserId(ALICE), True)
    assert edge.gateway.joins == ["!dm:test"]
    assert await edge.direct_chats.room_of(ALICE) == "!dm:test"


async def test_group_rooms_only_from_admins_and_officers(policy: InvitePolicy, edge: EdgeHarness) -> None:
    await policy.on_invite(RoomId("!a:test"), UserId(ADMIN), False)
    await policy.on_invite(RoomId("!s:test"), UserId("@sec:test"), False)
    edge.gateway.joined["!x:test"] = {ALICE, "@bob:test"}
    await policy.on_invite(RoomId("!x:test"), UserId(ALICE), False)
    assert edge.gateway.joins == ["!a:test", "!s:test", "!x:test"]  # the bot looks before it declines
    [(room, reason)] = edge.gateway.leaves
    assert room == "!x:test"
    assert reason is not None and "a direct chat with me is always fine" in reason
    assert await edge.direct_chats.room_of(ADMIN) is None  # a group room is not a direct chat
    assert await edge.direct_chats.room_of(ALICE) is None


async def test_a_room_with_just_the_inviter_is_a_direct_chat_without_the_flag(policy: InvitePolicy,
                                                                             edge: EdgeHarness) -> None:
    edge.gateway.joined["!two:test"] = {ALICE}
    await policy.on_invite(RoomId("!two:test"), UserId(ALICE), False)
    assert edge.gateway.joins == ["!two:test"] and not edge.gateway.leaves
    assert await edge.direct_chats.room_of(ALICE) == "!two:test"


async def test_a_refused_join_is_logged_not_raised(policy: InvitePolicy, edge: EdgeHarness,
                                                   caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(room_id: str, *, via: object = ()) -> RoomId:
        raise Forbidden("you are banned", path="/join")

    monkeypatch.setattr(edge.gateway, "join", refuse)
    await policy.on_invite(RoomId("!gone:test"), UserId(ADMIN), False)
    assert "could not answer the invite to !gone:test" in caplog.text
