"""Appservice mode in the composition root: the registration file, and the server wired to the dispatcher.

The registration file is the one place the tokens live: ``write_registration`` makes them once and keeps
them on later runs (a new token would lock the bot out until Synapse reloads the file); the bot reads them
back from it at start (``harmony_app.connection.appservice_tokens``).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from nio import AsyncClient

from harmony_app.connection import StartupError
from handlers.matrix.appservice import AppserviceServer, PushedFeed, PushedTransactions
from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.ports import Clock
from harmony_matrix.appservice import registration
from harmony_matrix.config import Config

log = logging.getLogger(__name__)

#: What Synapse's homeserver.yaml needs besides the file, for encryption in appservice mode (MSC2409
#: to-device messages and MSC3202 device lists and one-time key counts pushed to the appservice).
SYNAPSE_EXPERIMENTAL_FEATURES: dict[str, Any] = {
    "msc2409_to_device_messages_enabled": True,
    "msc3202_transaction_extensions": True,
}


def write_registration(config: Config, path: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the registration file (``appservice.registration`` unless ``path``); tokens already in it
    are kept, missing ones made. The file is readable by its owner only. Returns the path and content."""
    path = path or config.registration_path()
    old: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        old = loaded if isinstance(loaded, dict) else {}
    content = registration(
        id=config.appservice.id, url=config.appservice.public_url, bot=config.bot.user_id,
        as_token=str(old.get("as_token") or secrets.token_urlsafe(32)),
        hs_token=str(old.get("hs_token") or secrets.token_urlsafe(32)))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("# harmony-matrix appservice registration: add this file to Synapse's app_service_config_files.\n"
                   "# It holds the tokens; keep it private. Re-running appservice-registration keeps them.\n")
        yaml.safe_dump(content, file, sort_keys=False)
    os.replace(temporary, path)
    return path, content


def build_appservice(config: Config, *, client: AsyncClient, gateway: MatrixGateway, dispatcher: Dispatcher,
                     store: PushedTransactions, hs_token: str, clock: Clock) -> AppserviceServer:
    """The appservice server, feeding the same dispatcher the sync loop would."""
    gateway.caches_every_joined_room = False  # nio holds only the rooms something was pushed from
    return AppserviceServer(
        hs_token=hs_token, store=store, clock=clock, bind=config.appservice.bind, port=config.appservice.port,
        feed=PushedFeed(client=client, gateway=gateway, dispatcher=dispatcher))


async def start_appservice(server: AppserviceServer, dispatcher: Dispatcher, *,
                           ping: Callable[[], Awaitable[int | None]] | None = None) -> None:
    """Start appservice mode: the device's keys on the server first (as the sync loop's first batch does),
    then listen and handle what an earlier run stored. The bot counts as synced once it listens.

    Then ``ping`` (the homeserver pings us back, Matrix 1.7): Synapse backs off from an appservice that did
    not answer (up to minutes between retries), so what people sent while the bot was down would wait
    for its next retry; a ping makes it retry at once. A failed ping is logged with the homeserver's
    reason (often: it cannot reach ``appservice.public_url``) and the bot goes on."""
    if dispatcher.crypto is not None:
        await dispatcher.crypto.upkeep()
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise StartupError(f"appservice.bind/appservice.port: cannot listen on {server.bind}:{server.port}: "
                           f"{exc.strerror or exc}") from None
    dispatcher.synced.set()
    if ping is not None:
        try:
            duration = await ping()
            log.info("the homeserver pinged this appservice back (%s ms)", "?" if duration is None else duration)
        except MatrixError as exc:
            log.warning("the homeserver could not ping this appservice back (%s): what it holds for us waits for "
                        "its next retry", exc)
