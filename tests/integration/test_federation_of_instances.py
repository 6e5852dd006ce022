"""Two harmony-matrix instances on two federating Synapses: a regional assembly nests under the
national Party across instances and is taken out again while the national bot is down; a third,
untrusted bot's messages change nothing and are reported (docs/FEDERATION.md).

One run of the two bots covers the acceptance points of issue 15 it can (the suite is over budget).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from botrunner import start_app, write_bot_config
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.access import Enforcement
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_matrix.consensus.decisions import Decision, Level, Method, append, make_decision_ref
from harmony_matrix.event_types import HARMONY_DECISION_STATE, HARMONY_FEDERATION, SPACE_CHILD, SPACE_PARENT
from harmony_matrix.federation_peers.decisions import decision_state
from harmony_matrix.federation_peers.eligibility import ask_key
from matrix_client import MatrixRequestError

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy (no fixed sleeps: the first success ends it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def notices(app: App, room_id: str) -> list[str]:
    page = await app.gateway.messages(room_id, start=None, direction="b", limit=100)
    return [str(e.get("content", {}).get("body", "")) for e in page.get("chunk", [])
            if e.get("type") == "m.room.message" and e.get("sender") == app.config.bot.user_id]


def national_federation(party: str) -> str:
    return f"""
version: 1
assemblies:
  - slug: {party}
    name: National Party
    kind: party
    access: open
    all_thing: true
  - slug: forum
    name: National Forum
    kind: working-group
    access: participants
    parents: [{party}]
"""


def regional_federation(*parent_aliases: str) -> str:
    remote = f"\n    remote_parents: [{', '.join(repr(a) for a in parent_aliases)}]" if parent_aliases else ""
    return f"""
version: 1
assemblies:
  - slug: wales
    name: Wales Regional Assembly
    kind: region
    access: open{remote}
