"""Who may vote in a poll: the one rule, given the facts about a person.

Pure: the Matrix side gathers the facts this rule asks for (the registry's record of when someone was
registered, the homeserver's membership events) and never decides itself.

**A vote counts only if its sender was eligible when it was sent** (the event's ``origin_server_ts``;
for a ballot sent by direct message, when the bot took it). The same rule judges a reaction when it
arrives and one the recount at close finds for the first time; a vote once judged keeps its judgement
(a refused reaction is never counted later; someone who becomes eligible reacts again).

Eligible at a moment means:

* ``members``: registered as a party member at that moment (from the registration on);
* ``participants`` in a room of an assembly: joined the assembly's space, or the space of an assembly
  nested in it at any depth (as ``Federation.participates`` counts participation), at that moment;
* ``participants`` anywhere else: joined the poll's room at that moment. A reaction in the poll's room
  proves it: Matrix accepts an event in a room only from someone who has joined it.

**Members of a peer instance** (docs/FEDERATION.md, "Eligibility across instances"): someone this
instance's registry does not list, on the server of a trusted peer instance, may be a member there.
The question "was @x a registered member at moment T?" goes to that instance (:func:`waits_for_home`);
its yes/no is a fact like the others (``VoterFacts.vouched``), and the answering instance answers
with this same rule (:func:`member_at`). Until the answer comes the vote is neither counted nor
refused; a vote still unanswered when the poll closes is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.polls.poll import Eligibility

__all__ = ["JOIN", "Electorate", "Span", "VoterFacts", "electorate_of", "joined_spans", "may_vote", "member_at",
           "waits_for_home"]

#: The ``membership`` of an ``m.room.member`` event that makes someone a participant of the room.
JOIN = "join"


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
        """Whether the rule reads "had joined the poll's room" (participants outside assemblies)."""
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
class Span:
    """A stretch of server time (milliseconds since the epoch) during which a person met the
    electorate's condition: from ``start`` (inclusive) until ``end`` (exclusive; None: still does)."""

    start: int
    end: int | None = None

    def covers(self, ts: int) -> bool:
        """Whether the moment ``ts`` lies in this span."""
        return self.start <= ts and (self.end is None or ts < self.end)


def joined_spans(changes: Iterable[tuple[int, str]]) -> tuple[Span, ...]:
    """The spans a person was joined to a room, from their membership events there as
    ``(origin_server_ts, membership)`` in any order: a ``join`` opens a span (a second ``join``, a
    profile change, keeps it open); any other membership (``leave``, ``ban``, ``invite``, ``knock``)
    closes it. Events before the first one given are unknown, so nothing before it is covered."""
    spans: list[Span] = []
    start: int | None = None
    for ts, membership in sorted(changes):
        if membership == JOIN and start is None:
            start = ts
        elif membership != JOIN and start is not None:
            spans.append(Span(start, ts))
            start = None
    if start is not None:
        spans.append(Span(start))
    return tuple(spans)


@dataclass(frozen=True)
class VoterFacts:
    """What is known about one person, as the electorate asks for it (see ``Electorate.asks_*``).

    ``spans``: when the person met the electorate's condition (registered as a member; joined one of
    the assemblies' spaces; joined the poll's room). ``sent_in_room``: the vote is an event the person
    sent in the poll's room (a reaction), so they had joined it when they sent it."""

    spans: tuple[Span, ...] = ()
    sent_in_room: bool = False
    #: For ``members``: what the person's home instance (a peer) answered to "a registered member at
    #: that moment?"; None when it was not asked or has not answered.
    vouched: bool | None = None


def may_vote(electorate: Electorate, facts: VoterFacts, *, at: int) -> bool:
    """Whether the person ``facts`` describe was eligible at the moment ``at`` (server milliseconds):
    the module docstring gives the rule."""
    if electorate.asks_room and facts.sent_in_room:
        return True
    if electorate.asks_membership and facts.vouched:
        return True
    return any(span.covers(at) for span in facts.spans)


def waits_for_home(electorate: Electorate, facts: VoterFacts, *, at: int, home_is_peer: bool) -> bool:
    """Whether the judgement of a vote must wait for the person's home instance: the electorate is
    ``members``, the local facts do not make them eligible, their server is a trusted peer's
    (``home_is_peer``), and it has not answered yet."""
    return (electorate.asks_membership and home_is_peer and facts.vouched is None
            and not may_vote(electorate, facts, at=at))


def member_at(since_ms: int | None, *, at: int) -> bool:
    """The answer to a peer's question "was this person a registered member at ``at``?", from when
    they were registered here (``since_ms``, server milliseconds; None: not a member)."""
    spans = (Span(since_ms),) if since_ms is not None else ()
    return may_vote(Electorate(Eligibility.MEMBERS), VoterFacts(spans=spans), at=at)
