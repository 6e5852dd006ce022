"""Opening the bot's database and logging in: one ``Connection``, for the running bot and for
one-off tasks (an import) alike. The client keeps its end-to-end encryption store (the bot's one
device's keys and sessions) in ``bot.crypto_store``, loaded after login, once the device is known."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse

from handlers.matrix import crypto as e2ee
from handlers.matrix.gateway import MatrixGateway, UnknownToken
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
    client = AsyncClient(
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
    if bot.access_token:
        await _restore(connection, config, bot.access_token, device_id="")
        return
    session = await connection.db.sessions.get(bot.user_id)
    if session is not None:
        try:
            await _restore(connection, config, session.access_token, device_id=session.device_id)
            return
        except StartupError:
            log.info("the stored session is no longer valid; logging in again")
    client = connection.client
    if session is not None:
        client.device_id = session.device_id  # nio sends the client's device_id: keep the device
    response: Any = await client.login(bot.password, device_name=bot.device_name)
    if not isinstance(response, LoginResponse):
        raise StartupError(f"login as {bot.user_id} failed: {getattr(response, 'message', response)}")
    await connection.db.sessions.save(BotSession(user_id=bot.user_id, device_id=response.device_id,
                                                 access_token=response.access_token))


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
