"""Outcomes against a real Synapse: deadlock → STAR poll → decision with totals; an All Thing decision
overriding it; the record's export and tamper detection; an election setting power levels."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botrunner import execute_sql
from consensus_fixtures import make_setup, marker
from harmony_matrix.config import load_config
from harmony_app.local_synapse import LocalSynapse

pytestmark = pytest.mark.asyncio(loop_scope="session")
FIVE, ONE = "5\ufe0f\u20e3", "1\ufe0f\u20e3"


async def _vote(s, listener, votes_room: str, scores: dict[str, str], voter) -> None:  # type: ignore[no-untyped-def]
    for label, key in scores.items():
        option = await listener.wait_for(votes_room, lambda e, label=label: e.get("sender") == s.bot_id
                                         and (e.get("content") or {}).get("body", "").endswith(label),
                                         description=f"the option message {label}")
        await voter.react(votes_room, option["event_id"], key)


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "harmony_app", *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode or 0, out.decode() + err.decode()


@pytest.mark.postgres_too
async def test_deadlock_ballot_becomes_a_decision_and_an_all_thing_decision_overrides_it(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)
    sec, discussion, votes, news = s.secretary, s.rooms["discussion"], s.rooms["votes"], s.rooms["announcements"]
    await s.app.db.members.add(sec.user_id, by="test", at=datetime.now(UTC))
    try:
        reply = await sec.send_and_wait_reply(discussion, "!h propose Budget split | how to use the surplus",
                                              from_user=s.bot_id)
        assert "P-ops-1" in reply["content"]["body"]
        reply = await sec.send_and_wait_reply(discussion, "!h consensus P-ops-9 reached", from_user=s.bot_id)
        assert "no proposal P-ops-9" in reply["content"]["body"]
        reply = await sec.send_and_wait_reply(
            discussion, '!h consensus P-ops-1 deadlock topics=budget options="Spend | Save"', from_user=s.bot_id)
        assert "Deadlock on P-ops-1" in reply["content"]["body"]
        async with sec.listening() as listener:
            reply = await sec.send_and_wait_reply(discussion, "!h consensus P-ops-1 ballot", from_user=s.bot_id)
            assert "is open" in reply["content"]["body"], reply["content"]["body"]
            poll_ref = reply["content"]["body"].split("as poll ")[1].split(" ")[0]
            await _vote(s, listener, votes, {"Spend": FIVE, "Save": ONE}, sec)
            await sec.send_and_wait_reply(votes, f"!h poll close {poll_ref}", from_user=s.bot_id, timeout=60)
            decision = await listener.wait_for(news, marker("org.harmony.decision", ref="D-ops-1"), timeout=60,
                                               description="the ballot's decision")
        body = decision["content"]["body"]
        assert "star-ballot" in body and "Spend 5" in body and "Save 1" in body
        reply = await sec.send_and_wait_reply(discussion, "!h decisions ops budget", from_user=s.bot_id)
        assert "score totals: Spend 5, Save 1" in reply["content"]["body"], reply["content"]["body"]

        await sec.send_and_wait_reply(discussion, "!h propose Party budget rule", from_user=s.bot_id)
        # ops is the only root, so it is the All Thing body; its moot is the evidence an All Thing decision cites.
        await sec.send_and_wait_reply(discussion, "!h moot schedule in 10m All Thing proposal=P-ops-2",
                                      from_user=s.bot_id)
        s.clock.advance(timedelta(minutes=11))
        reply = await sec.send_and_wait_reply(
            discussion, '!h consensus P-ops-2 reached level=all-thing topics=budget statement="Save half"',
            from_user=s.bot_id)
        assert "D-ops-2" in reply["content"]["body"]
        reply = await sec.send_and_wait_reply(discussion, "!h decisions ops budget", from_user=s.bot_id)
        body = reply["content"]["body"]
        assert "• D-ops-2" in body and "• D-ops-1" not in body
        assert "overridden: D-ops-1 by D-ops-2" in body
    finally:
        await s.app.stop()

    code, out = await _cli("export-decisions", "-c", str(s.config_path), "-o", str(tmp_path / "d.json"), "--verify")
    assert code == 0 and "chain intact" in out, out
    execute_sql(load_config(s.config_path).database_url(),
                "UPDATE consensus_decision SET statement = 'Spend it all' WHERE ref = 'D-ops-1'")
    code, out = await _cli("export-decisions", "-c", str(s.config_path), "-o", str(tmp_path / "d.json"), "--verify")
    assert code == 1 and "TAMPERED: entry 1 (D-ops-1)" in out, out


async def test_an_election_moves_the_secretary_power_level(synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)
    sec, votes = s.secretary, s.rooms["votes"]
    candidate = await make_user("candidate")
    await s.app.db.members.add(sec.user_id, by="test", at=datetime.now(UTC))
    try:
        async with sec.listening() as listener:
            reply = await sec.send_and_wait_reply(
                s.rooms["discussion"], f"!h election start secretary options={sec.user_id},{candidate.user_id}",
                from_user=s.bot_id)
            body = reply["content"]["body"]
            [ballot] = [b for b in [await s.app.db.consensus.ballots.get(1)] if b]
            assert f"election is open in the votes room as poll {ballot.poll_ref}" in body, body
            assert f"!h poll close {ballot.poll_ref}" in body, body
            # Candidates are shown by display name (Synapse's default: the localpart), with the ID that says who.
            assert f"{candidate.user_id.split(':')[0][1:]} ({candidate.user_id})" in body, body
            await _vote(s, listener, votes, {f"({candidate.user_id})": FIVE, f"({sec.user_id})": ONE}, sec)
            await sec.send_and_wait_reply(votes, f"!h poll close {ballot.poll_ref}", from_user=s.bot_id, timeout=60)
            await listener.wait_for(s.rooms["announcements"], marker("org.harmony.ballot", kind="election"),
                                    timeout=60, description="the election result")
        for kind, room_id in s.rooms.items():
            levels = await s.app.gateway.get_state_event(room_id, "m.room.power_levels")  # the bot is in every room
            users = (levels or {}).get("users", {})
            assert users.get(candidate.user_id, 0) >= 50, (kind, users)
            assert users.get(sec.user_id, 0) < 50, (kind, users)
    finally:
        await s.app.stop()
