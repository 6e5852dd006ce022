"""Enforcement of assembly rules against a real Synapse (issue 4, "Enforcement").

Each test starts its own bot (with an injected clock) and provisions a small federation:
someone who left the parent space of a ``participants`` room is removed; the warn-then-remove
policy warns first and removes after the grace period (time driven by the clock, the sweep called
directly); automatic participation invites whoever takes part anywhere; blocked servers get a
server ACL and their users removed; a member taken off the registry leaves a members-only assembly
at the next sweep. Every removal is explained privately and recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from botrunner import start_app, write_bot_config
from harmony_app.app import App
from harmony_matrix.errors import UserError
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_app.local_synapse import LocalSynapse
from matrix_client import SyncListener, TestMatrixUser, of_type

pytestmark = pytest.mark.asyncio(loop_scope="session")

KICK_REASON = "does not meet this assembly's access rule"
# Words that would reveal a person's status or a declaration; never in a room or a kick reason.
SENSITIVE = ("identify", "declar", "member", "registered", "statement")

BASE = """
version: 1
assemblies:
  - slug: party
    name: Enforcement Party
    kind: party
    access: open
  - slug: wg
    name: Enforcement Working Group
    kind: working-group
    access: participants
    parents: [party]
"""


@dataclass
class Clock:
    """A clock the test moves by hand (``App(config, clock=...)``)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


StartBot = Callable[..., Awaitable[App]]


@pytest_asyncio.fixture(loop_scope="session")
async def start_bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[StartBot]:
    """Factory: ``await start_bot(clock=..., server=..., **config_overrides)`` → a running App."""
    apps: list[App] = []

    async def start(*, clock: Clock | None = None, server: LocalSynapse | None = None, **overrides: Any) -> App:
        server = server or synapse
        admin = await make_user("enf-admin", server=server)
        stem = f"enfbot-{len(apps)}-{tmp_path.name[-10:].lower()}".replace("_", "-")
        bot_user = await server.register_user(stem)
        config = write_bot_config(tmp_path / f"bot{len(apps)}", synapse=server, bot=bot_user,
                                  admins=[admin.user_id], sync={"timeout_ms": 2000}, **overrides)
        app = await start_app(config, clock=clock or Clock())
        apps.append(app)
        return app

    try:
        yield start
    finally:
        for app in apps:
            await app.stop()


def feature(app: App) -> Any:
    return app.features["assemblies"]


def left(user_id: str) -> Callable[[dict[str, Any]], bool]:
    """The membership event that removes ``user_id`` (a kick: sent by someone else)."""
    def predicate(event: dict[str, Any]) -> bool:
        return (event.get("type") == "m.room.member" and event.get("state_key") == user_id
                and event["content"].get("membership") == "leave" and event.get("sender") != user_id)
    return predicate


async def open_direct_chat(app: App, user: TestMatrixUser) -> str:
    """The person's direct chat with the bot, joined (as after any earlier conversation)."""
    dm = await feature(app).direct.room_for(user.user_id)
    await user.join(dm)
    return dm


async def private_message(app: App, listener: SyncListener, dm: str, containing: str, *,
                          description: str) -> str:
    """The body of the bot's next notice in ``dm`` that contains ``containing``."""
    bot_id = app.config.bot.user_id

    def predicate(event: dict[str, Any]) -> bool:
        return (event.get("type") == "m.room.message" and event.get("sender") == bot_id
                and containing in event["content"].get("body", ""))

    event = await listener.wait_for(dm, predicate, description=description)
    return event["content"]["body"]


async def audit(app: App, action: str, user_id: str) -> list[Any]:
    return [e for e in await app.db.audit.recent(200) if e.action == action and e.target_user == user_id]


