"""The command router without a homeserver: parse -> permission -> run -> reply, on the in-memory
edge (``tests/fakes``). What crosses Matrix (real clients, threads in Element) stays in
``tests/integration/test_runtime.py``."""

from __future__ import annotations

import pytest

from handlers.basic import BasicCommands
from handlers.matrix.commands import CommandContext, RoomContext, command
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role, parse_user
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId
from tests.fakes.harness import ROOM, EdgeHarness

ADMIN = "@admin:test"
ALICE = "@alice:test"
SECRETARY = "@sec:test"
WG_ROOM = "!wg:test"


class Sample:
    """Commands that exercise each rule of the router."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @command("echo", summary="Say a word back.", example="!h echo hi", params=(Param("word"),))
    async def echo(self, ctx: CommandContext, word: str) -> None:
        await ctx.reply(word, mention=True)

    @command("greet", summary="Greet someone.", example="!h greet @a:b", params=(Param("user", parser=parse_user),))
    async def greet(self, ctx: CommandContext, user: UserId) -> None:
        self.calls.append(("greet", user))
        await ctx.reply(f"Hello {user}")

    @command("poll start", summary="Start.", example="!h poll start Q", params=(Param("question", rest=True),))
    async def poll_start(self, ctx: CommandContext, question: str) -> None:
        await ctx.reply(question)

    @command("secret", summary="Admins only.", example="!h secret", role=Role.ADMIN)
    async def secret(self, ctx: CommandContext) -> None:
        await ctx.reply("admin things")

    @command("whisper", summary="DM only.", example="!h whisper", place=Place.DIRECT)
    async def whisper(self, ctx: CommandContext) -> None:
        await ctx.reply("psst")

    @command("rename", summary="Rename an assembly.", example="!h rename slug=wg",
             options=(Option("slug"),), manages="slug")
    async def rename(self, ctx: CommandContext, slug: str | None) -> None:
        self.calls.append(("rename", slug))
        await ctx.reply(f"renamed {slug}")

    @command("close", summary="Close the room's assembly.", example="!h close", manages=ROOM_ASSEMBLY)
    async def close(self, ctx: CommandContext) -> None:
        await ctx.reply(f"closed {ctx.room.assembly}")

    @command("announce", summary="Post twice elsewhere.", example="!h announce")
    async def announce(self, ctx: CommandContext) -> None:
        await ctx.send("!announcements:test", "first")
        await ctx.send("!announcements:test", "second")

    @command("refuse", summary="A user error.", example="!h refuse")
    async def refuse(self, ctx: CommandContext) -> None:
        raise UserError("You cannot do that here, and here is why.")

    @command("boom", summary="A bug.", example="!h boom")
    async def boom(self, ctx: CommandContext) -> None:
        raise RuntimeError("kaboom")


class AssemblyPermissions:
    """Permissions as the assemblies feature gives them: ``!wg:test`` is a room of ``wg``, whose
    secretary is ``@sec:test``."""

    async def room_context(self, room_id: RoomId) -> RoomContext:
        if room_id == WG_ROOM:
            return RoomContext(room_id=room_id, is_direct=False, assembly="wg", room_kind="discussion")
        return RoomContext(room_id=room_id, is_direct=False)

    async def role_of(self, user_id: UserId, room: RoomContext) -> Role:
        if user_id == ADMIN:
            return Role.ADMIN
        return Role.SECRETARY if user_id == SECRETARY and room.assembly == "wg" else Role.EVERYONE

    async def manages(self, user_id: UserId, slug: str) -> bool:
        return user_id == SECRETARY and slug == "wg"

    async def may_invite_bot(self, user_id: UserId) -> bool:
        return user_id == SECRETARY


@pytest.fixture
def sample() -> Sample:
    return Sample()


@pytest.fixture
def edge(sample: Sample) -> EdgeHarness:
    return EdgeHarness(handlers=[sample, BasicCommands()], admins=[ADMIN])


@pytest.fixture
def assemblies_edge(sample: Sample) -> EdgeHarness:
    return EdgeHarness(handlers=[sample, BasicCommands()], permissions=AssemblyPermissions())


async def test_a_command_is_answered_with_a_notice_replying_to_it(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!h ping", sender=ALICE, event_id="$cmd")
    assert reply.room_id == ROOM
    assert reply.event_type == "m.room.message"
    assert reply.content["msgtype"] == "m.notice"
    assert reply.body == "Pong! I'm listening."
    assert reply.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
    assert reply.content["m.mentions"] == {"user_ids": []}


async def test_a_command_in_a_thread_is_answered_in_the_thread(edge: EdgeHarness) -> None:
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                               "m.in_reply_to": {"event_id": "$root"}}}
    [reply] = await edge.say("!h ping", sender=ALICE, event_id="$cmd", extra_content=thread)
    assert reply.content["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$root",
                                             "is_falling_back": False, "m.in_reply_to": {"event_id": "$cmd"}}


@pytest.mark.parametrize("relates_to", ["oops", ["m.thread"], {"rel_type": "m.thread", "event_id": 7}])
async def test_a_malformed_relation_does_not_stop_the_command(edge: EdgeHarness, relates_to: object) -> None:
    [reply] = await edge.say("!h ping", sender=ALICE, event_id="$cmd", extra_content={"m.relates_to": relates_to})
    assert reply.body == "Pong! I'm listening."
    assert reply.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}


async def test_a_message_without_a_body_is_dropped_quietly(edge: EdgeHarness) -> None:
    assert await edge.say(None, sender=ALICE) == []


async def test_messages_not_addressed_to_the_bot_get_no_answer(edge: EdgeHarness) -> None:
    assert await edge.say("hello !h ping", sender=ALICE) == []
    assert await edge.say("!hping", sender=ALICE) == []


async def test_the_bare_prefix_means_help(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!harmony", sender=ALICE)
    assert reply.body.startswith("Commands you can use here:")
    assert "!harmony ping — Check that I am listening." in reply.body


async def test_the_same_command_handled_again_after_a_crash_answers_once(edge: EdgeHarness) -> None:
    await edge.say("!h announce", sender=ALICE, event_id="$cmd")
    edge.processed.records.clear()  # the crash came before the event was marked processed
    await edge.say("!h announce", sender=ALICE, event_id="$cmd")
    assert edge.gateway.bodies("!announcements:test") == ["first", "second"]
    posts = edge.gateway.in_room("!announcements:test")
    assert "m.relates_to" not in posts[0].content


async def test_an_event_delivered_twice_is_handled_once(edge: EdgeHarness) -> None:
    await edge.say("!h ping", sender=ALICE, event_id="$cmd")
    assert await edge.say("!h ping", sender=ALICE, event_id="$cmd") == []
    assert edge.processed.records["$cmd"].kind == "handled"


async def test_unknown_commands_get_suggestions_with_the_prefix_used(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!harmony pnig", sender=ALICE)
    assert reply.body == ('I don\'t know the command "pnig". Did you mean: !harmony ping? '
                          "Send !harmony help for the list.")
    [reply] = await edge.say("!h poll strat Lunch?", sender=ALICE)
    assert reply.body == ('I don\'t know the command "poll strat". Did you mean: !h poll start? '
                          "Send !h help for the list.")
    [reply] = await edge.say("!h xyzzy", sender=ALICE)
    assert reply.body == 'I don\'t know the command "xyzzy". Send !h help for the list.'


async def test_refusals_name_who_and_where_with_the_prefix_used(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!harmony secret", sender=ALICE)
    assert reply.body == "!harmony secret is for admins only."
    [reply] = await edge.say("!h whisper", sender=ALICE)
    assert reply.body == "!h whisper works in a direct message with me: a room with only you and me in it, which nobody joins without an invite."
    [reply] = await edge.say("!h secret", sender=ADMIN)
    assert reply.body == "admin things"


async def test_a_direct_chat_allows_direct_commands(edge: EdgeHarness) -> None:
    await edge.open_direct_chat(ALICE, "!dm:test")
    [reply] = await edge.say("!h whisper", sender=ALICE, room_id="!dm:test")
    assert reply.body == "psst"


async def test_parse_errors_show_the_usage_with_the_prefix_used(edge: EdgeHarness, sample: Sample) -> None:
    [reply] = await edge.say("!harmony ping extra words", sender=ALICE)
    assert reply.body == 'unexpected "extra words"\nUsage: !harmony ping'
    [reply] = await edge.say("!h greet bob", sender=ALICE)
    assert reply.body == '<user>: "bob" is not a Matrix user ID like @name:server\nUsage: !h greet <user>'
    assert sample.calls == []


async def test_parsers_hand_the_command_typed_values(edge: EdgeHarness, sample: Sample) -> None:
    [reply] = await edge.say("!h greet @bob:test", sender=ALICE)
    assert reply.body == "Hello @bob:test"
    assert sample.calls == [("greet", "@bob:test")]


async def test_overlong_arguments_and_commands_are_refused_with_the_limit(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!h echo " + "x" * 201, sender=ALICE)
    assert reply.body == "<word> is too long: 201 characters, at most 200\nUsage: !h echo <word>"
    [reply] = await edge.say("!h poll start " + "y" * 20_001, sender=ALICE)
    assert reply.body == "That command is too long for me to read: 20,012 characters, at most 20,000."


async def test_a_mention_names_the_sender(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!h echo hi", sender=ALICE)
    assert reply.content["m.mentions"] == {"user_ids": [ALICE]}


async def test_user_errors_are_answered_and_bugs_are_logged_with_a_reference(
        edge: EdgeHarness, caplog: pytest.LogCaptureFixture) -> None:
    [reply] = await edge.say("!h refuse", sender=ALICE)
    assert reply.body == "You cannot do that here, and here is why."
    [reply] = await edge.say("!harmony boom", sender=ALICE, event_id="$bug")
    assert reply.body == ("Sorry, something went wrong on my side while running !harmony boom. It has been "
                          "logged (reference $bug). Part of it may have been done before it failed: please "
                          "check before trying again.")
    assert "kaboom" in caplog.text
    [reply] = await edge.say("!h ping", sender=ALICE)
    assert reply.body == "Pong! I'm listening."


async def test_managing_an_assembly_is_for_its_officers_and_admins(
        assemblies_edge: EdgeHarness, sample: Sample) -> None:
    [reply] = await assemblies_edge.say("!harmony rename slug=wg", sender=ALICE)
    assert reply.body == "Only the secretaries and deputies of wg (or admins) may run !harmony rename for it."
    [reply] = await assemblies_edge.say("!h rename slug=party", sender=SECRETARY)
    assert reply.body == "Only the secretaries and deputies of party (or admins) may run !h rename for it."
    assert sample.calls == []
    [reply] = await assemblies_edge.say("!h rename slug=wg", sender=SECRETARY)
    assert reply.body == "renamed wg"
    [reply] = await assemblies_edge.say("!h rename slug=party", sender=ADMIN)
    assert reply.body == "renamed party"
    assert sample.calls == [("rename", "wg"), ("rename", "party")]


async def test_a_managed_assembly_left_out_is_the_rooms_own(assemblies_edge: EdgeHarness) -> None:
    [reply] = await assemblies_edge.say("!h rename", sender=SECRETARY, room_id=WG_ROOM)
    assert reply.body == "renamed None"  # the option stays unset; the check used the room's assembly
    [reply] = await assemblies_edge.say("!h close", sender=SECRETARY, room_id=WG_ROOM)
    assert reply.body == "closed wg"
    [reply] = await assemblies_edge.say("!h close", sender=SECRETARY)
    assert reply.body == ("Only admins may run !h close outside an assembly; name the assembly, "
                          "or run it in one of its rooms.")
