"""Assemblies as spaces against a real Synapse: provisioning, idempotent import, getting in, privacy,
reverting unauthorised changes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import pytest_asyncio

from botrunner import start_app, write_bot_config
from harmony_app.app import App
from handlers.matrix.gateway import MatrixGateway
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_app.local_synapse import LocalSynapse
from matrix_client import MatrixRequestError, TestMatrixUser, of_type

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "harmony-federation.yaml"

SMALL = """
version: 1
assemblies:
  - slug: party
    name: Test Party
    kind: party
    access: open
    remit: Testing.
  - slug: wg
    name: Working Group
    kind: working-group
    access: participants
    parents: [party]
  - slug: das
    name: Disability Activism Society
    kind: society
    access: self-identified
    declaration: I identify as disabled.
    parents: [party]
  - slug: mo
    name: Members Only
    kind: committee
    access: members
    parents: [party]
"""


class WriteCounter:
    """Counts the bot's writes (PUT/POST) to the homeserver by wrapping the gateway's one entry point."""

    def __init__(self, app: App) -> None:
        self.calls: list[tuple[str, str]] = []
        gateway = app.gateway
        original = gateway.request

        async def counting(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
            if method in ("PUT", "POST"):
                self.calls.append((method, path))
            return await original(method, path, body, **kwargs)

        gateway.request = counting  # type: ignore[method-assign]

    @property
    def state_writes(self) -> list[str]:
        return [p for m, p in self.calls if m == "PUT" and "/state/" in p]


@pytest_asyncio.fixture(loop_scope="session")
async def bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[tuple[App, TestMatrixUser]]:
    admin = await make_user("asm-admin")
    bot_user = await synapse.register_user(f"asmbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   sync={"timeout_ms": 2000})
    app = await start_app(config_path)
    try:
        yield app, admin
    finally:
        await app.stop()


def feature(app: App):
    return app.features["assemblies"]


async def state(user_or_app: Any, room_id: str, event_type: str, key: str = "") -> dict[str, Any] | None:
    if isinstance(user_or_app, App):
        return await user_or_app.gateway.get_state_event(room_id, event_type, key)
    return await user_or_app.get_state(room_id, event_type, key)


async def test_importing_the_sample_federation_creates_the_tree_and_a_second_import_writes_nothing(bot) -> None:
    app, _admin = bot
    federation = load_federation(SAMPLE.read_text(), source=str(SAMPLE))
    counter = WriteCounter(app)
    started = time.perf_counter()
    report = await feature(app).apply_federation(federation)
    elapsed = time.perf_counter() - started
    print(f"\nimport of the sample federation ({len(federation)} assemblies): {elapsed:.1f} s, "
          f"{report.rooms_created} rooms, {len(counter.calls)} writes")
    assert report.rooms_created == 5 * len(federation)

    rooms = {a.slug: await feature(app).rooms_of(a.slug) for a in federation}
    party, cw, city = rooms["party"], rooms["cardiff-west"], rooms["cardiff"]
    create = await state(app, party["space"], "m.room.create")
    assert create["type"] == "m.space" and create["room_version"] == "12"
    meta = await state(app, party["space"], "org.harmony.assembly")
    assert meta["slug"] == "party" and meta["access"] == "open"
    # Nesting: Cardiff West under both umbrellas, child and parent links with via.
    via = [app.gateway.server_name]
    assert (await state(app, city["space"], "m.space.child", cw["space"]))["via"] == via
    csc = rooms["constituency-societies-committee"]["space"]
    assert (await state(app, csc, "m.space.child", cw["space"]))["via"] == via
    assert (await state(app, cw["space"], "m.space.parent", city["space"]))["via"] == via
    assert (await state(app, party["space"], "m.space.child", party["discussion"]))["via"] == via
    # Join rules per access.
    assert (await state(app, party["space"], "m.room.join_rules"))["join_rule"] == "public"
    rules = await state(app, cw["space"], "m.room.join_rules")
    assert rules["join_rule"] == "restricted"
    assert {a["room_id"] for a in rules["allow"]} == {city["space"], csc}
    das = rooms["disability-activism-society"]
    assert (await state(app, das["space"], "m.room.join_rules"))["join_rule"] == "knock"
    assert (await state(app, das["discussion"], "m.room.join_rules"))["allow"] == [
        {"type": "m.room_membership", "room_id": das["space"]}]
    assert (await state(app, das["secretariat"], "m.room.join_rules"))["join_rule"] == "invite"
    # The power-level baseline: only the bot admits; the locked state is at 100; bot not in users.
    levels = await state(app, cw["discussion"], "m.room.power_levels")
    assert levels["invite"] == 100
    for locked in ("m.room.join_rules", "m.room.power_levels", "m.space.child", "m.space.parent",
                   "m.room.server_acl"):
        assert levels["events"][locked] == 100
    assert levels["events"]["m.reaction"] == 0
    assert app.config.bot.user_id not in levels["users"]
    assert (await state(app, party["announcements"], "m.room.power_levels"))["events_default"] == 50

    # The same file again: zero writes of any kind.
    counter.calls.clear()
    again = await feature(app).apply_federation(federation)
    assert again.plan.is_empty
    assert counter.calls == []

    # A changed file applies only the difference.
    changed = federation.with_assembly(
        federation["media-working-group"].with_parents(("foundational-committee", "party")))
    counter.calls.clear()
    report = await feature(app).apply_federation(changed)
    assert [op.describe() for op in report.plan.operations] == ["> nest media-working-group in party"]
    assert report.rooms_created == 0
    # The new child link in the party space, the new parent link, and the widened join rules of the
    # media group's space and rooms (participants of either umbrella).
    assert 2 <= len(counter.state_writes) <= 8, [(s, k, d.describe()) for s, k, d in report.repaired][:12]
    assert not [p for m, p in counter.calls if p.endswith("/createRoom")]


def reverts(change_id: str, bot_id: str):
    """The bot's state event that replaces the unauthorised one."""
    def predicate(event: dict[str, Any]) -> bool:
        return event.get("sender") == bot_id and (event.get("unsigned") or {}).get("replaces_state") == change_id
    return predicate


