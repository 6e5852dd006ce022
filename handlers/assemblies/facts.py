"""Gathering what an access decision needs to know about a person (``access.PersonFacts``): one person
(a join, a command), or everyone a sweep checks at once (``about_many``: one read per kind of fact for
all of them, instead of several per person and room).

The result is sensitive (membership, declarations, admissions): it is handed to the pure decisions
in ``harmony_matrix.assemblies.access`` and never logged or posted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from handlers.assemblies.presence import Presence
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import MemberRoster, PeopleStore
from handlers.ports import RemoteTree, SeatDirectory
from harmony_matrix.assemblies.access import PersonFacts
from harmony_matrix.ids import UserId


class Facts:
    """Reads the facts about people from the stores, the config and the rooms they have joined."""

    def __init__(self, *, registry: LiveRegistry, presence: Presence, members: MemberRoster,
                 people: PeopleStore, admins: Iterable[str]) -> None:
        self.registry = registry
        self.presence = presence
        self.members = members
        self.people = people
        self.admins = frozenset(admins)
        #: Seats drawn by lot (the sortition feature, when there is one: ``AssembliesFeature.use_seats``).
        self.seats: SeatDirectory | None = None
        #: Nestings across instances (``AssembliesFeature.use_remote``): taking part in a space nested
        #: from another instance is taking part in its local umbrella.
        self.remote: RemoteTree | None = None

    async def about(self, user_id: str) -> PersonFacts:
        """Everything known about one person. Sensitive: never log or post the result."""
        uid = UserId(user_id)
        return PersonFacts(
            user_id=uid, is_member=await self.members.is_member(uid),
            is_admin=uid in self.admins, declared=await self.people.declared(uid),
            participates_in=await self._participates(uid), invited_to=await self.people.admitted(uid),
            seated_in=await self.seats.seated_in(uid) if self.seats is not None else frozenset(),
        )

    async def about_many(self, user_ids: Collection[str]) -> dict[UserId, PersonFacts]:
        """Everything known about each of ``user_ids``, read in one pass per kind of fact. Sensitive."""
        uids = sorted({UserId(user) for user in user_ids})
        members = await self.members.members_among(uids)
        declared = await self.people.declarations_of(uids)
        admitted = await self.people.admissions_of(uids)
        seated = await self.seats.seats_by_person() if self.seats is not None else {}
        spaces = self.registry.spaces()
        rooms = set(spaces)
        unindexed = await self.presence.load(rooms)
        found: dict[UserId, PersonFacts] = {}
        for uid in uids:
            joined = await self.presence.joined_among_loaded(rooms, uid, unindexed=unindexed)
            participates = frozenset(spaces[room] for room in joined)
            if self.remote is not None:
                participates |= await self.remote.participates_remotely(uid)
            found[uid] = PersonFacts(
                user_id=uid, is_member=uid in members, is_admin=uid in self.admins,
                declared=declared.get(uid, frozenset()), participates_in=participates,
                invited_to=admitted.get(uid, frozenset()), seated_in=frozenset(seated.get(uid, frozenset())))
        return found

    async def _participates(self, uid: UserId) -> frozenset[str]:
        """The assemblies whose space ``uid`` has joined (the registry's and the membership index)."""
        spaces = self.registry.spaces()
        joined = await self.presence.joined_among(spaces, uid)
        participates = frozenset(spaces[room] for room in joined)
        if self.remote is not None:
            participates |= await self.remote.participates_remotely(uid)
        return participates
