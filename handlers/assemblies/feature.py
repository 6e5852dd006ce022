"""Assemblies as Matrix spaces: commands, getting in, enforcement and reverting unauthorised changes.

Thin by design: facts are gathered here, decisions come from the pure core (``access.decide_access``,
``access.may_stay``, ``room_policy.detect_drift``), rooms are provisioned by ``provisioning``.

Privacy (product.md §5): a person's membership and self-declarations are never posted in a room nor
logged. Explanations that may imply them (``AccessDecision.reason``) go by direct message only; rooms,
kick reasons, the secretariat, the audit log and log lines get ``public_reason`` or neutral text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from nio import PowerLevelsEvent, RoomJoinRulesEvent, RoomMemberEvent, UnknownEvent

from handlers.matrix.commands import CommandContext, RoomContext, command
from handlers.matrix.direct import DirectChats
from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import Forbidden, MatrixError, MatrixGateway
from handlers.assemblies.provisioning import ApplyReport, AuditLog, Provisioner, RegistryStore
from handlers.matrix.render import bullet_list, escape, notice
from harmony_matrix import event_types as et
from harmony_matrix.assemblies.access import (
    Enforcement,
    EnforcementPolicy,
    Outcome,
    PersonFacts,
    decide_access,
    may_manage,
    may_stay,
)
from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyError, Federation
from harmony_matrix.commands import Option, Param, Place, Role, parse_user
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId
from harmony_matrix.assemblies.room_policy import LOCKED_STATE_EVENTS, RoomKind

log = logging.getLogger(__name__)

#: An enforcement explanation is not repeated to the same person within this window.
TELL_ONCE_WINDOW = timedelta(minutes=5)

# State types whose unauthorised change is reverted (the space tree, who gets in, who holds power).
GUARDED_TYPES: frozenset[str] = frozenset(LOCKED_STATE_EVENTS)

HOW_TO_JOIN = {
    Access.OPEN: "open: `!h join {slug}`",
    Access.PARTICIPANTS: "for participants of {parents}: `!h join {slug}`",
    Access.SELF_IDENTIFIED: "self-identified: `!h join {slug}` (I ask you privately)",
    Access.MEMBERS: "party members: `!h join {slug}`",
    Access.INVITE: "by invitation of its secretary",
}


class RoomLookup(Protocol):
    async def room(self, room_id: str) -> Any: ...
    async def all_rooms(self) -> list[Any]: ...


class PeopleStore(Protocol):
    """Sensitive facts (``storage.assemblies.AssemblyPeopleStore``)."""

    async def declared(self, user_id: UserId) -> frozenset[str]: ...
    async def declare(self, user_id: UserId, slug: str, *, at: datetime) -> None: ...
    async def request_declaration(self, user_id: UserId, slug: str, *, dm_room_id: RoomId,
                                  at: datetime) -> None: ...
    async def pending(self, user_id: UserId) -> list[str]: ...
    async def cancel_request(self, user_id: UserId, slug: str) -> bool: ...
    async def admit(self, user_id: UserId, slug: str, *, by: UserId, at: datetime) -> None: ...
    async def revoke_admission(self, user_id: UserId, slug: str) -> None: ...
    async def admitted(self, user_id: UserId) -> frozenset[str]: ...
    async def warn(self, user_id: UserId, room_id: RoomId, slug: str, *, at: datetime) -> None: ...
    async def warned_at(self, user_id: UserId, room_id: RoomId) -> datetime | None: ...
    async def clear_warning(self, user_id: UserId, room_id: RoomId) -> None: ...
    async def export(self, user_id: UserId) -> dict[str, Any]: ...
    async def erase(self, user_id: UserId) -> None: ...


class MembersRegistry(Protocol):
    async def is_member(self, user_id: str) -> bool: ...


def _slug_param(help_text: str = "an assembly's slug, e.g. cardiff-west", optional: bool = False) -> Param:
    return Param("assembly", help=help_text, optional=optional)


class AssembliesFeature:
    """The assemblies feature: registry, provisioning, access and enforcement (issue 4)."""

    def __init__(self, *, gateway: MatrixGateway, registry: RegistryStore, rooms: RoomLookup,
                 people: PeopleStore, members: MembersRegistry, audit: AuditLog, direct: DirectChats,
                 admins: Iterable[str], clock: Callable[[], datetime],
                 policy: EnforcementPolicy = EnforcementPolicy.REMOVE,
                 grace: timedelta = timedelta(hours=24), scheduler: Any = None,
                 sweep_interval: timedelta = timedelta(minutes=10)) -> None:
        self.gateway = gateway
        self.registry = registry
        self.rooms = rooms
        self.people = people
        self.direct = direct
        self.members = members
        self.audit = audit
        self.admins = frozenset(admins)
        self.clock = clock
        self.policy = policy
        self.grace = grace
        self.scheduler = scheduler
        self.sweep_interval = sweep_interval
        self.provisioner = Provisioner(gateway=gateway, registry=registry, audit=audit, clock=clock)
        self._federation = Federation()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # (person, explanation) -> when it was last sent; see _tell_once.
        self._recently_told: dict[tuple[str, str], datetime] = {}

    # -- the Feature protocol -------------------------------------------------------------------

    def command_handlers(self) -> Sequence[object]:
        return [self]

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.on(RoomMemberEvent, self.on_member)
        dispatcher.on((PowerLevelsEvent, RoomJoinRulesEvent, UnknownEvent), self.on_state)
        try:
            from nio import RoomSpaceChildEvent, RoomSpaceParentEvent

            dispatcher.on((RoomSpaceChildEvent, RoomSpaceParentEvent), self.on_state)
        except ImportError:  # pragma: no cover - older nio parses them as UnknownEvent
            pass

    async def start(self) -> None:
        await self.refresh()
        try:
            await self.sync_all()
        except Exception:
            log.exception("reconciling assemblies at start failed")
        if self.scheduler is not None:
            self.scheduler.add_job(self._sweep_job, "interval",
                                   seconds=self.sweep_interval.total_seconds(),
                                   id="assemblies-enforcement", replace_existing=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.scheduler is not None and self.scheduler.get_job("assemblies-enforcement"):
            self.scheduler.remove_job("assemblies-enforcement")

    async def _sweep_job(self) -> None:
        try:
            await self.enforce_all()
        except Exception:
            log.exception("the enforcement sweep failed")

    # -- API for other features (consensus) and the CLI -----------------------------------------

    def federation(self) -> Federation:
        """The registry as last loaded (refreshed after every change)."""
        return self._federation

    async def refresh(self) -> Federation:
        self._federation = await self.registry.federation()
        return self._federation

    async def assembly_of_room(self, room_id: str) -> str | None:
        """The slug of the assembly ``room_id`` belongs to, or None."""
        room = await self.rooms.room(room_id)
        return None if room is None else room.slug

    async def rooms_of(self, slug: str) -> dict[str, str]:
        """``kind → room ID`` of an assembly, including ``"space"``."""
        return dict(await self.registry.rooms_of(slug))

    async def set_officers(self, slug: str, *, secretary: str | None, deputies: Sequence[str],
                           reason: str, actor: str | None = None) -> None:
        """Set an assembly's secretary and deputies: the registry, and moderator power in all its rooms.

        New officers are invited to the secretariat; former ones lose their power (and are removed
        from the secretariat by enforcement).
        """
        async with self._lock:
            federation = await self.refresh()
            old = federation[slug]
            from dataclasses import replace

            new = replace(old, secretary=UserId(secretary) if secretary else None,
                          deputies=tuple(UserId(d) for d in deputies))
            federation = federation.with_assembly(new)
            await self.registry.save(new)
            self._federation = federation
            await self.provisioner.reconcile(slug, federation)
            rooms = await self.registry.rooms_of(slug)
            for officer in new.officers:
                if officer not in old.officers:
                    await self._invite(rooms[RoomKind.SECRETARIAT.value], officer)
            await self.audit.record("assembly.officers", at=self.clock(),
                                    actor=UserId(actor) if actor else None,
                                    reason=f"{slug}: secretary {secretary or '(none)'}, deputies "
                                           f"{', '.join(deputies) or '(none)'}: {reason}")
        await self.enforce_all(slugs=[slug])

    async def apply_federation(self, desired: Federation, *, actor: str | None = None,
                               progress: Callable[[str], None] | None = None) -> ApplyReport:
        """Make the registry and Matrix match ``desired`` (only the difference is written).

        Afterwards everyone in the changed assemblies is checked again: a new access rule or a
        newly denied server applies to people already inside, not only to newcomers.
        """
        async with self._lock:
            report = await self.provisioner.apply(desired, actor=UserId(actor) if actor else None,
                                                  progress=progress)
            await self.refresh()
        if report.plan.affected_slugs:
            await self.enforce_all(slugs=report.plan.affected_slugs)
        return report

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """What this feature holds about ``user_id`` (for ``!h mydata``; send it by DM only)."""
        data = await self.people.export(UserId(user_id))
        federation = self._federation
        data["officer_of"] = sorted(a.slug for a in federation if user_id in a.officers)
        return data

    async def erase_user_data(self, user_id: str) -> None:
        """Forget declarations, requests, admissions, warnings and the DM room of ``user_id``."""
        await self.people.erase(UserId(user_id))
        await self.audit.record("privacy.erase", at=self.clock(), target_user=UserId(user_id),
                                reason="erased assembly data on request")

    async def may_invite_bot(self, user_id: str) -> bool:
        """Secretaries and deputies may invite the bot to rooms (``InvitePolicy``)."""
        return any(user_id in a.officers for a in self._federation)

    # -- permissions (supplied to the command router) ----------------------------------------------

    async def room_context(self, room_id: str) -> RoomContext:
        room = await self.rooms.room(room_id)
        if room is not None:
            return RoomContext(room_id=room_id, is_direct=False, assembly=room.slug, room_kind=room.kind)
        return RoomContext(room_id=room_id, is_direct=await self.direct.is_direct(room_id))

    async def manages(self, user_id: str, slug: str) -> bool:
        """Officers of ``slug`` manage it (``access.may_manage``); an unknown slug has no officers."""
        assembly = self._federation.get(slug)
        return assembly is not None and may_manage(PersonFacts(user_id=UserId(user_id)), assembly)

    async def role_of(self, user_id: str, room: RoomContext) -> Role:
        if user_id in self.admins:
            return Role.ADMIN
        if room.assembly and room.assembly in self._federation:
            if user_id in self._federation[room.assembly].officers:
                return Role.SECRETARY
        return Role.EVERYONE

    # -- facts ------------------------------------------------------------------------------------

    def _joined(self, room_id: str) -> set[str] | None:
        room = self.gateway.client.rooms.get(room_id)
        if room is None:
            return None
        return {u for u in room.users if u not in room.invited_users}

    async def joined_members(self, room_id: str) -> set[str]:
        cached = self._joined(room_id)
        if cached is not None:
            return cached
        try:
            return await self.gateway.joined_members(room_id)
        except MatrixError:
            return set()

    async def facts(self, user_id: str) -> PersonFacts:
        """Everything known about one person. Sensitive: never log or post the result."""
        uid = UserId(user_id)
        participates = set()
        # One query for every space (not one per assembly): this runs for each access decision.
        for room in await self.rooms.all_rooms():
            if room.kind == RoomKind.SPACE.value and room.slug in self._federation \
                    and user_id in await self.joined_members(room.room_id):
                participates.add(room.slug)
        return PersonFacts(
            user_id=uid, is_member=await self.members.is_member(user_id),
            is_admin=user_id in self.admins, declared=await self.people.declared(uid),
            participates_in=frozenset(participates), invited_to=await self.people.admitted(uid),
        )

    def _assembly(self, slug: str) -> Assembly:
        try:
            return self._federation[slug]
        except AssemblyError:
            known = ", ".join(self._federation.slugs[:8])
            raise UserError(f'There is no assembly "{slug}". Send !h assemblies for the list'
                            + (f" (e.g. {known})." if known else ".")) from None

    # -- private messages ---------------------------------------------------------------------

    async def _invite(self, room_id: str, user_id: str) -> bool:
        try:
            await self.gateway.invite(room_id, user_id)
            return True
        except Forbidden as exc:
            # Already in the room (or banned): not worth a log line with the person's name.
            log.debug("invite to %s not sent: %s", room_id, exc.errcode)
            return False

    async def report(self, slug: str, text: str) -> None:
        """Tell the assembly's secretariat (neutral text only: never a person's status)."""
        secretariat = (await self.registry.rooms_of(slug)).get(RoomKind.SECRETARIAT.value)
        if secretariat:
            try:
                await self.gateway.send_event(secretariat, et.ROOM_MESSAGE, notice(text))
            except MatrixError as exc:
                log.warning("could not report to the secretariat of %s: %s", slug, exc)

    # -- getting in ---------------------------------------------------------------------------

    async def request_entry(self, user_id: str, slug: str, *, kind: RoomKind = RoomKind.SPACE,
                            knocked: bool = False) -> Outcome:
        """``!h join`` and knocks: admit (invite), ask for a declaration by DM, or refuse.

        The private explanation goes by DM; only a neutral reason is ever public.
        """
        assembly = self._assembly(slug)
        person = await self.facts(user_id)
        decision = decide_access(person, assembly, self._federation, room=kind)
        rooms = await self.registry.rooms_of(slug)
        target = rooms.get(kind.value)
        now = self.clock()
        if decision.outcome is Outcome.ADMIT:
            if target:
                await self._invite(target, user_id)
            await self.audit.record("assembly.admit", at=now, room_id=target, target_user=UserId(user_id),
                                    reason=decision.public_reason)
            if not knocked:
                await self.direct.tell(user_id, f"{decision.reason} I have invited you to {assembly.name}.")
        elif decision.outcome is Outcome.ASK_DECLARATION:
            dm = RoomId(await self.direct.tell(user_id, decision.reason))
            await self.people.request_declaration(UserId(user_id), slug, dm_room_id=dm, at=now)
        else:
            if knocked and target:
                try:
                    await self.gateway.kick(target, user_id, reason=decision.public_reason)
                except MatrixError as exc:
                    log.warning("could not refuse a knock on %s: %s", target, exc)
            await self.audit.record("assembly.refuse", at=now, room_id=target, target_user=UserId(user_id),
                                    reason=decision.public_reason)
            await self.direct.tell(user_id, decision.reason)
        return decision.outcome

    async def confirm(self, user_id: str, slug: str | None) -> str:
        """``!h confirm``: record the declaration privately and invite."""
        uid = UserId(user_id)
        pending = await self.people.pending(uid)
        if slug is None:
            if not pending:
                raise UserError("There is nothing waiting for your confirmation.")
            slug = pending[0]
        elif slug not in pending:
            raise UserError(f'I have not asked you about "{slug}". Send !h join {slug} first.')
        assembly = self._assembly(slug)
        await self.people.declare(uid, slug, at=self.clock())
        space = (await self.registry.rooms_of(slug)).get(RoomKind.SPACE.value)
        if space:
            await self._invite(space, user_id)
        await self.audit.record("assembly.admit", at=self.clock(), room_id=space, target_user=uid,
                                reason="admitted")
        return f"Thank you. I have invited you to {assembly.name}; accept the invite to join."

    async def cancel(self, user_id: str, slug: str | None) -> str:
        uid = UserId(user_id)
        pending = await self.people.pending(uid)
        targets = [slug] if slug else pending[:1]
        if not targets or not await self.people.cancel_request(uid, targets[0]):
            raise UserError("There is nothing waiting for your answer.")
        return "Cancelled. Nothing was recorded."

    async def remove_from(self, user_id: str, slug: str, *, public_reason: str, private_reason: str | None,
                          actor: str | None = None) -> int:
        """Kick ``user_id`` from every room of ``slug`` where they are; returns how many rooms."""
        removed = 0
        for kind, room_id in (await self.registry.rooms_of(slug)).items():
            if user_id in await self.joined_members(room_id):
                try:
                    await self.gateway.kick(room_id, user_id, reason=public_reason)
                    removed += 1
                except MatrixError as exc:
                    log.warning("could not remove someone from %s: %s", room_id, exc)
                await self.audit.record("assembly.remove", at=self.clock(), room_id=room_id,
                                        target_user=UserId(user_id), reason=public_reason,
                                        actor=UserId(actor) if actor else None)
        if private_reason and removed:
            await self.direct.tell(user_id, private_reason)
        return removed

    # -- enforcement --------------------------------------------------------------------------

    async def enforce(self, user_id: str, room_id: str, slug: str, kind: str) -> Enforcement:
        """Check one person in one room and act: keep, warn or remove (with a private explanation)."""
        if user_id == self.gateway.user_id or slug not in self._federation:
            return Enforcement.KEEP
        assembly = self._federation[slug]
        person = await self.facts(user_id)
        uid, rid = UserId(user_id), RoomId(room_id)
        now = self.clock()
        action = may_stay(person, assembly, self._federation, room=RoomKind(kind), policy=self.policy,
                          now=now, warned_at=await self.people.warned_at(uid, rid), grace=self.grace)
        if action.action is Enforcement.KEEP:
            await self.people.clear_warning(uid, rid)
        elif action.action is Enforcement.WARN:
            await self.people.warn(uid, rid, slug, at=now)
            await self.audit.record("assembly.warn", at=now, room_id=rid, target_user=uid,
                                    reason=action.public_reason)
            await self._tell_once(user_id, action.reason)
        elif action.action is Enforcement.REMOVE:
            try:
                await self.gateway.kick(room_id, user_id, reason=action.public_reason)
            except MatrixError as exc:
                log.warning("could not remove someone from %s: %s", room_id, exc)
                return action.action
            await self.people.clear_warning(uid, rid)
            await self.audit.record("assembly.remove", at=now, room_id=rid, target_user=uid,
                                    reason=action.public_reason)
            await self._tell_once(user_id, action.reason)
        return action.action

    async def _tell_once(self, user_id: str, text: str) -> None:
        """Send an enforcement explanation unless the same one went to the same person moments ago.

        The text names the assembly, not the room, and one removal is often found by several checks
        at once (a sweep, and the kick from the space re-checking that person): someone removed from
        five rooms of one assembly gets one message."""
        now = self.clock()
        self._recently_told = {k: t for k, t in self._recently_told.items() if now - t < TELL_ONCE_WINDOW}
        if (user_id, text) in self._recently_told:
            return
        self._recently_told[(user_id, text)] = now
        await self.direct.tell(user_id, text)

    async def enforce_user(self, user_id: str) -> None:
        """Re-check one person everywhere they are (after they joined or left a space)."""
        for room in await self.rooms.all_rooms():
            if room.slug in self._federation and user_id in await self.joined_members(room.room_id):
                await self.enforce(user_id, room.room_id, room.slug, room.kind)

    async def enforce_all(self, slugs: Iterable[str] | None = None) -> None:
        """Check everyone in every room (of ``slugs``, or of all assemblies)."""
        wanted = set(slugs) if slugs is not None else None
        for room in await self.rooms.all_rooms():
            if room.slug not in self._federation or (wanted is not None and room.slug not in wanted):
                continue
            for user_id in sorted(await self.joined_members(room.room_id)):
                await self.enforce(user_id, room.room_id, room.slug, room.kind)

    async def invite_automatic(self, user_id: str) -> None:
        """Invite a participant to every automatic-participation assembly they may enter."""
        for assembly in self._federation:
            if not assembly.automatic_participation:
                continue
            space = (await self.registry.rooms_of(assembly.slug)).get(RoomKind.SPACE.value)
            if not space or user_id in await self.joined_members(space):
                continue
            room = self.gateway.client.rooms.get(space)
            if room is not None and user_id in room.invited_users:
                continue
            person = await self.facts(user_id)
            if decide_access(person, assembly, self._federation).admitted:
                if await self._invite(space, user_id):
                    await self.audit.record("assembly.admit", at=self.clock(), room_id=RoomId(space),
                                            target_user=UserId(user_id), reason="automatic participation")

    # -- events -------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        # Work that calls the server again is done outside the batch, so one slow decision does
        # not hold up the sync loop; errors are logged, never raised into the dispatcher. The task
        # wraps the coroutine itself, so a task cancelled at shutdown closes it cleanly.
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("assemblies background task failed", exc_info=task.exception())

    async def on_member(self, room_id: str, event: RoomMemberEvent) -> None:
        room = await self.rooms.room(room_id)
        if room is None or event.state_key == self.gateway.user_id:
            return
        user = event.state_key
        if event.membership == "knock":
            self._spawn(self.request_entry(user, room.slug, kind=RoomKind(room.kind), knocked=True))
        elif event.membership == "join" and event.prev_membership != "join":
            async def joined() -> None:
                await self.enforce(user, room_id, room.slug, room.kind)
                if room.kind == RoomKind.SPACE.value:
                    await self.invite_automatic(user)
            self._spawn(joined())
        elif event.membership in ("leave", "ban") and room.kind == RoomKind.SPACE.value:
            self._spawn(self.enforce_user(user))

    async def on_state(self, room_id: str, event: Any) -> None:
        event_type = event.source.get("type") if hasattr(event, "source") else None
        if event_type not in GUARDED_TYPES:
            return
        room = await self.rooms.room(room_id)
        if room is None or room.slug not in self._federation:
            return
        sender = event.sender
        started = self.clock()

        async def revert() -> None:
            async with self._lock:
                repaired = await self.provisioner.reconcile(room.slug, self._federation, kinds=[room.kind])
            drifts = repaired.get(room.kind, [])
            if not drifts:
                return
            lines = [d.describe() for d in drifts]
            await self.audit.record("assembly.revert", at=self.clock(), room_id=RoomId(room_id),
                                    actor=UserId(sender), reason="; ".join(lines))
            elapsed = (self.clock() - started).total_seconds()
            log.info("reverted %d unauthorised change(s) in %s (%s) in %.2f s", len(drifts), room_id,
                     event_type, elapsed)
            assembly = self._federation[room.slug]
            text = (f"I reverted an unauthorised change by {sender} in the {room.kind} of "
                    f"{assembly.name}:\n" + "\n".join(f"• {line}" for line in lines))
            await self.report(room.slug, text)

        self._spawn(revert())

    # -- sync -----------------------------------------------------------------------------------

    async def sync_all(self, slugs: Iterable[str] | None = None) -> dict[str, dict[str, list[Any]]]:
        """Repair drift in every room (of ``slugs``) and run enforcement; returns what was repaired."""
        repaired: dict[str, dict[str, list[Any]]] = {}
        async with self._lock:
            # Re-read: `harmony-matrix import` may have changed the registry while we run.
            federation = await self.refresh()
            for assembly in federation.topological_order():
                if slugs is not None and assembly.slug not in slugs:
                    continue
                fixed = await self.provisioner.reconcile(assembly.slug, federation)
                if fixed:
                    repaired[assembly.slug] = fixed
        await self.enforce_all(slugs)
        return repaired

    # -- commands -----------------------------------------------------------------------------

    @command("assemblies", summary="The assemblies, how they nest, and how to join each.",
             example="!h assemblies")
    async def cmd_assemblies(self, ctx: CommandContext) -> None:
        federation = self._federation
        if not len(federation):
            await ctx.reply("There are no assemblies yet. An admin can import them with "
                            "harmony-matrix import FILE, or create one with !h assembly create.")
            return
        plain, html = [], []
        for line in federation.tree():
            a = line.assembly
            parents = ", ".join(federation[p].name for p in a.parents) or "—"
            how = HOW_TO_JOIN[a.access].format(slug=a.slug, parents=parents)
            if a.automatic_participation:
                how += "; everyone taking part in the party is invited"
            indent = "  " * line.depth
            text = f"{a.name} ({a.kind.value})" + (" ↑ see above" if line.repeated else f" — {how}")
            plain.append(f"{indent}• {text}")
            html.append(f"<li>{'&nbsp;' * 4 * line.depth}<b>{escape(a.name)}</b> "
                        f"<i>{escape(a.kind.value)}</i>"
                        + (" ↑ see above" if line.repeated else f" — {escape(how)}") + "</li>")
        await ctx.reply("Assemblies:\n" + "\n".join(plain), "<b>Assemblies</b><ul>" + "".join(html) + "</ul>")

    @command("join", summary="Join an assembly, or ask to (self-identified ones ask you privately).",
             example="!h join cardiff-west", params=(_slug_param(),))
    async def cmd_join(self, ctx: CommandContext, assembly: str) -> None:
        target = self._assembly(assembly)
        await self.request_entry(ctx.sender, target.slug)
        await ctx.reply("I have answered you in a direct message.")

    @command("leave", summary="Leave an assembly: I remove you from its space and rooms.",
             example="!h leave cardiff-west", params=(_slug_param(),))
    async def cmd_leave(self, ctx: CommandContext, assembly: str) -> None:
        target = self._assembly(assembly)
        removed = await self.remove_from(ctx.sender, target.slug, public_reason="left at their request",
                                         private_reason=None, actor=ctx.sender)
        await self.people.revoke_admission(UserId(ctx.sender), target.slug)
        await ctx.reply(f"Done: you left {target.name}." if removed else f"You were not in {target.name}.")

    @command("confirm", summary="Confirm the statement I asked you about (privately), and join.",
             example="!h confirm", params=(_slug_param("which assembly, if I asked about several", True),),
             place=Place.DIRECT)
    async def cmd_confirm(self, ctx: CommandContext, assembly: str | None) -> None:
        await ctx.reply(await self.confirm(ctx.sender, assembly))

    @command("cancel", summary="Decline the statement I asked you about; nothing is recorded.",
             example="!h cancel", params=(_slug_param("which assembly, if I asked about several", True),),
             place=Place.DIRECT)
    async def cmd_cancel(self, ctx: CommandContext, assembly: str | None) -> None:
        await ctx.reply(await self.cancel(ctx.sender, assembly))

    @command("assembly create", summary="Create an assembly (a space with its rooms).",
             example='!h assembly create media "Media Working Group" kind=working-group access=open parent=party',
             params=(Param("slug", help="short name used in commands"),
                     Param("name", help="the full name", rest=True)),
             options=(Option("kind", help="working-group, committee, society, city, …"),
                      Option("access", help="open, participants, self-identified, members, invite"),
                      Option("parent", help="the umbrella assembly's slug"),
                      Option("remit", help="its purpose of action (the topic)"),
                      Option("declaration", help="for self-identified: the statement to confirm")),
             role=Role.SECRETARY)
    async def cmd_create(self, ctx: CommandContext, slug: str, name: str, kind: str | None,
                         access: str | None, parent: str | None, remit: str | None,
                         declaration: str | None) -> None:
        parent = parent or (ctx.room.assembly if ctx.role < Role.ADMIN else None)
        self._check_manages(ctx, parent, "create an assembly nested in")
        if slug in self._federation:
            raise UserError(f'There is already an assembly "{slug}".')
        new = Assembly(slug=slug, name=name.strip().strip('"'), kind=kind or "working-group",  # type: ignore[arg-type]
                       access=access or "open", remit=remit or "",  # type: ignore[arg-type]
                       declaration=declaration, parents=(parent,) if parent else ())
        report = await self.apply_federation(self._federation.with_assembly(new), actor=ctx.sender)
        rooms = await self.registry.rooms_of(slug)
        await ctx.reply(f"Created {new.name}: a space with {report.rooms_created - 1} rooms "
                        f"({rooms.get('space')}).")

    @command("assembly nest", summary="Nest an assembly in an umbrella assembly.",
             example="!h assembly nest cardiff-west cardiff",
             params=(Param("child", help="the assembly to nest"), Param("parent", help="the umbrella")),
             role=Role.SECRETARY)
    async def cmd_nest(self, ctx: CommandContext, child: str, parent: str) -> None:
        self._check_manages(ctx, parent, "nest assemblies in")
        self._assembly(child)
        report = await self.apply_federation(self._federation.nest(child, parent), actor=ctx.sender)
        await ctx.reply(f"Nested {child} in {parent} ({report.state_writes} state change(s)).")

    @command("assembly unnest", summary="Take an assembly out of an umbrella assembly.",
             example="!h assembly unnest cardiff-west cardiff",
             params=(Param("child", help="the nested assembly"), Param("parent", help="the umbrella")),
             role=Role.SECRETARY)
    async def cmd_unnest(self, ctx: CommandContext, child: str, parent: str) -> None:
        self._check_manages(ctx, parent, "unnest assemblies from")
        report = await self.apply_federation(self._federation.unnest(child, parent), actor=ctx.sender)
        await ctx.reply(f"{child} is no longer nested in {parent} ({report.state_writes} state change(s)).")

    @command("assembly sync", summary="Compare Matrix with the registry, repair drift and report it.",
             example="!h assembly sync", params=(_slug_param(optional=True),), role=Role.SECRETARY)
    async def cmd_sync(self, ctx: CommandContext, assembly: str | None) -> None:
        slug = assembly or ctx.room.assembly
        if slug is None and ctx.role < Role.ADMIN:
            raise UserError("Name the assembly, or run this in one of its rooms.")
        if slug is not None:
            self._check_manages(ctx, slug, "sync")
        repaired = await self.sync_all([slug] if slug else None)
        if not repaired:
            await ctx.reply("No drift: Matrix matches the registry.")
            return
        lines = [f"{s} {kind}: {d.describe()}" for s, kinds in repaired.items()
                 for kind, drifts in kinds.items() for d in drifts]
        plain, html = bullet_list(lines)
        await ctx.reply(f"Repaired {len(lines)} difference(s):\n{plain}", f"<b>Repaired</b>{html}")

    @command("assembly admit", summary="Admit someone to this assembly (secretaries).",
             example="!h assembly admit @sam:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),), role=Role.SECRETARY,
             place=Place.ASSEMBLY)
    async def cmd_admit(self, ctx: CommandContext, user: str) -> None:
        slug = ctx.room.assembly
        assert slug is not None
        assembly = self._assembly(slug)
        person = await self.facts(user)
        # Decide on the admission before recording it, so a refusal leaves nothing behind.
        if_admitted = dataclasses.replace(person, invited_to=person.invited_to | {slug})
        if not decide_access(if_admitted, assembly, self._federation).admitted:
            # Members-only: the registry decides, not a secretary. Say so without saying why.
            raise UserError(f"{user} cannot be admitted to {assembly.name} by a secretary.")
        await self.people.admit(UserId(user), slug, by=UserId(ctx.sender), at=self.clock())
        space = (await self.registry.rooms_of(slug))[RoomKind.SPACE.value]
        await self._invite(space, user)
        await self.audit.record("assembly.admit", at=self.clock(), room_id=RoomId(space),
                                target_user=UserId(user), actor=UserId(ctx.sender), reason="admitted by a secretary")
        await ctx.reply(f"Invited {user} to {assembly.name}.")

    @command("assembly remove", summary="Remove someone from this assembly's rooms (secretaries).",
             example="!h assembly remove @sam:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),), role=Role.SECRETARY,
             place=Place.ASSEMBLY)
    async def cmd_remove(self, ctx: CommandContext, user: str) -> None:
        slug = ctx.room.assembly
        assert slug is not None
        assembly = self._assembly(slug)
        await self.people.revoke_admission(UserId(user), slug)
        removed = await self.remove_from(user, slug, public_reason="removed by a secretary",
                                         private_reason=f"A secretary removed you from {assembly.name}.",
                                         actor=ctx.sender)
        await ctx.reply(f"Removed {user} from {removed} room(s) of {assembly.name}.")

    def _check_manages(self, ctx: CommandContext, slug: str | None, what: str) -> None:
        if ctx.role >= Role.ADMIN:
            return
        if slug is None or slug not in self._federation:
            raise UserError(f"Only admins may {what} the top level.")
        person = PersonFacts(user_id=UserId(ctx.sender))
        if not may_manage(person, self._federation[slug]):
            raise UserError(f"Only the secretaries of {slug} (or admins) may {what} it.")
