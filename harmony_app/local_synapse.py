"""Run a real Synapse homeserver (the one installed from PyPI) on loopback.

Used by the integration tests and by the demo. Part of the composition root: it starts
processes and writes files. It needs only the standard library and aiohttp; the optional
extra ``cryptography`` (for the federation certificate) is imported where it is used; PostgreSQL
databases for it are created with ``storage.admin``.

Configuration is layered, the way Synapse merges several ``-c`` files (a shallow,
top-level update):

* ``homeserver.yaml`` -- the config produced by Synapse's own ``--generate-config``. It is
  generated once per process and copied, so new keys that a future Synapse generates are
  picked up without paying the ~1.3 s generation for every server.
* ``harmony.yaml`` -- our settings, written as JSON (which is YAML), so no YAML library is
  needed. It overrides every key of the generated file that names a path, a port or a
  secret, and holds the test settings: loopback listeners, raised ``rc_*`` limits,
  presence off, registration off, no trusted key servers, log level WARNING.

Everything a server needs lives in its ``data_dir``; with ``reuse=True`` an existing
``data_dir`` is started as it is, so its rooms and users survive between runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import datetime
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import signal
import socket
import string
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

logger = logging.getLogger(__name__)

BASE_CONFIG_NAME = "homeserver.yaml"
OVERRIDES_NAME = "harmony.yaml"
LOG_CONFIG_NAME = "log.config"
LOG_NAME = "homeserver.log"
CONSOLE_LOG_NAME = "console.log"
SIGNING_KEY_NAME = "signing.key"
TLS_CERT_NAME = "tls.crt"
TLS_KEY_NAME = "tls.key"

LOOPBACK = "127.0.0.1"

# Generous enough that no test or demo ever meets a limit (matrix-facts §7).
_UNLIMITED = {"per_second": 1000, "burst_count": 10000}
_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_room_creation": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_third_party_invite": _UNLIMITED,
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_federation": {
        "window_size": 1000,
        "sleep_limit": 1000,
        "sleep_delay": 1,
        "reject_limit": 10000,
        "concurrent": 100,
    },
}


class SynapseError(RuntimeError):
    """Synapse could not be started, or an admin request to it failed."""


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
    started unchanged (its stored server name and ports win over defaults).
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
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._reuse = reuse
        stored = self._read_stored_settings() if reuse else None
        if stored is not None:
            # The database is bound to the server name, so a reused data_dir keeps its own.
            server_name = stored["server_name"]
            client_port = client_port or stored["client_port"]
            federation = stored["federation_port"] is not None
            federation_port = federation_port or stored["federation_port"]
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
            await self._write_config()
            self._configured = True
        self._shared_secret = self._read_overrides()["registration_shared_secret"]
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
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                logger.warning("%r ignored SIGTERM for %.0f s; killing it", self, timeout)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
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
            reply = await response.json(content_type=None)
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

    def default_password(self, localpart: str) -> str:
        """The password ``register_user`` uses when none is given: stable per server."""
        secret = self._shared_secret or self._read_overrides()["registration_shared_secret"]
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

    def _read_overrides(self) -> dict[str, Any]:
        return json.loads((self.data_dir / OVERRIDES_NAME).read_text())

    def _read_stored_settings(self) -> dict[str, Any] | None:
        path = self.data_dir / OVERRIDES_NAME
        if not (path.exists() and (self.data_dir / BASE_CONFIG_NAME).exists()):
            return None
        config = json.loads(path.read_text())
        ports = {tuple(listener["resources"][0]["names"]): listener["port"] for listener in config["listeners"]}
        return {
            "server_name": config["server_name"],
            "client_port": ports[("client",)],
            "federation_port": ports.get(("federation",)),
        }

    async def _write_config(self) -> None:
        data = self.data_dir
        base = await _generated_base_config()
        (data / BASE_CONFIG_NAME).write_text(base)
        signing_key = data / SIGNING_KEY_NAME
        signing_key.write_text(_new_signing_key())
        (data / LOG_CONFIG_NAME).write_text(json.dumps(_log_config(data / LOG_NAME), indent=2))
        listeners: list[dict[str, Any]] = [
            {
                "port": self.client_port,
                "bind_addresses": [LOOPBACK],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.url}/",
            "pid_file": str(data / "homeserver.pid"),
            "listeners": listeners,
            "database": _database_config(self.database, data),
            "log_config": str(data / LOG_CONFIG_NAME),
            "media_store_path": str(data / "media_store"),
            "signing_key_path": str(signing_key),
            "registration_shared_secret": _new_secret(),
            "macaroon_secret_key": _new_secret(),
            "form_secret": _new_secret(),
            "report_stats": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            # Password hashing at the default 12 rounds costs ~0.25 s per register/login.
            "bcrypt_rounds": 4,
            **_RATE_LIMITS,
        }
        if self.federation:
            cert, key = data / TLS_CERT_NAME, data / TLS_KEY_NAME
            await asyncio.to_thread(_write_self_signed_certificate, cert, key)
            listeners.append(
                {
                    "port": self.federation_port,
                    "bind_addresses": [LOOPBACK],
                    "type": "http",
                    "tls": True,
                    "x_forwarded": False,
                    "resources": [{"names": ["federation"], "compress": False}],
                }
            )
            config.update(
                tls_certificate_path=str(cert),
                tls_private_key_path=str(key),
                federation_verify_certificates=False,
                ip_range_whitelist=["127.0.0.0/8"],
            )
        (data / OVERRIDES_NAME).write_text(json.dumps(config, indent=2))


async def start_federated_pair(base_dir: Path) -> tuple[LocalSynapse, LocalSynapse]:
    """Start two federating servers (``base_dir/hs1`` and ``base_dir/hs2``) in parallel.

    Their server names are ``localhost:<federation port>``; both trust any certificate
    and allow loopback addresses, so they federate with each other and nothing else.
    """
    first = LocalSynapse(Path(base_dir) / "hs1", federation=True)
    second = LocalSynapse(Path(base_dir) / "hs2", federation=True)
    results = await asyncio.gather(first.start(), second.start(), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        await asyncio.gather(first.stop(), second.stop())
        raise failures[0]
    return first, second


def _database_config(dsn: str | None, data_dir: Path) -> dict[str, Any]:
    if dsn is None:
        return {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}}
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"database must be None (SQLite) or a postgresql:// DSN, not {dsn!r}")
    args: dict[str, Any] = {
        "user": unquote(parts.username or "postgres"),
        "host": parts.hostname or LOOPBACK,
        "port": parts.port or 5432,
        "database": unquote(parts.path.lstrip("/")) or "synapse",
        "cp_min": 1,
        "cp_max": 5,
    }
    if parts.password:
        args["password"] = unquote(parts.password)
    return {"name": "psycopg2", "args": args}


# -- config pieces ----------------------------------------------------------------------

_base_config: str | None = None
_base_config_lock: asyncio.Lock | None = None


async def _generated_base_config() -> str:
    """Synapse's ``--generate-config`` output, produced once per process."""
    global _base_config, _base_config_lock
    if _base_config is not None:
        return _base_config
    if _base_config_lock is None:
        _base_config_lock = asyncio.Lock()
    async with _base_config_lock:
        if _base_config is None:
            _base_config = await _generate_base_config()
    return _base_config


