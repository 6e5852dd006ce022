"""Getting into an assembly: ``join`` and knocks, and the private declaration they may need.

The decision is the pure core's (``access.decide_access``). Privacy (docs/spec/product.md §5): the
explanation, which may imply a person's membership or a declaration, goes to them by direct message
only; the audit log and a refused knock get the neutral ``public_reason``.
"""

from __future__ import annotations

from handlers.assemblies.facts import Facts
from handlers.assemblies.presence import Presence
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import AuditLog, PeopleStore
from handlers.matrix.posting import Poster
from handlers.ports import Clock
from harmony_matrix.assemblies.access import Outcome, decide_access
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId


class Entry:
    """Admits, asks or refuses people who want to come in, and records their private answers."""

    def __init__(self, *, registry: LiveRegistry, facts: Facts, presence: Presence, people: PeopleStore,
                 audit: AuditLog, poster: Poster, clock: Clock) -> None:
        self.registry = registry
        self.facts = facts
        self.presence = presence
        self.people = people
        self.audit = audit
        self.poster = poster
        self.clock = clock

    async def request_entry(self, user_id: str, slug: str, *, prefix: str, kind: RoomKind = RoomKind.SPACE,
                            knocked: bool = False) -> Outcome:
        """``join`` and knocks: admit (invite), ask for a declaration by DM, or refuse.

        ``prefix`` is the command prefix the private explanation names (``{prefix} confirm``).
        """
        assembly = self.registry.assembly(slug, prefix=prefix)
        uid = UserId(user_id)
        person = await self.facts.about(uid)
        decision = decide_access(person, assembly, self.registry.current, room=kind, prefix=prefix)
        target = await self.registry.room_of(slug, kind)
        now = self.clock()
        if decision.outcome is Outcome.ADMIT:
            if target:
                await self.presence.invite(target, uid)
            await self.audit.record("assembly.admit", at=now, room_id=target, target_user=uid,
                                    reason=decision.public_reason)
            if not knocked:
                await self.poster.dm(uid, f"{decision.reason} I have invited you to {assembly.name}.")
        elif decision.outcome is Outcome.ASK_DECLARATION:
            dm = await self.poster.dm(uid, decision.reason)
            await self.people.request_declaration(uid, slug, dm_room_id=dm, at=now)
        else:
            if knocked and target:
                # Kicking a knocking person refuses the knock.
                await self.presence.remove(target, uid, reason=decision.public_reason)
            await self.audit.record("assembly.refuse", at=now, room_id=target, target_user=uid,
                                    reason=decision.public_reason)
            await self.poster.dm(uid, decision.reason)
        return decision.outcome

    async def confirm(self, user_id: str, slug: str | None, *, prefix: str) -> str:
        """``confirm``: record the declaration privately and invite; returns the answer to send."""
        uid = UserId(user_id)
        pending = await self.people.pending(uid)
        if slug is None:
            if not pending:
                raise UserError("There is nothing waiting for your confirmation.")
            slug = pending[0]
        elif slug not in pending:
            raise UserError(f'I have not asked you about "{slug}". Send {prefix} join {slug} first.')
        assembly = self.registry.assembly(slug, prefix=prefix)
        await self.people.declare(uid, slug, at=self.clock())
        space = await self.registry.room_of(slug, RoomKind.SPACE)
        if space:
            await self.presence.invite(space, uid)
        await self.audit.record("assembly.admit", at=self.clock(), room_id=space, target_user=uid,
                                reason="admitted")
        return f"Thank you. I have invited you to {assembly.name}; accept the invite to join."

    async def cancel(self, user_id: str, slug: str | None) -> str:
        """``cancel``: drop the pending request (the latest, or ``slug``'s); nothing is recorded."""
        uid = UserId(user_id)
        pending = await self.people.pending(uid)
        targets = [slug] if slug else pending[:1]
        if not targets or not await self.people.cancel_request(uid, targets[0]):
            raise UserError("There is nothing waiting for your answer.")
        return "Cancelled. Nothing was recorded."
