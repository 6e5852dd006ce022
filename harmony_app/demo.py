"""``harmony-matrix demo``: a local Synapse, the bot and a demo user, all on loopback.

Everything lives in one data folder, so the next run reuses the server, the accounts and the rooms.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from handlers.assemblies.feature import AssembliesFeature
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse, SynapseError
from harmony_matrix.config import load_config

log = logging.getLogger(__name__)

BOT_LOCALPART = "harmony"
DEMO_LOCALPART = "demo"
DEMO_ROOM_NAME = "Harmony demo"


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def prepare_demo(data_dir: Path, *, preferred_port: int = 8008) -> tuple[LocalSynapse, dict[str, Any]]:
    """Start (or restart) the demo homeserver and make sure the accounts and config exist."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state_path = data_dir / "demo.json"
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {}
    synapse_dir = data_dir / "synapse"
    # Port 0, a reused data folder or a busy preferred port: let LocalSynapse pick (or reuse) the port.
    reuse_or_any = preferred_port == 0 or synapse_dir.exists() or not _port_is_free(preferred_port)
    port = None if reuse_or_any else preferred_port
    synapse = LocalSynapse(synapse_dir, client_port=port, reuse=True)
    await synapse.start()
    if "bot_password" not in state:
        bot = await synapse.register_user(BOT_LOCALPART)
        demo_user = await synapse.register_user(DEMO_LOCALPART)
        state.update(bot_user_id=bot.user_id, bot_password=bot.password,
                     demo_user_id=demo_user.user_id, demo_password=demo_user.password)
    try:  # as a homeserver admin would for a production bot (the README says how)
        await synapse.exempt_from_rate_limits(state["bot_user_id"])
    except SynapseError as exc:
        log.warning("demo: could not exempt the bot from rate limits (%s); it will pace itself", exc)
    config_path = data_dir / "config.yaml"
    config = {
        "homeserver": {"url": synapse.url},
        "bot": {"user_id": state["bot_user_id"], "password": state["bot_password"],
                "display_name": "Harmony"},
        "database": {"url": "sqlite://harmony.db"},
        "admins": [state["demo_user_id"]],
        "timezone": "Europe/London",
        "sync": {"timeout_ms": 10000},
        "web": {"enabled": True, "port": _web_port(preferred_port)},  # the public web view
    }
    config_path.write_text("# Written by harmony-matrix demo; edit freely.\n" + yaml.safe_dump(config, sort_keys=False))
    state["url"] = synapse.url
    state["config"] = str(config_path)
    state_path.write_text(json.dumps(state, indent=2))
    return synapse, state


def _web_port(preferred_port: int) -> int:
    """The web view's port: 8080 when free, else (and when the caller asked for any port) a free one."""
    if preferred_port != 0 and _port_is_free(8080):
        return 8080
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ensure_demo_room(state: dict[str, Any]) -> str:
    """The demo user's room with the bot in it (created once)."""
    if state.get("room_id"):
        return str(state["room_id"])
    async with aiohttp.ClientSession() as http:
        login = await _json(http.post(f"{state['url']}/_matrix/client/v3/login", json={
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": DEMO_LOCALPART},
            "password": state["demo_password"]}))
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        room = await _json(http.post(f"{state['url']}/_matrix/client/v3/createRoom", headers=headers, json={
            "name": DEMO_ROOM_NAME, "preset": "private_chat", "invite": [state["bot_user_id"]],
            "topic": "Say !h help to start."}))
    state["room_id"] = room["room_id"]
    return str(room["room_id"])


SAMPLE_FEDERATION = Path(__file__).resolve().parents[1] / "examples" / "harmony-federation.yaml"


async def import_sample_federation(app: App, state: dict[str, Any]) -> str | None:
    """Import the sample federation and invite the demo user to the Party space. Returns the space's
    room ID. The file is applied when it is new or changed since the last run, not at every start: what
    people changed in chat since (a secretary set with ``!h secretary set``) stays as they left it."""
    from harmony_matrix.assemblies.federation_file import load_federation

    if not SAMPLE_FEDERATION.exists():
        return None
    feature = app.features.get("assemblies")
    if not isinstance(feature, AssembliesFeature):
        return None
    text = SAMPLE_FEDERATION.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()
    if state.get("federation_sha256") != digest:
        report = await feature.apply_federation(load_federation(text, source=str(SAMPLE_FEDERATION)))
        if report.rooms_created:
            log.info("demo: imported the sample federation (%d rooms)", report.rooms_created)
        state["federation_sha256"] = digest
    space = (await feature.rooms_of("party")).get("space")
    # The demo's user is a registered party member, so they can vote in the polls they start.
    await app.db.members.add(state["demo_user_id"], by="harmony-matrix demo", at=app.clock())
    if space and not state.get("party_invited"):
        try:
            await app.gateway.invite(space, state["demo_user_id"])
        except Exception as exc:  # already joined or invited
            log.info("demo: no invite to the Party space sent (%s)", exc)
        state["party_invited"] = True
    return space


async def _party_status(app: App, state: dict[str, Any], space: str | None) -> str:
    """What the demo's user should do about the Party space: accept its invite, or nothing more."""
    if space is None:
        return "none imported."
    room = await app.db.assemblies.room(space)
    address = room.alias if room is not None and room.alias else space
    member = await app.gateway.get_state_event(space, "m.room.member", state["demo_user_id"]) or {}
    if member.get("membership") == "join":
        return f"you are in the Party space ({address}); send !h assemblies for the others."
    if member.get("membership") == "invite":
        return f"accept the invite to the Party space ({address})."
    return f"send !h join party to get into the Party space ({address})."


async def _json(request: Any) -> dict[str, Any]:
    async with request as response:
        body: dict[str, Any] = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"{response.url}: HTTP {response.status} {body}")
        return body


async def run_demo(data_dir: Path, *, preferred_port: int = 8008) -> None:
    """Run the demo in the foreground until Ctrl-C."""
    synapse, state = await prepare_demo(data_dir, preferred_port=preferred_port)
    app = App(load_config(state["config"]))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await app.start()
        await app.wait_synced()
        room_id = await ensure_demo_room(state)
        party_space = await import_sample_federation(app, state)
        party_line = await _party_status(app, state, party_space)
        web = getattr(app.features.get("web"), "address", None) or "off"
        (data_dir.resolve() / "demo.json").write_text(json.dumps(state, indent=2))
        print(f"""
harmony-matrix demo is running.
  Homeserver:  {state['url']}   (any Matrix client; in Element choose "Other homeserver")
  Log in as:   {state['demo_user_id']}
  Password:    {state['demo_password']}
  Room:        "{DEMO_ROOM_NAME}" ({room_id}) — say !h help there.
  Private:     declarations, membership and !h mydata only in an encrypted direct chat: in Element,
               start one with {state['bot_user_id']} (Element encrypts direct chats by default).
  Assemblies:  the sample federation; {party_line}
  Web view:    {web} (the public record: assemblies, moots, polls, decisions)
  Data:        {data_dir.resolve()} (kept for the next run)
Press Ctrl-C to stop.""", flush=True)
        ready = {"url": state["url"], "user_id": state["demo_user_id"], "password": state["demo_password"],
                 "room_id": room_id, "bot_user_id": state["bot_user_id"], "party_space": party_space, "web": web}
        print("DEMO-READY " + json.dumps(ready), flush=True)
        await stopping.wait()
    finally:
        await app.stop()
        await synapse.stop()
