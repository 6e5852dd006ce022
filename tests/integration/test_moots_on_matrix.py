"""Moots against a real Synapse with a movable clock: announcement, reminders, start and end notices;
a restart between scheduling and a reminder; cancelling; bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from consensus_fixtures import history, make_setup, marker
from harmony_app.local_synapse import LocalSynapse

pytestmark = pytest.mark.asyncio(loop_scope="session")
MOOT = "org.harmony.moot_notice"


def _notice_key(key: str):  # type: ignore[no-untyped-def]
    return lambda event: ((event.get("content") or {}).get(MOOT) or {}).get("key") == key


@pytest.mark.postgres_too
async def test_notices_arrive_survive_a_restart_once_and_cancelling_drops_them(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)
    sec, discussion, announcements = s.secretary, s.rooms["discussion"], s.rooms["announcements"]
    try:
        async with sec.listening() as listener:
            reply = await sec.send_and_wait_reply(discussion, "!h moot schedule in 2h Budget review duration=1h",
                                                  from_user=s.bot_id)
            assert "Scheduled M-ops-1" in reply["content"]["body"]
            announcement = await listener.wait_for(announcements, marker(MOOT, moot="M-ops-1", kind="announcement"),
                                                   description="the announcement")
            assert "Budget review" in announcement["content"]["body"]
            assert "GMT" in announcement["content"]["body"] or "BST" in announcement["content"]["body"]
            ical = await listener.wait_for(announcements, marker(MOOT, moot="M-ops-1", kind="ical"),
                                           description="the iCal attachment")
            assert ical["content"]["msgtype"] == "m.file" and ical["content"]["url"].startswith("mxc://")
            assert s.app.features["consensus"].notices.pending_jobs("M-ops-1")

            s.clock.advance(timedelta(minutes=61))  # one hour before the start, minus a minute
            reminder = await listener.wait_for(announcements, marker(MOOT, moot="M-ops-1", kind="reminder"),
                                               description="the 1-hour reminder")
            assert "starts in 59m" in reminder["content"]["body"]

            reply = await sec.send_and_wait_reply(discussion, "!h moot schedule in 3h Second moot", from_user=s.bot_id)
            assert "M-ops-2" in reply["content"]["body"]
        # Down while M-ops-2's reminder falls due: sent late on start, once.
        await s.app.stop()
        s.clock.advance(timedelta(hours=2, minutes=1))
        async with sec.listening() as listener:
            from botrunner import start_app

            s.app = await start_app(s.config_path, clock=s.clock)
            await listener.wait_for(announcements, marker(MOOT, moot="M-ops-2", kind="reminder"), timeout=30,
                                    description="the late reminder after the restart")
            reply = await sec.send_and_wait_reply(discussion, "!h moot schedule in 30m Doomed", from_user=s.bot_id)
            assert "M-ops-3" in reply["content"]["body"]
            reply = await sec.send_and_wait_reply(discussion, "!h moot cancel M-ops-3", from_user=s.bot_id)
            assert "Cancelled M-ops-3" in reply["content"]["body"]
            assert s.app.features["consensus"].notices.pending_jobs("M-ops-3") == []

            s.clock.advance(timedelta(minutes=61))  # M-ops-2 starts; M-ops-3 would have started too
            await listener.wait_for(announcements, marker(MOOT, moot="M-ops-2", kind="start"),
                                    description="M-ops-2's start notice")
            s.clock.advance(timedelta(hours=1))
            await listener.wait_for(announcements, marker(MOOT, moot="M-ops-2", kind="end"),
                                    description="M-ops-2's end notice")
        events = await history(sec, announcements)
        kinds = [(e["content"][MOOT]["moot"], e["content"][MOOT]["kind"]) for e in events if MOOT in e.get("content", {})]
        assert kinds.count(("M-ops-2", "reminder")) == 1
        assert kinds.count(("M-ops-1", "reminder")) == 1
        assert ("M-ops-3", "start") not in kinds and ("M-ops-3", "cancelled") in kinds
    finally:
        await s.app.stop()


async def test_bad_moot_input_gets_specific_messages_and_records_nothing(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)
    sec, discussion = s.secretary, s.rooms["discussion"]
    try:
        reply = await sec.send_and_wait_reply(discussion, "!h moot schedule 2020-01-01 19:00 Too late",
                                              from_user=s.bot_id)
        assert "in the past" in reply["content"]["body"]
        reply = await sec.send_and_wait_reply(discussion, "!h moot schedule in 2h Budget proposal=P-ops-9",
                                              from_user=s.bot_id)
        assert "no proposal P-ops-9" in reply["content"]["body"]
        stranger = await make_user("stranger")
        await stranger.join(discussion)
        reply = await stranger.send_and_wait_reply(discussion, "!h moot schedule in 2h Mine", from_user=s.bot_id)
        assert "for secretaries only" in reply["content"]["body"]
        assert await s.app.db.consensus.moots.scheduled() == []
        reply = await sec.send_and_wait_reply(discussion, "!h moots", from_user=s.bot_id)
        assert "No upcoming moots" in reply["content"]["body"]
    finally:
        await s.app.stop()


async def test_reminders_within_a_minute_of_each_other_are_both_sent_and_times_are_named_whole(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path, reminders_before=["90s", "60s"])
    sec, discussion, announcements = s.secretary, s.rooms["discussion"], s.rooms["announcements"]
    try:
        reply = await sec.send_and_wait_reply(discussion, "!h moot schedule next friday 19:00 Budget",
                                              from_user=s.bot_id)
        assert "'next friday 19:00' could mean" in reply["content"]["body"], reply["content"]["body"]
        async with sec.listening() as listener:
            reply = await sec.send_and_wait_reply(discussion, "!h moot schedule in 10m Check-in duration=5m",
                                                  from_user=s.bot_id)
            assert "Scheduled M-ops-1" in reply["content"]["body"]
            s.clock.advance(timedelta(minutes=8, seconds=31))  # 89 s before the start
            await listener.wait_for(announcements, _notice_key("M-ops-1/reminder-90s"),
                                    description="the 90-second reminder")
            s.clock.advance(timedelta(seconds=30))  # 59 s before the start
            await listener.wait_for(announcements, _notice_key("M-ops-1/reminder-1m"),
                                    description="the 60-second reminder")
        reply = await sec.send_and_wait_reply(discussion, "!h help moot schedule", from_user=s.bot_id)
        assert "at least 5m" in reply["content"]["body"], reply["content"]["body"]
    finally:
        await s.app.stop()
