"""Authority of levels against a real Synapse (issue 9.4): only the All Thing body's secretary records an
All Thing decision, citing its moot; a working group's secretary gets a refusal naming who may; the All
Thing decision overrides as before; ``export-decisions --verify`` checks the recorders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from consensus_fixtures import make_setup
from test_decisions_on_matrix import _cli
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.assembly import Assembly

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_only_the_all_thing_bodys_secretary_records_an_all_thing_decision(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    party_sec = await make_user("partysec")
    party = Assembly(slug="party", name="Harmony Party", kind="party", access="open", secretary=party_sec.user_id)
    s = await make_setup(synapse, make_user, tmp_path, slug="media", extra=(party,))
    media_sec, media_room = s.secretary, s.rooms["discussion"]
    party_rooms = dict(await s.app.features["assemblies"].rooms_of("party"))
    for kind in ("discussion", "announcements"):
        await party_sec.join(party_rooms[kind])
    party_room = party_rooms["discussion"]

    async def say(user, room: str, text: str) -> str:  # type: ignore[no-untyped-def]
        reply = await user.send_and_wait_reply(room, text, from_user=s.bot_id)
        return str(reply["content"]["body"])

    try:
        assert "P-media-1" in await say(media_sec, media_room, "!h propose Party-wide budget rule")
        refused = await say(media_sec, media_room, "!h consensus P-media-1 reached level=all-thing topics=budget")
        assert ("only the All Thing body, Harmony Party (party), records All Thing decisions" in refused
                and party_sec.user_id in refused and "level=moot" in refused), refused
        assert "Recorded D-media-1" in await say(media_sec, media_room, "!h consensus P-media-1 reached topics=budget")
        # The same slip in the other direction: an unknown assembly is named, not read as no decisions.
        assert "There is no assembly called deadlock" in await say(media_sec, media_room, "!h decisions deadlock @")

        assert "P-party-1" in await say(party_sec, party_room, "!h propose Keep half of the surplus")
        refused = await say(party_sec, party_room, "!h consensus P-party-1 reached level=all-thing topics=budget")
        assert "needs the All Thing moot or ballot as evidence" in refused, refused
        scheduled = await say(party_sec, party_room, "!h moot schedule in 10m All Thing proposal=P-party-1")
        assert "Scheduled M-party-1" in scheduled, scheduled
        s.clock.advance(timedelta(minutes=11))  # the All Thing moot has started
        recorded = await say(party_sec, party_room,
                             '!h consensus P-party-1 reached level=all-thing topics=budget statement="Save half"')
        assert "Recorded D-party-1" in recorded and "Cites M-party-1" in recorded, recorded
        in_force = await say(media_sec, media_room, "!h decisions media budget")
        assert "• D-party-1" in in_force and "• D-media-1" not in in_force, in_force
        assert "overridden: D-media-1 by D-party-1" in in_force, in_force
    finally:
        await s.app.stop()

    code, out = await _cli("export-decisions", "-c", str(s.config_path), "-o", str(tmp_path / "d.json"), "--verify")
    assert code == 0 and "chain intact, recorded with authority" in out, out
