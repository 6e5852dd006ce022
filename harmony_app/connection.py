"""Opening the bot's database and logging in: one ``Connection``, for the running bot and for
one-off tasks (an import) alike. The client keeps its end-to-end encryption store (the bot's one
device's keys and sessions) in ``bot.crypto_store``, loaded after login, once the device is known."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import yaml
from nio import AsyncClient, AsyncClientConfig, LoginResponse

from handlers.matrix import crypto as e2ee
from handlers.matrix.gateway import MatrixError, MatrixGateway, UnknownToken, UserInUse
from handlers.matrix.state_cache import StateKeepingClient
from harmony_matrix.config import Config
from storage.core.types import BotSession
from storage.database import Database, open_database

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


@dataclass(frozen=True)
class Connection:
    """An open database and a logged-in client (with its crypto store, once logged in)."""

    db: Database
    client: AsyncClient
    gateway: MatrixGateway
    crypto: e2ee.RoomCrypto | None = None

    async def close(self) -> None:
        """Close the client and the database."""
        await self.client.close()
        await self.db.close()


async def connect(config: Config) -> Connection:
    """Open the database, log in and load the crypto store (closing everything again on failure)."""
    crypto_store = config.crypto_store_path()
    try:
        crypto_store.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys: for the bot's account only
    except OSError as exc:
        raise StartupError(f"cannot create the crypto store {crypto_store}: {exc}") from None
    db = await open_database(config.database_url())
    client = StateKeepingClient(
        config.homeserver.url,
        config.bot.user_id,
        store_path=str(crypto_store),
        config=AsyncClientConfig(
            max_limit_exceeded=config.sync.max_rate_limit_retries,
            max_timeouts=None,  # keep reconnecting (with nio's capped backoff) while the server is down
            store_sync_tokens=False,
            encryption_enabled=True,
        ),
        ssl=None if config.homeserver.verify_tls else False,
    )
    connection = Connection(db=db, client=client, gateway=MatrixGateway(client))
    # Without the whole state at a restart, nio holds only the rooms the bot has heard from since.
    connection.gateway.caches_every_joined_room = config.sync.full_state_at_start
    try:
        await _login(connection, config)
        crypto = e2ee.enable(client, connection.gateway,  # after login: the device ID is known
                             direct_chats_encrypted=config.bot.encrypt_direct_chats)
    except e2ee.EncryptionUnavailable as exc:
        await connection.close()
        raise StartupError(str(exc)) from None
    except BaseException:
        await connection.close()
        raise
    return replace(connection, crypto=crypto)


async def _login(connection: Connection, config: Config) -> None:
    """Use the configured token, or a stored session, or log in once with the password.

    Logging in on every start would create a new device each time (and trip rc_login), so a
    password login's device and token are stored and reused.
    """
    bot = config.bot
    if config.mode == "appservice":
        await _appservice_login(connection, config)
        return
    if bot.access_token:
        await _restore(connection, config, bot.access_token, device_id="")
        return
    restored, session = await _restore_stored(connection, config)
    if restored:
        return
    client = connection.client
    if session is not None:
        client.device_id = session.device_id  # nio sends the client's device_id: keep the device
    response: Any = await client.login(bot.password, device_name=bot.device_name)
    if not isinstance(response, LoginResponse):
        raise StartupError(f"login as {bot.user_id} failed: {getattr(response, 'message', response)}")
    await connection.db.sessions.save(BotSession(user_id=bot.user_id, device_id=response.device_id,
                                                 access_token=response.access_token))


async def _restore_stored(connection: Connection, config: Config) -> tuple[bool, BotSession | None]:
    """Reuse the session a login stored, if the homeserver still accepts its token. Returns whether it
    was restored, and the stored session (a new login keeps its device, and so its keys)."""
    session = await connection.db.sessions.get(config.bot.user_id)
    if session is None:
        return False, None
    try:
        await _restore(connection, config, session.access_token, device_id=session.device_id)
    except StartupError:
        log.info("the stored %s session is no longer valid; logging in again", config.mode)
        return False, session
    return True, session


async def _restore(connection: Connection, config: Config, token: str, *, device_id: str) -> None:
    bot_id = config.bot.user_id
    connection.client.access_token = token
    try:
        who = await connection.gateway.whoami()
    except UnknownToken:
        raise StartupError(f"the access token for {bot_id} is not valid") from None
    if who.get("user_id") != bot_id:
        raise StartupError(f"the access token belongs to {who.get('user_id')}, not {bot_id}")
    connection.client.restore_login(bot_id, who.get("device_id") or device_id, token)


def appservice_tokens(config: Config) -> tuple[str, str]:
    """``(as_token, hs_token)`` from the registration file (written by ``appservice-registration``)."""
    path = config.registration_path()
    try:
        registration = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StartupError(f"appservice.registration: {path} does not exist; write it with "
                           "`harmony-matrix appservice-registration`") from None
    except (OSError, yaml.YAMLError) as exc:
        raise StartupError(f"appservice.registration: {path} cannot be read: {exc}") from None
    if not isinstance(registration, dict) or not all(
            isinstance(registration.get(key), str) and registration[key] for key in ("as_token", "hs_token")):
        raise StartupError(f"appservice.registration: {path} has no as_token and hs_token")
    return str(registration["as_token"]), str(registration["hs_token"])


async def _appservice_login(connection: Connection, config: Config) -> None:
    """Appservice mode: the bot's device comes from an appservice login (``m.login.application_service``
    with the as_token), made once and stored like a password login's, so the device and its keys stay.

    The as_token alone has no device, and end-to-end encryption needs one."""
    bot = config.bot
    as_token, _ = appservice_tokens(config)
    restored, session = await _restore_stored(connection, config)
    if restored:
        return
    gateway, client = connection.gateway, connection.client
    client.access_token = as_token
    localpart = bot.user_id[1:].partition(":")[0]
    try:
        # The sender user normally exists already; registering it again is refused as "in use".
        await gateway.request("POST", "/v3/register", {"type": "m.login.application_service",
                                                       "username": localpart, "inhibit_login": True})
    except UserInUse:
        pass
    except MatrixError as exc:
        log.debug("registering the appservice's user: %s", exc)
    body: dict[str, Any] = {"type": "m.login.application_service",
                            "identifier": {"type": "m.id.user", "user": bot.user_id},
                            "initial_device_display_name": bot.device_name}
    if session is not None:
        body["device_id"] = session.device_id  # keep the device (and its keys) across a new login
    try:
        result = await gateway.request("POST", "/v3/login", body)
    except MatrixError as exc:
        raise StartupError(f"appservice login as {bot.user_id} failed: {exc} (is the registration file in "
                           "Synapse's app_service_config_files?)") from None
    token, device_id = str(result["access_token"]), str(result["device_id"])
    client.restore_login(bot.user_id, device_id, token)
    await connection.db.sessions.save(BotSession(user_id=bot.user_id, device_id=device_id, access_token=token))
