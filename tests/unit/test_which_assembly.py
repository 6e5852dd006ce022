"""Which assembly a command is about (one rule, ``AssemblyLookup.which``): a name that is not in the
registry is refused as such, never answered with "nothing in <typo>"; in a direct chat with no name the
command says what to type."""

from __future__ import annotations

from pathlib import Path

import pytest

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from tests.fakes.app_harness import BOT, BotHarness
from tests.fakes.homeserver import bodies

pytestmark = pytest.mark.asyncio

ADMIN, PAT = "@admin:test", "@pat:test"


async def test_an_unknown_assembly_is_refused_by_every_listing_command(tmp_path: Path) -> None:
    harness = BotHarness(tmp_path, admins=[ADMIN])
    async with harness:
        assemblies = harness.app.features["assemblies"]
        await assemblies.apply_federation(Federation((  # type: ignore[attr-defined]
            Assembly(slug="ops", name="Operations", kind="working-group", access="open"),)))
        ops = await assemblies.rooms_of("ops")  # type: ignore[attr-defined]
        harness.join(BOT, *ops.values())
        harness.join(PAT, ops["space"], ops["discussion"])
        dm = "!dm-pat:test"
        await harness.app.running.poster.direct.remember(PAT, dm)
        harness.join(PAT, dm)
        harness.join(BOT, dm)

        async def say(text: str, room: str) -> str:
            return "\n".join(bodies(await harness.say(text, sender=PAT, room_id=room)))

        for command in ("moots", "proposals", "decisions", "offices"):
            answer = await say(f"!h {command} deadlock", ops["discussion"] if command != "decisions" else dm)
            assert answer == "There is no assembly called deadlock; !h assemblies lists them.", (command, answer)
        assert await say("!h proposals", dm) == "Which assembly? Name it: !h proposals <assembly>"
        assert "No upcoming moots in ops" in await say("!h moots ops", dm)
