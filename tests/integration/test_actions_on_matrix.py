"""Acting on decisions against a real Synapse with a movable clock (issue 14.4): an action item from a
decision, its owner reminded privately before the due date, closed by the owner's ✅; a decision's review
date reminding the secretariat."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from consensus_fixtures import make_setup, marker
from harmony_app.local_synapse import LocalSynapse

pytestmark = pytest.mark.asyncio(loop_scope="session")
ACTION = "org.harmony.action"


@pytest.mark.postgres_too
async def test_an_action_from_a_decision_is_reminded_and_closed_by_its_owner(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path, action_reminder_before="1d")
    sec, room = s.secretary, s.rooms["discussion"]
    secretariat = s.rooms["secretariat"]
    await sec.join(secretariat)
    ann = await make_user("ann")
    await ann.join(room)

    async def say(text: str) -> str:
        reply = await sec.send_and_wait_reply(room, text, from_user=s.bot_id)
        return str(reply["content"]["body"])

    try:
        await say("!h propose Buy a projector")
        assert "Recorded D-ops-1" in await say("!h consensus P-ops-1 reached")
        assert "no decision D-ops-9" in await say(f"!h action add D-ops-9 {ann.user_id} Buy it")
        async with sec.listening() as listener:
            await sec.send_text(room, f"!h action add D-ops-1 {ann.user_id} Buy the projector due=\"in 3 days\"")
            posted = await listener.wait_for(room, marker(ACTION, action="A-ops-1"), description="the action item")
        body = posted["content"]["body"]
        assert "Action A-ops-1 (from D-ops-1): Buy the projector" in body and ann.user_id in body, body
        assert "A-ops-1 (from D-ops-1): Buy the projector" in await say("!h actions")

        async with ann.listening() as listener:
            s.clock.advance(timedelta(days=2, minutes=1))  # a day before it is due
            dm = await listener.wait_for_invite()
            await ann.join(dm)
            reminder = await listener.wait_for(dm, lambda e: e.get("sender") == s.bot_id
                                               and e.get("type") in ("m.room.message", "m.room.encrypted"),
                                               description="the reminder")
        if reminder["type"] == "m.room.message":
            assert "Your action A-ops-1 is due" in reminder["content"]["body"], reminder["content"]["body"]
        await ann.react(room, posted["event_id"], "✅")
        assert "No open action items of ops." in await say("!h actions")  # read after her reaction
        closed = await s.app.db.consensus.actions.get("A-ops-1")
        assert closed is not None and closed.status.value == "done"

        assert "to be reviewed on" in await say("!h decision review D-ops-1 in 10 days")
        async with sec.listening() as listener:
            s.clock.advance(timedelta(days=10, minutes=1))
            review = await listener.wait_for(secretariat, marker(ACTION, review="D-ops-1"),
                                             description="the review reminder")
        assert "Decision D-ops-1 is due for review: Buy a projector" in review["content"]["body"]
    finally:
        await s.app.stop()
