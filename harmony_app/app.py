"""The composition root: builds the client, database, scheduler and handlers and wires them together.

This is the only module (with the CLI) that imports both ``handlers`` and ``storage``; every handler
receives its collaborators in its constructor. Handing a real store to a handler typed by a Protocol
is where mypy checks that the two still fit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from nio import AsyncClient, RoomMessageText

from harmony_app.appservice import build_appservice, start_appservice
from harmony_app.connection import Connection, appservice_tokens, connect
from handlers.matrix.appservice import AppserviceServer
from handlers.assemblies.feature import AssembliesFeature
from handlers.basic import BasicCommands, InvitePolicy
from handlers.matrix.crypto import CryptoSync
from handlers.matrix.direct import DirectChats
from handlers.matrix.posting import Poster
from handlers.ports import Clock, PublicLinks
from handlers.privacy import MembershipCommands, PersonalData, PrivacyCommands
from handlers.assemblies.provisioning import ApplyReport, Provisioner
from handlers.sortition.seats import SeatReader
from handlers.matrix.commands import CommandRouter, ConfigPermissions, Permissions, collect_commands
from handlers.matrix.dispatcher import Dispatcher, SyncSettings
from handlers.matrix.gateway import MatrixError, MatrixGateway
from harmony_matrix.assemblies.access import EnforcementPolicy
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.command_table import CommandTable
from harmony_matrix.assemblies.import_plan import FederationPlan, plan_changes
from harmony_matrix.config import Config
from harmony_matrix.federation_peers.peers import Peers
from harmony_matrix.ids import UserId
from storage.database import Database, open_database

log = logging.getLogger(__name__)


class Feature(PersonalData, Protocol):
    """A feature (polls, assemblies, consensus) as the composition root sees it.

    Each feature lives in ``handlers/<feature>/`` (Matrix side), ``storage/<feature>/`` (its stores)
    and the pure core (``harmony_matrix/<feature>/``); it is built by one ``_build_<feature>`` function
    below, which hands it its collaborators. Every feature answers ``mydata`` and ``forget-me`` for
    what it holds about a person (``PersonalData``).
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

    async def stop(self) -> None:
        """Before shutdown: cancel its jobs."""
        ...


@dataclass
class Services:
    """What the composition root hands to feature builders."""

    config: Config
    gateway: MatrixGateway
    db: Database
    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher
    clock: Clock
    direct: DirectChats
    poster: Poster  # the one way to post a notice, reply, thread message or DM
    features: dict[str, Feature] = field(default_factory=dict)
    permissions: Permissions | None = None  # a feature (assemblies) may supply richer permissions

    @property
    def links(self) -> PublicLinks:
        """Links to public pages for the bot's posts (every method gives None while the web view is off)."""
        from handlers.web.links import public_links

        return public_links(self.config.web)


def utc_now() -> datetime:
    """The real clock (tests pass their own)."""
    return datetime.now(UTC)


# Feature builders, in dependency order (a later feature may use an earlier one via services.features).
def _build_assemblies(services: Services) -> Feature:
    """Assemblies as spaces; it also supplies the permissions (secretaries per assembly)."""
    settings = services.config.assemblies
    feature = AssembliesFeature(
        gateway=services.gateway, registry=services.db.assemblies, people=services.db.assembly_people,
        members=services.db.members, audit=services.db.audit, direct=services.direct, poster=services.poster,
        admins=services.config.admins, clock=services.clock,
        prefix=services.config.display_prefix,
        policy=EnforcementPolicy(settings.enforcement), grace=timedelta(hours=settings.warning_grace_hours),
        scheduler=services.scheduler, sweep_interval=timedelta(minutes=settings.sweep_minutes))
    services.permissions = feature.permissions
    return feature


def _build_federation(services: Services) -> Feature:
    """Nesting across instances with the configured peers (docs/FEDERATION.md); built after
    assemblies, whose provisioning and listing read the remote tree back."""
    from handlers.federation.feature import FederationFeature

    assemblies = services.features["assemblies"]
    assert isinstance(assemblies, AssembliesFeature), "federation needs the assemblies feature"
    peers = services.config.federation.peer_directory()
    feature = FederationFeature(gateway=services.gateway, poster=services.poster, store=services.db.federation,
                                peers=peers, assemblies=assemblies, clock=services.clock,
                                prefix=services.config.display_prefix, record=services.db.consensus.decisions,
                                members=services.db.members)
    assemblies.use_remote(feature.tree, peer_bots=[peer.user_id for peer in peers])
    assemblies.use_seats(feature.delegates)  # delegates a peer seats in our umbrellas
    return feature