"""


async def test_a_regional_assembly_nests_under_the_national_party_and_unnests_while_the_national_bot_is_down(
        synapse_pair: tuple[LocalSynapse, LocalSynapse], make_user, tmp_path: Path) -> None:
    national_hs, regional_hs = synapse_pair
    tag = tmp_path.name[-6:].lower().replace("_", "-")
    # Its own slugs: other tests on the same pair of servers have a "party" (and its aliases) too.
    P = f"party-{tag}"
    national_bot = await national_hs.register_user(f"national-{tag}")
    regional_bot = await regional_hs.register_user(f"regional-{tag}")
    admin_n = await make_user("admin-n", server=national_hs)
    admin_r = await make_user("admin-r", server=regional_hs)
    national_config = write_bot_config(
        tmp_path / "national", synapse=national_hs, bot=national_bot, admins=[admin_n.user_id],
        sync={"timeout_ms": 1000}, federation={"peers": [{"user_id": regional_bot.user_id, "may": ["nest", "delegates", "eligibility"],
                                                  "delegate_seats": 1}]})
    regional_config = write_bot_config(
        tmp_path / "regional", synapse=regional_hs, bot=regional_bot, admins=[admin_r.user_id],
        sync={"timeout_ms": 1000}, federation={"peers": [{"user_id": national_bot.user_id, "may": ["decisions"]}]})
    national = await start_app(national_config)
    regional = await start_app(regional_config)
    try:
        await national.features["assemblies"].apply_federation(load_federation(national_federation(P), source="n"))
        party = await national.features["assemblies"].rooms_of(P)
        party_alias = f"#{P}:{national_hs.server_name}"
        # A third, untrusted bot on the national server runs a space of its own that publishes an All
        # Thing decision; the regional file names it as an umbrella too.
        rogue = await make_user("rogue-bot", server=national_hs)
        rogue_space = await rogue.create_room(name="Rogue Assembly", space=True, room_alias_name=f"rogue-{tag}")
        rogue_alias = f"#rogue-{tag}:{national_hs.server_name}"
        forged = append([], Decision(ref="D-rogue-1", assembly="rogue", level=Level.ALL_THING, method=Method.CONSENSUS,
                                     outcome="reached", statement="Rogue rules.", topics=("housing",),
                                     decided_at=datetime(2026, 11, 2, tzinfo=UTC)))
        await rogue.put_state(rogue_space, "org.harmony.assembly", {"slug": "rogue"})
        await rogue.put_state(rogue_space, HARMONY_DECISION_STATE, decision_state(forged), state_key="D-rogue-1")
        await regional.features["assemblies"].apply_federation(
            load_federation(regional_federation(party_alias, rogue_alias), source="r"))
        wales = await regional.features["assemblies"].rooms_of("wales")

        # --- nesting: both spaces show it, with the other's server in `via` ---------------------
        child = await until(lambda: national.gateway.get_state_event(party["space"], SPACE_CHILD, wales["space"]),
                            "the national Party's m.space.child for the Welsh space")
        assert child["via"] == [regional_hs.server_name]
        parent = await until(lambda: regional.gateway.get_state_event(wales["space"], SPACE_PARENT, party["space"]),
                             "the Welsh space's m.space.parent for the national Party")
        assert parent["via"] and parent["via"][0] == national_hs.server_name
        assert await until(lambda: _has(notices(national, party["secretariat"]), "is now nested in National Party"),
                           "the national secretariat told")
        assert await until(lambda: _has(notices(regional, wales["secretariat"]),
                                        f"Wales Regional Assembly is now nested in {party_alias}"),
                           "the regional secretariat told")
        # The protocol went through an encrypted room the two bots share.
        peer_room = await regional.db.federation.peer_room(national_bot.user_id)
        assert peer_room is not None and await regional.gateway.is_encrypted(peer_room)
        raw = await regional.gateway.messages(peer_room, start=None, direction="b")
        assert not [e for e in raw["chunk"] if e["type"] == HARMONY_FEDERATION], "sent in the clear"
        assert [e for e in raw["chunk"] if e["type"] == "m.room.encrypted"]

        # `!h assemblies` on the regional instance shows the remote part of the tree.
        person = await make_user("welsh", server=regional_hs)
        await person.join(wales["discussion"], via=[regional_hs.server_name])
        reply = await person.send_and_wait_reply(wales["discussion"], "!h assemblies", from_user=regional_bot.user_id)
        assert f"Nested in {party_alias} (on {national_hs.server_name}" in reply["content"]["body"]
        # … and on the national one, the Welsh assembly under the Party.
        host = await make_user("host", server=national_hs)
        await host.join(party["discussion"])
        reply = await host.send_and_wait_reply(party["discussion"], "!h assemblies", from_user=national_bot.user_id)
        assert "Wales Regional Assembly (on " + regional_hs.server_name in reply["content"]["body"]

        # --- participation: a participant of the Welsh assembly joins the national participants' forum --
        forum = await national.features["assemblies"].rooms_of("forum")
        await until(lambda: _allows(national, forum["space"], wales["space"]), "the forum's join rule allowing Wales")
        await person.join(wales["space"], via=[regional_hs.server_name])
        # Restricted join: the national server checks the person's membership of the Welsh space, which
        # it knows because its bot sits there.
        await until(lambda: _try_join(person, forum["space"], national_hs.server_name), "the forum open to the Welsh")
        await person.join(forum["discussion"], via=[national_hs.server_name])
        reply = await person.send_and_wait_reply(forum["discussion"], "!h ping", from_user=national_bot.user_id)
        assert reply["content"]["body"]
        enforcer = national.features["assemblies"].enforcer
        assert await enforcer.enforce(person.user_id, forum["space"], "forum", "space") is Enforcement.KEEP
        member = await national.gateway.get_state_event(forum["space"], "m.room.member", person.user_id)
        assert member is not None and member["membership"] == "join"

        # --- delegates up the levels: one seated in the national Party, a second over the seat count refused --
        await admin_r.join(wales["discussion"], via=[regional_hs.server_name])
        first = await make_user("delegate-a", server=regional_hs)
        second = await make_user("delegate-b", server=regional_hs)
        reply = await admin_r.send_and_wait_reply(wales["discussion"], f"!h delegate send {first.user_id}",
                                                  from_user=regional_bot.user_id)
        assert f"I asked {national_bot.user_id} to seat {first.user_id}" in reply["content"]["body"]
        await until(lambda: _membership(national, party["discussion"], first.user_id, "invite"),
                    "the delegate invited to the national Party's discussion")
        assert await national.features["federation"].delegates.seated_in(first.user_id) == {P}
        await until(lambda: _has(notices(regional, wales["secretariat"]),
                                 f"{first.user_id} is seated in {party_alias} as a delegate of Wales Regional Assembly"),
                    "the regional secretariat told of the seat")
        await first.join(party["discussion"], via=[national_hs.server_name])
        assert await national.features["assemblies"].enforcer.enforce(
            first.user_id, party["space"], P, "space") is Enforcement.KEEP
        reply = await admin_r.send_and_wait_reply(wales["discussion"], f"!h delegate send {second.user_id}",
                                                  from_user=regional_bot.user_id)
        assert f"to seat {second.user_id}" in reply["content"]["body"]
        await until(lambda: _has(notices(regional, wales["secretariat"]), (
            f"refused to seat {second.user_id} in {party_alias} as a delegate of Wales Regional Assembly: no seat "
            f"left for {second.user_id}: {P} grants Wales Regional Assembly 1 delegate seat, and 1 is taken")),
            "the refusal over the seat count told to the regional secretariat")
        assert await national.gateway.get_state_event(party["discussion"], "m.room.member", second.user_id) is None
        assert not await national.features["federation"].delegates.seated_in(second.user_id)
        # The first stands down: the region withdraws them, and the national seat ends.
        reply = await admin_r.send_and_wait_reply(wales["discussion"], f"!h delegate withdraw {first.user_id}",
                                                  from_user=regional_bot.user_id)
        await until(lambda: _has(notices(regional, wales["secretariat"]), f"{first.user_id} no longer holds a seat in "
                                 f"{party_alias}"), "the seat ended on both sides")
        assert not await national.features["federation"].delegates.seated_in(first.user_id)

        # --- eligibility across instances: a national member votes in a regional members' poll ---------
        voter = await make_user("nat-member", server=national_hs)
        stranger = await make_user("nat-stranger", server=national_hs)
        await national.db.members.add(voter.user_id, by=admin_n.user_id, at=datetime.now(UTC) - timedelta(minutes=1))
        ref = await regional.features["polls"].start_poll(
            room_id=wales["discussion"], question="Adopt the charter?", options=["Yes", "No"], eligibility="members",
            created_by=admin_r.user_id, origin="test:federated-eligibility")
        number = int(ref.lstrip("#"))
        option = (await regional.db.polls.get(number)).options[0].event_id
        for someone in (voter, stranger):
            await someone.join(wales["discussion"], via=[regional_hs.server_name])
        # The option reaches the national server over federation (the join's backfill) a moment later.
        await until(lambda: _server_has(voter, wales["discussion"], option), "the option on the national server")
        voted = await voter.react(wales["discussion"], option, "5\ufe0f\u20e3")
        refused = await stranger.react(wales["discussion"], option, "4\ufe0f\u20e3")
        await until(lambda: _reaction_is(regional, number, voted, "live"), "the national member's vote counted")
        await until(lambda: _reaction_is(regional, number, refused, "refused"), "the national non-member's refused")
        assert await regional.db.polls.turnout(number) == 1
        # The answers came from the national instance (it alone knows these members); the regional
        # registry lists neither, and each was asked once, over the encrypted peer room.
        assert not await regional.db.members.is_member(voter.user_id)
        assert await national.db.federation.applications("eligibility.ask") == 2
        stranger_ts = await _event_ts(regional, wales["discussion"], refused)
        asked = await regional.db.federation.question(ask_key(stranger.user_id, stranger_ts))
        assert asked is not None and asked.peer == national_bot.user_id and asked.answer is False

        # Nesting under the rogue's space is refused by the peer hosting its server, and reported.
        await until(lambda: _has(notices(regional, wales["secretariat"]),
                                 f"refused to nest Wales Regional Assembly under {rogue_alias}"), "the refusal reported")
        assert await regional.gateway.get_state_event(wales["space"], SPACE_PARENT, rogue_space) is None

        # --- decisions across instances: the national All Thing decision is in force in Wales ------
        await national.db.consensus.decisions.append(lambda n: Decision(
            ref=make_decision_ref(P, n), assembly=P, level=Level.ALL_THING, method=Method.CONSENSUS,
            outcome="reached", statement="Rent caps everywhere.", topics=("housing",),
            decided_at=datetime(2026, 11, 1, 12, tzinfo=UTC)), assembly=P)
        await regional.db.consensus.decisions.append(lambda n: Decision(
            ref=make_decision_ref("wales", n), assembly="wales", level=Level.MOOT, method=Method.CONSENSUS,
            outcome="reached", statement="No rent caps in Wales.", topics=("housing",),
            decided_at=datetime(2026, 11, 20, tzinfo=UTC)), assembly="wales")
        published = await until(lambda: regional.gateway.get_state_event(party["space"], HARMONY_DECISION_STATE,
                                                                          f"D-{P}-1"), "the national decision published")
        national_hash = (await national.db.consensus.decisions.chain())[0].hash
        assert published["entry"]["hash"] == national_hash
        reply = await person.send_and_wait_reply(wales["discussion"], "!h decisions wales housing",
                                                 from_user=regional_bot.user_id)
        body = reply["content"]["body"]
        remote_ref = f"D-{P}-1@{national_hs.server_name}"
        assert f"• {remote_ref} (all-thing, consensus" in body and "Rent caps everywhere." in body
        assert f"overridden: D-wales-1 by {remote_ref} on housing" in body
        assert f"chain entry #1, hash {national_hash[:16]}… (verified)" in body
        assert "D-rogue-1" not in body and "Rogue rules" not in body

        # --- the untrusted bot's own messages change nothing and are reported -------------------
        rogue_room = await rogue.create_room(preset="private_chat", invite=[national_bot.user_id], is_direct=True)
        await until(lambda: _joined(rogue, rogue_room, national_bot.user_id), "the national bot in the rogue's chat")
        await rogue.send_event(rogue_room, HARMONY_FEDERATION, {
            "version": 1, "kind": "nest.request", "key": "rogue-1", "child_space": rogue_space,
            "parent_space": party["space"], "via": [regional_hs.server_name], "child_name": "Rogue Assembly",
            "body": "nest me"})
        await rogue.send_event(rogue_room, HARMONY_FEDERATION, {"version": 1, "kind": "nest.request", "key": 5})
        await until(lambda: _has(notices(national, party["secretariat"]),
                                 f"refused a federation nest.request from {rogue.user_id}"), "the rogue reported")
        await until(lambda: _has(notices(national, party["secretariat"]), "a malformed message (nest.request lacks child_space"),
                    "the rogue's malformed message reported")
        # … nor its membership claims: it answers the regional bot's question about the stranger "yes".
        claim_room = await rogue.create_room(preset="private_chat", invite=[regional_bot.user_id], is_direct=True)
        await until(lambda: _joined(rogue, claim_room, regional_bot.user_id), "the regional bot in the rogue's chat")
        await rogue.send_event(claim_room, HARMONY_FEDERATION, {
            "version": 1, "kind": "eligibility.answer", "key": asked.key + "/eligibility.answer",
            "user": stranger.user_id, "at": stranger_ts, "member": True, "body": "they are a member"})
        await until(lambda: _has(notices(regional, wales["secretariat"]),
                                 f"refused a federation eligibility.answer from {rogue.user_id}"), "the claim reported")
        assert (await regional.db.federation.question(asked.key)).answer is False
        assert await _reaction_is(regional, number, refused, "refused")
        assert await regional.db.polls.turnout(number) == 1
        assert await national.gateway.get_state_event(party["space"], SPACE_CHILD, rogue_space) is None
        # Only the trusted peer's two requests were applied (one accepted, one refused).
        assert await national.db.federation.applications("nest.request") == 2

        # --- the national bot stops: the regional one keeps working and its unnesting waits -------
        await national.stop()
        await regional.features["assemblies"].apply_federation(load_federation(regional_federation(), source="r"))
        gone = await until(lambda: _empty(regional.gateway.get_state_event(wales["space"], SPACE_PARENT, party["space"])),
                           "the Welsh side unnested at once")
        assert gone
        reply = await person.send_and_wait_reply(wales["discussion"], "!h assemblies", from_user=regional_bot.user_id)
        assert "Nested in" not in reply["content"]["body"]  # answered while the national bot is down
        assert await _state_is(regional, party["space"], "unlinking")
        # Still nested on the national side: nobody there applied anything yet.
        assert (await national_hs_state(national_hs, admin_n, party["space"], wales["space"]))["via"]

        # --- restarted: the queued message is applied exactly once ------------------------------
        national = await start_app(national_config)
        await until(lambda: _empty(national.gateway.get_state_event(party["space"], SPACE_CHILD, wales["space"])),
                    "the national side unnested after the restart")
        await until(lambda: _state_is(regional, party["space"], "unlinked"), "the regional side told it is done")
        await until(lambda: _not(_allows(national, forum["space"], wales["space"])), "Wales no longer allowed in the forum")
        await regional.features["federation"].resend_open()  # nothing left to ask again
        assert await national.db.federation.applications("unnest.request") == 1
        assert await national.db.federation.applications("nest.request") == 2
        assert await until(lambda: _has(notices(national, party["secretariat"]), "is no longer nested in National Party"),
                           "the national secretariat told of the unnesting")
    finally:
        await regional.stop()
        await national.stop()


async def _allows(app: App, room_id: str, allowed: str) -> bool:
    rules = await app.gateway.get_state_event(room_id, "m.room.join_rules") or {}
    return any(rule.get("room_id") == allowed for rule in rules.get("allow", []))


async def _server_has(user: Any, room_id: str, event_id: str) -> bool:
    try:
        await user.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}")
    except MatrixRequestError:
        return False
    return True


async def _reaction_is(app: App, number: int, event_id: str, state: str) -> bool:
    return (await app.db.polls.known_reaction_ids(number)).get(event_id) == state


async def _event_ts(app: App, room_id: str, event_id: str) -> int:
    event = await app.gateway.get_event(room_id, event_id)
    return int(event["origin_server_ts"])


async def _membership(app: App, room_id: str, user_id: str, membership: str) -> bool:
    member = await app.gateway.get_state_event(room_id, "m.room.member", user_id)
    return member is not None and member.get("membership") == membership


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


async def _try_join(user: Any, room_id: str, server: str) -> bool:
    try:
        await user.join(room_id, via=[server])
    except Exception:  # noqa: BLE001 - refused until the server knows the membership; asked again
        return False
    return True


async def _has(texts: Awaitable[list[str]], fragment: str) -> bool:
    return any(fragment in text for text in await texts)


async def _joined(user: Any, room_id: str, member: str) -> bool:
    return member in await user.joined_members(room_id)


async def _empty(content: Awaitable[dict[str, Any] | None]) -> bool:
    found = await content
    return not found or not found.get("via")


async def _state_is(app: App, remote_space: str, state: str) -> bool:
    return [link.state.value for link in await app.db.federation.links() if link.remote_space == remote_space] == [state]


async def national_hs_state(server: LocalSynapse, user: Any, space: str, child: str) -> dict[str, Any]:
    """The national space's m.space.child as a national user reads it (the bot is down)."""
    await user.join(space)
    found = await user.get_state(space, SPACE_CHILD, child)
    assert found is not None
    return found
