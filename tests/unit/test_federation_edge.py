"""The federation feature at the edge, on the in-memory homeserver (fast): a peer without the ``nest``
right waits for the secretary; the same request delivered twice (two events, one key) is applied
once; answers about links never asked for, and messages in a room that is not encrypted, are
refused and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harmony_matrix.assemblies.federation_file import load_federation
from harmony_matrix.event_types import HARMONY_FEDERATION, ROOM_CREATE, ROOM_ENCRYPTION, SPACE_CHILD
from harmony_matrix.federation_peers.links import LinkState, Side
from tests.fakes.app_harness import BotHarness

pytestmark = pytest.mark.asyncio(loop_scope="session")

PEER = "@harmony:wales.test"
SECRETARY = "@sec:test"
PEER_ROOM, CHILD = "!peer:test", "!wales-space"
FEDERATION = f"""
version: 1
assemblies:
  - slug: party
    name: National Party
    kind: party
    secretary: "{SECRETARY}"
"""


def fed_event(content: dict[str, Any], *, event_id: str, sender: str = PEER) -> dict[str, Any]:
    return {"type": HARMONY_FEDERATION, "event_id": event_id, "sender": sender, "origin_server_ts": 1,
            "content": content}


async def started(tmp_path: Path) -> tuple[BotHarness, dict[str, str]]:
    bot = BotHarness(tmp_path, admins=["@admin:test"],
                     config={"federation": {"peers": [{"user_id": PEER, "may": ["decisions"]}]}})
    await bot.__aenter__()
    await bot.app.features["assemblies"].apply_federation(load_federation(FEDERATION, source="f"))  # type: ignore[attr-defined]
    rooms = await bot.app.features["assemblies"].rooms_of("party")  # type: ignore[attr-defined]
    bot.gateway.state[(PEER_ROOM, ROOM_ENCRYPTION, "")] = {"algorithm": "m.megolm.v1.aes-sha2"}
    bot.join(bot.gateway.user_id, PEER_ROOM)
    bot.join(PEER, PEER_ROOM)
    # The child space, created by the peer's bot (who hosts it).
    original = bot.gateway.request

    async def request(method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None) -> Any:
        if method == "GET" and path.endswith("/state") and CHILD.replace("!", "%21") in path:
            return {"chunk": [{"type": ROOM_CREATE, "state_key": "", "sender": PEER, "content": {}}]}
        return await original(method, path, body, query=query)

    bot.gateway.request = request  # type: ignore[method-assign]
    return bot, rooms


def nest_request(party_space: str, key: str = "nest.request:!wales-space:party:1") -> dict[str, Any]:
    return {"version": 1, "kind": "nest.request", "key": key, "child_space": CHILD, "parent_space": party_space,
            "via": ["wales.test"], "child_name": "Wales Regional Assembly", "parent_alias": "#party:test",
            "body": "Please nest Wales."}


def sent_kinds(bot: BotHarness) -> list[str]:
    return [s.content["kind"] for s in bot.gateway.in_room(PEER_ROOM) if s.event_type == HARMONY_FEDERATION]


async def test_a_request_waits_for_the_secretary_is_applied_once_and_accepted_by_command(tmp_path: Path) -> None:
    bot, rooms = await started(tmp_path)
    try:
        request = nest_request(rooms["space"])
        await bot.deliver([fed_event(request, event_id="$r1")], room_id=PEER_ROOM)
        await bot.deliver([fed_event(request, event_id="$r2")], room_id=PEER_ROOM)  # resent: same key
        await bot.app.running.poster.outbox.drain()
        links = await bot.db.federation.links()
        assert [(link.side, link.state, link.remote_space) for link in links] == [
            (Side.PARENT, LinkState.PENDING, CHILD)]
        assert sent_kinds(bot) == ["nest.pending"]
        asks = [b for b in bot.gateway.bodies(rooms["secretariat"]) if "asks to nest Wales Regional Assembly" in b]
        assert len(asks) == 1 and f"federation accept {CHILD}" in asks[0]
        assert await bot.db.federation.applications("nest.request") == 1
        assert (rooms["space"], SPACE_CHILD, CHILD) not in bot.gateway.state

        # A participant cannot accept; the secretary can, in the secretariat.
        bot.join(SECRETARY, rooms["secretariat"])
        sent = await bot.say(f"!h federation accept {CHILD}", sender=SECRETARY, room_id=rooms["secretariat"])
        assert any("Done: Wales Regional Assembly is nested in party" in s.body for s in sent)
        assert bot.gateway.state[(rooms["space"], SPACE_CHILD, CHILD)]["via"] == ["wales.test"]
        assert sent_kinds(bot) == ["nest.pending", "nest.accepted"]
        assert (rooms["space"], PEER) in bot.gateway.invites
        (link,) = await bot.db.federation.links()
        assert link.state is LinkState.LINKED
        # Reconciling the space keeps the remote child (it is in the desired state now).
        await bot.app.features["assemblies"].sync_all(["party"])  # type: ignore[attr-defined]
        assert bot.gateway.state[(rooms["space"], SPACE_CHILD, CHILD)]["via"] == ["wales.test"]
    finally:
        await bot.__aexit__(None, None, None)


async def test_unasked_answers_and_unencrypted_messages_are_refused_and_reported(tmp_path: Path) -> None:
    bot, rooms = await started(tmp_path)
    try:
        accepted = {"version": 1, "kind": "nest.accepted", "key": "x/nest.accepted", "child_space": "!ours",
                    "parent_space": "!theirs", "via": ["wales.test"], "body": "ok"}
        await bot.deliver([fed_event(accepted, event_id="$a1")], room_id=PEER_ROOM)
        plain = "!plain:test"
        bot.join(PEER, plain)
        await bot.deliver([fed_event(nest_request(rooms["space"], key="k2"), event_id="$p1")], room_id=plain)
        await bot.app.running.poster.outbox.drain()
        reports = [b for b in bot.gateway.bodies(rooms["secretariat"]) if "I refused a federation" in b]
        assert any("nest.accepted from @harmony:wales.test: nest.accepted about a nesting this instance has no "
                   "record of" in b for b in reports)
        assert any("sent in a room that is not end-to-end encrypted" in b for b in reports)
        assert await bot.db.federation.links() == []
        assert await bot.db.federation.applications("nest.request") == 0
        # Nothing is ever said in the room that is not encrypted: the refused request is answered in the
        # encrypted room shared with the peer; an unasked answer gets no answer.
        assert [s for s in bot.gateway.in_room(plain) if s.event_type == HARMONY_FEDERATION] == []
        assert [(s.content["kind"], s.content.get("reason")) for s in bot.gateway.in_room(PEER_ROOM)
                if s.event_type == HARMONY_FEDERATION] == [
            ("nest.refused", "sent in a room that is not end-to-end encrypted")]
    finally:
        await bot.__aexit__(None, None, None)