def _build_consensus(services: Services) -> Feature:
    """Proposals, moots, outcomes, the decision record, roles and elections (built last: it reaches the
    assemblies and polls features, when they are there, through ``handlers.ports``)."""
    from handlers.consensus.common import ConsensusSettings, consensus_rules
    from handlers.consensus.feature import ConsensusFeature
    from handlers.federation.feature import FederationFeature
    from handlers.polls.feature import PollsFeature
    from handlers.sortition.feature import SortitionFeature

    settings = services.config.consensus
    assemblies = services.features.get("assemblies")
    polls = services.features.get("polls")
    sortition = services.features.get("sortition")
    federation = services.features.get("federation")
    feature = ConsensusFeature(
        stores=services.db.consensus, members=services.db.members,
        assemblies=assemblies if isinstance(assemblies, AssembliesFeature) else None,
        polls=polls if isinstance(polls, PollsFeature) else None,
        seats=sortition if isinstance(sortition, SortitionFeature) else None,
        poster=services.poster, gateway=services.gateway, scheduler=services.scheduler, clock=services.clock,
        prefix=services.config.display_prefix, links=services.links,
        settings=ConsensusSettings(
            reminders_before=tuple(timedelta(seconds=s) for s in settings.reminders_before),
            end_grace=timedelta(seconds=settings.end_grace),
            check_interval=timedelta(seconds=settings.check_interval),
            petition_threshold=settings.petition_threshold,
            term_notice=timedelta(seconds=settings.term_notice),
            default_moot_duration=timedelta(seconds=settings.default_moot_duration),
            ballot_duration=timedelta(seconds=settings.ballot_duration),
            elected_term=timedelta(seconds=settings.elected_term),
            default_tz=services.config.timezone, **consensus_rules(settings)))
    if isinstance(federation, FederationFeature):
        feature.decisions.remote = federation.decisions  # decisions of remote umbrellas count in precedence
    return feature


def _build_polls(services: Services) -> Feature:
    """STAR polls: reactions as votes, secret ballots by DM, results with a chart."""
    from handlers.polls.feature import PollSettings, PollsFeature

    settings = services.config.polls
    assemblies = services.features.get("assemblies")  # built before polls, unless disabled
    feature = PollsFeature(
        gateway=services.gateway, poster=services.poster, store=services.db.polls, members=services.db.members,
        assemblies=assemblies if isinstance(assemblies, AssembliesFeature) else None,
        scheduler=services.scheduler, clock=services.clock, admins=services.config.admins, links=services.links,
        prefix=services.config.display_prefix,
        settings=PollSettings(tz=services.config.tz, seed_reactions=settings.seed_reactions,
                              post_chart=settings.chart, default_eligibility=settings.default_eligibility))
    federation = services.features.get("federation")  # members of peer instances, asked of their instance
    if federation is not None:
        from handlers.federation.feature import FederationFeature

        assert isinstance(federation, FederationFeature)
        feature.electorates.home = federation.eligibility
        federation.eligibility.on_answer(feature.voting.eligibility_answered)
    return feature


def _build_sortition(services: Services) -> Feature:
    """Draws by lot with quotas, checkable from the published record; the seats they fill (built after
    assemblies, which it reaches through ``handlers.ports`` and which reads its seats back)."""
    from handlers.sortition.feature import SortitionFeature
    from handlers.sortition.features import SortitionSettings

    settings = services.config.sortition
    assemblies = services.features["assemblies"]
    assert isinstance(assemblies, AssembliesFeature), "sortition needs the assemblies feature"
    feature = SortitionFeature(
        stores=services.db.sortition, assemblies=assemblies, members=services.db.members, gateway=services.gateway,
        poster=services.poster, scheduler=services.scheduler, clock=services.clock,
        prefix=services.config.display_prefix,
        settings=SortitionSettings(
            features={f.name: tuple(f.values) for f in settings.features},
            reveal_window=timedelta(seconds=settings.reveal_window),
            default_term=timedelta(seconds=settings.default_term),
            term_notice=timedelta(seconds=settings.term_notice),
            check_interval=timedelta(seconds=settings.check_interval),
            alternates=settings.alternates, default_tz=services.config.timezone))
    assemblies.use_seats(feature)
    return feature


