"""Enforcement: keeping each assembly's rooms to its rules, after the fact.

People found in a room without meeting its rule are warned or removed (``access.may_stay``: the
sweep, a join, leaving a parent space); automatic-participation assemblies invite whoever takes part
anywhere; unauthorised changes to the guarded state are reverted and reported to the secretariat.

Privacy (docs/spec/product.md §5): the explanation a person gets (``reason``) goes by direct message only;
rooms, kick reasons, the secretariat, the audit log and log lines get ``public_reason`` or neutral text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from handlers.assemblies.facts import Facts
from handlers.assemblies.messages import with_code
from handlers.assemblies.presence import Presence
from handlers.assemblies.provisioning import Provisioner
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import AuditLog, PeopleStore
from handlers.matrix.gateway import MatrixError
from handlers.matrix.posting import Poster
from handlers.matrix.render import bullet_list, escape
from handlers.ports import Clock
from harmony_matrix.assemblies.access import Enforcement, EnforcementPolicy, PersonFacts, decide_access, may_stay
from harmony_matrix.assemblies.room_policy import LOCKED_STATE_EVENTS, AssemblyRoom, RoomKind
from harmony_matrix.ids import RoomId, UserId

log = logging.getLogger(__name__)

#: An enforcement explanation is not repeated to the same person within this window.
TELL_ONCE_WINDOW = timedelta(minutes=5)

#: State types whose unauthorised change is reverted (the space tree, who gets in, who holds power).
GUARDED_TYPES: frozenset[str] = frozenset(LOCKED_STATE_EVENTS)


class Enforcer:
    """Checks people against the rules of the rooms they are in, and the rooms against the registry."""

    def __init__(self, *, registry: LiveRegistry, facts: Facts, presence: Presence, people: PeopleStore,
                 audit: AuditLog, poster: Poster, provisioner: Provisioner, clock: Clock,
                 policy: EnforcementPolicy, grace: timedelta, prefix: str) -> None:
        self.registry = registry
        self.facts = facts
        self.presence = presence
        self.people = people
        self.audit = audit
        self.poster = poster
        self.provisioner = provisioner
        self.clock = clock
        self.policy = policy
        self.grace = grace
        #: The configured command prefix, for explanations that do not answer a command.
        self.prefix = prefix
        # (person, explanation) -> when it was last sent; see _tell_once.
        self._recently_told: dict[tuple[str, str], datetime] = {}
        #: Peer instances' bots (``federation.peers``): they sit in the spaces they are nested with.
        self.peer_bots: frozenset[str] = frozenset()

    # -- people in rooms ----------------------------------------------------------------------------

    async def enforce(self, user_id: str, room_id: str, slug: str, kind: str) -> Enforcement:
        """Check one person in one room and act: keep, warn or remove (with a private explanation)."""
        if user_id == self.presence.bot or user_id in self.peer_bots or slug not in self.registry.current:
            return Enforcement.KEEP
        uid, rid = UserId(user_id), RoomId(room_id)
        return await self._check(await self.facts.about(uid), rid, slug, RoomKind(kind),
                                 warned_at=await self.people.warned_at(uid, rid))

    async def _check(self, person: PersonFacts, room_id: RoomId, slug: str, kind: RoomKind, *,
                     warned_at: datetime | None) -> Enforcement:
        """Decide (``access.may_stay``) and act on one person in one room, given the facts. Writes only
        what changes: a warning cleared only if there was one."""
        federation = self.registry.current
        uid = person.user_id
        now = self.clock()
        action = may_stay(person, federation[slug], federation, room=kind, policy=self.policy,
                          now=now, warned_at=warned_at, grace=self.grace, prefix=self.prefix)
        if action.action is Enforcement.KEEP:
            if warned_at is not None:
                await self.people.clear_warning(uid, room_id)
        elif action.action is Enforcement.WARN:
            await self.people.warn(uid, room_id, slug, at=now)
            await self.audit.record("assembly.warn", at=now, room_id=room_id, target_user=uid,
                                    reason=action.public_reason)
            await self._tell_once(uid, action.reason)
        elif action.action is Enforcement.REMOVE:
            if not await self.presence.remove(room_id, uid, reason=action.public_reason):
                return action.action
            if warned_at is not None:
                await self.people.clear_warning(uid, room_id)
            await self.audit.record("assembly.remove", at=now, room_id=room_id, target_user=uid,
                                    reason=action.public_reason)
            await self._tell_once(uid, action.reason)
        return action.action

    async def _tell_once(self, user_id: UserId, text: str) -> None:
        """Send an enforcement explanation unless the same one went to the same person moments ago.

        The text names the assembly, not the room, and one removal is often found by several checks
        at once (a sweep, and the kick from the space re-checking that person): someone removed from
        five rooms of one assembly gets one message."""
        now = self.clock()
        self._recently_told = {k: t for k, t in self._recently_told.items() if now - t < TELL_ONCE_WINDOW}
        if (user_id, text) in self._recently_told:
            return
        self._recently_told[(user_id, text)] = now
        await self.poster.dm(user_id, *with_code(text))

    async def enforce_user(self, user_id: str) -> None:
        """Re-check one person everywhere they are (after they joined or left a space)."""
        rooms = {room.room_id: room for room in await self.registry.all_rooms() if room.slug in self.registry.current}
        joined = await self.presence.joined_among(rooms, user_id)
        for room_id in sorted(joined):
            room = rooms[room_id]
            await self.enforce(user_id, room.room_id, room.slug, room.kind)

    async def enforce_all(self, slugs: Iterable[str] | None = None) -> None:
        """Check everyone in every room (of ``slugs``, or of all assemblies).

        The facts about everyone found are read once, for all of them (``Facts.about_many``), and the
        warnings of all the rooms in one read; each (person, room) is then a pure decision, and only
        what it changes is written. A full sweep first re-reads the membership index from the sync
        cache (a change that came only as room state is picked up here)."""
        began = time.monotonic()
        wanted = set(slugs) if slugs is not None else None
        if wanted is None:
            self.presence.reload()
        rooms = [room for room in await self.registry.all_rooms()
                 if room.slug in self.registry.current and (wanted is None or room.slug in wanted)]
        # Who is in each room (the rooms not in the index read a few at a time, each once).
        joined = await self.presence.joined_many(RoomId(room.room_id) for room in rooms)
        exempt = {self.presence.bot, *self.peer_bots}  # the bot itself, and peer instances' bots
        occupants = {room.room_id: sorted(user for user in joined[RoomId(room.room_id)] if user not in exempt)
                     for room in rooms}
        people = await self.facts.about_many({user for users in occupants.values() for user in users})
        warnings = await self.people.warnings_in([room.room_id for room in rooms])
        checks = removed = 0
        for room in rooms:
            for user in occupants[room.room_id]:
                if room.slug not in self.registry.current:  # removed meanwhile (the registry reloaded)
                    break
                action = await self._check(people[user], room.room_id, room.slug, room.kind,
                                           warned_at=warnings.get((user, room.room_id)))
                checks += 1
                if action is Enforcement.REMOVE:  # leaving a space can change what they may stay in
                    removed += 1
                    people[user] = await self.facts.about(user)
        # Counts only: who was checked or removed where stays out of the log.
        log.log(logging.INFO if wanted is None else logging.DEBUG,
                "enforcement sweep of %d rooms: %d checks, %d removals in %.2f s", len(rooms), checks, removed,
                time.monotonic() - began)

    async def invite_automatic(self, user_id: str) -> None:
        """Invite a participant to every automatic-participation assembly they may enter."""
        uid = UserId(user_id)
        federation = self.registry.current
        for assembly in federation:
            if not assembly.automatic_participation:
                continue
            space = await self.registry.room_of(assembly.slug, RoomKind.SPACE)
            if not space or await self.presence.is_joined(space, uid) \
                    or await self.presence.is_invited(space, uid):
                continue
            person = await self.facts.about(uid)
            if decide_access(person, assembly, federation, prefix=self.prefix).admitted:
                if await self.presence.invite(space, uid):
                    await self.audit.record("assembly.admit", at=self.clock(), room_id=space,
                                            target_user=uid, reason="automatic participation")

    async def remove_from(self, user_id: str, slug: str, *, public_reason: str, private_reason: str | None,
                          actor: str | None = None) -> int:
        """Kick ``user_id`` from every room of ``slug`` where they are; returns how many rooms."""
        uid = UserId(user_id)
        removed = 0
        for room_id in (await self.registry.rooms_of(slug)).values():
            if await self.presence.is_joined(room_id, uid):
                if await self.presence.remove(room_id, uid, reason=public_reason):
                    removed += 1
                await self.audit.record("assembly.remove", at=self.clock(), room_id=room_id,
                                        target_user=uid, reason=public_reason,
                                        actor=UserId(actor) if actor else None)
        if private_reason and removed:
            await self.poster.dm(uid, *with_code(private_reason))
        return removed

    # -- the rooms themselves -------------------------------------------------------------------------

    async def revert(self, room: AssemblyRoom, *, sender: str, event_type: str, started: datetime) -> None:
        """Put back the state of ``room`` after an unauthorised change by ``sender``, and report it."""
        async with self.registry.lock:
            repaired = await self.provisioner.reconcile(room.slug, self.registry.current, kinds=[room.kind])
        drifts = repaired.get(room.kind.value, [])
        if not drifts:
            return
        lines = [d.describe() for d in drifts]
        await self.audit.record("assembly.revert", at=self.clock(), room_id=room.room_id,
                                actor=UserId(sender), reason="; ".join(lines))
        elapsed = (self.clock() - started).total_seconds()
        log.info("reverted %d unauthorised change(s) in %s (%s) in %.2f s", len(drifts), room.room_id,
                 event_type, elapsed)
        assembly = self.registry.current[room.slug]
        intro = f"I reverted an unauthorised change by {sender} in the {room.kind.value} of {assembly.name}:"
        plain, html = bullet_list(lines)
        await self.report(room.slug, f"{intro}\n{plain}", f"{escape(intro)}{html}")

    async def report(self, slug: str, text: str, html: str | None = None) -> None:
        """Tell the assembly's secretariat (neutral text only: never a person's status)."""
        secretariat = await self.registry.room_of(slug, RoomKind.SECRETARIAT)
        if secretariat:
            try:
                await self.poster.notice(secretariat, text, html)
            except MatrixError as exc:
                log.warning("could not report to the secretariat of %s: %s", slug, exc)