def reports(event_type: str, bot_id: str):
    def predicate(event: dict[str, Any]) -> bool:
        return (event.get("sender") == bot_id and event.get("type") == "m.room.message"
                and "reverted" in event["content"].get("body", "") and event_type in event["content"]["body"])
    return predicate


async def _dm_from_bot(user: TestMatrixUser, listener, bot_id: str) -> str:
    room_id = await listener.wait_for_invite()
    await user.join(room_id)
    return room_id


@pytest.mark.postgres_too
async def test_getting_in_follows_each_access_rule_and_nothing_private_is_posted_or_logged(
        bot, make_user, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app, admin = bot
    bot_id = app.config.bot.user_id
    via = [app.gateway.server_name]
    await feature(app).apply_federation(load_federation(SMALL, source="small.yaml"))
    party, wg, das, mo = [await feature(app).rooms_of(s) for s in ("party", "wg", "das", "mo")]

    # An outsider joins an open assembly, and stays.
    outsider = await make_user("outsider")
    await outsider.join(party["space"], via=via)
    await outsider.join(party["discussion"], via=via)

    # A participants room: refused before joining its parent space, allowed after.
    newcomer = await make_user("newcomer")
    with pytest.raises(MatrixRequestError) as refused:
        await newcomer.join(wg["space"], via=via)
    assert refused.value.errcode == "M_FORBIDDEN"
    await newcomer.join(party["space"], via=via)
    await newcomer.join(wg["space"], via=via)
    await newcomer.join(wg["discussion"], via=via)

    # A self-identified assembly: no way in without the private declaration.
    declarer = await make_user("declarer")
    await declarer.join(party["space"], via=via)
    await declarer.join(party["discussion"], via=via)
    with pytest.raises(MatrixRequestError):
        await declarer.join(das["space"], via=via)
    async with declarer.listening() as listener:
        await declarer.send_and_wait_reply(party["discussion"], "!h join das", from_user=bot_id)
        dm = await _dm_from_bot(declarer, listener, bot_id)
        ask = await listener.wait_for(dm, of_type("m.room.message", sender=bot_id), description="the private question")
        assert "I identify as disabled." in ask["content"]["body"]
        with pytest.raises(MatrixRequestError):
            await declarer.join(das["space"], via=via)
        reply = await declarer.send_and_wait_reply(dm, "!h confirm", from_user=bot_id)
        assert "invited you" in reply["content"]["body"]
        await listener.wait_for_invite(das["space"])
    await declarer.join(das["space"])
    await declarer.join(das["discussion"], via=via)

    # Members only: a non-member is refused (by command and by knock).
    outsider_dm = None
    async with outsider.listening() as listener:
        await outsider.send_and_wait_reply(party["discussion"], "!h join mo", from_user=bot_id)
        outsider_dm = await _dm_from_bot(outsider, listener, bot_id)
        why = await listener.wait_for(outsider_dm, of_type("m.room.message", sender=bot_id))
        assert "members only" in why["content"]["body"]
        await outsider.knock(mo["space"], via=via)
        kicked = await listener.wait_for(mo["space"], lambda e: e.get("type") == "m.room.member"
                                         and e.get("state_key") == outsider.user_id
                                         and e["content"].get("membership") == "leave",
                                         description="the knock refused")
    assert kicked["content"]["reason"] == "does not meet this assembly's access rule"
    with pytest.raises(MatrixRequestError):
        await outsider.join(mo["space"], via=via)
    # Still where they were allowed to be.
    assert outsider.user_id in await outsider.joined_members(party["space"])
    assert declarer.user_id in await declarer.joined_members(das["space"])
    assert newcomer.user_id in await newcomer.joined_members(wg["discussion"])

    # Nothing about declarations or membership in any assembly room's timeline…
    secret_words = ("identify", "declar", "confirm", "member", "registered", "statement")
    for rooms in (party, wg, das, mo):
        for room_id in rooms.values():
            history = await app.gateway.request("GET", f"/v3/rooms/{room_id}/messages",
                                                query={"dir": "b", "limit": 500})
            for event in history["chunk"]:
                if event["type"] not in ("m.room.message", "m.room.member"):
                    continue
                text = " ".join(str(event["content"].get(k, "")) for k in ("body", "reason")).lower()
                assert not any(w in text for w in secret_words), (room_id, event)
    # …nor in any log line that names one of these people.
    people = (declarer.user_id, outsider.user_id, newcomer.user_id)
    for record in caplog.records:
        line = record.getMessage()
        assert not any(p in line for p in people), line
        assert "I identify as disabled" not in line


async def test_unauthorised_changes_are_reverted_and_reported(bot, make_user) -> None:
    app, admin = bot
    bot_id = app.config.bot.user_id
    via = [app.gateway.server_name]
    await feature(app).apply_federation(load_federation(SMALL, source="small.yaml"))
    party, wg = await feature(app).rooms_of("party"), await feature(app).rooms_of("wg")
    secretary = await make_user("secretary")
    async with secretary.listening() as listener:
        await feature(app).set_officers("party", secretary=secretary.user_id, deputies=[], reason="test")
        await listener.wait_for_invite(party["secretariat"])
    await secretary.join(party["secretariat"])
    await secretary.join(party["space"], via=via)
    levels = await state(app, party["space"], "m.room.power_levels")
    assert levels["users"][secretary.user_id] == 50

    async def loosen() -> None:
        # As if the room had Synapse's defaults: moderators may change join rules and the tree.
        loose = dict(levels, events={**levels["events"], "m.room.join_rules": 50, "m.space.child": 50})
        await app.gateway.put_state(party["space"], "m.room.power_levels", loose)

    await loosen()
    async with secretary.listening() as listener:
        change = await secretary.put_state(party["space"], "m.room.join_rules", {"join_rule": "invite"})
        await listener.wait_for(party["space"], reverts(change, bot_id), timeout=10, description="the revert")
        report = await listener.wait_for(party["secretariat"], reports("m.room.join_rules", bot_id),
                                         timeout=10, description="the report in the secretariat")
    assert "reverted" in report["content"]["body"] and "m.room.join_rules" in report["content"]["body"]
    assert (await state(app, party["space"], "m.room.join_rules"))["join_rule"] == "public"
    assert (await state(app, party["space"], "m.room.power_levels"))["events"]["m.room.join_rules"] == 100

    await loosen()
    async with secretary.listening() as listener:
        change = await secretary.put_state(party["space"], "m.space.child", {}, wg["space"])
        await listener.wait_for(party["space"], reverts(change, bot_id), timeout=10,
                                description="the space child restored")
        report = await listener.wait_for(party["secretariat"], reports("m.space.child", bot_id),
                                         timeout=10, description="the second report")
    assert "m.space.child" in report["content"]["body"]
    assert (await state(app, party["space"], "m.space.child", wg["space"]))["via"] == via


async def test_secretaries_admit_to_invite_only_assemblies_but_not_past_the_registry(bot, make_user) -> None:
    """A secretary's admission works where invitations count; for a members-only assembly it is
    refused (without saying why) and nothing is recorded."""
    app, _admin = bot
    secretary = await make_user("asm-secretary")
    guest = await make_user("asm-guest")
    text = SMALL + f"""  - slug: inv
    name: Invite Only
    kind: committee
    access: invite
    parents: [party]
    secretary: "{secretary.user_id}"
  - slug: mo2
    name: Members Only Two
    kind: committee
    access: members
    parents: [party]
    secretary: "{secretary.user_id}"
"""
    await feature(app).apply_federation(load_federation(text, source="admit.yaml"))
    bot_id = app.config.bot.user_id
    inv, mo2 = await feature(app).rooms_of("inv"), await feature(app).rooms_of("mo2")
    for rooms in (inv, mo2):
        await secretary.join(rooms["secretariat"])

    reply = await secretary.send_and_wait_reply(mo2["secretariat"], f"!h assembly admit {guest.user_id}",
                                                from_user=bot_id)
    assert reply["content"]["body"] == f"{guest.user_id} cannot be admitted to Members Only Two by a secretary."
    assert "mo2" not in await app.db.assembly_people.admitted(guest.user_id)

    reply = await secretary.send_and_wait_reply(inv["secretariat"], f"!h assembly admit {guest.user_id}",
                                                from_user=bot_id)
    assert reply["content"]["body"] == f"Invited {guest.user_id} to Invite Only."
    assert "inv" in await app.db.assembly_people.admitted(guest.user_id)
    invited_to = await guest.wait_for_invite(room_id=inv["space"])
    assert invited_to == inv["space"]
    await guest.join(inv["space"])


class StateReads:
    """Counts the bot's reads of a room's whole state (``GET /rooms/{id}/state``, every member event
    included) by wrapping the one request path of every ``MatrixGateway``, from before the bot starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads: list[str] = []
        self.state_writes: list[str] = []
        original = MatrixGateway.request

        async def counting(gateway: MatrixGateway, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
            if method == "GET" and path.endswith("/state"):
                self.reads.append(unquote(path.split("/")[3]))
            elif method == "PUT" and "/state/" in path:
                self.state_writes.append(path)
            return await original(gateway, method, path, body, **kwargs)

        monkeypatch.setattr(MatrixGateway, "request", counting)

    def clear(self) -> None:
        self.reads.clear()
        self.state_writes.clear()


async def test_assembly_sync_and_the_start_up_repair_read_no_state_of_rooms_the_bot_follows(
        synapse: LocalSynapse, make_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: `assembly sync` scales with the drift found, not with members × rooms. The bot keeps
    its rooms' state (memberships aside) from what it syncs, so no drift costs no /state read, and a
    change another user made while the bot was down is found in the first sync and repaired."""
    admin = await make_user("cache-admin")
    bot_user = await synapse.register_user(f"cachebot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   sync={"timeout_ms": 2000, "full_state_at_start": True})
    counter = StateReads(monkeypatch)
    app = await start_app(config_path)
    try:
        bot_id = app.config.bot.user_id
        await feature(app).apply_federation(load_federation(SMALL, source="small.yaml"))
        party = await feature(app).rooms_of("party")
        assembly_rooms = {room for slug in ("party", "wg", "das", "mo")
                          for room in (await feature(app).rooms_of(slug)).values()}
        await admin.join(party["space"])
        await admin.join(party["discussion"])
        counter.clear()
        reply = await admin.send_and_wait_reply(party["discussion"], "!h assembly sync", from_user=bot_id)
        assert "No drift" in reply["content"]["body"], reply["content"]["body"]
        assert [room for room in counter.reads if room in assembly_rooms] == []
        assert counter.state_writes == []
        # An operator gives the admin full power in the party's space by hand (drift of its own)...
        levels = await state(app, party["space"], "m.room.power_levels")
        assert levels is not None
        await app.gateway.put_state(party["space"], "m.room.power_levels",
                                    dict(levels, users={**levels["users"], admin.user_id: 100}))
    finally:
        await app.stop()

    # ...who, while the bot is down, makes the space invite-only.
    await admin.put_state(party["space"], "m.room.join_rules", {"join_rule": "invite"})
    counter.clear()
    app = await start_app(config_path)
    try:
        await feature(app).started()  # the start-up repair and sweep
        assert [room for room in counter.reads if room in assembly_rooms] == []
        assert (await state(app, party["space"], "m.room.join_rules"))["join_rule"] == "public"
        assert admin.user_id not in (await state(app, party["space"], "m.room.power_levels"))["users"]
        # Repaired once: the repair's own writes are held at once, so nothing is found to write again.
        counter.clear()
        reply = await admin.send_and_wait_reply(party["discussion"], "!h assembly sync", from_user=bot_id)
        assert "No drift" in reply["content"]["body"], reply["content"]["body"]
        assert [room for room in counter.reads if room in assembly_rooms] == []
        assert counter.state_writes == []
    finally:
        await app.stop()
