"""Opening the bot's database: URL validation, one tortoise app per feature, migrations.

``open_database(url)`` is the only entry point the composition root needs. It validates the URL,
opens an isolated ``TortoiseContext`` (no global ``Tortoise.init``), applies every migration of
every app in ``APPS`` and returns a ``Database`` whose attributes are the stores.

Several ``Database`` objects may be open in one process as long as they use the same backend
(two SQLite files, or two PostgreSQL databases): each owns its own context and connections.
Having both backends open at the same time is refused, because tortoise keeps SQL built for one
dialect in process-wide places: the model classes' base queries (``Model._meta.basequery``, rebuilt
by each context's init) and the executor cache of INSERT/DELETE statements (``EXECUTOR_CACHE``,
keyed by connection name and table only). Switching backend once the other is closed is fine:
``_claim_backend`` drops that cache.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from storage.appservice.stores import PushedTransactionStore
from storage.assemblies.stores import AssemblyPeopleStore, AssemblyRegistryStore
from storage.consensus.stores import ConsensusStores
from storage.core.stores import AuditStore, DirectChatStore, MemberStore, ProcessedEventStore, SessionStore, SyncStore
from storage.outbox.stores import OutboxStore
from storage.federation.stores import FederationStore
from storage.polls.stores import PollStore
from storage.scope import ContextScope
from storage.sortition.stores import SortitionStores
from storage import sqlite

logger = logging.getLogger(__name__)

#: Every storage app: tortoise app label -> package holding ``models.py`` and ``migrations/``.
#: Adding a feature's tables is one line here plus its package; its stores become attributes of
#: ``Database`` (see ``storage/README.md``).
APPS: Final[Mapping[str, str]] = {
    "core": "storage.core",
    "assemblies": "storage.assemblies",
    "consensus": "storage.consensus",
    "polls": "storage.polls",
    "sortition": "storage.sortition",
    "outbox": "storage.outbox",
    "federation": "storage.federation",
    "appservice": "storage.appservice",
}

Backend = Literal["sqlite", "postgres"]

_SCHEMES: Final[Mapping[str, Backend]] = {
    "sqlite": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
}
_EXAMPLES: Final = (
    "sqlite:///absolute/path.db, sqlite://relative/path.db, sqlite://:memory:, "
    "postgres://user:password@host:5432/dbname (or postgresql://...)"
)

# Backends of the Databases currently open in this process (see the module docstring).
_open_backends: Counter[Backend] = Counter()
# The backend tortoise's process-wide query caches were last built for.
_cached_backend: Backend | None = None


class StorageConfigError(ValueError):
    """The database URL cannot be used; the message says what is wrong and what is accepted."""


class StorageConnectionError(RuntimeError):
    """The database server could not be reached, or the named database does not exist."""


def tortoise_config(url: str) -> dict[str, Any]:
    """The tortoise config dict for ``url`` with every app of ``APPS`` and its migrations package.

    ``url`` is passed through unvalidated: ``open_database`` validates before calling this.
    """
    return {
        # SQLite: transactions begin IMMEDIATE, with a busy timeout (see storage/sqlite.py).
        "connections": {"default": sqlite.connection(url) if url.startswith("sqlite://") else url},
        "apps": {
            label: {
                "models": [f"{package}.models"],
                "migrations": f"{package}.migrations",
                "default_connection": "default",
            }
            for label, package in APPS.items()
        },
        "use_tz": True,
        "timezone": "UTC",
    }


#: For the tortoise CLI only (``tortoise -c storage.database.TORTOISE_ORM makemigrations core``):
#: makemigrations diffs the models against the migration files and needs no real database.
TORTOISE_ORM: Final = tortoise_config("sqlite://:memory:")


def parse_database_url(url: str) -> Backend:
    """Validate ``url`` and return its backend, or raise ``StorageConfigError`` saying why not."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StorageConfigError(
            f"database URL {redact_url(url)!r} has no scheme; expected one of: {_EXAMPLES}"
        )
    backend = _SCHEMES.get(scheme.lower())
    if backend is None:
        supported = ", ".join(f"{name}://" for name in _SCHEMES)
        raise StorageConfigError(
            f"database URL scheme {scheme + '://'!r} is not supported; supported schemes are "
            f"{supported} (for example {_EXAMPLES})"
        )
    if backend == "sqlite":
        _check_sqlite_path(url, rest.partition("?")[0])
    else:
        _check_postgres_url(url)
    return backend


