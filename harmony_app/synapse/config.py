"""The homeserver's configuration files, layered the way Synapse merges several ``-c`` files (a
shallow, top-level update):

* ``homeserver.yaml`` -- the config produced by Synapse's own ``--generate-config``. It is generated
  once per process and copied, so new keys that a future Synapse generates are picked up without
  paying the ~1.3 s generation for every server.
* ``harmony.yaml`` -- our settings, written as JSON (which is YAML), so no YAML library is needed. It
  overrides every key of the generated file that names a path, a port or a secret, and holds the test
  settings: loopback listeners, raised ``rc_*`` limits (or Synapse's defaults, or chosen ones:
  ``RateLimits``), presence off, registration off, no trusted key servers, log level WARNING.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import string
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from harmony_app.synapse.certificate import write_self_signed_certificate
from harmony_app.synapse.errors import SynapseError

BASE_CONFIG_NAME = "homeserver.yaml"
OVERRIDES_NAME = "harmony.yaml"
LOG_CONFIG_NAME = "log.config"
LOG_NAME = "homeserver.log"
CONSOLE_LOG_NAME = "console.log"
SIGNING_KEY_NAME = "signing.key"
TLS_CERT_NAME = "tls.crt"
TLS_KEY_NAME = "tls.key"

LOOPBACK = "127.0.0.1"

# Generous enough that no test or demo ever meets a limit (Synapse's rc_* settings; the
# defaults throttle a test that registers, logs in and sends in quick succession).
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


#: Synapse's own defaults for messages (and everything the bot sends: state, redactions, reactions):
#: 0.2 events per second after a burst of 10 (synapse/config/ratelimiting.py).
SYNAPSE_DEFAULT_RC_MESSAGE: dict[str, Any] = {"per_second": 0.2, "burst_count": 10}

#: ``ServerSettings.rate_limits``: "unlimited" (every limit raised out of reach: the tests and the demo),
#: "default" (Synapse's own limits, as a homeserver in production has them), or ``rc_*`` settings that
#: replace the raised ones key by key (e.g. ``{"rc_message": {"per_second": 2, "burst_count": 5}}``).
RateLimits = str | dict[str, Any]


def rate_limit_settings(rate_limits: RateLimits) -> dict[str, Any]:
    """The ``rc_*`` keys written to the overrides file for ``rate_limits`` (see ``RateLimits``)."""
    if rate_limits == "unlimited":
        return dict(_RATE_LIMITS)
    if rate_limits == "default":
        return {}
    if isinstance(rate_limits, dict):
        unknown = [key for key in rate_limits if not key.startswith("rc_")]
        if unknown:
            raise ValueError(f"rate_limits: {unknown[0]!r} is not an rc_* setting")
        return {**_RATE_LIMITS, **rate_limits}
    raise ValueError(f'rate_limits must be "unlimited", "default" or a dict of rc_* settings, not {rate_limits!r}')


@dataclass(frozen=True)
class StoredSettings:
    """What a configured data directory already fixes: its server name and ports."""

    server_name: str
    client_port: int
    federation_port: int | None


@dataclass(frozen=True)
class WorkerLayout:
    """Synapse split into processes (``harmony_app/synapse/workers.py``): the main process gets a
    replication listener and talks to its workers through Redis, and one worker, not the main process,
    pushes transactions to appservices. Needs PostgreSQL (workers share the database)."""

    replication_port: int
    appservice_pusher: str = "appservice_pusher"
    redis_host: str = LOOPBACK
    redis_port: int = 6379


@dataclass(frozen=True)
class ServerSettings:
    """What the overrides file is written from."""

    data_dir: Path
    server_name: str
    client_port: int
    federation_port: int | None  # None: no federation listener
    database: str | None  # None: SQLite in data_dir; else a postgresql:// DSN
    rate_limits: RateLimits = "unlimited"
    # Appservice registration files to load, with the experimental features appservice encryption needs.
    appservice_files: tuple[Path, ...] = ()
    workers: WorkerLayout | None = None  # None: one process

    @property
    def url(self) -> str:
        """Base URL of the client-server API."""
        return f"http://{LOOPBACK}:{self.client_port}"


def read_overrides(data_dir: Path) -> dict[str, Any]:
    """Our settings file (``harmony.yaml``) of a configured data directory."""
    overrides: dict[str, Any] = json.loads((data_dir / OVERRIDES_NAME).read_text())
    return overrides


def read_stored_settings(data_dir: Path) -> StoredSettings | None:
    """The server name and ports of a configured data directory, or None if it has no config."""
    path = data_dir / OVERRIDES_NAME
    if not (path.exists() and (data_dir / BASE_CONFIG_NAME).exists()):
        return None
    config = read_overrides(data_dir)
    ports = {tuple(listener["resources"][0]["names"]): listener["port"] for listener in config["listeners"]}
    return StoredSettings(server_name=config["server_name"], client_port=ports[("client",)],
                          federation_port=ports.get(("federation",)))


async def write_config(settings: ServerSettings) -> None:
    """Write every file the server reads (base config, overrides, signing key, log config and, with
    federation, the TLS certificate), with fresh secrets."""
    data = settings.data_dir
    base = await _generated_base_config()
    (data / BASE_CONFIG_NAME).write_text(base)
    signing_key = data / SIGNING_KEY_NAME
    signing_key.write_text(_new_signing_key())
    (data / LOG_CONFIG_NAME).write_text(json.dumps(_log_config(data / LOG_NAME), indent=2))
    listeners: list[dict[str, Any]] = [_listener(settings.client_port, "client", tls=False)]
    config: dict[str, Any] = {
        "server_name": settings.server_name,
        "public_baseurl": f"{settings.url}/",
        "pid_file": str(data / "homeserver.pid"),
        "listeners": listeners,
        "database": _database_config(settings.database, data),
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
        **rate_limit_settings(settings.rate_limits),
    }
    if settings.appservice_files:
        config["app_service_config_files"] = [str(path) for path in settings.appservice_files]
        # MSC2409 (to-device) and MSC3202 (device lists, key counts) pushed: what an appservice's
        # end-to-end encryption needs without /sync.
        config["experimental_features"] = {"msc2409_to_device_messages_enabled": True,
                                           "msc3202_transaction_extensions": True}
    if settings.workers is not None:
        if settings.database is None:
            raise ValueError("Synapse workers need PostgreSQL: give a postgresql:// database")
        layout = settings.workers
        listeners.append(_listener(layout.replication_port, "replication", tls=False))
        config["instance_map"] = {"main": {"host": LOOPBACK, "port": layout.replication_port}}
        config["redis"] = {"enabled": True, "host": layout.redis_host, "port": layout.redis_port}
        config["notify_appservices_from_worker"] = layout.appservice_pusher
    if settings.federation_port is not None:
        cert, key = data / TLS_CERT_NAME, data / TLS_KEY_NAME
        await asyncio.to_thread(write_self_signed_certificate, cert, key)
        listeners.append(_listener(settings.federation_port, "federation", tls=True))
        config.update(
            tls_certificate_path=str(cert),
            tls_private_key_path=str(key),
            federation_verify_certificates=False,
            ip_range_whitelist=["127.0.0.0/8"],
        )
    (data / OVERRIDES_NAME).write_text(json.dumps(config, indent=2))


def _listener(port: int, resource: str, *, tls: bool) -> dict[str, Any]:
    return {
        "port": port,
        "bind_addresses": [LOOPBACK],
        "type": "http",
        "tls": tls,
        "x_forwarded": False,
        "resources": [{"names": [resource], "compress": False}],
    }


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
