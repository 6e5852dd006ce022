"""Appservice mode against a real Synapse that loads the registration file the CLI writes: no /sync, the
homeserver pushes transactions, and the same features work as in bot mode (a command answered, a STAR vote
counted, a secret ballot in an encrypted DM, end-to-end encryption through MSC2409/MSC3202, assemblies
provisioned and their rules enforced from the memberships and state pushed). A transaction
that could not be stored is not acknowledged, so Synapse retries it; a stored one whose acknowledgement was
lost is retried and acknowledged without being applied twice."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from nio import RoomMessageNotice, RoomPreset

from botrunner import throwaway_postgres_url, write_bot_config
from db_template import seed_sqlite
from e2ee_client import E2EEUser, nio_replies_to
from harmony_app.app import App
from harmony_app.appservice import write_registration
from harmony_app.local_synapse import LocalSynapse, RegisteredUser, pick_free_ports
from harmony_app.synapse.config import WorkerLayout
from harmony_app.synapse.workers import SynapseWorker
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_matrix.config import load_config
from harmony_matrix.polls.poll import parse_poll_ref
from matrix_client import MatrixRequestError, TestMatrixUser
from storage.admin import create_postgres_database, drop_postgres_database
from test_assemblies import SMALL, StateReads, reports, reverts
from test_assemblies import feature as assembly_feature
from test_enforcement import KICK_REASON, left, open_direct_chat, private_message

pytestmark = pytest.mark.asyncio(loop_scope="session")

VS = "\ufe0f\u20e3"  # a keycap as Element sends it


class AppserviceHome:
    """A Synapse loading the bot's registration file, and the bot's config (mode: appservice)."""

    def __init__(self, server: LocalSynapse, config_path: Path) -> None:
        self.server = server
        self.config_path = config_path
        self.users: list[TestMatrixUser] = []

    async def user(self, name: str) -> TestMatrixUser:
        registered = await self.server.register_user(f"{name}-{secrets.token_hex(3)}")
        user = TestMatrixUser(self.server.url, user_id=registered.user_id, access_token=registered.access_token,
                              device_id=registered.device_id, password=registered.password)
        self.users.append(user)
        return user

    async def close(self) -> None:
        for user in self.users:
            await user.close()
        await self.server.stop()


async def _start_home(root: Path, **server_options: Any) -> AppserviceHome:
    """Synapse loading the registration file `appservice-registration` writes for a bot config."""
    registration = root / "bot" / "appservice-registration.yaml"
    server = LocalSynapse(root / "synapse", appservice_files=(registration,), **server_options)
    (port,) = pick_free_ports(1)
    bot = RegisteredUser(user_id=f"@harmony-as:{server.server_name}", access_token="", device_id="", password="")
    config_path = write_bot_config(
        root / "bot", synapse=server, bot=bot, admins=[], encrypt_direct_chats=True, mode="appservice",
        appservice={"port": port}, polls={"chart": False})
    # No password or token for the bot: appservice mode logs in with the registration's as_token.
    config = yaml.safe_load(config_path.read_text())
    config["bot"] = {"user_id": bot.user_id, "encrypt_direct_chats": True}
    config_path.write_text(yaml.safe_dump(config))
    write_registration(load_config(config_path))  # what `harmony-matrix appservice-registration` writes
    await server.start()
    return AppserviceHome(server, config_path)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AppserviceHome]:
    home = await _start_home(tmp_path_factory.mktemp("appservice"))
    try:
        yield home
    finally:
        await home.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker_home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AppserviceHome]:
    """The production shape in miniature: Synapse on PostgreSQL with Redis, a worker (not the main
    process) pushing the transactions. Its own server name: Redis channels are named after it."""
    admin_dsn = os.environ["HARMONY_TEST_POSTGRES"]
    name = f"harmony_synapse_{secrets.token_hex(4)}"
    dsn = await create_postgres_database(admin_dsn, name)
    (replication_port,) = pick_free_ports(1)
    try:
        home = await _start_home(tmp_path_factory.mktemp("appservice-workers"), database=dsn,
                                 server_name=f"workers-{secrets.token_hex(3)}.localhost",
                                 workers=WorkerLayout(replication_port=replication_port))
        worker = SynapseWorker(home.server, home.server.workers.appservice_pusher)  # type: ignore[union-attr]
        try:
            await worker.start()
            yield home
        finally:
            await worker.stop()
            await home.close()
    finally:
        await drop_postgres_database(admin_dsn, name)


def _bot_config(home: AppserviceHome, directory: Path, admin: TestMatrixUser) -> Path:
    """The bot's config for one test: the home's, with its admin and a fresh database."""
    config = yaml.safe_load(home.config_path.read_text())
    config["admins"] = [admin.user_id]
    config["database"] = {"url": throwaway_postgres_url() or "sqlite://harmony.db"}  # fresh, beside this config
    config["appservice"]["registration"] = str(home.config_path.parent / "appservice-registration.yaml")
    seed_sqlite(config["database"]["url"], base=directory)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _no_sync(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("appservice mode must not call /sync")


async def test_the_bot_as_an_appservice(home: AppserviceHome, tmp_path: Path, monkeypatch) -> None:
    admin = await home.user("as-admin")
    voters = [await home.user(f"as-voter{i}") for i in range(2)]
    config_path = _bot_config(home, tmp_path, admin)
    app = App(load_config(config_path))
    e2ee: list[E2EEUser] = []
    try:
        await app.start()
        bot = app.config.bot.user_id
        tokens = yaml.safe_load((home.config_path.parent / "appservice-registration.yaml").read_text())
        monkeypatch.setattr(app.client, "sync", _no_sync)

        # Only the homeserver's token is accepted, with the spec's errcodes; Synapse's ping reaches us.
        url = f"http://127.0.0.1:{app.config.appservice.port}/_matrix/app/v1/transactions/probe"
        async with aiohttp.ClientSession() as http:
            async with http.put(url, json={"events": []}) as missing:
                assert (missing.status, (await missing.json())["errcode"]) == (401, "M_UNAUTHORIZED")
            async with http.put(url, json={"events": []}, headers={"Authorization": "Bearer nope"}) as wrong:
                assert (wrong.status, (await wrong.json())["errcode"]) == (403, "M_FORBIDDEN")
            for attempt in range(3):  # under load Synapse's ping itself can fail (502, "AlreadyCalled")
                async with http.post(f"{home.server.url}/_matrix/client/v1/appservice/{tokens['id']}/ping",
                                     json={}, headers={"Authorization": f"Bearer {tokens['as_token']}"}) as ping:
                    answer = (ping.status, await ping.json())
                if answer[0] != 502 or attempt == 2:
                    break
            assert answer[0] == 200 and "duration_ms" in answer[1], answer
        assert not await app.db.pushed.is_stored("probe")

        # Faults between receiving a transaction and acknowledging it: the first transaction holding
        # voters[0]'s vote is not stored (the database fails), the first holding voters[1]'s is stored but
        # its acknowledgement is lost. Synapse must retry both, with the same transaction ID.
        real_add = app.db.pushed.add
        attempts: dict[str, list[str]] = {"not stored": [], "acknowledgement lost": []}
        first_vote_stored = asyncio.Event()

        async def faulty_add(txn_id: str, body: dict[str, Any], *, at: datetime) -> bool:
            reacting = {e.get("sender") for e in body.get("events", []) if e.get("type") == "m.reaction"}
            if voters[0].user_id in reacting:
                attempts["not stored"].append(txn_id)
                if len(attempts["not stored"]) == 1:
                    raise RuntimeError("the database went away before the transaction was stored")
                stored = await real_add(txn_id, body, at=at)
                first_vote_stored.set()
                return stored
            if voters[1].user_id in reacting:
                attempts["acknowledgement lost"].append(txn_id)
                stored = await real_add(txn_id, body, at=at)
                if len(attempts["acknowledgement lost"]) == 1:
                    raise RuntimeError("stored, then the acknowledgement was lost")
                return stored
            return await real_add(txn_id, body, at=at)

        monkeypatch.setattr(app.db.pushed, "add", faulty_add)

        # A command in a room the bot was invited to.
        room = await admin.create_room(name="Votes", preset="public_chat", invite=[bot],
                                       power_level_content_override={"users": {bot: 50}})
        pong = await admin.send_and_wait_reply(room, "!h ping", from_user=bot, timeout=60)
        assert pong["content"]["body"].startswith("Pong")

        # A STAR poll: each vote counted exactly once despite the faults.
        for person in (admin, *voters):
            await app.db.members.add(person.user_id, by=admin.user_id, at=datetime.now(timezone.utc))
            if person is not admin:
                await person.join(room)
        await admin.put_state(room, "m.room.topic", {"topic": "Lunch"})
        started = await admin.send_and_wait_reply(room, "!h poll start Lunch? | Pizza | Sushi", from_user=bot)
        # The bot's copy of the room's state (memberships aside) started from the state loaded once and
        # follows what is pushed, in order (handlers/matrix/state_cache.py).
        held = app.gateway.room_state.get(room)
        assert held is not None
        assert {e["type"]: e["content"] for e in held}["m.room.topic"] == {"topic": "Lunch"}
        assert not [e for e in held if e["type"] == "m.room.member"]
        poll = await app.db.polls.get(parse_poll_ref(started["content"]["body"].split()[1]))
        assert poll is not None
        pizza, sushi = (option.event_id for option in poll.options)
        await voters[0].react(room, pizza, "5" + VS)
        await asyncio.wait_for(first_vote_stored.wait(), 60)  # so the next votes come in another transaction
        await voters[1].react(room, sushi, "3" + VS)
        await voters[1].react(room, pizza, "2" + VS)
        shown = await admin.send_and_wait_reply(room, f"!h poll show #{poll.number}", from_user=bot, timeout=60)
        assert shown["content"]["body"]

        for fault, tries in attempts.items():
            assert len(tries) >= 2 and tries[0] == tries[1], f"Synapse did not retry ({fault}): {tries}"
        live = await app.db.polls.live_reactions(poll.number)
        counted = sorted((r.voter, r.option, r.score) for r in live if r.voter in {v.user_id for v in voters})
        assert counted == sorted([(voters[0].user_id, 0, 5), (voters[1].user_id, 1, 3), (voters[1].user_id, 0, 2)])
        pongs = [e for e in await _timeline(admin, room) if e.get("sender") == bot
                 and e["content"].get("body", "").startswith("Pong")]
        assert len(pongs) == 1

        # End-to-end encryption without /sync: a secret ballot in an encrypted DM, as Element opens one.
        secret = await admin.send_and_wait_reply(room, "!h poll start Secretary? | Ana | Ben secret", from_user=bot)
        secret_poll = parse_poll_ref(secret["content"]["body"].split()[1])
        ana = await E2EEUser.start(voters[0], tmp_path)
        e2ee.append(ana)
        dm = await ana.create_dm(bot, preset=RoomPreset.trusted_private_chat, timeout=60)
        helped = await ana.send_and_wait_reply(dm, "!h help", from_user=bot, timeout=60)
        assert isinstance(helped, RoomMessageNotice), f"not decrypted: {helped}"
        ballot = await ana.send_text(dm, f"!h vote #{secret_poll} Ana=5 Ben=1")
        receipt = await ana.wait_for(dm, nio_replies_to(ballot, sender=bot), description="the ballot's receipt")
        assert isinstance(receipt, RoomMessageNotice), f"not decrypted: {receipt}"
        assert receipt.body.startswith(f"I recorded your ballot in poll #{secret_poll}")
        assert await app.db.polls.ballots(secret_poll) == [{0: 5, 1: 1}]
        raw = await ana.raw_event(dm, receipt.event_id)
        assert raw["type"] == "m.room.encrypted" and raw["content"]["device_id"] == app.client.device_id
        assert not ana.undecryptable(dm)
        assert app.running.appservice is not None and app.running.appservice.handled >= 5

        # Down and up again: the same device, and a vote sent while it was down is pushed and counted.
        device = app.client.device_id
        await app.stop()
        late = await voters[0].react(room, sushi, "4" + VS)
        app = App(load_config(config_path))
        await app.start()
        monkeypatch.setattr(app.client, "sync", _no_sync)
        assert app.client.device_id == device
        await admin.send_and_wait_reply(room, f"!h poll show #{poll.number}", from_user=bot, timeout=60)
        assert late in {r.event_id for r in await app.db.polls.live_reactions(poll.number)}
    finally:
        for user in e2ee:
            await user.close()
        await app.stop()


async def _timeline(user: TestMatrixUser, room: str) -> list[dict[str, Any]]:
    page = await user.request("GET", f"/_matrix/client/v3/rooms/{room}/messages", params={"dir": "b", "limit": "100"})
    events: list[dict[str, Any]] = page["chunk"]
    return events


@pytest.mark.postgres
async def test_the_bot_as_an_appservice_of_synapse_with_workers(worker_home: AppserviceHome, tmp_path: Path,
                                                                 monkeypatch) -> None:
    """Synapse's appservice pusher worker, not its main process, delivers: a command answered, a vote
    counted and an encrypted DM read and answered (to-device keys pushed by the worker)."""
    home = worker_home
    admin, voter = await home.user("wk-admin"), await home.user("wk-voter")
    app = App(load_config(_bot_config(home, tmp_path, admin)))
    e2ee: list[E2EEUser] = []
    try:
        await app.start()
        monkeypatch.setattr(app.client, "sync", _no_sync)
        bot = app.config.bot.user_id
        room = await admin.create_room(name="Votes", preset="public_chat", invite=[bot],
                                       power_level_content_override={"users": {bot: 50}})
        pong = await admin.send_and_wait_reply(room, "!h ping", from_user=bot, timeout=60)
        assert pong["content"]["body"].startswith("Pong")
        await app.db.members.add(voter.user_id, by=admin.user_id, at=datetime.now(timezone.utc))
        await voter.join(room)
        started = await admin.send_and_wait_reply(room, "!h poll start Lunch? | Pizza | Sushi", from_user=bot)
        poll = await app.db.polls.get(parse_poll_ref(started["content"]["body"].split()[1]))
        assert poll is not None
        vote = await voter.react(room, poll.options[1].event_id, "4" + VS)
        await admin.send_and_wait_reply(room, f"!h poll show #{poll.number}", from_user=bot, timeout=60)
        assert [(r.event_id, r.option, r.score) for r in await app.db.polls.live_reactions(poll.number)
                if r.voter == voter.user_id] == [(vote, 1, 4)]

        ana = await E2EEUser.start(voter, tmp_path)
        e2ee.append(ana)
        dm = await ana.create_dm(bot, preset=RoomPreset.trusted_private_chat, timeout=60)
        helped = await ana.send_and_wait_reply(dm, "!h ping", from_user=bot, timeout=60)
        assert isinstance(helped, RoomMessageNotice) and helped.body.startswith("Pong"), f"not decrypted: {helped}"
        assert not ana.undecryptable(dm)
    finally:
        for user in e2ee:
            await user.close()
        await app.stop()


async def test_assemblies_are_enforced_from_pushed_transactions(home: AppserviceHome, tmp_path: Path,
                                                                monkeypatch) -> None:
    """Issue 13: assemblies in appservice mode, where the membership index (handlers/assemblies/presence.py)
    and the room-state cache (handlers/matrix/state_cache.py) are fed only by pushed transactions. The
    scenarios of bot mode (test_assemblies.py, test_enforcement.py): the tree provisioned with its join
    rules, `!h assemblies` answered, someone leaving a parent space removed from a participants
    assembly, a knock on a members-only assembly refused, a join rule changed by someone else reverted
    and reported, and `!h assembly sync` finding no drift and writing nothing."""
    admin, leaver, outsider, secretary = [await home.user(name) for name in
                                          ("asm-admin", "asm-leaver", "asm-outsider", "asm-secretary")]
    config_path = _bot_config(home, tmp_path, admin)
    config = yaml.safe_load(config_path.read_text())
    config["bot"]["encrypt_direct_chats"] = False  # the plain test client reads the bot's direct chats
    config_path.write_text(yaml.safe_dump(config))
    app = App(load_config(config_path))
    try:
        await app.start()
        monkeypatch.setattr(app.client, "sync", _no_sync)
        bot, via = app.config.bot.user_id, [home.server.server_name]
        await assembly_feature(app).apply_federation(load_federation(SMALL, source="small.yaml"))
        party, wg, mo = [await assembly_feature(app).rooms_of(slug) for slug in ("party", "wg", "mo")]

        # What the server holds, read by the people in the rooms: the tree and each assembly's join rules.
        await admin.join(party["space"], via=via)
        await admin.join(party["discussion"], via=via)
        await admin.join(wg["space"], via=via)
        await admin.join(wg["discussion"], via=via)
        assert (await admin.get_state(party["space"], "m.room.create"))["type"] == "m.space"
        assert (await admin.get_state(party["space"], "m.space.child", wg["space"]))["via"] == via
        assert (await admin.get_state(party["space"], "m.room.join_rules"))["join_rule"] == "public"
        with pytest.raises(MatrixRequestError) as not_yet:  # participants of the party only
            await leaver.join(wg["space"], via=via)
        assert not_yet.value.errcode == "M_FORBIDDEN"
        await leaver.join(party["space"], via=via)
        await leaver.join(wg["space"], via=via)
        assert await leaver.get_state(wg["space"], "m.room.join_rules") == {
            "join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": party["space"]}]}
        assert (await app.gateway.get_state_event(mo["space"], "m.room.join_rules"))["join_rule"] == "knock"
        with pytest.raises(MatrixRequestError) as members_only:
            await outsider.join(mo["space"], via=via)
        assert members_only.value.errcode == "M_FORBIDDEN"
        listing = await admin.send_and_wait_reply(party["discussion"], "!h assemblies", from_user=bot, timeout=60)
        for name in ("Test Party", "Working Group", "Members Only"):
            assert name in listing["content"]["body"], listing["content"]["body"]

        # Leaving the parent space removes from a participants assembly: the membership index follows
        # the pushed leave.
        dm = await open_direct_chat(app, leaver)
        await leaver.join(wg["discussion"], via=via)
        async with leaver.listening() as listener:
            await leaver.leave(party["space"])
            kick = await listener.wait_for(wg["discussion"], left(leaver.user_id), timeout=30,
                                           description="removal from the working group's room")
            await listener.wait_for(wg["space"], left(leaver.user_id), timeout=30,
                                    description="removal from the working group's space")
            why = await private_message(app, listener, dm, "removed", description="the explanation")
        assert kick["sender"] == bot and kick["content"]["reason"] == KICK_REASON
        assert "removed from Working Group" in why and "participants of Test Party" in why, why
        for room in (wg["space"], wg["discussion"]):
            assert leaver.user_id not in await admin.joined_members(room)
        assert admin.user_id in await admin.joined_members(wg["discussion"])  # still taking part: stays

        # A knock on a members-only assembly by someone not on the registry is refused.
        await outsider.join(party["space"], via=via)
        async with outsider.listening() as listener:
            await outsider.knock(mo["space"], via=via)
            refused = await listener.wait_for(mo["space"], left(outsider.user_id), timeout=30,
                                              description="the knock refused")
        assert refused["sender"] == bot and refused["content"]["reason"] == KICK_REASON
        # Nobody but the bot is in the members-only space: its record on the server, read by the bot.
        assert (await app.gateway.get_state_event(mo["space"], "m.room.member", outsider.user_id))["membership"] \
            == "leave"

        # A join rule changed by someone else is reverted (the room-state cache follows pushed state).
        async with secretary.listening() as listener:
            await assembly_feature(app).set_officers("party", secretary=secretary.user_id, deputies=[],
                                                     reason="test")
            await listener.wait_for_invite(party["secretariat"], timeout=30)
        await secretary.join(party["secretariat"])
        await secretary.join(party["space"], via=via)
        levels = await admin.get_state(party["space"], "m.room.power_levels")
        assert levels is not None and levels["users"][secretary.user_id] == 50
        # As if the space had Synapse's defaults: moderators may change its join rule.
        await app.gateway.put_state(party["space"], "m.room.power_levels",
                                    dict(levels, events={**levels["events"], "m.room.join_rules": 50}))
        async with secretary.listening() as listener:
            change = await secretary.put_state(party["space"], "m.room.join_rules", {"join_rule": "invite"})
            await listener.wait_for(party["space"], reverts(change, bot), timeout=30, description="the revert")
            report = await listener.wait_for(party["secretariat"], reports("m.room.join_rules", bot), timeout=30,
                                             description="the report in the secretariat")
        assert "reverted" in report["content"]["body"] and "m.room.join_rules" in report["content"]["body"]
        assert (await admin.get_state(party["space"], "m.room.join_rules"))["join_rule"] == "public"
        assert (await admin.get_state(party["space"], "m.room.power_levels"))["events"]["m.room.join_rules"] == 100

        # Nothing left to repair, and the bot sees that from the state it was pushed: no room's whole
        # state read again, nothing written.
        assembly_rooms = {room for slug in ("party", "wg", "das", "mo")
                          for room in (await assembly_feature(app).rooms_of(slug)).values()}
        requests = StateReads(monkeypatch)
        synced = await admin.send_and_wait_reply(party["discussion"], "!h assembly sync", from_user=bot, timeout=60)
        assert synced["content"]["body"] == "No drift: Matrix matches the registry.", synced["content"]["body"]
        assert [room for room in requests.reads if room in assembly_rooms] == []
        assert requests.state_writes == []

        # While the bot is down, the space's join rule is changed (by someone its power levels, loosened
        # again, allow) and someone leaves the parent space of an assembly they are in: the repair and
        # sweep at start undo both (whether or not Synapse has pushed what it queued meanwhile).
        await outsider.join(wg["space"], via=via)
        await outsider.join(wg["discussion"], via=via)
        levels = await admin.get_state(party["space"], "m.room.power_levels")
        assert levels is not None
        await app.gateway.put_state(party["space"], "m.room.power_levels",
                                    dict(levels, events={**levels["events"], "m.room.join_rules": 50}))
        await app.stop()
        await secretary.put_state(party["space"], "m.room.join_rules", {"join_rule": "invite"})
        await outsider.leave(party["space"])
        app = App(load_config(config_path))
        await app.start()
        monkeypatch.setattr(app.client, "sync", _no_sync)
        await assembly_feature(app).started()
        assert (await admin.get_state(party["space"], "m.room.join_rules"))["join_rule"] == "public"
        assert (await admin.get_state(party["space"], "m.room.power_levels"))["events"]["m.room.join_rules"] == 100
        for room in (wg["space"], wg["discussion"]):
            assert outsider.user_id not in await admin.joined_members(room)
            removal = await admin.get_state(room, "m.room.member", outsider.user_id)
            assert removal is not None and removal["reason"] == KICK_REASON
        synced = await admin.send_and_wait_reply(party["discussion"], "!h assembly sync", from_user=bot, timeout=60)
        assert synced["content"]["body"] == "No drift: Matrix matches the registry.", synced["content"]["body"]
    finally:
        await app.stop()
