"""Commands that carry special-category data (membership, declarations, self-descriptions) run only in an
encrypted direct chat (``Place.ENCRYPTED_DIRECT``, enforced by the router): in an unencrypted one they are
refused with the remedy and nothing is sent or recorded; ``privacy.private_commands_need_encryption: false``
relaxes them to any direct chat, and the generated help says so."""

from __future__ import annotations

from pathlib import Path

from handlers.privacy import MembershipCommands, PrivacyCommands
from tests.fakes.app_harness import BotHarness
from tests.fakes.harness import EdgeHarness

ADMIN = "@admin:test"
ALICE = "@alice:test"
PLAIN_DM = "!plain-dm:test"
SECRET_DM = "!secret-dm:test"
BOT = "@bot:test"


def refusal(command: str) -> str:
    return (f"!h {command} carries private data (party membership, declarations, self-descriptions), so I only "
            "do it in an encrypted direct chat, and this one is not encrypted: the homeserver can read it. "
            "Start a new direct chat with me (Element encrypts direct chats by default) or turn on encryption "
            "in this room's settings, then send it again. I have done nothing.")


async def edge_with_dms() -> EdgeHarness:
    edge = EdgeHarness(admins=[ADMIN])
    edge.add_handlers(MembershipCommands(members=edge.members, clock=edge.clock),
                      PrivacyCommands(members=edge.members, holders={}))
    await edge.open_direct_chat(ALICE, PLAIN_DM, encrypted=False)
    await edge.open_direct_chat(ADMIN, SECRET_DM)
    return edge


async def test_mydata_in_an_unencrypted_direct_chat_is_refused_and_sends_nothing() -> None:
    edge = await edge_with_dms()
    await edge.members.add(ALICE, by=ADMIN, at=edge.now)
    [reply] = await edge.say("!h mydata", sender=ALICE, room_id=PLAIN_DM)
    assert reply.body == refusal("mydata")
    assert edge.gateway.uploads == []
    assert ADMIN not in reply.body and "member_since" not in reply.body


async def test_the_registry_is_not_kept_in_an_unencrypted_direct_chat() -> None:
    edge = await edge_with_dms()
    await edge.open_direct_chat(ADMIN, PLAIN_DM, encrypted=False)
    [reply] = await edge.say("!h member add @sam:test", sender=ADMIN, room_id=PLAIN_DM)
    assert reply.body == refusal("member add")
    assert "@sam:test" not in edge.members.members
    [reply] = await edge.say("!h member add @sam:test", sender=ADMIN, room_id=SECRET_DM)
    assert reply.body == "@sam:test is now registered as a party member."


async def test_forget_me_still_answers_in_an_unencrypted_direct_chat() -> None:
    edge = await edge_with_dms()
    [reply] = await edge.say("!h forget-me", sender=ALICE, room_id=PLAIN_DM)
    assert reply.body.endswith("To go ahead, send: !h forget-me confirm")


async def test_mydata_in_an_encrypted_direct_chat_sends_the_file() -> None:
    edge = await edge_with_dms()
    file_post, reply = await edge.say("!h mydata", sender=ADMIN, room_id=SECRET_DM)
    assert file_post.content["msgtype"] == "m.file"
    assert reply.body.startswith("Here is everything I hold about you")


async def in_plain_dm(tmp_path: Path, config: dict[str, object] | None, *commands: str) -> list[list[str]]:
    """What the composed bot answers ALICE in an unencrypted direct chat, command by command."""
    async with BotHarness(tmp_path, admins=[ADMIN], config=config) as bot:
        await bot.app.running.poster.direct.remember(ALICE, PLAIN_DM)
        bot.join(ALICE, PLAIN_DM)
        bot.join(BOT, PLAIN_DM)
        await bot.db.members.add(ALICE, by=ADMIN, at=bot.now)
        answers = []
        for command in commands:
            sent = await bot.say(command, sender=ALICE, room_id=PLAIN_DM)
            answers.append([message.body for message in sent])
        return answers


async def test_the_composed_bot_needs_encryption_by_default(tmp_path: Path) -> None:
    mydata, features, help_mydata = await in_plain_dm(tmp_path, None, "!h mydata", "!h features", "!h help mydata")
    assert mydata == [refusal("mydata")]
    assert features == [refusal("features")]
    assert "where: in an encrypted direct message with me." in help_mydata[0]


async def test_the_setting_off_runs_them_in_any_direct_chat_and_help_says_so(tmp_path: Path) -> None:
    off = {"privacy": {"private_commands_need_encryption": False}}
    mydata, help_mydata = await in_plain_dm(tmp_path, off, "!h mydata", "!h help mydata")
    assert mydata[0] == "harmony-mydata.json" and mydata[1].startswith("Here is everything I hold about you")
    assert "where: in a direct message with me." in help_mydata[0]