async def _generate_base_config() -> str:
    scratch = Path(tempfile.mkdtemp(prefix="harmony-synapse-template-"))
    try:
        config_path = scratch / BASE_CONFIG_NAME
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            "localhost",
            "--config-path",
            str(config_path),
            "--data-directory",
            str(scratch),
            "--generate-config",
            "--report-stats=no",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0 or not config_path.exists():
            raise SynapseError(
                f"synapse --generate-config failed ({process.returncode}):\n"
                + output.decode(errors="replace")
            )
        # Every path and secret in it is overridden by harmony.yaml; say so in the copy.
        note = (
            "# Generated by `synapse.app.homeserver --generate-config` (server name and\n"
            "# paths of a scratch directory). harmony.yaml, loaded after this file,\n"
            "# replaces every path, port, secret and the server name.\n"
        )
        return note + config_path.read_text()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _new_signing_key() -> str:
    """An ed25519 signing key in Synapse's file format: ``ed25519 <version> <seed>``.

    The key is just a 32-byte random seed, base64-encoded without padding
    (signedjson.key.write_signing_keys), so no crypto library is needed to make one.
    """
    version = "a_" + "".join(secrets.choice(string.ascii_letters) for _ in range(4))
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 {version} {seed}\n"


def _log_config(log_path: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
            }
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(log_path),
                "encoding": "utf8",
            }
        },
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def _write_self_signed_certificate(cert_path: Path, key_path: Path) -> None:
    """A throw-away certificate for CN=localhost (federation does not verify it)."""
    from cryptography import x509  # optional: only federation needs it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


async def _json_or_raise(response: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
    reply = await response.json(content_type=None)
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
