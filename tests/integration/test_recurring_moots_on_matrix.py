"""Moots people can run, against a real Synapse with a movable clock (issue 14.3): a monthly series whose
next three occurrences are listed, one cancelled (its notices never sent, the others unaffected); an
agenda; attendance by reaction and the quorum; minutes posted (and copied to the body it reports to) and
read back with ``moot show``; a decision at a moot without quorum marked so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from consensus_fixtures import history, make_setup, marker
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.assembly import Assembly

pytestmark = pytest.mark.asyncio(loop_scope="session")
MOOT, MINUTES = "org.harmony.moot_notice", "org.harmony.minutes"


async def test_a_monthly_series_with_a_cancelled_occurrence_attendance_quorum_and_minutes(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    owg = Assembly(slug="owg", name="Operational Working Group", kind="working-group", access="open")
    s = await make_setup(synapse, make_user, tmp_path, extra=(owg,), quorum=3, minutes_copies={"ops": ["owg"]})
    sec, room, news = s.secretary, s.rooms["discussion"], s.rooms["announcements"]
    owg_news = (await s.app.features["assemblies"].rooms_of("owg"))["announcements"]
    await sec.join(owg_news)
    ann = await make_user("ann")
    await ann.join(news)
    moots = s.app.db.consensus.moots

    async def say(text: str, where: str = room) -> str:
        reply = await sec.send_and_wait_reply(where, text, from_user=s.bot_id)
        return str(reply["content"]["body"])

    try:
        async with sec.listening() as listener:
            made = await say("!h moot schedule in 10m Monthly meeting duration=30m repeat=monthly")
            assert "Scheduled the series S-ops-1: Monthly meeting, every month, 30m each." in made, made
            assert all(f"M-ops-{n}" in made for n in (1, 2, 3)), made
            await listener.wait_for(news, marker(MOOT, moot="M-ops-1", kind="announcement"),
                                    description="the first occurrence's announcement")
        listing = await say("!h moots")
        assert [line.split(":")[0] for line in listing.splitlines()[1:]] == ["M-ops-1", "M-ops-2", "M-ops-3"], listing
        second, third = await moots.get("M-ops-2"), await moots.get("M-ops-3")
        assert second is not None and third is not None and second.series == third.series == "S-ops-1"

        assert "The other occurrences of S-ops-1 are unaffected" in await say("!h moot cancel M-ops-2")
        page = await say("!h moot show S-ops-1")
        assert "Cancelled: M-ops-2" in page and "M-ops-3" in page.split("Next:")[1], page

        assert "P-ops-1" in await say("!h propose Meet in person")
        await say("!h moot agenda link M-ops-1 P-ops-1")
        await say("!h moot agenda add M-ops-1 Treasurer's report")
        agenda = await say("!h moot agenda move M-ops-1 2 1")
        assert "1. Treasurer's report\n  2. P-ops-1: Meet in person" in agenda, agenda

        async with sec.listening() as listener:
            s.clock.advance(timedelta(minutes=11))  # M-ops-1 starts
            start = await listener.wait_for(news, marker(MOOT, moot="M-ops-1", kind="start"),
                                            description="M-ops-1's start notice")
            assert "React ✋" in start["content"]["body"]
            await sec.react(news, start["event_id"], "✋")
            await ann.react(news, start["event_id"], "✋")
            # In the same room as the reactions, so the bot has taken them by the time it reads this.
            recorded = await say("!h moot minutes M-ops-1 We agreed to meet in person from May.", where=news)
            assert "2 attended (quorum 3: not reached)" in recorded, recorded
            posted = await listener.wait_for(news, marker(MINUTES, moot="M-ops-1"), description="the minutes")
            copied = await listener.wait_for(owg_news, marker(MINUTES, moot="M-ops-1", copy_for="owg"),
                                             description="the copy for the Operational Working Group")
        for event in (posted, copied):
            assert "We agreed to meet in person from May." in event["content"]["body"]
        shown = await say("!h moot show M-ops-1")
        assert "Attendance: 2 attended (quorum 3: not reached)" in shown, shown
        assert "Minutes: We agreed to meet in person from May." in shown, shown
        assert "without quorum" not in shown
        decided = await say("!h consensus P-ops-1 reached")
        assert "Cites M-ops-1" in decided and "Marked: the moot lacked its quorum of 3." in decided, decided
        [decision] = await s.app.db.consensus.decisions.decisions()
        assert decision.without_quorum and decision.cites == ("M-ops-1",)

        # Past the cancelled occurrence, up to a week before the third: its announcement, nothing for M-ops-2.
        async with sec.listening() as listener:
            s.clock.advance(third.starts_at - timedelta(days=6) - s.clock())
            await listener.wait_for(news, marker(MOOT, moot="M-ops-3", kind="announcement"), timeout=30,
                                    description="the third occurrence's announcement")
        events = await history(sec, news)
        kinds = {(e["content"][MOOT]["moot"], e["content"][MOOT]["kind"]) for e in events if MOOT in e["content"]}
        assert {kind for ref, kind in kinds if ref == "M-ops-2"} == {"cancelled"}, kinds
        page = await say("!h moot show S-ops-1")
        assert "M-ops-4" in page, page  # the series made the next occurrence as time went on
    finally:
        await s.app.stop()
