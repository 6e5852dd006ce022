"""Consensus checks against a real Synapse (issue 14.1): members and a participant react, a block comes with
its reason (asked for privately, given in the check's thread), the tally shows them apart, the verdict must
follow the check and cites it, and a block is overridden only through a ballot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consensus_fixtures import make_setup, marker
from test_decisions_on_matrix import FIVE, ONE, _vote
from harmony_app.local_synapse import LocalSynapse

pytestmark = pytest.mark.asyncio(loop_scope="session")
AGREE, ASIDE, DISAGREE, BLOCK = "👍", "🤷", "👎", "🛑"
CHECK = "org.harmony.consensus_check"


@pytest.mark.postgres_too
async def test_a_block_with_its_reason_stops_a_verdict_until_a_ballot_overrides_it(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)
    sec, room, news = s.secretary, s.rooms["discussion"], s.rooms["announcements"]
    ann, bo, pat = await make_user("ann"), await make_user("bo"), await make_user("pat")
    for person in (ann, bo, pat):
        await person.join(room)
    for member in (sec, ann, bo):  # pat takes part without being a registered member
        await s.app.db.members.add(member.user_id, by="test", at=datetime.now(UTC))

    async def say(user: Any, text: str) -> str:
        reply = await user.send_and_wait_reply(room, text, from_user=s.bot_id)
        return str(reply["content"]["body"])

    try:
        assert "P-ops-1" in await say(sec, "!h propose Buy a projector | about £300")
        async with bo.listening() as bo_listener:
            async with sec.listening() as listener:
                started = await sec.send_text(room, "!h sense P-ops-1")
                check = await listener.wait_for(room, marker(CHECK, check="C-ops-1"), description="the check")
            assert check["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == started
            body = check["content"]["body"]
            for words in ("👍 agree", "🤷 stand aside", "👎 disagree", "🛑 block", "!h sense reason P-ops-1"):
                assert words in body, body
            assert "already open" in await say(sec, "!h sense P-ops-1")
            for person, key in ((sec, AGREE), (ann, DISAGREE), (bo, BLOCK), (pat, DISAGREE)):
                await person.react(room, check["event_id"], key)
            await ann.react(room, check["event_id"], AGREE)  # Ann changes her mind: the older stance goes
            dm = await bo_listener.wait_for_invite()  # asked privately for a reason
        await bo.join(dm)
        async with bo.listening() as listener:
            reason = await bo.send_event(room, "m.room.message", {
                "msgtype": "m.text", "body": "We agreed to spend nothing until the audit.",
                "m.relates_to": {"rel_type": "m.thread", "event_id": check["event_id"]}})
            await listener.wait_for(room, lambda e: e.get("sender") == s.bot_id and e.get("type") == "m.reaction"
                                    and e["content"]["m.relates_to"]["event_id"] == reason,
                                    description="the bot acknowledging the reason")
        assert "recorded" in await say(pat, "!h sense reason P-ops-1 Projectors are noisy.")

        tally = await say(sec, "!h sense show P-ops-1")
        assert "Members (counted): 2 agree, 0 stand aside, 0 disagree, 1 block" in tally, tally
        assert "Participants (not counted): 0 agree, 0 stand aside, 1 disagree, 0 block" in tally, tally
        assert f"🛑 block — bo" in tally and f"({bo.user_id}): “We agreed to spend nothing until the audit.”" in tally
        assert f"{pat.user_id}): “Projectors are noisy.”" in tally and "(participant)" not in tally, tally
        assert "Reading: blocked" in tally, tally

        refused = await say(sec, "!h consensus P-ops-1 reached")
        assert "a block can only be overridden by a ballot: !h consensus P-ops-1 deadlock" in refused, refused
        deadlock = await say(sec, "!h consensus P-ops-1 deadlock")
        assert "Deadlock on P-ops-1 recorded (Consensus check C-ops-1:" in deadlock and "blocked" in deadlock, deadlock
        async with sec.listening() as listener:
            opened = await say(sec, "!h consensus P-ops-1 ballot")
            poll_ref = opened.split("as poll ")[1].split(" ")[0]
            assert f"!h poll close {poll_ref}" in opened, opened
            await _vote(s, listener, s.rooms["votes"], {"Adopt the proposal": FIVE, "Do not adopt it": ONE}, sec)
            await sec.send_and_wait_reply(s.rooms["votes"], f"!h poll close {poll_ref}", from_user=s.bot_id, timeout=60)
            decision = await listener.wait_for(news, marker("org.harmony.decision", ref="D-ops-1"), timeout=60,
                                               description="the ballot's decision")
        assert "star-ballot" in decision["content"]["body"]
        assert "Buy a projector: Adopt the proposal" in decision["content"]["body"]

        # Broad approval: the verdict goes through and cites the check.
        assert "P-ops-2" in await say(sec, "!h propose Meet monthly")
        async with sec.listening() as listener:
            await sec.send_text(room, "!h sense P-ops-2")
            check = await listener.wait_for(room, marker(CHECK, check="C-ops-2"), description="the second check")
        for person, key in ((sec, AGREE), (ann, AGREE), (bo, ASIDE)):
            await person.react(room, check["event_id"], key)
        async with sec.listening() as listener:
            recorded = await say(sec, "!h consensus P-ops-2 reached")
            assert "Recorded D-ops-2" in recorded and "Cites C-ops-2" in recorded, recorded
            announced = await listener.wait_for(news, marker("org.harmony.decision", ref="D-ops-2"),
                                                description="the decision's announcement")
        assert ("Consensus check C-ops-2: 2 agree, 1 stand aside, 0 disagree, 0 block (members); broad approval"
                in announced["content"]["body"]), announced["content"]["body"]
    finally:
        await s.app.stop()
