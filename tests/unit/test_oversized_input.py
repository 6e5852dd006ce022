"""The issue's oversized inputs on the whole bot (fast harness): each gets a specific answer that fits
the homeserver's event size limit, and nothing is created half-way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from harmony_matrix.event_size import MAX_CONTENT_BYTES
from tests.fakes.app_harness import BOT, BotHarness
from tests.fakes.gateway import Sent

ADMIN = "@admin:test"
ROOM = "!room:test"

pytestmark = pytest.mark.asyncio


def size(sent: Sent) -> int:
    return len(json.dumps(sent.content, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotHarness]:
    async with BotHarness(tmp_path_factory.mktemp("oversized"), admins=[ADMIN]) as harness:
        harness.join(ADMIN, ROOM)
        harness.join(BOT, ROOM)
        harness.join("@someone:test", ROOM)
        yield harness


@pytest.mark.parametrize("text, expected", [
    ("!h ping " + "x" * 33_000, "That command is too long for me to read: 33,005 characters, at most 20,000."),
    ("!h help " + "x" * 33_000, "That command is too long for me to read: 33,005 characters, at most 20,000."),
    ("!h ping " + "<" * 19_000, 'unexpected "' + "<" * 79 + '…"\nUsage: !h ping'),
    ("!h help " + "<" * 19_000, "<command> is too long: 19,000 characters, at most 4,000\nUsage: !h help [<command…>]"),
])
async def test_oversized_commands_get_a_specific_answer(bot: BotHarness, text: str, expected: str) -> None:
    [reply] = await bot.say(text, sender=ADMIN, room_id=ROOM)
    assert reply.body == expected
    assert size(reply) <= MAX_CONTENT_BYTES


async def test_an_answer_quoting_a_huge_word_is_shortened_not_dropped(bot: BotHarness) -> None:
    [reply] = await bot.say("!h " + "<" * 19_990, sender=ADMIN, room_id=ROOM)  # "I don't know the command …"
    assert reply.body.startswith("I don't know the command \"<<<<")
    assert size(reply) <= MAX_CONTENT_BYTES
    assert reply.body.endswith("…") and reply.content["formatted_body"].endswith("…")


async def test_a_name_over_the_limit_creates_nothing(bot: BotHarness) -> None:
    [reply] = await bot.say("!h assembly create big " + "N" * 37_000, sender=ADMIN, room_id=ROOM)
    assert "too long" in reply.body
    [reply] = await bot.say("!h assembly create big " + "N" * 300, sender=ADMIN, room_id=ROOM)
    assert reply.body.startswith("<name> is too long: 300 characters, at most 202")
    assert bot.gateway.created == []
