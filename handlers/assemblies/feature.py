"""Assemblies as Matrix spaces: the feature the composition root builds, and what it offers others.

The feature wires its parts and routes events to them:

- ``registry`` (the federation as last loaded), ``presence`` (who is in which room), ``facts`` (what a
  decision needs to know about a person);
- ``provisioning`` (make Matrix match the registry), ``entry`` (join, knocks, declarations),
  ``enforcement`` (sweeps, removals, reverts), ``permissions`` (who may run what), ``commands``.

Decisions come from the pure core (``harmony_matrix.assemblies``). Privacy (docs/spec/product.md §5): a person's
membership and self-declarations are never posted in a room nor logged; see ``entry`` and
``enforcement``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from typing import Any

from nio import PowerLevelsEvent, RoomJoinRulesEvent, RoomMemberEvent, UnknownEvent

from handlers.assemblies.commands import AssemblyCommands
from handlers.assemblies.enforcement import GUARDED_TYPES, Enforcer
from handlers.assemblies.entry import Entry
from handlers.assemblies.facts import Facts
from handlers.assemblies.permissions import AssemblyPermissions
from handlers.assemblies.presence import Presence
from handlers.assemblies.provisioning import ApplyReport, Provisioner
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import AuditLog, MemberRoster, PeopleStore, RegistryStore
from handlers.matrix.direct import DirectChats
from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.posting import Poster
from handlers.ports import Clock, MemberRegistry, RemoteTree, Scheduler, SeatDirectory
from harmony_matrix.assemblies.access import EnforcementPolicy, Outcome
from harmony_matrix.assemblies.errors import AssemblyError
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.import_plan import plan_changes
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.assemblies.room_state import Drift
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)

_SWEEP_JOB = "assemblies-enforcement"


class AssembliesFeature:
    """The assemblies feature: registry, provisioning, access and enforcement."""

    def __init__(self, *, gateway: MatrixGateway, registry: RegistryStore, people: PeopleStore,
                 members: MemberRoster, audit: AuditLog, direct: DirectChats, poster: Poster,
                 admins: Iterable[str], clock: Clock, prefix: str,
                 policy: EnforcementPolicy = EnforcementPolicy.REMOVE,
                 grace: timedelta = timedelta(hours=24), scheduler: Scheduler | None = None,
                 sweep_interval: timedelta = timedelta(minutes=10),
                 reload_interval: timedelta = timedelta(seconds=1)) -> None:
        self.people = people
        self.audit = audit
        self.direct = direct
        self.clock = clock
        #: The configured command prefix, for messages that do not answer a command.
        self.prefix = prefix
        self.scheduler = scheduler
        self.sweep_interval = sweep_interval
        #: How often the registry's change counter is read, to notice an import by another process.
        self.reload_interval = reload_interval
        self.registry = LiveRegistry(registry)
        self.presence = Presence(gateway)
        self._started_sync: asyncio.Task[Any] | None = None
        self.facts = Facts(registry=self.registry, presence=self.presence, members=members, people=people,
                           admins=admins)
        # The provisioner writes through the live registry, so the room index follows its writes.
        self.provisioner = Provisioner(gateway=gateway, registry=self.registry, audit=audit, clock=clock,
                                       presence=self.presence)
        self.entry = Entry(registry=self.registry, facts=self.facts, presence=self.presence, people=people,
                           audit=audit, poster=poster, clock=clock)
        self.enforcer = Enforcer(registry=self.registry, facts=self.facts, presence=self.presence, people=people,
                                 audit=audit, poster=poster, provisioner=self.provisioner, clock=clock,
                                 policy=policy, grace=grace, prefix=prefix)
        self.permissions = AssemblyPermissions(registry=self.registry, direct=direct, admins=admins)
        self.commands = AssemblyCommands(registry=self.registry, changes=self, entry=self.entry,
                                         enforcer=self.enforcer, facts=self.facts, presence=self.presence,
                                         people=people, audit=audit, clock=clock)
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the Feature protocol -------------------------------------------------------------------

    def command_handlers(self) -> Sequence[object]:
        """The object whose methods declare the assembly commands."""
        return [self.commands]

    def register(self, dispatcher: Dispatcher) -> None:
        """Memberships (joins, knocks, leaves) and changes to the guarded state."""
        dispatcher.on(RoomMemberEvent, self.on_member)
        dispatcher.on_room_state(self.on_room_state)
        dispatcher.on((PowerLevelsEvent, RoomJoinRulesEvent, UnknownEvent), self.on_state)
        try:
            from nio import RoomSpaceChildEvent, RoomSpaceParentEvent

            dispatcher.on((RoomSpaceChildEvent, RoomSpaceParentEvent), self.on_state)
        except ImportError:  # pragma: no cover - older nio parses them as UnknownEvent
            pass

    async def start(self) -> None:
        """Load the registry; then, in the background, repair drift and enforce, sweep periodically and
        watch the registry for changes made by another process (``harmony-matrix import``).

        Commands are answered as soon as the registry is loaded: the first repair and sweep run
        beside them, not before them (at the size of a real party they take a while)."""
        await self.refresh()
        self._started_sync = self._spawn(self._sync_at_start())
        if self.scheduler is not None:
            self.scheduler.add_job(self._sweep_job, "interval", seconds=self.sweep_interval.total_seconds(),
                                   id=_SWEEP_JOB, replace_existing=True)
        self._spawn(self._watch_registry())

    async def _sync_at_start(self) -> None:
        began = time.monotonic()
        try:
            await self.sync_all(sweep=True)
        except Exception:
            log.exception("reconciling assemblies at start failed")
            return
        log.info("the start-up repair and sweep took %.2f s", time.monotonic() - began)

    async def started(self) -> None:
        """Wait until the repair and sweep begun by ``start`` are done (tests, the demo)."""
        if self._started_sync is not None:
            await asyncio.shield(self._started_sync)

    async def _watch_registry(self) -> None:
        # A loop, not a scheduler job: a reload with enforcement may outlast the interval, and the
        # next check should simply wait for it.
        while True:
            await asyncio.sleep(self.reload_interval.total_seconds())
            try:
                await self.reload_if_changed()
            except AssemblyError as exc:
                # An import between two of its steps (say, a move not yet finished): read it again next time.
                log.info("the registry is being changed (%s); reading it again shortly", exc)
            except Exception:
                log.exception("checking the registry for changes failed")

    async def reload_if_changed(self) -> frozenset[str]:
        """Reload the registry if another process changed it, and check everyone in what changed.

        Returns the slugs whose people were checked again (empty when nothing changed). The
        importer has already made Matrix match; what the running bot adds is the new registry (for
        its commands) and enforcement.
        """
        if not await self.registry.changed_elsewhere():
            return frozenset()
        async with self.registry.lock:
            before = self.registry.current
            after = await self.refresh()
        changed = plan_changes(before, after).affected_slugs & frozenset(after.slugs)
        if changed:
            log.info("the registry changed outside the bot: reloaded %d assemblies, checking %d", len(after),
                     len(changed))
            await self.enforce_all(slugs=changed)
        return changed

    async def stop(self) -> None:
        """Cancel background work and the sweep."""
        for task in list(self._tasks):
            task.cancel()
        if self.scheduler is not None and self.scheduler.get_job(_SWEEP_JOB):
            self.scheduler.remove_job(_SWEEP_JOB)

    async def _sweep_job(self) -> None:
        try:
            await self.enforce_all()
        except Exception:
            log.exception("the enforcement sweep failed")

    # -- API for other features (``ports.AssemblyDirectory``), the CLI and the demo ------------------

    def federation(self) -> Federation:
        """The registry as last loaded (refreshed after every change)."""
        return self.registry.current

    async def refresh(self) -> Federation:
        """Reload the registry from the store."""
        return await self.registry.refresh()

    async def assembly_of_room(self, room_id: str) -> str | None:
        """The slug of the assembly ``room_id`` belongs to, or None."""
        room = await self.registry.room(room_id)
        return None if room is None else room.slug

    async def rooms_of(self, slug: str) -> dict[str, RoomId]:
        """``kind → room ID`` of an assembly, including ``"space"``."""
        return dict(await self.registry.rooms_of(slug))

    async def set_officers(self, slug: str, *, secretary: str | None, deputies: Sequence[str],
                           reason: str, actor: str | None = None) -> None:
        """Set an assembly's secretary and deputies: the registry, and moderator power in all its rooms.

        New officers are invited to the secretariat (by ``reconcile``, as officers named in the
        federation file are); former ones lose their power (and are removed from the secretariat by
        enforcement).
        """
        async with self.registry.lock:
            federation = await self.refresh()
            old = federation[slug]
            new = dataclasses.replace(old, secretary=UserId(secretary) if secretary else None,
                                      deputies=tuple(UserId(d) for d in deputies))
            federation = federation.with_assembly(new)
            await self.registry.save(new)
            federation = await self.refresh()  # and its change counter: this change is not "elsewhere"
            await self.provisioner.reconcile(slug, federation)
            await self.audit.record("assembly.officers", at=self.clock(),
                                    actor=UserId(actor) if actor else None,
                                    reason=f"{slug}: secretary {secretary or '(none)'}, deputies "
                                           f"{', '.join(deputies) or '(none)'}: {reason}")
        await self.enforce_all(slugs=[slug])

    def use_seats(self, seats: SeatDirectory) -> None:
        """Take seats into account (the sortition feature calls this for seats drawn by lot, the
        federation feature for delegates seated by a peer instance; each call adds a source): seat
        holders enter their assembly (a ``drawn`` one only them), some with moderator power."""
        current = self.facts.seats
        combined: SeatDirectory = seats if current is None else _SeatSources((current, seats))
        self.facts.seats = combined
        self.provisioner.seats = combined

    def use_remote(self, tree: RemoteTree, *, peer_bots: Iterable[str]) -> None:
        """Take nestings across instances into account (the federation feature calls this when it is
        built): remote umbrellas and nested spaces in the space state and the listing; the peer bots
        are left alone in the spaces they were invited to."""
        self.provisioner.remote = tree
        self.commands.remote = tree
        self.facts.remote = tree
        self.enforcer.peer_bots = frozenset(peer_bots)

    async def seats_changed(self, slug: str, *, seated: Sequence[str], reason: str) -> None:
        """The seats of ``slug`` changed: power levels follow, the newly ``seated`` are invited to its
        rooms (not the secretariat), and everyone is checked again (an ended seat in a drawn council
        means leaving it)."""
        async with self.registry.lock:
            federation = await self.refresh()
            if slug not in federation:
                return
            await self.provisioner.reconcile(slug, federation)
        rooms = await self.registry.rooms_of(slug)
        for user in seated:
            for kind, room_id in sorted(rooms.items()):
                if kind != RoomKind.SECRETARIAT.value and not await self.presence.is_joined(room_id, user):
                    await self.presence.invite(room_id, user)
        await self.audit.record("assembly.seats", at=self.clock(), reason=f"{slug}: {reason}")
        await self.enforce_all(slugs=[slug])

    async def apply_federation(self, desired: Federation, *, actor: str | None = None,
                               progress: Callable[[str], None] | None = None) -> ApplyReport:
        """Make the registry and Matrix match ``desired`` (only the difference is written).

        Afterwards everyone in the changed assemblies is checked again: a new access rule or a
        newly denied server applies to people already inside, not only to newcomers.
        """
        async with self.registry.lock:
            report = await self.provisioner.apply(desired, actor=UserId(actor) if actor else None,
                                                  progress=progress)
            await self.refresh()
        if report.plan.affected_slugs:
            await self.enforce_all(slugs=report.plan.affected_slugs)
        return report

    async def sync_all(self, slugs: Iterable[str] | None = None, *,
                       sweep: bool = False) -> dict[str, dict[str, list[Drift]]]:
        """Repair drift in every room (of ``slugs``); returns what was repaired.

        People are then checked again where drift was repaired (a room that was open to anyone may
        have let someone in), so the cost beyond reading the rooms' state follows the drift found,
        not members × rooms; ``sweep`` checks everyone in ``slugs`` (or everywhere) instead, as at
        start-up. The periodic sweep checks everyone anyway."""
        repaired: dict[str, dict[str, list[Drift]]] = {}
        wanted = set(slugs) if slugs is not None else None
        async with self.registry.lock:
            # Re-read: `harmony-matrix import` may have changed the registry while we run.
            federation = await self.refresh()
            for assembly in federation.topological_order():
                if wanted is not None and assembly.slug not in wanted:
                    continue
                fixed = await self.provisioner.reconcile(assembly.slug, federation)
                if fixed:
                    repaired[assembly.slug] = fixed
        if sweep:
            await self.enforce_all(wanted)
        elif repaired:
            await self.enforce_all(repaired)
        return repaired

    async def enforce_all(self, slugs: Iterable[str] | None = None) -> None:
        """Check everyone in every room (of ``slugs``, or of all assemblies)."""
        await self.enforcer.enforce_all(slugs)

    async def request_entry(self, user_id: str, slug: str, *, kind: RoomKind = RoomKind.SPACE,
                            knocked: bool = False) -> Outcome:
        """Admit, ask privately or refuse ``user_id`` (as ``join`` does, with the configured prefix)."""
        return await self.entry.request_entry(user_id, slug, prefix=self.prefix, kind=kind, knocked=knocked)

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """What this feature holds about ``user_id`` (for ``mydata``; send it by DM only)."""
        data = await self.people.export(UserId(user_id))
        data["officer_of"] = sorted(a.slug for a in self.registry.current if user_id in a.officers)
        return data

    async def erase_user_data(self, user_id: str) -> None:
        """Forget declarations, requests, admissions and warnings of ``user_id``."""
        await self.people.erase(UserId(user_id))
        await self.audit.record("privacy.erase", at=self.clock(), target_user=UserId(user_id),
                                reason="erased assembly data on request")

    async def may_invite_bot(self, user_id: UserId) -> bool:
        """Secretaries and deputies may invite the bot to rooms."""
        return await self.permissions.may_invite_bot(user_id)

    # -- events -------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        # Work that calls the server again is done outside the batch, so one slow decision does
        # not hold up the sync loop; errors are logged, never raised into the dispatcher. The task
        # wraps the coroutine itself, so a task cancelled at shutdown closes it cleanly.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("assemblies background task failed", exc_info=task.exception())

    def on_room_state(self, room_id: str, events: list[Any]) -> None:
        """A batch's state changes (``Dispatcher.on_room_state``): its memberships go into the membership
        index. A change in a gap larger than the dispatcher reads back arrives only here, and after a
        crash the timeline's membership events already handled are not handed to ``on_member`` again."""
        for event in events:
            if isinstance(event, RoomMemberEvent):
                self.presence.note_membership(room_id, event.state_key, event.membership)

    async def on_member(self, room_id: str, event: RoomMemberEvent) -> None:
        """A knock asks to come in; a join is checked (and may invite to automatic assemblies);
        leaving a space re-checks the person everywhere (participation may have ended)."""
        self.presence.note_membership(room_id, event.state_key, event.membership)
        room = await self.registry.room(room_id)
        if room is None or event.state_key == self.presence.bot:
            return
        user = event.state_key
        if event.membership == "knock":
            self._spawn(self.request_entry(user, room.slug, kind=room.kind, knocked=True))
        elif event.membership == "join" and event.prev_membership != "join":
            async def joined() -> None:
                await self.enforcer.enforce(user, room_id, room.slug, room.kind)
                if room.kind is RoomKind.SPACE:
                    await self.enforcer.invite_automatic(user)
            self._spawn(joined())
        elif event.membership in ("leave", "ban") and room.kind is RoomKind.SPACE:
            self._spawn(self.enforcer.enforce_user(user))

    async def on_state(self, room_id: str, event: Any) -> None:
        """A change to the guarded state of an assembly's room is reverted (and reported)."""
        event_type = event.source.get("type") if hasattr(event, "source") else None
        if event_type not in GUARDED_TYPES:
            return
        room = await self.registry.room(room_id)
        if room is None or room.slug not in self.registry.current:
            return
        self._spawn(self.enforcer.revert(room, sender=event.sender, event_type=event_type,
                                         started=self.clock()))


class _SeatSources:
    """Several ``SeatDirectory`` sources read as one (seats drawn by lot, delegates of peer instances)."""

    def __init__(self, sources: Sequence[SeatDirectory]) -> None:
        self._sources = tuple(sources)

    async def seated_in(self, user_id: str) -> frozenset[str]:
        found: frozenset[str] = frozenset()
        for source in self._sources:
            found |= await source.seated_in(user_id)
        return found

    async def seat_moderators(self, slug: str) -> frozenset[str]:
        found: frozenset[str] = frozenset()
        for source in self._sources:
            found |= await source.seat_moderators(slug)
        return found

    async def seats_by_person(self) -> dict[str, frozenset[str]]:
        found: dict[str, frozenset[str]] = {}
        for source in self._sources:
            for user, slugs in (await source.seats_by_person()).items():
                found[user] = found.get(user, frozenset()) | slugs
        return found
