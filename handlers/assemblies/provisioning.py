"""Provisioning: make Matrix match the registry of assemblies, writing only what differs.

An assembly is a space with four child rooms (discussion, announcements, votes, secretariat);
nested assemblies are child spaces. The desired state of every room comes from the pure core
(``room_policy.desired_room_state``); here we create what is missing, read what exists (the bot's
own copy of each room's state, memberships aside, kept from its sync: ``MatrixGateway.current_state``;
no ``/state`` read for a room it follows), and send only the state events that drift (``detect_drift``). Applying an unchanged federation therefore
sends nothing at all: the import is idempotent.

Rooms are created as room version 12 with the bot as creator: it has infinite power there and
must never appear in ``users`` of the power levels (docs/spec/matrix-facts.md §0.1). Every room gets a
canonical alias (``aliases``), and every officer an invitation to the invite-only secretariat, the
same whether the officer came from ``secretary set`` or from the federation file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.assemblies.aliases import ALIAS_TAKEN, Aliases
from handlers.assemblies.presence import Presence
from handlers.assemblies.stores import AuditLog, RegistryStore
from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.ports import Clock, RemoteTree, SeatDirectory
from harmony_matrix import event_types as et
from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.import_plan import (
    CreateAssembly,
    FederationPlan,
    RemoveAssembly,
    UpdateAssembly,
    plan_changes,
)
from harmony_matrix.assemblies.room_policy import (
    CHILD_ROOM_KINDS,
    RoomKind,
    desired_room_state,
    room_alias_localpart,
)
from harmony_matrix.assemblies.room_state import Drift, RoomState, detect_drift
from harmony_matrix.assemblies.server_acl import acl_inexpressible, server_denied
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)

#: The room version we create. In v12 the creator (the bot) has infinite power.
ROOM_VERSION = "12"

# Synapse's own defaults for the ``events`` map (docs/spec/matrix-facts.md §3). ``power_level_content_override``
# replaces the whole map, so we start from these to keep e.g. the tombstone at 150.
SYNAPSE_DEFAULT_EVENTS: Mapping[str, int] = {
    et.ROOM_NAME: 50,
    et.ROOM_POWER_LEVELS: 100,
    et.ROOM_HISTORY_VISIBILITY: 100,
    et.ROOM_CANONICAL_ALIAS: 50,
    et.ROOM_AVATAR: 50,
    et.ROOM_TOMBSTONE: 150,
    et.ROOM_SERVER_ACL: 100,
    et.ROOM_ENCRYPTION: 100,
}

ROOM_TITLES: Mapping[RoomKind, str] = {
    RoomKind.DISCUSSION: "Discussion",
    RoomKind.ANNOUNCEMENTS: "Announcements",
    RoomKind.VOTES: "Votes",
    RoomKind.SECRETARIAT: "Secretariat",
}


Progress = Callable[[str], None]


@dataclass
class ApplyReport:
    """What an apply did: the plan, the rooms created and each state event sent."""

    plan: FederationPlan
    rooms_created: int = 0
    state_writes: int = 0
    repaired: list[tuple[str, str, Drift]] = field(default_factory=list)  # (slug, kind, drift)
    #: Denied servers the server ACL cannot carry (another port of the bot's own host), one
    #: sentence each; their users are still refused and removed by name.
    refusals: list[str] = field(default_factory=list)


def check_denied_servers(federation: Federation, own_server: str) -> list[str]:
    """Refuse deny lists that would block the bot's own server; return what the ACL cannot carry.

    Raises :class:`UserError` naming each assembly and entry that matches ``own_server``: such an
    ACL would lock the bot out of its own rooms (and every local account would be removed).
    Returns one sentence per entry that is left out of the ACL because ACLs ignore ports.
    """
    problems, refusals = [], []
    for assembly in federation:
        for entry in assembly.denied_servers:
            if server_denied(own_server, [entry]):
                problems.append(f'{assembly.slug}: denied_servers entry "{entry}" matches the bot\'s own '
                                f"server {own_server} (server ACLs ignore ports); it would lock the bot out")
        for entry in acl_inexpressible(assembly.denied_servers, own_server):
            refusals.append(f'{assembly.slug}: the server ACL cannot deny "{entry}" without also denying '
                            f"the bot's own server {own_server} (server ACLs ignore ports), so it is not "
                            "in the ACL; accounts on that server are still refused and removed")
    if problems:
        raise UserError("Refused, nothing was changed:\n" + "\n".join(problems))
    return refusals


def state_of(events: Iterable[Mapping[str, Any]]) -> RoomState:
    """``/state`` output as a :class:`RoomState`."""
    return RoomState({(e["type"], e.get("state_key", "")): e.get("content") or {} for e in events})


class Provisioner:
    """Creates and repairs the rooms of assemblies. Stateless apart from its collaborators."""

    def __init__(self, *, gateway: MatrixGateway, registry: RegistryStore, audit: AuditLog,
                 clock: Clock, presence: Presence | None = None) -> None:
        self.gateway = gateway
        self.presence = presence or Presence(gateway)
        self.registry = registry
        self.aliases = Aliases(gateway=gateway, registry=registry)
        self.audit = audit
        self.clock = clock
        #: Seats drawn by lot, whose holders may have moderator power (``AssembliesFeature.use_seats``).
        self.seats: SeatDirectory | None = None
        #: Nestings across instances (the federation feature, when peers are configured).
        self.remote: RemoteTree | None = None

    @property
    def bot(self) -> UserId:
        return UserId(self.gateway.user_id)

    @property
    def via(self) -> list[str]:
        return [self.gateway.server_name]

    # -- whole federation ------------------------------------------------------------------------

    async def plan(self, desired: Federation) -> FederationPlan:
        return plan_changes(await self.registry.federation(), desired)

    async def apply(self, desired: Federation, *, actor: UserId | None = None,
                    progress: Progress | None = None) -> ApplyReport:
        """Make the registry and Matrix match ``desired``; only the difference is written.

        Creations come first (parents before children, each recorded as soon as its room
        exists, so an interrupted import resumes), then every affected assembly is reconciled:
        its rooms' state is read and only drifting events are sent.
        """
        current = await self.registry.federation()
        plan = plan_changes(current, desired)
        # Checked before any write: a deny list that blocks the bot itself is refused whole.
        refusals = check_denied_servers(desired, self.gateway.server_name)
        report = ApplyReport(plan, refusals=refusals)
        for refusal in refusals:
            log.warning("server ACL: %s", refusal)
        if plan.is_empty:
            return report
        positions = {slug: index for index, slug in enumerate(desired.slugs)}
        now = self.clock()
        for op in plan.operations:
            if isinstance(op, CreateAssembly):
                if progress:
                    progress(f"create {op.slug}")
                report.rooms_created += await self._create(op.assembly, desired)
                await self.registry.save(op.assembly, position=positions[op.slug])
                await self.audit.record("assembly.create", at=now, actor=actor,
                                        reason=f"created assembly {op.slug}")
            elif isinstance(op, UpdateAssembly):
                await self.registry.save(desired[op.slug], position=positions[op.slug])
                report.state_writes += await self._update_name_topic(op, desired)
                await self.audit.record("assembly.update", at=now, actor=actor,
                                        reason=op.describe())
            elif isinstance(op, RemoveAssembly):
                await self._retire(op.slug, current)
                await self.audit.record("assembly.remove", at=now, actor=actor,
                                        reason=f"removed assembly {op.slug} (rooms kept)")
            else:  # Nest / Unnest
                await self.registry.save(desired[op.slug], position=positions[op.slug])
                await self.audit.record("assembly.nesting", at=now, actor=actor, reason=op.describe())
        for slug in desired.topological_order():
            if slug.slug not in plan.affected_slugs:
                continue
            if progress:
                progress(f"reconcile {slug.slug}")
            for kind, drifts in (await self.reconcile(slug.slug, desired)).items():
                report.state_writes += len(drifts)
                report.repaired.extend((slug.slug, kind, d) for d in drifts)
        return report

    # -- one assembly ----------------------------------------------------------------------------

    async def _create(self, assembly: Assembly, federation: Federation) -> int:
        """Create the missing rooms of ``assembly`` (all of them, for a new one)."""
        rooms = await self.registry.rooms_of(assembly.slug)
        created = 0
        parent_spaces = await self._spaces_of(assembly.parents)
        space = rooms.get(RoomKind.SPACE.value)
        if space is None:
            space = await self._create_room(assembly, RoomKind.SPACE, space_id=None,
                                            parent_space_ids=parent_spaces)
            created += 1
        for kind in CHILD_ROOM_KINDS:
            if kind.value in rooms:
                continue
            await self._create_room(assembly, kind, space_id=space, parent_space_ids=parent_spaces)
            created += 1
        # Officers are invited to the secretariat by ``reconcile``, which always follows.
        return created

    async def _create_room(self, assembly: Assembly, kind: RoomKind, *, space_id: RoomId | None,
                           parent_space_ids: Sequence[RoomId]) -> RoomId:
        # The space's own ID is unknown before it exists; a placeholder is only used for the
        # join rule of child rooms, which always have it.
        desired = desired_room_state(
            assembly, kind, bot=self.bot, via=self.via,
            space_id=space_id or RoomId("!placeholder"), parent_space_ids=parent_space_ids,
            creator_is_bot=True, existing_power_levels={"events": dict(SYNAPSE_DEFAULT_EVENTS)},
        )
        initial_state = [
            {"type": event_type, "state_key": state_key, "content": dict(content)}
            for (event_type, state_key), content in desired.events.items()
            if event_type != et.ROOM_POWER_LEVELS
        ]
        initial_state.append({"type": et.ROOM_GUEST_ACCESS, "state_key": "",
                              "content": {"guest_access": "forbidden"}})
        body: dict[str, Any] = {
            "room_version": ROOM_VERSION,
            "preset": "private_chat",
            "name": assembly.name if kind is RoomKind.SPACE else f"{assembly.name} — {ROOM_TITLES[kind]}",
            "topic": assembly.remit,
            "initial_state": initial_state,
            "power_level_content_override": dict(desired.get(et.ROOM_POWER_LEVELS) or {}),
        }
        if kind is RoomKind.SPACE:
            body["creation_content"] = {"type": et.ROOM_TYPE_SPACE}
        alias: str | None = self.aliases.alias_for(assembly.slug, kind)
        try:
            room_id = RoomId(await self.gateway.create_room({**body, "room_alias_name": room_alias_localpart(
                assembly.slug, kind)}))
        except MatrixError as exc:
            if exc.errcode != ALIAS_TAKEN:
                raise
            # Another room holds the address: create the room without one (reconcile logs it).
            alias = None
            room_id = RoomId(await self.gateway.create_room(body))
        log.info("created the %s of %s: %s", kind.value, assembly.slug, room_id)
        # Recorded at once, so an interrupted import resumes instead of creating the room again.
        await self.registry.set_room(assembly.slug, kind.value, room_id, room_version=ROOM_VERSION)
        if alias:
            await self.registry.set_alias(room_id, alias)
        return room_id

    async def _space_of(self, slug: str) -> RoomId | None:
        return (await self.registry.rooms_of(slug)).get(RoomKind.SPACE.value)

    async def _spaces_of(self, slugs: Iterable[str]) -> list[RoomId]:
        """The spaces of ``slugs`` that exist, in order."""
        spaces = [await self._space_of(slug) for slug in slugs]
        return [space for space in spaces if space is not None]

    async def _update_name_topic(self, op: UpdateAssembly, federation: Federation) -> int:
        changed = {c.field for c in op.changes}
        if not changed & {"name", "remit"}:
            return 0
        assembly = federation[op.slug]
        writes = 0
        for kind, room_id in (await self.registry.rooms_of(op.slug)).items():
            if "name" in changed:
                title = assembly.name if kind == RoomKind.SPACE.value else \
                    f"{assembly.name} — {ROOM_TITLES[RoomKind(kind)]}"
                await self.gateway.put_state(room_id, et.ROOM_NAME, {"name": title})
                writes += 1
            if "remit" in changed:
                await self.gateway.put_state(room_id, et.ROOM_TOPIC, {"topic": assembly.remit})
                writes += 1
        return writes

    async def _retire(self, slug: str, current: Federation) -> None:
        """Forget a removed assembly: its rooms stay (history is never deleted) but leave the tree."""
        rooms = await self.registry.rooms_of(slug)
        space = rooms.get(RoomKind.SPACE.value)
        if space:
            for parent in current[slug].parents:
                parent_space = await self._space_of(parent)
                if parent_space:
                    try:
                        await self.gateway.put_state(space, et.SPACE_PARENT, {}, parent_space)
                    except MatrixError as exc:
                        log.warning("could not unlink %s from %s: %s", slug, parent, exc)
        await self.registry.remove(slug)

    async def desired_state(self, slug: str, kind: str, federation: Federation,
                            actual: RoomState) -> RoomState:
        """The state one room of ``slug`` should have, given its current state."""
        assembly = federation[slug]
        rooms = await self.registry.rooms_of(slug)
        space = rooms[RoomKind.SPACE.value]
        parent_spaces = await self._spaces_of(assembly.parents)
        nested = await self._spaces_of(c.slug for c in federation.children(slug))
        children = [rooms[k.value] for k in CHILD_ROOM_KINDS if k.value in rooms]
        moderators = await self.seats.seat_moderators(slug) if self.seats is not None else frozenset()
        remote_parents = await self.remote.remote_parents(slug) if self.remote is not None else []
        remote_children = await self.remote.remote_children(slug) if self.remote is not None else []
        remote_allowed: list[RoomId] = []
        if self.remote is not None and assembly.access is Access.PARTICIPANTS:
            for parent in assembly.parents:  # participants of a parent include its remote nested ones
                remote_allowed += [RoomId(space) for space, _ in await self.remote.remote_children(parent)]
        return desired_room_state(
            assembly, RoomKind(kind), bot=self.bot, via=self.via, space_id=space,
            parent_space_ids=parent_spaces, child_room_ids=children, nested_space_ids=nested,
            creator_is_bot=True, existing_power_levels=actual.get(et.ROOM_POWER_LEVELS),
            moderators=sorted(UserId(user) for user in moderators),
            remote_parents=[(RoomId(space), via) for space, via in remote_parents],
            remote_children=[(RoomId(space), via) for space, via in remote_children],
            remote_allowed=remote_allowed,
        )

    async def reconcile(self, slug: str, federation: Federation, *,
                        kinds: Iterable[str] | None = None) -> dict[str, list[Drift]]:
        """Repair the rooms of ``slug`` (missing rooms are created); returns the drift repaired."""
        rooms = await self.registry.rooms_of(slug)
        if len(rooms) < 1 + len(CHILD_ROOM_KINDS):
            await self._create(federation[slug], federation)
            rooms = await self.registry.rooms_of(slug)
        wanted = set(kinds) if kinds is not None else set(rooms)
        recorded = {room.room_id: room.alias for room in await self.registry.all_rooms() if room.slug == slug}
        repaired: dict[str, list[Drift]] = {}
        for kind, room_id in rooms.items():
            if kind not in wanted:
                continue
            actual = state_of(await self.gateway.current_state(room_id))
            desired = await self.desired_state(slug, kind, federation, actual)
            drifts = detect_drift(desired, actual)
            # Power levels last: other reverts must not depend on a level we are changing.
            drifts.sort(key=lambda d: d.event_type == et.ROOM_POWER_LEVELS)
            for drift in drifts:
                await self.gateway.put_state(room_id, drift.event_type, dict(drift.revert_content),
                                             drift.state_key)
            alias = await self.aliases.ensure(slug, RoomKind(kind), room_id, actual, recorded=recorded.get(room_id))
            if alias is not None:
                drifts.append(alias)
            if drifts:
                repaired[kind] = drifts
        if RoomKind.SECRETARIAT.value in wanted:
            await self.invite_officers(federation[slug], rooms[RoomKind.SECRETARIAT.value])
        return repaired

    async def invite_officers(self, assembly: Assembly, secretariat: RoomId) -> int:
        """Invite each officer who is neither in the secretariat nor invited to it; returns how many.

        The secretariat is invite-only, so this is how an officer named in the federation file
        gets in, exactly as one set with ``secretary set`` does.
        """
        if not assembly.officers:
            return 0
        invited = 0
        for officer in assembly.officers:
            if await self.presence.is_joined(secretariat, officer) or await self.presence.is_invited(secretariat, officer):
                continue
            if await self.presence.invite(secretariat, officer):
                invited += 1
        if invited:
            log.info("invited %d officer(s) to the secretariat of %s", invited, assembly.slug)
        return invited