async def test_leaving_the_parent_space_removes_from_a_participants_room(start_bot, make_user) -> None:
    app = await start_bot()
    bot_id, via = app.config.bot.user_id, [app.gateway.server_name]
    await feature(app).apply_federation(load_federation(BASE, source="base.yaml"))
    party, wg = await feature(app).rooms_of("party"), await feature(app).rooms_of("wg")

    person, stays = await make_user("leaver"), await make_user("stayer")
    dm = await open_direct_chat(app, person)
    for user in (person, stays):
        await user.join(party["space"], via=via)
        await user.join(wg["space"], via=via)
        await user.join(wg["discussion"], via=via)

    async with person.listening() as listener:
        await person.leave(party["space"])
        kick = await listener.wait_for(wg["discussion"], left(person.user_id), description="removal from the room")
        await listener.wait_for(wg["space"], left(person.user_id), description="removal from the wg space")
        body = await private_message(app, listener, dm, "removed", description="the explanation")
    assert kick["sender"] == bot_id and kick["content"]["reason"] == KICK_REASON
    assert "removed from Enforcement Working Group" in body and "participants of Enforcement Party" in body
    assert not any(word in body.lower() for word in SENSITIVE), body
    assert person.user_id not in await app.gateway.joined_members(wg["discussion"])
    assert person.user_id not in await app.gateway.joined_members(wg["space"])
    # Whoever still takes part in the party keeps their place.
    assert stays.user_id in await app.gateway.joined_members(wg["discussion"])
    removals = await audit(app, "assembly.remove", person.user_id)
    assert {e.room_id for e in removals} == {wg["space"], wg["discussion"]}
    assert all(e.reason == KICK_REASON for e in removals)


async def test_warn_then_remove_waits_for_the_grace_period(start_bot, make_user) -> None:
    clock = Clock()
    app = await start_bot(clock=clock, assemblies={"enforcement": "warn-then-remove", "warning_grace_hours": 2})
    bot_id, via = app.config.bot.user_id, [app.gateway.server_name]
    await feature(app).apply_federation(load_federation(BASE, source="base.yaml"))
    party, wg = await feature(app).rooms_of("party"), await feature(app).rooms_of("wg")
    person = await make_user("warned")
    dm = await open_direct_chat(app, person)
    await person.join(party["space"], via=via)
    await person.join(wg["space"], via=via)

    async with person.listening() as listener:
        await person.leave(party["space"])
        warning = await private_message(app, listener, dm, "will be removed", description="the warning")
    assert "will be removed from Enforcement Working Group" in warning
    assert not any(word in warning.lower() for word in SENSITIVE), warning
    [warned] = await audit(app, "assembly.warn", person.user_id)
    assert warned.room_id == wg["space"] and warned.at == clock.now

    # Within the grace period a sweep changes nothing.
    clock.advance(timedelta(hours=1, minutes=59))
    await feature(app).enforce_all()
    assert person.user_id in await app.gateway.joined_members(wg["space"])
    assert not await audit(app, "assembly.remove", person.user_id)

    clock.advance(timedelta(minutes=2))
    async with person.listening() as listener:
        await feature(app).enforce_all()
        kick = await listener.wait_for(wg["space"], left(person.user_id), description="the removal")
        body = await private_message(app, listener, dm, "You were removed", description="the explanation")
    assert kick["content"]["reason"] == KICK_REASON
    assert "removed from Enforcement Working Group" in body
    [removed] = await audit(app, "assembly.remove", person.user_id)
    assert removed.room_id == wg["space"] and removed.at == clock.now


async def test_automatic_participation_invites_whoever_takes_part_elsewhere(start_bot, make_user) -> None:
    app = await start_bot()
    via = [app.gateway.server_name]
    text = BASE + """  - slug: ops
    name: Operational Working Group
    kind: working-group
    access: invite
    automatic_participation: true
    parents: [party]
"""
    await feature(app).apply_federation(load_federation(text, source="auto.yaml"))
    party, ops = await feature(app).rooms_of("party"), await feature(app).rooms_of("ops")
    person = await make_user("participant")
    async with person.listening() as listener:
        await person.join(party["space"], via=via)
        await listener.wait_for_invite(ops["space"])
    await person.join(ops["space"])
    [admitted] = await audit(app, "assembly.admit", person.user_id)
    assert admitted.room_id == ops["space"] and admitted.reason == "automatic participation"
    # Being there by automatic participation is not a breach: the next sweep keeps them.
    await feature(app).enforce_all()
    assert person.user_id in await app.gateway.joined_members(ops["space"])


