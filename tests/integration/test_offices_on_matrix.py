"""Offices and races against a real Synapse (issue 14.5), in one bot run: a secretary declares a race in the
party-wide body (below the suggested four members: a warning, not a refusal); a member stands, a non-member
is refused privately with the reason; the election opened from the race names the poll to close; a vote and
the close make the winner secretary with power and the secretariat, as ``secretary set`` gives; the new
secretary appoints the Treasurer; ``offices`` shows holders by display name, how each was filled, vacancies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from consensus_fixtures import history, make_setup, marker
from test_decisions_on_matrix import FIVE, ONE, _vote
from test_roles_on_matrix import _levels
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.consensus.roles import HowDecided, Role

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_race_from_declaration_to_elected_secretary_and_an_appointed_treasurer(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    s = await make_setup(synapse, make_user, tmp_path)  # "ops" is the only root: the party-wide body
    sec, room, votes = s.secretary, s.rooms["discussion"], s.rooms["votes"]
    ann, outsider, cy = await make_user("ann"), await make_user("outsider"), await make_user("cy")
    await ann.request("PUT", f"/_matrix/client/v3/profile/{quote(ann.user_id)}/displayname",
                      body={"displayname": "Ann Lee"})
    for person in (ann, outsider):
        await person.join(room)
    for member in (sec, ann, cy):  # the outsider takes part without being a registered member
        await s.app.db.members.add(member.user_id, by="test", at=datetime.now(UTC))

    async def say(user: Any, text: str, where: str = room) -> str:
        reply = await user.send_and_wait_reply(where, text, from_user=s.bot_id, timeout=60)
        return str(reply["content"]["body"])

    try:
        board = await say(sec, "!h offices")
        assert "• Secretary (elected; a Party Secretary, members only): " in board, board
        assert "• Treasurer (appointed by the secretaries; a Party Secretary, members only): nobody — VACANT (1 seat)" \
            in board, board
        assert "appointed by the secretaries, not elected" in await say(sec, "!h race declare treasurer")

        declared = await say(sec, "!h race declare secretary")
        warning = "⚠️ ops has 3 members taking part; the constitution suggests at least 4"  # sec, ann, outsider
        assert declared.startswith(warning) and "not a refusal" in declared, declared
        assert "Race E-ops-1 for the Secretary of ops is open" in declared, declared
        assert "already open: E-ops-1" in await say(sec, "!h race declare secretary")

        stood = await say(ann, "!h stand secretary")
        assert stood == f"You stand for the Secretary of ops in race E-ops-1. Standing now: Ann Lee ({ann.user_id}).", stood

        # A Party Secretary must be a registered member: the reason goes to the person alone, by DM.
        async with outsider.listening() as listener:
            refused = await say(outsider, "!h stand secretary")
            dm = await listener.wait_for_invite()
        assert refused == ("I can't do that (standing for the Secretary of ops): I have sent you the reason in a "
                           "direct message."), refused
        await outsider.join(dm)
        private = [e["content"].get("body", "") for e in await history(outsider, dm) if e.get("sender") == s.bot_id]
        assert any("Only registered party members may stand for the Party Secretaries' offices, such as the "
                   "Secretary of ops" in body for body in private), private

        await say(sec, "!h stand secretary")
        assert "You no longer stand in race E-ops-1" in await say(sec, "!h withdraw")
        standing = await say(sec, "!h stand secretary ops")
        assert f"Standing now: Ann Lee ({ann.user_id}), " in standing and sec.user_id in standing, standing

        async with sec.listening() as listener:
            opened = await say(sec, "!h election start secretary")
            assert opened.startswith(warning), opened
            poll_ref = opened.split("as poll ")[1].split(" ")[0]
            assert f"The secretary election is open in the votes room as poll {poll_ref} (race E-ops-1): " \
                in opened, opened
            assert opened.endswith(f"closes it there with: !h poll close {poll_ref}"), opened
            assert f"voting in E-ops-1 has begun (poll {poll_ref}): your name stays on the ballot" \
                in await say(sec, "!h withdraw")
            await _vote(s, listener, votes, {f"Ann Lee ({ann.user_id})": FIVE, f"({sec.user_id})": ONE}, sec)
            await say(sec, f"!h poll close {poll_ref}", votes)
            result = await listener.wait_for(s.rooms["announcements"], marker("org.harmony.ballot", kind="election"),
                                             timeout=60, description="the election result")
        assert f"Ann Lee ({ann.user_id})" in result["content"]["body"], result["content"]["body"]

        [secretary] = await s.app.db.consensus.roles.current("ops")
        assert (secretary.user, secretary.role, secretary.how_decided) == (ann.user_id, Role.SECRETARY,
                                                                            HowDecided.ELECTION)
        for kind, users in (await _levels(s)).items():  # as `secretary set` gives: power in every room
            assert users.get(ann.user_id) == 50, (kind, users)
            assert users.get(sec.user_id, 0) < 50, (kind, users)
        await ann.join(s.rooms["secretariat"])  # and the secretariat's invitation
        assert await s.app.db.consensus.offices.races("ops") == []  # the race is decided

        appointed = await say(ann, f"!h office appoint treasurer {cy.user_id}")
        assert f"({cy.user_id}) is now the Treasurer of ops, appointed by {ann.user_id}." in appointed, appointed
        board = await say(outsider, "!h offices ops")
        assert f"• Secretary (elected; a Party Secretary, members only): Ann Lee ({ann.user_id}), elected until " \
            in board, board
        assert f"({cy.user_id}), appointed" in board and "VACANT" not in board and "race " not in board, board
    finally:
        await s.app.stop()
