"""Who may vote in a poll, asked of the core: this gathers the facts and ``harmony_matrix.polls.eligibility``
decides.

The facts come from the member registry (``MemberRegistry``), the assemblies feature (which assembly a
room belongs to, the nesting, each assembly's space) and the homeserver (``MatrixGateway.first_joined``,
the one answer to "has this person joined?").
"""

from __future__ import annotations

from handlers.matrix.gateway import MatrixGateway
from handlers.ports import AssemblyDirectory, MemberRegistry
from harmony_matrix.polls.eligibility import Electorate, VoterFacts, electorate_of, may_vote
from harmony_matrix.polls.poll import Eligibility, Poll


class Electorates:
    """Resolves a poll's electorate and answers "may this person vote in it?"."""

    def __init__(self, *, gateway: MatrixGateway, members: MemberRegistry,
                 assemblies: AssemblyDirectory | None = None) -> None:
        self.gateway = gateway
        self.members = members
        self.assemblies = assemblies

    async def of(self, poll: Poll) -> Electorate:
        """The electorate of ``poll``, from the assembly its room belongs to (if any)."""
        if poll.eligibility is not Eligibility.PARTICIPANTS or self.assemblies is None:
            return electorate_of(poll.eligibility)
        return electorate_of(poll.eligibility, federation=self.assemblies.federation(),
                             assembly=await self.assemblies.assembly_of_room(poll.room_id))

    async def describe(self, poll: Poll) -> str:
        """Who may vote in ``poll``, in words."""
        return (await self.of(poll)).describe()

    async def may_vote(self, poll: Poll, user_id: str) -> bool:
        """Whether ``user_id`` may vote in ``poll`` (``eligibility.may_vote`` on the facts gathered now)."""
        electorate = await self.of(poll)
        return may_vote(electorate, await self._facts(electorate, poll, user_id))

    async def _facts(self, electorate: Electorate, poll: Poll, user_id: str) -> VoterFacts:
        """The facts ``electorate`` asks for, and only those (each costs a lookup)."""
        if electorate.asks_membership:
            return VoterFacts(is_member=await self.members.is_member(user_id))
        if electorate.asks_room:
            return VoterFacts(joined_room=await self.gateway.first_joined([poll.room_id], user_id) is not None)
        if not electorate.assemblies or self.assemblies is None:
            return VoterFacts()
        spaces: dict[str, str] = {}
        for slug in electorate.assemblies:
            space = (await self.assemblies.rooms_of(slug)).get("space")
            if space:
                spaces[space] = slug
        joined = await self.gateway.first_joined(spaces, user_id)
        return VoterFacts(joined_assemblies=frozenset({spaces[joined]}) if joined is not None else frozenset())