async def test_members_only_assembly_loses_someone_removed_from_the_registry(start_bot, make_user) -> None:
    app = await start_bot()
    bot_id, via = app.config.bot.user_id, [app.gateway.server_name]
    text = BASE + """  - slug: mo
    name: Members Committee
    kind: committee
    access: members
    parents: [party]
"""
    await feature(app).apply_federation(load_federation(text, source="mo.yaml"))
    mo = await feature(app).rooms_of("mo")
    person = await make_user("member")
    dm = await open_direct_chat(app, person)
    await app.db.members.add(person.user_id, by="test", at=app.clock())
    async with person.listening() as listener:
        await feature(app).request_entry(person.user_id, "mo")
        await listener.wait_for_invite(mo["space"])
        await private_message(app, listener, dm, "Welcome", description="the welcome")
    await person.join(mo["space"])
    await person.join(mo["discussion"], via=via)
    await feature(app).enforce_all()
    assert person.user_id in await app.gateway.joined_members(mo["discussion"])

    assert await app.db.members.remove(person.user_id)
    async with person.listening() as listener:
        await feature(app).enforce_all()
        await listener.wait_for(mo["space"], left(person.user_id), description="removal from the space")
        await listener.wait_for(mo["discussion"], left(person.user_id), description="removal from the room")
        body = await private_message(app, listener, dm, "You were removed", description="the explanation")
    assert "removed from Members Committee" in body
    # Two rooms, one explanation: enforce_all has returned, so every message it sent is in the DM.
    history = await person.request("GET", f"/_matrix/client/v3/rooms/{dm}/messages",
                                   params={"dir": "b", "limit": "100"})
    explanations = [e for e in history["chunk"]
                    if e.get("sender") == bot_id and "You were removed" in e.get("content", {}).get("body", "")]
    assert len(explanations) == 1, explanations
    removals = await audit(app, "assembly.remove", person.user_id)
    assert {e.room_id for e in removals} == {mo["space"], mo["discussion"]}
    assert all(e.reason == KICK_REASON for e in removals)
    # The kick reasons in the rooms say nothing about the registry.
    for room_id in (mo["space"], mo["discussion"]):
        member = await app.gateway.get_state_event(room_id, "m.room.member", person.user_id)
        assert member["membership"] == "leave" and member["reason"] == KICK_REASON


async def test_blocked_servers_get_an_acl_and_their_users_removed(
        synapse_pair: tuple[LocalSynapse, LocalSynapse], start_bot, make_user) -> None:
    home, remote_server = synapse_pair
    app = await start_bot(server=home)
    via = [home.server_name]
    await feature(app).apply_federation(load_federation(BASE, source="base.yaml"))
    party = await feature(app).rooms_of("party")
    remote = await make_user("blocked", server=remote_server)
    local = await make_user("neighbour", server=home)
    for user in (remote, local):
        await user.join(party["space"], via=via)
        await user.join(party["discussion"], via=via)

    # ACLs ignore ports: denying the host "localhost" would deny the bot's own server too.
    own_host = home.server_name.rsplit(":", 1)[0]
    with pytest.raises(UserError) as refused:
        await feature(app).apply_federation(load_federation(
            BASE.replace("access: open", f"access: open\n    denied_servers: [{own_host}]", 1), source="own.yaml"))
    assert home.server_name in str(refused.value) and "party" in str(refused.value)
    assert feature(app).federation()["party"].denied_servers == ()

    # Denying the remote server by its full name (host and port).
    blocking = BASE.replace("access: open", f'access: open\n    denied_servers: ["{remote_server.server_name}", "evil.example"]', 1)
    async with local.listening() as listener:
        report = await feature(app).apply_federation(load_federation(blocking, source="block.yaml"))
        await listener.wait_for(party["space"], left(remote.user_id), description="the remote user removed")
        await listener.wait_for(party["discussion"], left(remote.user_id), description="removed from the room")
    # The server ACL in the space and every child room never denies the bot's own server; a deny
    # entry that would (same host, other port) is refused and said so.
    assert any(remote_server.server_name in line and "port" in line for line in report.refusals), report.refusals
    for kind, room_id in party.items():
        acl = await app.gateway.get_state_event(room_id, "m.room.server_acl", "")
        assert acl["allow"] == ["*"] and "evil.example" in acl["deny"], (kind, acl)
        assert not any(own_host == entry or home.server_name == entry for entry in acl["deny"]), (kind, acl)
    assert remote.user_id not in await app.gateway.joined_members(party["space"])
    assert local.user_id in await app.gateway.joined_members(party["space"])
    assert local.user_id in await app.gateway.joined_members(party["discussion"])
    removals = await audit(app, "assembly.remove", remote.user_id)
    assert {e.room_id for e in removals} == {party["space"], party["discussion"]}


