"""One Synapse process on loopback: start, health check, stop, and users registered through the
shared-secret admin API.

Everything a server needs lives in its ``data_dir``; with ``reuse=True`` an existing ``data_dir`` is
started as it is, so its rooms and users survive between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import hmac
import logging
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from harmony_app.synapse.config import (
    BASE_CONFIG_NAME,
    CONSOLE_LOG_NAME,
    LOG_NAME,
    LOOPBACK,
    OVERRIDES_NAME,
    RateLimits,
    ServerSettings,
    WorkerLayout,
    read_overrides,
    read_stored_settings,
    write_config,
)
from harmony_app.synapse.errors import SynapseError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredUser:
    """A user on a local Synapse, logged in: what a client needs to act as them."""

    user_id: str
    access_token: str
    device_id: str
    password: str


def pick_free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback TCP ports that were free a moment ago.

    All sockets are held open until every port is chosen, so the ports differ from each
    other; another process can still take one before Synapse binds it (rare, and the
    start-up error then names the port).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class LocalSynapse:
    """One Synapse process on 127.0.0.1, with its config, database and logs in ``data_dir``.

    ``server_name`` defaults to ``localhost`` without federation and ``localhost:<port of
    the federation listener>`` with it (so other loopback servers can reach it by name).
    Ports not given are picked at construction and stay the same across ``restart()``.
    ``database`` is ``None`` for SQLite in ``data_dir`` or a PostgreSQL DSN
    (``postgresql://user:pw@host:port/db``) for a database created with
    :func:`storage.admin.create_postgres_database`. With ``reuse=True`` an existing ``data_dir`` is
    started unchanged (its stored server name and ports win over defaults). ``rate_limits`` is
    "unlimited" (the default: nothing a test does meets a limit), "default" (Synapse's own limits) or
    chosen ``rc_*`` settings (``harmony_app.synapse.config.RateLimits``). ``appservice_files`` are
    appservice registration files the server loads (with MSC2409/MSC3202 pushed to them). ``workers``
    splits it into processes (``harmony_app.synapse.workers``: start the workers after this one).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        server_name: str | None = None,
        client_port: int | None = None,
        federation: bool = False,
        federation_port: int | None = None,
        database: str | None = None,
        reuse: bool = False,
        rate_limits: RateLimits = "unlimited",
        appservice_files: tuple[Path, ...] = (),
        workers: WorkerLayout | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._reuse = reuse
        stored = read_stored_settings(self.data_dir) if reuse else None
        if stored is not None:
            # The database is bound to the server name, so a reused data_dir keeps its own.
            server_name = stored.server_name
            client_port = client_port or stored.client_port
            federation = stored.federation_port is not None
            federation_port = federation_port or stored.federation_port
        self._configured = stored is not None
        wanted = [client_port, federation_port if federation else 0]
        free = iter(pick_free_ports(sum(1 for port in wanted if port is None)))
        self.client_port: int = client_port if client_port is not None else next(free)
        self.federation_port: int | None = None
        if federation:
            self.federation_port = federation_port if federation_port is not None else next(free)
        self.federation = federation
        if server_name is None:
            server_name = f"localhost:{self.federation_port}" if federation else "localhost"
        self._server_name = server_name
        self.database = database
        self.rate_limits = rate_limits
        self.appservice_files = tuple(Path(path).resolve() for path in appservice_files)
        self.workers = workers
        self._admin: RegisteredUser | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._console: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._shared_secret: str | None = None

    # -- properties ---------------------------------------------------------------

    @property
    def server_name(self) -> str:
        """The homeserver's name: the part after the colon in user IDs."""
        return self._server_name

    @property
    def url(self) -> str:
        """Base URL of the client-server API, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def log_path(self) -> Path:
        """Synapse's own log file (WARNING and above)."""
        return self.data_dir / LOG_NAME

    @property
    def running(self) -> bool:
        """True while the Synapse process is alive."""
        return self._process is not None and self._process.returncode is None

    def __repr__(self) -> str:
        return f"LocalSynapse({self.server_name!r}, url={self.url!r}, data_dir={str(self.data_dir)!r})"

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, *, timeout: float = 60.0) -> None:
        """Write the config if needed, start Synapse and wait until ``/health`` says OK.

        Raises :class:`SynapseError` (with the tail of Synapse's logs) if the process
        exits or does not become healthy within ``timeout`` seconds.
        """
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self._configured and self._reuse):
            await write_config(ServerSettings(
                data_dir=self.data_dir, server_name=self.server_name, client_port=self.client_port,
                federation_port=self.federation_port if self.federation else None, database=self.database,
                rate_limits=self.rate_limits, appservice_files=self.appservice_files, workers=self.workers))
            self._configured = True
        self._shared_secret = str(read_overrides(self.data_dir)["registration_shared_secret"])
        self._console = open(self.data_dir / CONSOLE_LOG_NAME, "ab")  # noqa: SIM115 -- closed in stop()
        began = time.monotonic()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "-c",
            str(self.data_dir / BASE_CONFIG_NAME),
            "-c",
            str(self.data_dir / OVERRIDES_NAME),
            cwd=self.data_dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._console,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            await self._wait_healthy(deadline=began + timeout)
        except BaseException:
            await self.stop()
            raise
        logger.info("%r healthy after %.2f s", self, time.monotonic() - began)

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stop Synapse: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        process, self._process = self._process, None
        await terminate(process, timeout=timeout, name=repr(self))
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._console is not None:
            self._console.close()
            self._console = None

    async def restart(self) -> None:
        """Stop and start again on the same ports with the same data."""
        await self.stop()
        self._reuse = True  # keep the config we wrote, never regenerate secrets
        await self.start()

    async def __aenter__(self) -> LocalSynapse:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- users ----------------------------------------------------------------------

    async def register_user(
        self, localpart: str, password: str | None = None, admin: bool = False
    ) -> RegisteredUser:
        """Register ``localpart`` through the shared-secret admin API and return a login.

        If the user already exists, log in with ``password`` instead (a new device). Without
        a password, one is derived from the server's secret and the localpart, so calling
        this again (e.g. on the next demo run) logs the same user in.
        """
        if password is None:
            password = self.default_password(localpart)
        http, url = self._session(), f"{self.url}/_synapse/admin/v1/register"
        async with http.get(url) as response:
            nonce = (await _json_or_raise(response, "GET admin/v1/register"))["nonce"]
        assert self._shared_secret is not None
        mac = hmac.new(self._shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\0".join([nonce.encode(), localpart.encode(), password.encode()]))
        mac.update(b"\0admin" if admin else b"\0notadmin")
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        async with http.post(url, json=body) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
            if response.status == 400 and reply.get("errcode") == "M_USER_IN_USE":
                return await self.login(localpart, password)
            if response.status != 200:
                raise SynapseError(f"registering {localpart!r} failed: HTTP {response.status} {reply}")
        return RegisteredUser(reply["user_id"], reply["access_token"], reply["device_id"], password)

    async def login(self, localpart: str, password: str) -> RegisteredUser:
        """Log an existing user in with a password (creates a new device)."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
            "initial_device_display_name": "harmony local_synapse",
        }
        async with self._session().post(f"{self.url}/_matrix/client/v3/login", json=body) as response:
            reply = await _json_or_raise(response, f"login of {localpart!r}")
        return RegisteredUser(reply["user_id"], reply["access_token"], reply["device_id"], password)

    async def exempt_from_rate_limits(self, user_id: str) -> None:
        """Lift every rate limit for ``user_id`` (``POST /_synapse/admin/v1/users/<id>/override_ratelimit``
        with 0 and 0), as a server admin: a user ``harmony-admin`` is registered for that once."""
        if self._admin is None:
            self._admin = await self.register_user("harmony-admin", admin=True)
        await exempt_from_rate_limits(self._session(), self.url, user_id, admin_token=self._admin.access_token)

    def default_password(self, localpart: str) -> str:
        """The password ``register_user`` uses when none is given: stable per server."""
        secret = self._shared_secret or str(read_overrides(self.data_dir)["registration_shared_secret"])
        digest = hmac.new(secret.encode(), b"password\0" + localpart.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    # -- internals ------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or not self.running:
            raise SynapseError(f"{self!r} is not running; call start() first")
        return self._http

    async def _wait_healthy(self, *, deadline: float) -> None:
        assert self._process is not None and self._http is not None
        health = f"{self.url}/health"
        interval = 0.02
        while True:
            if self._process.returncode is not None:
                raise SynapseError(
                    f"Synapse {self.server_name} exited with code {self._process.returncode} "
                    f"while starting.\n{self._log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with self._http.get(health, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200 and (await response.text()).strip() == "OK":
                        return
            if time.monotonic() >= deadline:
                raise SynapseError(
                    f"Synapse {self.server_name} did not answer {health} in time.\n{self._log_tail()}"
                )
            # Wait for the process to exit or for the next poll, whichever comes first.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._process.wait()), interval)
            interval = min(interval * 1.5, 0.2)

    def _log_tail(self, lines: int = 40) -> str:
        parts = []
        for name in (CONSOLE_LOG_NAME, LOG_NAME):
            path = self.data_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- last lines of {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no logs in {self.data_dir})"


async def exempt_from_rate_limits(http: aiohttp.ClientSession, homeserver: str, user_id: str, *,
                                  admin_token: str) -> None:
    """Ask Synapse (as the admin whose token this is) to exempt ``user_id`` from every rate limit.

    Raises :class:`SynapseError` with the server's answer when it refuses (e.g. the token is not an
    admin's: ``M_FORBIDDEN``)."""
    url = f"{homeserver.rstrip('/')}/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit"
    async with http.post(url, json={"messages_per_second": 0, "burst_count": 0},
                         headers={"Authorization": f"Bearer {admin_token}"}) as response:
        await _json_or_raise(response, f"exempting {user_id} from rate limits")


async def _json_or_raise(response: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
    reply: dict[str, Any] = await response.json(content_type=None)
    if response.status != 200:
        raise SynapseError(f"{what} failed: HTTP {response.status} {reply}")
    return reply


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM Synapse if its parent dies.

    Without this a test run killed with SIGKILL would leave Synapse processes behind.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def terminate(process: asyncio.subprocess.Process | None, *, timeout: float, name: str) -> None:
    """Stop a Synapse process (the main one or a worker): SIGTERM, wait up to ``timeout`` seconds, then
    SIGKILL."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        logger.warning("%s ignored SIGTERM for %.0f s; killing it", name, timeout)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
