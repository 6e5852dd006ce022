"""Why the bot cannot start, in one line naming what failed and where: the operator's errors.

A database that cannot be reached or refuses the login, a homeserver that does not answer, a token
or password the homeserver does not accept: none of these is a bug, so none deserves a traceback
(``harmony-matrix run --debug`` still shows it). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from handlers.matrix.gateway import MatrixError, ServerUnavailable
from harmony_app.connection import StartupError
from harmony_matrix.config import Config
from storage.database import StorageConfigError, StorageConnectionError, open_database, redact_url

#: How long the homeserver has to answer the check before the bot starts.
PROBE_TIMEOUT_S = 10.0


class HomeserverUnreachable(Exception):
    """The homeserver did not answer ``/_matrix/client/versions`` (or not as a homeserver would)."""


async def probe_homeserver(url: str, *, verify_tls: bool = True, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Check that ``url`` answers as a Matrix homeserver, before logging in (nio would retry a dead
    server forever, in silence but for its warnings)."""
    versions = f"{url.rstrip('/')}/_matrix/client/versions"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(versions, ssl=verify_tls) as response:
                body: Any = await response.json(content_type=None)
                if response.status != 200 or not isinstance(body, dict) or "versions" not in body:
                    raise HomeserverUnreachable(f"{url} answered HTTP {response.status}, not as a Matrix homeserver")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise HomeserverUnreachable(f"cannot reach {url}: {one_line(exc)}") from exc
    except asyncio.TimeoutError as exc:
        raise HomeserverUnreachable(f"{url} did not answer within {timeout:.0f} s") from exc


async def probe_database(url: str) -> None:
    """Open (and migrate) the database once and close it again, so that a database that cannot be
    reached is reported before anything else starts."""
    db = await open_database(url)
    await db.close()


def describe_startup_error(exc: BaseException, *, config: Config, config_path: str) -> str | None:
    """The one line for an operator's error at start (naming the config key to look at), or None
    when ``exc`` is a bug."""
    homeserver = f"homeserver.url in {config_path}"
    if isinstance(exc, StorageConnectionError):
        return f"the database is unreachable or refused the connection (database.url in {config_path}): " \
               f"{one_line(exc)}"
    if isinstance(exc, StorageConfigError):
        return f"database.url in {config_path}: {one_line(exc)}"
    if isinstance(exc, HomeserverUnreachable):
        return f"the homeserver is unreachable ({homeserver}): {one_line(exc)}"
    if isinstance(exc, StartupError):
        return f"{one_line(exc)} (bot in {config_path}; homeserver {config.homeserver.url})"
    if isinstance(exc, ServerUnavailable):
        return f"the homeserver stopped answering while I started ({homeserver}): {one_line(exc)}"
    if isinstance(exc, MatrixError):
        return f"the homeserver {config.homeserver.url} refused me at start: {one_line(exc)} (bot in {config_path})"
    return None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (drivers like to add lines), cut to ``limit`` characters;
    database URLs in it lose their passwords."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    words = [redact_url(word) if "://" in word else word for word in text.split(" ")]
    text = " ".join(words)
    return text if len(text) <= limit else text[: limit - 1] + "…"
