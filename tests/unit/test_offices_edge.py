"""Offices and races at the edge, on the in-memory homeserver (the Synapse test covers the election itself):
a nested assembly's deputy race open to participants, withdrawing without naming the race, a refusal said in
place when asked in a direct chat, a held post without a race, and an appointed office vacated."""

from __future__ import annotations

from pathlib import Path

import pytest

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from tests.fakes.app_harness import BOT, BotHarness
from tests.fakes.homeserver import bodies

pytestmark = pytest.mark.asyncio

ADMIN, SEC, PAT, MEM = "@admin:test", "@sec:test", "@pat:test", "@mem:test"


async def test_races_and_offices_through_the_router(tmp_path: Path) -> None:
    harness = BotHarness(tmp_path, admins=[ADMIN])
    async with harness:
        assemblies = harness.app.features["assemblies"]
        await assemblies.apply_federation(Federation((  # type: ignore[attr-defined]
            Assembly(slug="party", name="The Party", kind="party", access="open", secretary=SEC),
            Assembly(slug="ops", name="Operations", kind="working-group", access="open", secretary=SEC,
                     parents=("party",)),
            Assembly(slug="media", name="Media", kind="working-group", access="open", parents=("party",)))))
        ops = await assemblies.rooms_of("ops")  # type: ignore[attr-defined]
        party = await assemblies.rooms_of("party")  # type: ignore[attr-defined]
        harness.join(BOT, *ops.values(), *party.values())
        harness.join(SEC, *ops.values(), *party.values())
        media = await assemblies.rooms_of("media")  # type: ignore[attr-defined]
        harness.join(BOT, *media.values())
        harness.join(PAT, ops["space"], ops["discussion"], party["space"], party["discussion"], media["discussion"])
        await harness.db.members.add(MEM, by=ADMIN, at=harness.now)
        dms = {PAT: "!dm-pat:test", MEM: "!dm-mem:test"}
        for user, dm_room in dms.items():
            await harness.app.running.poster.direct.remember(user, dm_room)
            harness.join(user, dm_room)
            harness.join(BOT, dm_room)
        dm = dms[PAT]

        async def say(text: str, sender: str, room: str) -> str:
            return "\n".join(bodies(await harness.say(text, sender=sender, room_id=room)))

        room = ops["discussion"]
        assert "no race is declared for the Secretary of ops, and it is held" in await say("!h stand secretary", PAT, room)
        assert "seats drawn by lot are filled by a draw" in await say("!h stand seat", PAT, room)
        declared = await say("!h race declare deputy seats=2", SEC, ops["secretariat"])
        assert "Race E-ops-1 for the Deputy secretary of ops is open: anyone taking part in ops may stand" in declared
        assert "🏁 Race E-ops-1: the Deputy secretary of ops (2 seats)" in declared  # also in the announcements room
        # Outside the party-wide body a participant who is not a registered member may stand.
        assert "You stand for the Deputy secretary of ops in race E-ops-1" in await say("!h stand deputy", PAT, room)
        assert "you are the secretary of ops and can't also stand as a deputy" in await say("!h stand deputy", SEC, room)
        # A member who takes no part in ops is told why privately: in place, since they asked in a direct chat.
        assert "Only people who take part in ops may stand" in await say("!h stand deputy ops", MEM, dms[MEM])

        await say("!h race declare secretary", SEC, ops["secretariat"])
        assert "race E-ops-2" in await say("!h stand secretary", PAT, room)
        several = await say("!h withdraw", PAT, room)
        assert "you stand in several races: name one, e.g. !h withdraw deputy ops, !h withdraw secretary ops" in several
        assert "You no longer stand in race E-ops-1 (deputy of ops). Standing now: nobody." in await say(
            "!h withdraw deputy", PAT, room)
        assert "You no longer stand in race E-ops-2" in await say("!h withdraw", PAT, room)
        assert "you do not stand in an open race in ops" in await say("!h withdraw", PAT, room)

        # Media has no secretary: the post is vacant, and standing for it opens its race.
        opened = await say("!h stand secretary media", PAT, dm)
        assert ("You stand for the Secretary of media in race E-media-1. The Secretary of media is vacant, so your "
                f"standing opened race E-media-1. Standing now: {PAT}.") in opened, opened
        assert "race E-media-1 (open, 1 seat): @pat:test" in await say("!h offices media", PAT, dm)

        await say("!h race declare secretary", SEC, party["secretariat"])
        refused = await say("!h stand secretary party", PAT, dm)  # asked in a direct chat: the reason in place
        assert "Only registered party members may stand for the Party Secretaries' offices" in refused, refused

        # The Treasurer: appointed (members only), vacated, and then vacant on the board.
        assert "!h office appoint is for secretaries only" in await say("!h office appoint treasurer @mem:test", PAT,
                                                                         party["discussion"])
        appointed = await say(f"!h office appoint treasurer {MEM}", SEC, party["secretariat"])
        assert f"{MEM} is now the Treasurer of party, appointed by {SEC}." in appointed, appointed
        assert "vacate it first" in await say(f"!h office appoint treasurer {SEC}", SEC, party["secretariat"])
        assert "ops has no office \"treasurer\"" in await say(f"!h office appoint treasurer {MEM}", SEC, room)
        board = await say("!h offices party", PAT, dm)
        assert f"• Treasurer (appointed by the secretaries; a Party Secretary, members only): {MEM}, appointed" in board
        assert "race E-party-1 (open, 1 seat): nobody yet" in board, board
        assert "is vacant" in await say(f"!h office vacate treasurer {MEM}", SEC, party["secretariat"])
        assert "nobody — VACANT (1 seat)" in await say("!h offices party", PAT, dm)
        assert "There is no assembly called nowhere" in await say("!h offices nowhere", PAT, dm)
