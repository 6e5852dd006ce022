"""Who may vote in a poll: the one rule, given the facts about a person.

Pure: the Matrix side gathers the facts this rule asks for (membership from the registry, "has joined"
from the homeserver) and never decides itself.

* ``members``: registered party members.
* ``participants`` in a room of an assembly: the assembly's participants, that is everyone who joined
  its space or the space of an assembly nested in it at any depth (as ``Federation.participates``
  counts participation).
* ``participants`` anywhere else: the people who joined the poll's room.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.polls.poll import Eligibility

__all__ = ["Electorate", "VoterFacts", "electorate_of", "may_vote"]


@dataclass(frozen=True)
class Electorate:
    """Who may vote in one poll, resolved against where it runs.

    ``assemblies``: for ``participants`` in a room of an assembly, that assembly first, then every
    assembly nested in it (sorted): joining the space of any of them makes someone a participant.
    Empty otherwise. ``assembly_name``: the assembly's display name, for the words.
    """

    eligibility: Eligibility
    assemblies: tuple[str, ...] = ()
    assembly_name: str | None = None

    @property
    def asks_membership(self) -> bool:
        """Whether the rule reads the member registry."""
        return self.eligibility is Eligibility.MEMBERS

    @property
    def asks_room(self) -> bool:
        """Whether the rule reads "has joined the poll's room" (participants outside assemblies)."""
        return self.eligibility is Eligibility.PARTICIPANTS and not self.assemblies

    def describe(self) -> str:
        """Who may vote, in words for the poll header and the not-counted message."""
        if self.eligibility is Eligibility.MEMBERS:
            return "registered party members"
        if not self.assemblies:
            return "people in this room"
        nested = " (including its nested assemblies)" if len(self.assemblies) > 1 else ""
        return f"participants of {self.assembly_name or self.assemblies[0]}{nested}"


def electorate_of(eligibility: Eligibility, *, federation: Federation | None = None,
                  assembly: str | None = None) -> Electorate:
    """The electorate of a poll with ``eligibility`` in a room of ``assembly`` (None: a room outside
    assemblies, or an assembly no longer in ``federation``)."""
    if eligibility is not Eligibility.PARTICIPANTS or federation is None or assembly is None \
            or assembly not in federation:
        return Electorate(eligibility)
    return Electorate(eligibility, assemblies=(assembly, *sorted(federation.descendants(assembly))),
                      assembly_name=federation[assembly].name)


@dataclass(frozen=True)
class VoterFacts:
    """What is known about one person, as the electorate asks for it (see ``Electorate.asks_*``).

    ``joined_assemblies``: those of ``Electorate.assemblies`` whose space the person joined (one is
    enough); ``joined_room``: whether they joined the poll's room."""

    is_member: bool = False
    joined_assemblies: frozenset[str] = frozenset()
    joined_room: bool = False


def may_vote(electorate: Electorate, facts: VoterFacts) -> bool:
    """Whether the person ``facts`` describe may vote (the module docstring gives the rule)."""
    if electorate.eligibility is Eligibility.MEMBERS:
        return facts.is_member
    if electorate.assemblies:
        counted: AbstractSet[str] = set(electorate.assemblies)
        return not counted.isdisjoint(facts.joined_assemblies)
    return facts.joined_room