async def test_a_restart_without_the_whole_state_enforces_in_the_rooms_it_did_not_hear_from(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    """``sync.full_state_at_start: false`` (issue 13: a party's size): after a restart nio holds only the
    rooms something happened in while the bot was down, and only what happened there. The quiet rooms'
    member lists are read from Synapse: the start-up sweep removes whoever left the parent meanwhile, and
    membership events after the restart keep those lists current."""
    admin = await make_user("qr-admin")
    bot_user = await synapse.register_user(f"qrbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config = write_bot_config(tmp_path / "bot", synapse=synapse, bot=bot_user, admins=[admin.user_id],
                              sync={"timeout_ms": 2000, "full_state_at_start": False})
    app = await start_app(config)
    via = [app.gateway.server_name]
    try:
        await feature(app).apply_federation(load_federation(BASE, source="base.yaml"))
        party, wg = await feature(app).rooms_of("party"), await feature(app).rooms_of("wg")
        person, later = await make_user("qr-leaver"), await make_user("qr-later")
        for user in (person, later):
            for room_id in (party["space"], wg["space"], wg["discussion"]):
                await user.join(room_id, via=via)
    finally:
        await app.stop()

    # While the bot is down: the person leaves the party; in the working group's discussion someone
    # speaks (nio takes that room in from the message alone, so its member list there would lack the
    # person); the working group's space stays quiet (nio does not hold it at all).
    await person.leave(party["space"])
    await later.send_text(wg["discussion"], "anyone here?")
    restarted: App | None = None
    try:
        async with person.listening() as listener:
            restarted = await start_app(config)
            await listener.wait_for(wg["discussion"], left(person.user_id), description="removal after the restart")
            await listener.wait_for(wg["space"], left(person.user_id), description="removal from the wg space")
        gateway = restarted.gateway
        assert not gateway.caches_every_joined_room
        # The rooms that came only as a change: nio's copies of them are not taken as whole.
        for room_id in (party["space"], wg["discussion"]):
            assert not gateway.room_state.came_whole(room_id) and gateway.cached_joined(room_id) is None
        assert person.user_id not in await gateway.joined_members(wg["discussion"])
        assert later.user_id in await gateway.joined_members(wg["discussion"])
        # A change after the restart, in rooms whose lists were read from the server: kept current.
        async with later.listening() as listener:
            await later.leave(party["space"])
            kick = await listener.wait_for(wg["discussion"], left(later.user_id), description="the live removal")
        assert kick["content"]["reason"] == KICK_REASON
        removals = await audit(restarted, "assembly.remove", person.user_id)
        assert {e.room_id for e in removals} == {wg["space"], wg["discussion"]}
    finally:
        if restarted is not None:
            await restarted.stop()
