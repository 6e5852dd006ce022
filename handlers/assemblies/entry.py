"""Getting into an assembly: ``join`` and knocks, and the private declaration they may need.

The decision is the pure core's (``access.decide_access``). Privacy (docs/spec/product.md §5): the
explanation, which may imply a person's membership or a declaration, goes to them privately only (a
direct message, or the answer to a ``join`` sent in that direct chat); the audit log and a refused
knock get the neutral ``public_reason``.

Every answer says what to do next: an invite must still be accepted (and where Element shows it),
and a refusal for want of an umbrella says whether the umbrella's invite is waiting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from handlers.assemblies.facts import Facts
from handlers.assemblies.messages import with_code
from handlers.assemblies.presence import Presence
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import AuditLog, PeopleStore
from handlers.matrix.posting import Poster
from handlers.ports import Clock
from harmony_matrix.assemblies.access import AccessDecision, Outcome, PersonFacts, decide_access
from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId

#: Sends a private answer ``(plain, html)`` and returns the room it went to.
Answer = Callable[[str, str], Awaitable[RoomId]]

#: Where people find an invitation, for the answers that ask them to accept one.
ACCEPT_HOW = ("In Element the invite appears in the bar of spaces on the left (on a phone, at the top of "
              "your chats): open it and choose Accept.")


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
                            knocked: bool = False, answer: Answer | None = None) -> Outcome:
        """``join`` and knocks: admit (invite), ask for a declaration privately, or refuse.

        ``prefix`` is the command prefix the private explanation names (``{prefix} confirm``).
        ``answer`` sends the explanation (by default a direct message; ``join`` sent in the direct
        chat answers there instead).
        """
        assembly = self.registry.assembly(slug, prefix=prefix)
        uid = UserId(user_id)

        async def by_dm(text: str, html: str) -> RoomId:
            return await self.poster.dm(uid, text, html)

        say = answer or by_dm
        decision = await self._decide(uid, assembly, kind, prefix=prefix)
        target = await self.registry.room_of(slug, kind)
        now = self.clock()
        if decision.outcome is Outcome.ADMIT:
            already = target is not None and await self.presence.is_joined(target, uid)
            if target and not already:
                await self.presence.invite(target, uid)
            await self.audit.record("assembly.admit", at=now, room_id=target, target_user=uid,
                                    reason=decision.public_reason)
            if not knocked:
                where = await self._address(target, kind)
                if already:
                    text = f"{decision.reason} You are already in {where}."
                else:
                    text = f"{decision.reason} {await self._invited(assembly, target, kind)}"
                await say(*with_code(text))
        elif decision.outcome is Outcome.ASK_DECLARATION:
            dm = await say(*with_code(decision.reason))
            await self.people.request_declaration(uid, slug, dm_room_id=dm, at=now)
        else:
            if knocked and target:
                # Kicking a knocking person refuses the knock.
                await self.presence.remove(target, uid, reason=decision.public_reason)
            await self.audit.record("assembly.refuse", at=now, room_id=target, target_user=uid,
                                    reason=decision.public_reason)
            await say(*with_code(decision.reason))
        return decision.outcome

    async def _decide(self, uid: UserId, assembly: Assembly, kind: RoomKind, *, prefix: str) -> AccessDecision:
        """The decision on what the person has actually done; for a refusal by an umbrella, the
        umbrellas' spaces are asked again and waiting invites looked up, so the answer is exact."""
        federation = self.registry.current
        person = await self.facts.about(uid)
        decision = decide_access(person, assembly, federation, room=kind, prefix=prefix)
        if decision.admitted or assembly.access is not Access.PARTICIPANTS:
            return decision
        person = await self._umbrella_facts(person, assembly)
        return decide_access(person, assembly, federation, room=kind, prefix=prefix)

    async def _umbrella_facts(self, person: PersonFacts, assembly: Assembly) -> PersonFacts:
        federation = self.registry.current
        own = federation.descendants(assembly.slug) | {assembly.slug}
        participates = set(person.participates_in)
        pending = set()
        for parent in assembly.parents:
            # The umbrella or anything nested in it, but not this assembly (``access`` counts the same).
            slugs = sorted(({parent} | federation.descendants(parent)) - own)
            spaces = {space: slug for slug in slugs
                      if (space := await self.registry.room_of(slug, RoomKind.SPACE)) is not None}
            joined = await self.presence.first_joined(list(spaces), person.user_id)
            if joined is not None:
                participates.add(spaces[joined])
                continue
            parent_space = await self.registry.room_of(parent, RoomKind.SPACE)
            if parent_space and await self.presence.is_invited(parent_space, person.user_id):
                pending.add(parent)
        return dataclasses.replace(person, participates_in=frozenset(participates),
                                   pending_invites=frozenset(pending))

    async def _address(self, room_id: RoomId | None, kind: RoomKind) -> str:
        """``its space, #party:example.org`` (the alias, else the room ID)."""
        what = "its space" if kind is RoomKind.SPACE else f"its {kind.value} room"
        if room_id is None:
            return what
        room = await self.registry.room(room_id)
        return f"{what}, {room.alias if room is not None and room.alias else room_id}"

    async def _invited(self, assembly: Assembly, room_id: RoomId | None, kind: RoomKind) -> str:
        """The sentence after an invitation: where it is, and that it must be accepted."""
        where = await self._address(room_id, kind)
        return f"I have invited you to {where}: accept the invite to join {assembly.name}. {ACCEPT_HOW}"

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
        return f"Thank you. {await self._invited(assembly, space, RoomKind.SPACE)}"

    async def cancel(self, user_id: str, slug: str | None) -> str:
        """``cancel``: drop the pending request (the latest, or ``slug``'s); nothing is recorded."""
        uid = UserId(user_id)
        pending = await self.people.pending(uid)
        targets = [slug] if slug else pending[:1]
        if not targets or not await self.people.cancel_request(uid, targets[0]):
            raise UserError("There is nothing waiting for your answer.")
        return "Cancelled. Nothing was recorded."
