"""A fuzz run of generated commands from an admin, a secretary and a participant against the whole bot
(fast harness, no Synapse): every command is answered, none with the generic apology, nothing in
the log is a traceback or an ERROR. The commands are built from the declarations themselves (real
names, parameters, options and flags), filled from pools of good, bad, huge and hostile values.

(The same against a real Synapse, fewer commands: tests/integration/test_rate_limits.py.)"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from harmony_app.logs import install_log_filters
from tests.fakes.app_harness import BOT, BotHarness
from tests.fakes.command_fuzz import APOLOGY, CommandFuzzer, declared

ADMIN, SECRETARY, PERSON = "@admin:test", "@sec:test", "@person:test"
PEOPLE = {"admin": ADMIN, "secretary": SECRETARY, "participant": PERSON}
COMMANDS = 600

pytestmark = pytest.mark.asyncio

class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logging.getLogger().addHandler(handler)
    removers = install_log_filters()
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for remove in removers:
            remove()


@pytest_asyncio.fixture(loop_scope="session")
async def bot(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """The whole bot with an assembly ``ops`` whose secretary is SECRETARY; PERSON takes part in it;
    each of the three has a direct chat with the bot."""
    harness = BotHarness(tmp_path, admins=[ADMIN])
    async with harness:
        dms = {}
        for kind, user in PEOPLE.items():
            dms[kind] = f"!dm-{kind}:test"
            await harness.app.running.poster.direct.remember(user, dms[kind])
            harness.join(user, dms[kind])
            harness.join(BOT, dms[kind])
        await harness.db.members.add(PERSON, by=ADMIN, at=harness.now)
        [created] = await harness.say("!h assembly create ops Operations", sender=ADMIN, room_id=dms["admin"])
        rooms = await harness.app.features["assemblies"].rooms_of("ops")  # type: ignore[attr-defined]
        harness.join(BOT, *rooms.values())
        harness.join(ADMIN, *rooms.values())
        harness.join(PERSON, rooms["discussion"], rooms["votes"], rooms["announcements"], rooms["space"])
        await harness.say(f"!h secretary set {SECRETARY}", sender=ADMIN, room_id=rooms["secretariat"])
        harness.join(SECRETARY, *rooms.values())
        harness.join(ADMIN, "!plain:test")
        harness.join(PERSON, "!plain:test")
        harness.join(BOT, "!plain:test")
        harness.join("@other:test", "!plain:test")
        await harness.say("!h poll start Lunch? | Pizza | Sushi", sender=SECRETARY, room_id=rooms["votes"])
        await harness.say("!h propose Budget 2027 | spend less", sender=PERSON, room_id=rooms["discussion"])
        yield {"harness": harness, "rooms": {**rooms, "plain": "!plain:test"}, "dms": dms}


async def test_generated_commands_from_three_kinds_of_people_are_all_answered_specifically(
        bot: dict[str, Any], records: Records) -> None:
    harness: BotHarness = bot["harness"]
    specs = declared(harness.app.table)
    rng = random.Random(20260302)
    fuzzer = CommandFuzzer(rng, slug="ops", people=list(PEOPLE.values()))
    unanswered: list[str] = []
    apologies: list[str] = []
    by_kind = {kind: 0 for kind in PEOPLE}
    for number in range(COMMANDS):
        kind = rng.choice(list(PEOPLE))
        room = rng.choice([bot["dms"][kind], *bot["rooms"].values()])
        text = fuzzer.anything(specs)
        prefix = rng.choice(["!h", "!harmony"])
        before = len(records.records)
        sent = await harness.say(f"{prefix} {text}", sender=PEOPLE[kind], room_id=room, event_id=f"$cmd{number}")
        by_kind[kind] += 1
        what = f"{kind} in {room}: {prefix} {text[:120]!r}"
        if not any(s.body.strip() for s in sent):
            unanswered.append(what)
        apologies += [f"{what} -> {s.body[:200]}" for s in sent if APOLOGY in s.body]
        bad = [r for r in records.records[before:] if r.exc_info or r.levelno >= logging.ERROR]
        assert not bad, (what, [r.getMessage() for r in bad])
    assert min(by_kind.values()) > COMMANDS // 4
    assert not apologies, "\n".join(apologies)
    assert not unanswered, "\n".join(unanswered)
