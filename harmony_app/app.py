"""The composition root: builds the client, database, scheduler and handlers and wires them together.

This is the only module (with the CLI) that imports both ``handlers`` and ``storage``; every handler
receives its collaborators in its constructor.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomMessageText

from handlers.assemblies.feature import AssembliesFeature
from handlers.basic import BasicCommands, InvitePolicy
from handlers.matrix.direct import DirectChats
from handlers.privacy import MembershipCommands, PrivacyCommands
from handlers.assemblies.provisioning import ApplyReport, Provisioner
from handlers.matrix.commands import CommandRouter, ConfigPermissions, Permissions, collect_commands
from handlers.matrix.dispatcher import Dispatcher, SyncSettings
from handlers.matrix.gateway import MatrixError, MatrixGateway, UnknownToken
from harmony_matrix.assemblies.access import EnforcementPolicy
from harmony_matrix.assemblies.assembly import Federation
from harmony_matrix.commands import CommandTable
from harmony_matrix.assemblies.federation_file import FederationPlan, plan_changes
from harmony_matrix.config import Config
from storage.core.types import BotSession
from storage.database import Database, open_database

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


class Feature(Protocol):
    """A feature (polls, assemblies, consensus) as the composition root sees it.

    Each feature lives in ``handlers/<feature>.py`` (Matrix side), ``storage/<feature>/`` (its stores)
    and the pure core; it is built by one ``_build_<feature>`` function below, which hands it its
    collaborators.
    """

    def command_handlers(self) -> Sequence[object]:
        """Objects whose methods are declared with ``@command``."""
        ...

    def register(self, dispatcher: Dispatcher) -> None:
        """Subscribe to the events it needs (``dispatcher.on(...)``)."""
        ...

    async def start(self) -> None:
        """After the first sync: reconcile with the server, rebuild scheduled jobs."""
        ...

    async def stop(self) -> None: ...


@dataclass
class Services:
    """What the composition root hands to feature builders."""

    config: Config
    gateway: MatrixGateway
    db: Database
    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher
    clock: Callable[[], datetime]
    direct: DirectChats
    features: dict[str, Feature] = field(default_factory=dict)
    permissions: Permissions | None = None  # a feature (assemblies) may supply richer permissions


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# Feature builders, in dependency order (a later feature may use an earlier one via services.features).
def _build_assemblies(services: Services) -> Feature:
    """Assemblies as spaces (issue 4); it also supplies the permissions (secretaries per assembly)."""
    settings = services.config.assemblies
    feature = AssembliesFeature(
        gateway=services.gateway, registry=services.db.assemblies, rooms=services.db.assemblies,
        people=services.db.assembly_people, members=services.db.members, direct=services.direct,
        audit=services.db.audit, admins=services.config.admins, clock=services.clock,
        policy=EnforcementPolicy(settings.enforcement), grace=timedelta(hours=settings.warning_grace_hours),
        scheduler=services.scheduler, sweep_interval=timedelta(minutes=settings.sweep_minutes))
    services.permissions = feature
    return feature


def _build_consensus(services: Services) -> Feature:
    """Proposals, moots, outcomes, the decision record, roles and elections (issue 5)."""
    from handlers.consensus.feature import ConsensusFeature
    from handlers.consensus.common import ConsensusSettings, Deps

    settings = services.config.consensus
    return ConsensusFeature(Deps(
        gateway=services.gateway, stores=services.db.consensus, members=services.db.members,
        scheduler=services.scheduler, clock=services.clock,
        features=services.features,
        settings=ConsensusSettings(
            reminders_before=tuple(timedelta(seconds=s) for s in settings.reminders_before),
            end_grace=timedelta(seconds=settings.end_grace),
            check_interval=timedelta(seconds=settings.check_interval),
            petition_threshold=settings.petition_threshold,
            term_notice=timedelta(seconds=settings.term_notice),
            default_moot_duration=timedelta(seconds=settings.default_moot_duration),
            ballot_duration=timedelta(seconds=settings.ballot_duration),
            elected_term=timedelta(seconds=settings.elected_term),
            default_tz=services.config.timezone)))


def _build_polls(services: Services) -> Feature:
    """STAR polls (issue 3): reactions as votes, secret ballots by DM, results with a chart."""
    from handlers.polls.feature import PollSettings, PollsFeature

    settings = services.config.polls
    return PollsFeature(
        gateway=services.gateway, store=services.db.polls, members=services.db.members, direct=services.direct,
        assemblies=services.features.get("assemblies"),  # type: ignore[arg-type]  # built before polls
        scheduler=services.scheduler, clock=services.clock, prefix=services.config.commands.aliases[0]
        if services.config.commands.aliases else services.config.commands.prefix,
        settings=PollSettings(tz=services.config.tz, seed_reactions=settings.seed_reactions,
                              post_chart=settings.chart, default_eligibility=settings.default_eligibility))


FEATURE_BUILDERS: list[tuple[str, Callable[[Services], Feature]]] = [
    ("assemblies", _build_assemblies),
    ("polls", _build_polls),
    ("consensus", _build_consensus),  # keep last: it uses polls and assemblies
]


async def plan_import(config: Config, federation: Federation, *, app: App | None = None) -> FederationPlan:
    """What importing ``federation`` would change in the registry (reads the database only)."""
    if app is not None and app.db is not None:
        return plan_changes(await app.db.assemblies.federation(), federation)
    db = await open_database(config.database_url())
    try:
        return plan_changes(await db.assemblies.federation(), federation)
    finally:
        await db.close()


async def import_federation(app: App, federation: Federation, *,
                            progress: Callable[[str], None] | None = None) -> ApplyReport:
    """Apply a federation with a connected (not necessarily syncing) app: only the difference is written."""
    assert app.gateway is not None and app.db is not None, "call app.connect() first"
    provisioner = Provisioner(gateway=app.gateway, registry=app.db.assemblies, audit=app.db.audit,
                              clock=app.clock)
    return await provisioner.apply(federation, progress=progress)


class App:
    """One running bot. ``start()``/``stop()`` for tests, ``run_forever()`` for the CLI."""

    def __init__(self, config: Config, *, extra_command_handlers: Sequence[object] = (),
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.features: dict[str, Feature] = {}
        self.extra_command_handlers = list(extra_command_handlers)
        self.db: Database | None = None
        self.client: AsyncClient | None = None
        self.gateway: MatrixGateway | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.table = CommandTable()
        self._stop = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, log in, wire the handlers and start syncing in the background."""
        await self.connect()
        self.scheduler = AsyncIOScheduler(timezone=timezone.utc)
        self.scheduler.start()
        self._wire()
        if self.config.bot.display_name:
            try:
                await self.gateway.set_display_name(self.config.bot.display_name)
            except MatrixError as exc:
                log.warning("could not set the display name: %s", exc)
        self._stop.clear()
        self._sync_task = asyncio.create_task(self.dispatcher.run(self._stop), name="harmony-sync")
        await self.wait_synced(timeout=120)
        for feature in self.features.values():
            await feature.start()
        log.info("harmony-matrix started as %s", self.config.bot.user_id)

    async def connect(self) -> None:
        """Open the database and log in, without syncing (``start`` and one-off CLI tasks)."""
        self.db = await open_database(self.config.database_url())
        self.client = AsyncClient(
            self.config.homeserver.url,
            self.config.bot.user_id,
            config=AsyncClientConfig(
                max_limit_exceeded=self.config.sync.max_rate_limit_retries,
                max_timeouts=None,  # keep reconnecting (with nio's capped backoff) while the server is down
                store_sync_tokens=False,
                encryption_enabled=False,
            ),
            ssl=None if self.config.homeserver.verify_tls else False,
        )
        self.gateway = MatrixGateway(self.client)
        await self._login()

    def _wire(self) -> None:
        assert self.client and self.gateway and self.db and self.scheduler
        config = self.config
        self.dispatcher = Dispatcher(
            client=self.client, gateway=self.gateway, tokens=self.db.sync, processed=self.db.events,
            settings=SyncSettings(timeout_ms=config.sync.timeout_ms, timeline_limit=config.sync.timeline_limit),
        )
        direct = DirectChats(gateway=self.gateway, records=self.db.direct_chats, clock=self.clock)
        services = Services(config=config, gateway=self.gateway, db=self.db, scheduler=self.scheduler,
                            dispatcher=self.dispatcher, clock=self.clock, direct=direct, features=self.features)
        handlers: list[object] = [
            BasicCommands(),
            MembershipCommands(members=self.db.members, clock=self.clock),
            PrivacyCommands(members=self.db.members, features=self.features),
            *self.extra_command_handlers,
        ]
        for name, build in FEATURE_BUILDERS:
            feature = build(services)
            self.features[name] = feature
            handlers.extend(feature.command_handlers())
        for handler in handlers:
            for spec in collect_commands(handler):
                self.table.add(spec)
        permissions = services.permissions or ConfigPermissions(admins=config.admins, direct=direct)
        router = CommandRouter(gateway=self.gateway, table=self.table, prefixes=config.prefixes,
                               permissions=permissions)
        # Commands first, so a feature's own message handling sees the same event afterwards.
        self.dispatcher.on(RoomMessageText, router.handle_message)
        for feature in self.features.values():
            feature.register(self.dispatcher)
        trusted = self.features.get("assemblies")
        self.dispatcher.on_invite(InvitePolicy(gateway=self.gateway, admins=config.admins, direct=direct,
                                               extra_trusted=trusted).on_invite)  # type: ignore[arg-type]

    async def wait_synced(self, timeout: float = 30) -> None:
        """Wait until the first batch has been handled (tests and the demo use this)."""
        assert self.dispatcher is not None
        await asyncio.wait_for(self.dispatcher.synced.wait(), timeout)

    async def stop(self) -> None:
        """Stop syncing, let the current batch finish or cancel the long-poll, close everything."""
        self._stop.set()
        for feature in self.features.values():
            try:
                await feature.stop()
            except Exception:
                log.exception("stopping a feature failed")
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except (asyncio.CancelledError, Exception):
                pass
            self._sync_task = None
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.client is not None:
            await self.client.close()
        if self.db is not None:
            await self.db.close()
        log.info("harmony-matrix stopped")

    async def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then shut down cleanly."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
        try:
            await stopping.wait()
        finally:
            log.info("shutting down")
            await self.stop()

    # -- login ----------------------------------------------------------------------------------

    async def _login(self) -> None:
        """Use the configured token, or a stored session, or log in once with the password.

        Logging in on every start would create a new device each time (and trip rc_login), so a
        password login's device and token are stored and reused.
        """
        assert self.client and self.gateway and self.db
        bot = self.config.bot
        if bot.access_token:
            await self._restore(bot.access_token, device_id="")
            return
        session = await self.db.sessions.get(bot.user_id)
        if session is not None:
            try:
                await self._restore(session.access_token, device_id=session.device_id)
                return
            except StartupError:
                log.info("the stored session is no longer valid; logging in again")
        if session is not None:
            self.client.device_id = session.device_id  # nio sends the client's device_id: keep the device
        response: Any = await self.client.login(bot.password, device_name=bot.device_name)
        if not isinstance(response, LoginResponse):
            raise StartupError(f"login as {bot.user_id} failed: {getattr(response, 'message', response)}")
        await self.db.sessions.save(BotSession(user_id=bot.user_id, device_id=response.device_id,
                                               access_token=response.access_token))

    async def _restore(self, token: str, *, device_id: str) -> None:
        assert self.client and self.gateway
        self.client.access_token = token
        try:
            who = await self.gateway.whoami()
        except UnknownToken:
            raise StartupError(f"the access token for {self.config.bot.user_id} is not valid") from None
        if who.get("user_id") != self.config.bot.user_id:
            raise StartupError(
                f"the access token belongs to {who.get('user_id')}, not {self.config.bot.user_id}")
        self.client.restore_login(self.config.bot.user_id, who.get("device_id") or device_id, token)