def _check_sqlite_path(url: str, path: str) -> None:
    if path in ("", "/"):
        raise StorageConfigError(
            f"database URL {url!r} names no SQLite file; use sqlite:///absolute/path.db, "
            "sqlite://relative/path.db or sqlite://:memory:"
        )
    if path == ":memory:":
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise StorageConfigError(
            f"database URL {url!r}: directory {str(parent)!r} for the SQLite file does not exist"
        )


def _check_postgres_url(url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    try:
        parsed.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        raise StorageConfigError(
            f"database URL {redact_url(url)!r} has an invalid port; expected e.g. "
            "postgres://user@host:5432/dbname"
        ) from None
    database = parsed.path.lstrip("/")
    if not database:
        raise StorageConfigError(
            f"database URL {redact_url(url)!r} names no database; add it after the host, "
            "e.g. postgres://user@host:5432/harmony"
        )
    if "/" in database:
        raise StorageConfigError(
            f"database URL {redact_url(url)!r}: {database!r} is not a database name "
            "(it contains '/')"
        )


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


class Database:
    """An open, fully migrated database and its stores.

    Attributes:
        sync: the sync token per bot account.
        events: which events were already handled (idempotency).
        sessions: the bot's login (device ID and access token).
        audit: the append-only audit log.
        members: the party membership registry (``core``).
        assemblies, assembly_people: the assembly registry and the facts about people
            (``assemblies``).
        consensus: proposals, moots, the decision record, roles, petitions, ballots.
        polls: polls, counted reactions, secret ballots, private notices, reconciliation.
        sortition: draws, their witnesses and frozen pools, seats, self-described features.
        outbox: what the bot queued to send and has not sent yet (``outbox``).
        federation: nestings across instances, peer rooms, peer messages applied (``federation``).
        pushed: transactions the homeserver pushed in appservice mode, until handled (``appservice``).
        backend: ``"sqlite"`` or ``"postgres"``.
    """

    def __init__(self, *, context: TortoiseContext, backend: Backend, url: str) -> None:
        self._context = context
        self._scope = ContextScope(context)
        self.backend: Backend = backend
        self.url = redact_url(url)
        self.sync = SyncStore(self._scope)
        self.events = ProcessedEventStore(self._scope)
        self.sessions = SessionStore(self._scope)
        self.audit = AuditStore(self._scope)
        self.members = MemberStore(self._scope)
        self.direct_chats = DirectChatStore(self._scope)
        self.assemblies = AssemblyRegistryStore(self._scope)
        self.assembly_people = AssemblyPeopleStore(self._scope)
        self.consensus = ConsensusStores(self._scope)
        self.polls = PollStore(self._scope)
        self.sortition = SortitionStores(self._scope)
        self.outbox = OutboxStore(self._scope)
        self.federation = FederationStore(self._scope)
        self.pushed = PushedTransactionStore(self._scope)

    @property
    def scope(self) -> ContextScope:
        """The connections every store of this database shares (the web view's read side,
        ``storage.public``, opens its queries on it)."""
        return self._scope

    def __repr__(self) -> str:
        return f"<Database {self.url}{' (closed)' if self._scope.closed else ''}>"

    async def applied_migrations(self) -> list[tuple[str, str]]:
        """``(app, migration name)`` of every applied migration, in the order they were applied."""
        return await applied_migrations(self._context)

    async def close(self) -> None:
        """Close the connections. Idempotent; the stores raise ``DatabaseClosedError`` afterwards."""
        if self._scope.closed:
            return
        self._scope.close()
        await _close_context(self._context, self.backend)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_database(url: str) -> Database:
    """Open the database at ``url`` and migrate every app to its latest migration.

    Accepts ``sqlite:///abs/path.db``, ``sqlite://relative.db``, ``sqlite://:memory:`` and
    ``postgres://user[:password]@host[:port]/dbname`` (or ``postgresql://``). A SQLite file is
    created if missing; a PostgreSQL database must already exist.

    Raises:
        StorageConfigError: the URL is malformed or unsupported, or a Database on another
            backend is already open in this process.
    """
    backend = parse_database_url(url)
    context = await _open_context(url)
    try:
        started = time.perf_counter()
        with _connection_errors(url):
            await _migrate(context, targets=None)
        logger.info(
            "database %s migrated in %.0f ms", redact_url(url), (time.perf_counter() - started) * 1e3
        )
    except BaseException:
        await _close_context(context, backend)
        raise
    return Database(context=context, backend=backend, url=url)


async def migrate_database(url: str, *, app: str, migration: str) -> None:
    """Migrate one app of the database at ``url`` forwards or backwards to ``migration``.

    ``migration`` is a migration module name such as ``"0001_initial"``. ``open_database`` always
    goes to the latest; this is for tests of upgrade paths and for manual rollbacks.
    """
    if app not in APPS:
        raise StorageConfigError(f"unknown storage app {app!r}; known apps: {', '.join(APPS)}")
    context = await _open_context(url)
    try:
        with _connection_errors(url):
            await _migrate(context, targets=[MigrationTarget(app_label=app, name=migration)])
    finally:
        await _close_context(context, parse_database_url(url))


async def applied_migrations(context: TortoiseContext) -> list[tuple[str, str]]:
    """The ``(app, name)`` pairs recorded as applied in ``context``'s database."""
    with ContextScope(context)():
        executor = MigrationExecutor(context.db(), tortoise_config("")["apps"])
        keys = await executor.recorder.applied_migrations()
    return [(key.app_label, key.name) for key in keys]


def _claim_backend(backend: Backend) -> None:
    """Count one more open Database on ``backend``, refusing if the other backend is open."""
    global _cached_backend
    others = sorted(name for name, count in _open_backends.items() if count > 0 and name != backend)
    if others:
        raise StorageConfigError(
            f"cannot open a {backend} database while a {others[0]} database is open in this "
            "process: tortoise caches dialect-specific SQL process-wide, so one process can "
            "only use one backend at a time"
        )
    if _cached_backend not in (None, backend):
        # Private to tortoise 1.1: INSERT/DELETE SQL cached per (connection name, table), so
        # statements built for the previous backend's dialect would be reused.
        EXECUTOR_CACHE.clear()
    _cached_backend = backend
    _open_backends[backend] += 1


async def _open_context(url: str) -> TortoiseContext:
    backend = parse_database_url(url)
    _claim_backend(backend)
    context = TortoiseContext()
    try:
        with ContextScope(context)(), _connection_errors(url):
            await context.init(config=tortoise_config(url))
    except BaseException:
        with contextlib.suppress(Exception):
            await _close_context(context, backend)
        raise
    return context


@contextlib.contextmanager
def _connection_errors(url: str) -> Iterator[None]:
    """Turn driver connection failures into ``StorageConnectionError`` naming the (redacted) URL."""
    try:
        yield
    except (DBConnectionError, OSError) as exc:
        raise StorageConnectionError(f"cannot open database {redact_url(url)}: {exc}") from exc


async def _close_context(context: TortoiseContext, backend: Backend) -> None:
    # Counted down first, so a failing close cannot leave the backend claimed forever.
    _open_backends[backend] -= 1
    with ContextScope(context)():
        await context.close_connections()


async def _migrate(context: TortoiseContext, targets: list[MigrationTarget] | None) -> None:
    """Apply migrations in ``context``; ``None`` means every app to its latest migration."""
    with ContextScope(context)():
        executor = MigrationExecutor(context.db(), tortoise_config("")["apps"])
        await executor.migrate(targets)
