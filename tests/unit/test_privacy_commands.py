"""The membership registry commands, ``mydata`` and ``forget-me`` on the in-memory edge
(``tests/fakes``); ``tests/integration/test_privacy.py`` covers the same through Synapse."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.privacy import MembershipCommands, PrivacyCommands
from tests.fakes.harness import EdgeHarness

ADMIN = "@admin:test"
ALICE = "@alice:test"
ADMIN_DM = "!admin-dm:test"
ALICE_DM = "!alice-dm:test"


class Holder:
    """A feature holding personal data."""

    def __init__(self) -> None:
        self.erased: list[str] = []

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        return {"votes": 3} if user_id not in self.erased else {}

    async def erase_user_data(self, user_id: str) -> None:
        self.erased.append(user_id)


@pytest.fixture
def holder() -> Holder:
    return Holder()


@pytest.fixture
async def edge(holder: Holder) -> EdgeHarness:
    edge = EdgeHarness(admins=[ADMIN])
    edge.add_handlers(MembershipCommands(members=edge.members, clock=edge.clock),
                      PrivacyCommands(members=edge.members, holders={"polls": holder}))
    await edge.open_direct_chat(ADMIN, ADMIN_DM)
    await edge.open_direct_chat(ALICE, ALICE_DM)
    return edge


async def test_admins_keep_the_registry_in_a_direct_chat(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!h member add @sam:test", sender=ADMIN, room_id=ADMIN_DM)
    assert reply.body == "@sam:test is now registered as a party member."
    [reply] = await edge.say("!h member add @sam:test", sender=ADMIN, room_id=ADMIN_DM)
    assert reply.body == "@sam:test was already registered as a party member."
    assert edge.members.members["@sam:test"].added_by == ADMIN
    [reply] = await edge.say("!h member remove @sam:test", sender=ADMIN, room_id=ADMIN_DM)
    assert reply.body == "@sam:test is no longer registered as a party member."
    [reply] = await edge.say("!h member remove @sam:test", sender=ADMIN, room_id=ADMIN_DM)
    assert reply.body == "@sam:test was not registered as a party member; nothing changed."


async def test_the_registry_is_not_touched_in_rooms_or_by_others(edge: EdgeHarness) -> None:
    [reply] = await edge.say("!harmony member add @sam:test", sender=ADMIN, room_id="!group:test")
    assert reply.body == ("!harmony member add works in an encrypted direct message with me: a room with only you and me "
                          "in it, encrypted so that not even the homeserver can read it.")
    [reply] = await edge.say("!h member add @sam:test", sender=ALICE, room_id=ALICE_DM)
    assert reply.body == "!h member add is for admins only."
    [reply] = await edge.say("!h member add sam", sender=ADMIN, room_id=ADMIN_DM)
    assert reply.body == '<user>: "sam" is not a Matrix user ID like @name:server\nUsage: !h member add <user>'
    assert edge.members.members == {}


async def test_mydata_sends_a_json_file_then_names_its_sections(edge: EdgeHarness) -> None:
    await edge.members.add(ALICE, by=ADMIN, at=edge.now)
    file_post, reply = await edge.say("!harmony mydata", sender=ALICE, room_id=ALICE_DM)

    [(filename, data)] = edge.gateway.uploads
    assert filename == "harmony-mydata.json"
    assert json.loads(data) == {"user_id": ALICE, "polls": {"votes": 3},
                                "party_membership": {"member_since": "2026-03-01T12:00:00+00:00",
                                                     "added_by": ADMIN}}
    assert file_post.room_id == ALICE_DM and file_post.event_type == "m.room.message"
    assert file_post.content == {"msgtype": "m.file", "body": "harmony-mydata.json",
                                 "filename": "harmony-mydata.json", "url": "mxc://test/1",
                                 "info": {"mimetype": "application/json", "size": len(data)}}
    assert reply.body == ("Here is everything I hold about you, as a JSON file above (sections: "
                          "party_membership, polls). Send !harmony forget-me to erase it.")


async def test_forget_me_explains_first_and_erases_on_confirmation(edge: EdgeHarness, holder: Holder) -> None:
    await edge.members.add(ALICE, by=ADMIN, at=edge.now)
    [reply] = await edge.say("!harmony forget-me", sender=ALICE, room_id=ALICE_DM)
    assert reply.body.endswith("To go ahead, send: !harmony forget-me confirm")
    assert await edge.members.is_member(ALICE) and holder.erased == []

    [reply] = await edge.say("!h forget-me confirm", sender=ALICE, room_id=ALICE_DM)
    assert reply.body == "Done: I have erased what I held about you."
    assert not await edge.members.is_member(ALICE)
    assert holder.erased == [ALICE]
