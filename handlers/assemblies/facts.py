"""Gathering what an access decision needs to know about one person (``access.PersonFacts``).

The result is sensitive (membership, declarations, admissions): it is handed to the pure decisions
in ``harmony_matrix.assemblies.access`` and never logged or posted.
"""

from __future__ import annotations

from collections.abc import Iterable

from handlers.assemblies.presence import Presence
from handlers.assemblies.registry import LiveRegistry
from handlers.assemblies.stores import PeopleStore
from handlers.ports import MemberRegistry, RemoteTree, SeatDirectory
from harmony_matrix.assemblies.access import PersonFacts
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.ids import UserId


class Facts:
    """Reads the facts about a person from the stores, the config and the rooms they have joined."""

    def __init__(self, *, registry: LiveRegistry, presence: Presence, members: MemberRegistry,
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
        federation = self.registry.current
        participates = set()
        # One query for every space (not one per assembly): this runs for each access decision.
        for room in await self.registry.store.all_rooms():
            if room.kind is RoomKind.SPACE and room.slug in federation \
                    and uid in await self.presence.joined(room.room_id):
                participates.add(room.slug)
        if self.remote is not None:
            participates |= await self.remote.participates_remotely(uid)
        return PersonFacts(
            user_id=uid, is_member=await self.members.is_member(uid),
            is_admin=uid in self.admins, declared=await self.people.declared(uid),
            participates_in=frozenset(participates), invited_to=await self.people.admitted(uid),
            seated_in=await self.seats.seated_in(uid) if self.seats is not None else frozenset(),
        )