def _build_web(services: Services) -> Feature:
    """The public, read-only web view (it listens only when ``web.enabled`` is set)."""
    from handlers.web.names import SyncedDisplayNames
    from handlers.web.server import web_feature
    from storage.public.draws import PublicDraws
    from storage.public.queries import PublicQueries

    return web_feature(services.config, record=PublicQueries.of(services.db), via=services.gateway.server_name,
                       clock=services.clock, names=SyncedDisplayNames(lambda: services.gateway.client.rooms,
                                                                lambda: services.gateway.read_display_names),
                       draws=PublicDraws.of(services.db))


FEATURE_BUILDERS: list[tuple[str, Callable[[Services], Feature]]] = [
    ("assemblies", _build_assemblies),
    ("federation", _build_federation),  # after assemblies: nestings across instances
    ("polls", _build_polls),
    ("sortition", _build_sortition),  # after assemblies: seats admit people and give power there
    ("consensus", _build_consensus),  # keep last: it uses polls and assemblies
    ("web", _build_web),  # the public web view: reads the database only
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
    # Seats drawn by lot keep their holders' power: the import must not strip what a draw gave.
    provisioner.seats = SeatReader(app.db.sortition.seats, app.clock)
    return await provisioner.apply(federation, progress=progress)


@dataclass(frozen=True)
class _OrPeers:
    """Who may invite the bot to a group room: whom ``permissions`` trusts, and the peer instances' bots
    (to the room two bots share, and to the spaces nested across instances)."""

    permissions: Permissions
    peers: Peers

    async def may_invite_bot(self, user_id: UserId) -> bool:
        return self.peers.is_peer(user_id) or await self.permissions.may_invite_bot(user_id)


@dataclass(frozen=True)
class Running:
    """The parts that exist only while the bot runs."""

    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher
    poster: Poster
    appservice: AppserviceServer | None = None  # appservice mode: the homeserver pushes, no /sync


class App:
    """One running bot. ``start()``/``stop()`` for tests, ``run_forever()`` for the CLI.

    ``db``, ``gateway`` and ``client`` exist once connected (``connect()`` or ``start()``), ``dispatcher``
    and ``scheduler`` once started; asking for them earlier is a programming error (``RuntimeError``).
    """

    def __init__(self, config: Config, *, extra_command_handlers: Sequence[object] = (),
                 clock: Clock = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.features: dict[str, Feature] = {}
        self.extra_command_handlers = list(extra_command_handlers)
        self.table = CommandTable()
        self._connection: Connection | None = None
        self._running: Running | None = None
        self._stop = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None

    # -- parts ----------------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The database and client; ``RuntimeError`` before ``connect()``."""
        if self._connection is None:
            raise RuntimeError("the app is not connected: call connect() or start() first")
        return self._connection

    @property
    def running(self) -> Running:
        """The scheduler, dispatcher and poster; ``RuntimeError`` before ``start()``."""
        if self._running is None:
            raise RuntimeError("the app is not started: call start() first")
        return self._running

    @property
    def db(self) -> Database:
        """The bot's database (once connected)."""
        return self.connection.db

    @property
    def client(self) -> AsyncClient:
        """The nio client (once connected)."""
        return self.connection.client

    @property
    def gateway(self) -> MatrixGateway:
        """The gateway every call to the homeserver goes through (once connected)."""
        return self.connection.gateway

    @property
    def dispatcher(self) -> Dispatcher:
        """The sync loop and event dispatcher (once started)."""
        return self.running.dispatcher

    @property
    def scheduler(self) -> AsyncIOScheduler:
        """The job scheduler (once started)."""
        return self.running.scheduler

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database, log in, wire the handlers and start syncing in the background."""
        connection = await self.connect()
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.start()
        try:
            self._running = running = self._wire(connection, scheduler)
        except BaseException:
            scheduler.shutdown(wait=False)
            raise
        if self.config.bot.display_name:
            try:
                await connection.gateway.set_display_name(self.config.bot.display_name)
            except MatrixError as exc:
                log.warning("could not set the display name: %s", exc)
        self._stop.clear()
        await running.poster.start()  # first what the last run left unsent
        if running.appservice is not None:
            appservice_id = self.config.appservice.id
            await start_appservice(running.appservice, running.dispatcher,
                                   ping=lambda: connection.gateway.appservice_ping(appservice_id))
        else:
            self._sync_task = asyncio.create_task(running.dispatcher.run(self._stop), name="harmony-sync")
        await self.wait_synced(timeout=120)
        for feature in self.features.values():
            await feature.start()
        log.info("harmony-matrix started as %s", self.config.bot.user_id)

    async def connect(self) -> Connection:
        """Open the database and log in, without syncing (``start`` and one-off CLI tasks)."""
        self._connection = await connect(self.config)
        return self._connection

    def _wire(self, connection: Connection, scheduler: AsyncIOScheduler) -> Running:
        """Build the dispatcher, the features and the command router, and subscribe them to events."""
        config, db, gateway = self.config, connection.db, connection.gateway
        direct = DirectChats(gateway=gateway, records=db.direct_chats, clock=self.clock)
        poster = Poster(gateway=gateway, direct=direct, records=db.outbox, clock=self.clock)
        dispatcher = Dispatcher(
            client=connection.client, gateway=gateway, tokens=db.sync, processed=db.events,
            settings=SyncSettings(timeout_ms=config.sync.timeout_ms, timeline_limit=config.sync.timeline_limit,
                                  full_state_at_start=config.sync.full_state_at_start),
            crypto=CryptoSync(crypto=connection.crypto, poster=poster) if connection.crypto else None,
        )
        services = Services(config=config, gateway=gateway, db=db, scheduler=scheduler, dispatcher=dispatcher,
                            clock=self.clock, direct=direct, poster=poster, features=self.features)
        handlers: list[object] = [
            BasicCommands(),
            MembershipCommands(members=db.members, clock=self.clock),
            PrivacyCommands(members=db.members, holders=self.features),
            *self.extra_command_handlers,
        ]
        for name, build in FEATURE_BUILDERS:
            feature = build(services)
            self.features[name] = feature
            handlers.extend(feature.command_handlers())
        need_encryption = config.privacy.private_commands_need_encryption
        for handler in handlers:
            for spec in collect_commands(handler):
                self.table.add(spec if need_encryption else spec.relaxed())
        permissions = services.permissions or ConfigPermissions(admins=config.admins, direct=direct)
        router = CommandRouter(poster=poster, table=self.table, prefixes=config.prefixes, permissions=permissions,
                               private_needs_encryption=need_encryption)
        # Commands first, so a feature's own message handling sees the same event afterwards.
        dispatcher.on(RoomMessageText, router.handle_message)
        for feature in self.features.values():
            feature.register(dispatcher)
        dispatcher.on_invite(InvitePolicy(gateway=gateway, admins=config.admins, direct=direct,
                                          trusted=_OrPeers(permissions, config.federation.peer_directory())).on_invite)
        appservice = None
        if config.mode == "appservice":
            appservice = build_appservice(config, client=connection.client, gateway=gateway, dispatcher=dispatcher,
                                          store=db.pushed, hs_token=appservice_tokens(config)[1], clock=self.clock)
        return Running(scheduler=scheduler, dispatcher=dispatcher, poster=poster, appservice=appservice)

    async def wait_synced(self, timeout: float = 30) -> None:
        """Wait until the first batch has been handled (tests and the demo use this)."""
        await asyncio.wait_for(self.dispatcher.synced.wait(), timeout)

    async def stop(self) -> None:
        """Stop syncing, let the current batch finish or cancel the long-poll, close everything."""
        self._stop.set()
        for feature in self.features.values():
            try:
                await feature.stop()
            except Exception:
                log.exception("stopping a feature failed")
        if self._running is not None and self._running.appservice is not None:
            await self._running.appservice.stop()
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except (asyncio.CancelledError, Exception):
                pass
            self._sync_task = None
        if self._running is not None and self._running.scheduler.running:
            self._running.scheduler.shutdown(wait=False)
        if self._running is not None:
            await self._running.poster.close()  # a few seconds to send what waits; the rest is kept
        if self._connection is not None:
            await self._connection.close()
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
