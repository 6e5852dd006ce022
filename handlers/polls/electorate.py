"""Who may vote in a poll, asked of the core: this gathers the facts and ``harmony_matrix.polls.eligibility``
decides (a vote counts only if its sender was eligible when it was sent).

The facts come from the member registry (when someone was registered: ``MembershipSince``), the
assemblies feature (which assembly a room belongs to, the nesting, each assembly's space) and the
homeserver (a person's ``m.room.member`` events in a space or room, back to the moment asked about).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote

from handlers.matrix.gateway import MatrixError, MatrixGateway, NotFound
from handlers.ports import AssemblyDirectory
from harmony_matrix.event_types import ROOM_MEMBER
from harmony_matrix.polls.eligibility import (
    Electorate,
    Span,
    VoterFacts,
    electorate_of,
    joined_spans,
    may_vote,
    waits_for_home,
)
from harmony_matrix.polls.poll import Eligibility, Poll, timestamp_ms

log = logging.getLogger(__name__)

#: How many of a person's membership events in one space are read back, at most, to find the one in
#: force at a given moment (each is one request; joins and leaves are rare, profile changes too).
MEMBER_HISTORY_DEPTH = 20


class MembershipSince(Protocol):
    """When someone was registered as a party member (``storage.core.stores.MemberStore``)."""

    async def member_since(self, user_id: str) -> datetime | None: ...


class HomeInstances(Protocol):
    """The home instances of people from peer servers (``handlers.federation.eligibility.EligibilityExchange``):
    whether one can be asked, its recorded answer, and asking it (the answer comes later, by sync)."""

    def can_ask(self, user_id: str) -> bool: ...
    async def answer(self, user_id: str, at: int) -> bool | None: ...
    async def ask(self, user_id: str, at: int) -> None: ...


class Electorates:
    """Resolves a poll's electorate and answers "was this person eligible to vote in it at that moment?"."""

    def __init__(self, *, gateway: MatrixGateway, members: MembershipSince,
                 assemblies: AssemblyDirectory | None = None) -> None:
        self.gateway = gateway
        self.members = members
        self.assemblies = assemblies
        #: Peer instances asked about their members (the federation feature, when there is one).
        self.home: HomeInstances | None = None

    async def of(self, poll: Poll) -> Electorate:
        """The electorate of ``poll``, from the assembly its room belongs to (if any)."""
        if poll.eligibility is not Eligibility.PARTICIPANTS or self.assemblies is None:
            return electorate_of(poll.eligibility)
        return electorate_of(poll.eligibility, federation=self.assemblies.federation(),
                             assembly=await self.assemblies.assembly_of_room(poll.room_id))

    async def describe(self, poll: Poll) -> str:
        """Who may vote in ``poll``, in words."""
        return (await self.of(poll)).describe()

    async def may_vote(self, poll: Poll, user_id: str, *, at: int, sent_in_room: bool = False) -> bool:
        """Whether ``user_id`` was eligible in ``poll`` at ``at`` (server milliseconds): ``eligibility.may_vote``
        on the facts gathered. ``sent_in_room``: the vote is a reaction the person sent in the poll's room."""
        electorate = await self.of(poll)
        facts = await self._facts(electorate, poll, user_id, at=at, sent_in_room=sent_in_room)
        return may_vote(electorate, facts, at=at)

    async def may_vote_many(self, poll: Poll, votes: Sequence[tuple[str, int]], *,
                            sent_in_room: bool = False) -> list[bool]:
        """``may_vote`` for many ``(user_id, at)`` of one poll (a catch-up): the facts about each person
        read once, back to their earliest vote, and the rule applied at each vote's own moment."""
        electorate = await self.of(poll)
        earliest: dict[str, int] = {}
        for user_id, at in votes:
            earliest[user_id] = min(at, earliest.get(user_id, at))
        facts = {user_id: await self._facts(electorate, poll, user_id, at=at, sent_in_room=sent_in_room,
                                            every_space=True)
                 for user_id, at in earliest.items()}
        return [may_vote(electorate, facts[user_id], at=at) for user_id, at in votes]

    def asks_home(self, user_id: str) -> bool:
        """Whether ``user_id``'s membership is a peer home instance's to confirm (their votes go through
        :meth:`judge`, one by one, and may wait for its answer)."""
        return self.home is not None and self.home.can_ask(user_id)

    async def judge(self, poll: Poll, user_id: str, *, at: int, sent_in_room: bool = False) -> bool | None:
        """As :meth:`may_vote`, but a person of a peer server whose home instance must say whether they
        were a member: its recorded answer counts, and without one it is asked and None is returned
        (the vote waits; never blocking here for the answer, which comes by the same sync)."""
        electorate = await self.of(poll)
        facts = await self._facts(electorate, poll, user_id, at=at, sent_in_room=sent_in_room)
        home = self.home if self.home is not None and self.home.can_ask(user_id) else None
        if home is not None and electorate.asks_membership:
            facts = dataclasses.replace(facts, vouched=await home.answer(user_id, at))
        if waits_for_home(electorate, facts, at=at, home_is_peer=home is not None):
            assert home is not None
            await home.ask(user_id, at)
            return None
        return may_vote(electorate, facts, at=at)

    async def _facts(self, electorate: Electorate, poll: Poll, user_id: str, *, at: int,
                     sent_in_room: bool, every_space: bool = False) -> VoterFacts:
        """The facts ``electorate`` asks for, and only those (each costs a lookup). Membership spans are
        read back to ``at``, so they hold for any later moment too; with ``every_space`` all the
        electorate's spaces are read (not only up to the first covering ``at``), so they do."""
        if electorate.asks_membership:
            since = await self.members.member_since(user_id)
            return VoterFacts(spans=(Span(timestamp_ms(since)),) if since is not None else ())
        if electorate.asks_room:
            if sent_in_room:
                return VoterFacts(sent_in_room=True)
            return VoterFacts(spans=await self._joined_spans(poll.room_id, user_id, at=at))
        if self.assemblies is None:
            return VoterFacts()
        spans: list[Span] = []
        for slug in electorate.assemblies:
            space = (await self.assemblies.rooms_of(slug)).get("space")
            if space:
                found = await self._joined_spans(space, user_id, at=at)
                spans.extend(found)
                if not every_space and any(span.covers(at) for span in found):
                    break  # one space is enough; the rest would cost a request each
        return VoterFacts(spans=tuple(spans))

    async def _joined_spans(self, room_id: str, user_id: str, *, at: int) -> tuple[Span, ...]:
        """When ``user_id`` was joined to ``room_id``, from their membership events read back from the
        current one to the first at or before ``at``. A room the bot cannot read counts as not joined."""
        try:
            event = await self._member_event(room_id, user_id)
            changes: list[tuple[int, str]] = []
            for _ in range(MEMBER_HISTORY_DEPTH):
                if event is None:
                    break
                ts = int(event.get("origin_server_ts", 0))
                changes.append((ts, str((event.get("content") or {}).get("membership", ""))))
                previous = (event.get("unsigned") or {}).get("replaces_state")
                if ts <= at or not isinstance(previous, str):
                    break
                event = await self.gateway.get_event(room_id, previous)
        except MatrixError as exc:
            log.warning("could not read a membership history in %s: %s", room_id, exc)
            return ()
        return joined_spans(changes)

    async def _member_event(self, room_id: str, user_id: str) -> dict[str, Any] | None:
        """The person's current ``m.room.member`` event in ``room_id`` (the whole event, with its time
        and ``unsigned.replaces_state``), or None if they never had one."""
        path = f"/v3/rooms/{quote(room_id)}/state/{quote(ROOM_MEMBER)}/{quote(user_id)}"
        try:
            event = await self.gateway.request("GET", path, query={"format": "event"})
        except NotFound:
            return None
        if "origin_server_ts" in event:
            return event
        # A server that answers with the content only: the event is in the room's full state.
        for state in await self.gateway.get_state(room_id):
            if state.get("type") == ROOM_MEMBER and state.get("state_key") == user_id:
                return state
        return None
