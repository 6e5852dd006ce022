"""Roles against a real Synapse: a petition for re-election reaching its threshold and starting an
election whose result sets the roles; term-end reminders with a movable clock (once, also across a
restart); deputies gaining and losing moderator power in every room of the assembly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harmony_matrix.consensus.ballots import candidate_of
from consensus_fixtures import Setup, history, make_setup, marker
from harmony_app.local_synapse import LocalSynapse

pytestmark = pytest.mark.asyncio(loop_scope="session")
FIVE, ONE = "5\ufe0f\u20e3", "1\ufe0f\u20e3"
TERM = "org.harmony.term"


async def _levels(s: Setup) -> dict[str, dict[str, int]]:
    """``room kind → users`` of the power levels in every room of the assembly (the bot is in all)."""
    levels = {}
    for kind, room_id in s.rooms.items():
        state = await s.app.gateway.get_state_event(room_id, "m.room.power_levels")
        levels[kind] = dict((state or {}).get("users", {}))
    return levels


async def _vote(s: Setup, listener: Any, votes_room: str, scores: dict[str, str], voter: Any) -> None:
    for label, key in scores.items():
        option = await listener.wait_for(votes_room, lambda e, label=label: e.get("sender") == s.bot_id
                                         and (e.get("content") or {}).get("body", "").endswith(label),
                                         description=f"the option message {label}")
        await voter.react(votes_room, option["event_id"], key)


@pytest.mark.postgres_too
async def test_deputy_add_and_remove_change_power_in_every_room(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)
    sec, discussion = s.secretary, s.rooms["discussion"]
    deputy = await make_user("deputy")
    try:
        reply = await sec.send_and_wait_reply(discussion, f"!h deputy add {deputy.user_id}", from_user=s.bot_id)
        assert f"{deputy.user_id} is now a deputy of ops" in reply["content"]["body"], reply["content"]["body"]
        for kind, users in (await _levels(s)).items():
            assert users.get(deputy.user_id) == 50, (kind, users)
            assert users.get(sec.user_id) == 50, (kind, users)
        reply = await sec.send_and_wait_reply(discussion, f"!h deputy add {deputy.user_id}", from_user=s.bot_id)
        assert "already the deputy" in reply["content"]["body"], reply["content"]["body"]

        reply = await sec.send_and_wait_reply(discussion, f"!h deputy remove {deputy.user_id}", from_user=s.bot_id)
        assert f"{deputy.user_id} is no longer a deputy" in reply["content"]["body"], reply["content"]["body"]
        for kind, users in (await _levels(s)).items():
            assert users.get(deputy.user_id, 0) < 50, (kind, users)
            assert users.get(sec.user_id) == 50, (kind, users)
        reply = await sec.send_and_wait_reply(discussion, f"!h deputy remove {deputy.user_id}", from_user=s.bot_id)
        assert "is not a deputy" in reply["content"]["body"], reply["content"]["body"]
        # A participant who holds no role can't change roles.
        await deputy.join(discussion)
        reply = await deputy.send_and_wait_reply(discussion, f"!h deputy add {deputy.user_id}", from_user=s.bot_id)
        assert "!h deputy add is for secretaries only" in reply["content"]["body"], reply["content"]["body"]
        assert [a.user for a in await s.app.db.consensus.roles.current("ops")] == [sec.user_id]

        # Elections: one candidate is no choice (refused before anything is stored); a ballot the polls
        # feature refuses (more candidates than a poll has options) is kept only as abandoned.
        reply = await sec.send_and_wait_reply(discussion, f"!h election start secretary options={sec.user_id}",
                                              from_user=s.bot_id)
        assert "at least two candidates" in reply["content"]["body"], reply["content"]["body"]
        assert await s.app.db.consensus.ballots.get(1) is None
        server = deputy.user_id.split(":", 1)[1]
        crowd = ",".join([deputy.user_id, *(f"@nobody{n}:{server}" for n in range(20))])
        reply = await sec.send_and_wait_reply(
            discussion, f"!h election start deputy options={crowd}", from_user=s.bot_id)
        assert "at most 20 options" in reply["content"]["body"], reply["content"]["body"]
        ballot = await s.app.db.consensus.ballots.get(1)
        assert ballot is not None and ballot.status.value == "abandoned" and ballot.poll_ref is None
    finally:
        await s.app.stop()


async def test_term_end_is_reminded_once_across_a_restart_then_its_end(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path, term_notice="7d")
    sec, discussion = s.secretary, s.rooms["discussion"]
    successor = await make_user("successor")
    secretariat = s.rooms["secretariat"]
    ends = (s.clock() + timedelta(days=30)).date()
    roles = s.app.features["consensus"].roles
    try:
        reply = await sec.send_and_wait_reply(
            discussion, f"!h secretary set {successor.user_id} term={ends.isoformat()}", from_user=s.bot_id)
        assert f"{successor.user_id} is now the secretary of ops until" in reply["content"]["body"], \
            reply["content"]["body"]
        [assignment] = await s.app.db.consensus.roles.current("ops")
        assert assignment.user == successor.user_id and assignment.term_ends is not None
        users = (await _levels(s))["discussion"]
        assert users.get(successor.user_id) == 50 and users.get(sec.user_id, 0) < 50, users
        await successor.join(secretariat)  # new officers are invited to the secretariat

        await roles.remind_terms(s.clock())  # 30 days ahead: nothing yet
        assert not [e for e in await history(successor, secretariat) if TERM in e.get("content", {})]

        async with successor.listening() as listener:
            s.clock.advance(assignment.term_ends - s.clock() - timedelta(days=6))
            await roles.remind_terms(s.clock())
            reminder = await listener.wait_for(secretariat, marker(TERM, kind="ending"), description="the term reminder")
        body = reminder["content"]["body"]
        assert successor.user_id in body and " ends on " in body, body

        await s.restart()  # the start-up check runs, and must not repeat the reminder
        roles = s.app.features["consensus"].roles
        await roles.remind_terms(s.clock())
        assert len([e for e in await history(successor, secretariat) if TERM in e.get("content", {})]) == 1

        async with successor.listening() as listener:
            s.clock.advance(timedelta(days=6, hours=1))
            await roles.remind_terms(s.clock())
            ended = await listener.wait_for(secretariat, marker(TERM, kind="ended"), description="the term-ended notice")
        assert " ended on " in ended["content"]["body"], ended["content"]["body"]
        await roles.remind_terms(s.clock())
        kinds = [e["content"][TERM]["kind"] for e in await history(successor, secretariat) if TERM in e.get("content", {})]
        assert sorted(kinds) == ["ended", "ending"], kinds
    finally:
        await s.app.stop()


async def test_a_petition_reaching_its_threshold_starts_an_election_that_sets_the_roles(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path, petition_threshold=2)
    sec, discussion, votes = s.secretary, s.rooms["discussion"], s.rooms["votes"]
    alice, outsider, challenger = await make_user("alice"), await make_user("outsider"), await make_user("challenger")
    now = datetime.now(UTC)
    for member in (sec, alice, challenger):
        await s.app.db.members.add(member.user_id, by="test", at=now)
    await alice.join(discussion)
    await outsider.join(discussion)
    try:
        reply = await outsider.send_and_wait_reply(discussion, "!h petition re-elect", from_user=s.bot_id)
        assert "sent you the reason in a direct message" in reply["content"]["body"], reply["content"]["body"]
        assert "member" not in reply["content"]["body"]  # whether someone is a member is never said in a room
        assert await s.app.db.consensus.petitions.open_for("ops") == []

        reply = await alice.send_and_wait_reply(discussion, "!h petition re-elect secretary", from_user=s.bot_id)
        body = reply["content"]["body"]
        assert "Signed R-ops-1: 1 of 2 signatures" in body, body
        reply = await outsider.send_and_wait_reply(discussion, "!h petition re-elect", from_user=s.bot_id)
        assert "sent you the reason in a direct message" in reply["content"]["body"], reply["content"]["body"]
        reply = await alice.send_and_wait_reply(discussion, "!h petition re-elect", from_user=s.bot_id)
        body = reply["content"]["body"]
        assert "already signed R-ops-1: 1 of 2 signatures" in body, body
        [petition] = await s.app.db.consensus.petitions.open_for("ops")
        assert petition.signers == {alice.user_id}

        # A signature can be taken back while the petition is open, and given again.
        reply = await outsider.send_and_wait_reply(discussion, "!h petition withdraw", from_user=s.bot_id)
        assert "you have not signed R-ops-1" in reply["content"]["body"], reply["content"]["body"]
        reply = await alice.send_and_wait_reply(discussion, "!h petition withdraw deputy", from_user=s.bot_id)
        assert "no open petition to re-elect the deputy of ops" in reply["content"]["body"], reply["content"]["body"]
        reply = await alice.send_and_wait_reply(discussion, "!h petition withdraw", from_user=s.bot_id)
        assert "Your signature is off R-ops-1: 0 of 2 signatures" in reply["content"]["body"], reply["content"]["body"]
        [petition] = await s.app.db.consensus.petitions.open_for("ops")
        assert petition.signers == frozenset()
        reply = await alice.send_and_wait_reply(discussion, "!h petition re-elect", from_user=s.bot_id)
        assert "Signed R-ops-1: 1 of 2 signatures" in reply["content"]["body"], reply["content"]["body"]

        # Enough signatures, but the secretary alone can't make a ballot: the petition stays open.
        reply = await sec.send_and_wait_reply(discussion, "!h petition re-elect", from_user=s.bot_id)
        body = reply["content"]["body"]
        assert "2 of 2 signatures" in body and f"only {sec.user_id} would stand" in body, body
        [petition] = await s.app.db.consensus.petitions.open_for("ops")
        assert petition.signers == {alice.user_id, sec.user_id}
        assert await s.app.db.consensus.ballots.get(1) is None

        async with sec.listening() as listener:
            reply = await alice.send_and_wait_reply(discussion, f"!h petition re-elect options={challenger.user_id}",
                                                    from_user=s.bot_id)
            assert "R-ops-1 reached 2 signatures" in reply["content"]["body"], reply["content"]["body"]
            assert await s.app.db.consensus.petitions.open_for("ops") == []
            ballot = await s.app.db.consensus.ballots.get(1)
            assert ballot is not None and ballot.poll_ref
            assert {candidate_of(o) for o in ballot.options} == {sec.user_id, challenger.user_id}
            assert f"as poll {ballot.poll_ref}" in reply["content"]["body"], reply["content"]["body"]
            await _vote(s, listener, votes, {f"{challenger.user_id})": FIVE, f"{sec.user_id})": ONE}, sec)
            await sec.send_and_wait_reply(votes, f"!h poll close {ballot.poll_ref}", from_user=s.bot_id, timeout=60)
            result = await listener.wait_for(s.rooms["announcements"], marker("org.harmony.ballot", kind="election"),
                                             timeout=60, description="the election result")
        assert challenger.user_id in result["content"]["body"] and " until " in result["content"]["body"]
        # An elected role carries a term: consensus.elected_term (365 days by default) from the result.
        [assignment] = await s.app.db.consensus.roles.current("ops")
        assert assignment.user == challenger.user_id and assignment.term_ends is not None
        assert timedelta(days=364) < assignment.term_ends - s.clock() <= timedelta(days=365)
        for kind, users in (await _levels(s)).items():
            assert users.get(challenger.user_id) == 50, (kind, users)
            assert users.get(sec.user_id, 0) < 50, (kind, users)
        # A new petition can be opened once the last one is closed.
        reply = await alice.send_and_wait_reply(discussion, "!h petition re-elect", from_user=s.bot_id)
        assert "R-ops-2" in reply["content"]["body"], reply["content"]["body"]
    finally:
        await s.app.stop()
