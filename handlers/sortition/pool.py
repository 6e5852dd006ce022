"""Who is in a draw's pool right now: registered members taking part in the assembly, with their branch
and the features its quotas use.

Taking part means having joined the space of the assembly or of an assembly nested in it, as the
homeserver says at the moment of asking (the pool is frozen from this answer). With ``pool=branches``
each member's branch is the assembly nested directly in the drawing one that they take part in; a
member of several branches counts in the first by slug, so nobody is in the pool twice.

Sensitive (membership, features): the result is handed to the pure core and stored; never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.ports import AssemblySeating, MemberRegistry
from handlers.sortition.stores import FeatureStore
from harmony_matrix.sortition.arguments import PoolKind
from harmony_matrix.sortition.design import BRANCH, Candidate

log = logging.getLogger(__name__)


class PoolReader:
    """Reads the pool of a draw from the rooms, the membership registry and the features."""

    def __init__(self, *, assemblies: AssemblySeating, gateway: MatrixGateway, members: MemberRegistry,
                 features: FeatureStore) -> None:
        self.assemblies = assemblies
        self.gateway = gateway
        self.members = members
        self.features = features

    def branches(self, slug: str) -> list[str]:
        """The assemblies nested directly in ``slug``, by slug."""
        return sorted(child.slug for child in self.assemblies.federation().children(slug))

    async def participants(self, slug: str) -> set[str]:
        """Everyone joined to the space of ``slug`` or of an assembly nested in it (the bot left out)."""
        federation = self.assemblies.federation()
        people: set[str] = set()
        for each in sorted({slug, *federation.descendants(slug)}):
            space = (await self.assemblies.rooms_of(each)).get("space")
            if space is None:
                continue
            try:
                people |= await self.gateway.joined_members(space)
            except MatrixError as exc:
                log.warning("could not read who is in the space of %s: %s", each, exc)
        people.discard(self.gateway.user_id)
        return people

    async def candidates(self, slug: str, pool: PoolKind, categories: Iterable[str]) -> list[Candidate]:
        """The registered members of the pool, with their branch and their values of ``categories``."""
        branch_of: dict[str, str] = {}
        if pool is PoolKind.BRANCHES:
            for branch in reversed(self.branches(slug)):  # the first branch by slug wins
                for person in await self.participants(branch):
                    branch_of[person] = branch
            people: Sequence[str] = sorted(branch_of)
        else:
            people = sorted(await self.participants(slug))
        registered = [person for person in people if await self.members.is_member(person)]
        wanted = [name for name in categories if name != BRANCH]
        features = await self.features.of_users(registered, wanted)
        return [Candidate(user_id=person, branch=branch_of.get(person), features=features.get(person, {}))
                for person in registered]
