"""Secretaries, deputies, elections and term reminders on the Matrix side.

Every role change is stored (with how it was decided and its evidence) and then handed to the
assemblies feature's ``set_officers``, which updates the registry and the power levels in every room of
the assembly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from handlers.consensus.common import (
    AssemblyLookup,
    ConsensusSettings,
    PollOutcome,
    display_names,
    require_assembly,
)
from handlers.consensus.stores import BallotStore, NoticeStore, RoleStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.ports import Clock, PollStarter
from harmony_matrix.commands import (
    ROOM_ASSEMBLY,
    Option,
    Param,
    Place,
    Role,
    parse_user,
)
from harmony_matrix.consensus.ballots import Ballot, BallotKind, ballot_origin, candidate_of
from harmony_matrix.consensus.roles import (
    HowDecided,
    Mandate,
    RoleAssignment,
    RoleChange,
    add_deputy,
    apply_election_result,
    remove_deputy,
    set_secretary,
    term_reminders,
    validate_election,
)
from harmony_matrix.consensus.roles import Role as Office
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import BALLOT_NOTICE, TERM_NOTICE
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.when import When, format_local, read_when

log = logging.getLogger(__name__)

#: The ``role`` words of the commands that name an office.
OFFICE_CHOICES = tuple(office.value for office in Office)


class Roles:
    """Sets and elects an assembly's officers, and reminds the secretariat of ending terms."""

    def __init__(self, *, roles: RoleStore, ballots: BallotStore, notices: NoticeStore, assemblies: AssemblyLookup,
                 polls: PollStarter | None, poster: Poster, clock: Clock, settings: ConsensusSettings,
                 prefix: str) -> None:
        self.roles = roles
        self.ballots = ballots
        self.notices = notices
        self.assemblies = assemblies
        self.polls = polls
        self.poster = poster
        self.clock = clock
        self.settings = settings
        self.prefix = prefix  # the configured prefix, for reminders that name a command
        # The interval job and a direct call (start-up, tests) must not both post the same reminder.
        self._terms_lock = asyncio.Lock()

    async def apply(self, change: RoleChange, *, assembly: str, reason: str, ballot: Ballot | None = None) -> None:
        """Store the change, then update the registry and power levels (the assemblies feature)."""
        await self.roles.apply(change, at=self.clock(), ballot=ballot)
        secretary = change.secretary.user if change.secretary else None
        await self.assemblies.set_officers(assembly, secretary=secretary, deputies=[d.user for d in change.deputies],
                                           reason=reason)

    async def current(self, assembly: str) -> list[RoleAssignment]:
        """Roles on record; an assembly set up before (registry only) is taken over as appointed."""
        current = await self.roles.current(assembly)
        if current:
            return current
        registered = self.assemblies.get(assembly)
        if registered is None or registered.secretary is None:
            return []
        now = self.clock()
        appointed = Mandate(since=now, how_decided=HowDecided.APPOINTED)
        seeded = set_secretary([], assembly=assembly, user=registered.secretary, mandate=appointed)
        roles = list(seeded.assignments)
        for deputy in registered.deputies:
            roles = list(add_deputy(roles, assembly=assembly, user=deputy, mandate=appointed).assignments)
        await self.roles.apply(RoleChange(tuple(roles), tuple(roles), ()), at=now)
        return roles

    @command("secretary set", summary="Make someone the assembly's secretary (recorded as decided by consensus).",
             example="!h secretary set @ann:example.org term=2027-06-30",
             params=(Param("user", help="their Matrix ID", parser=parse_user),),
             options=(Option("term", help="when the term ends, e.g. 2027-06-30", parser=read_when, metavar="date"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def secretary_set(self, ctx: CommandContext, user: UserId, term: When | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        now = self.clock()
        tz = self.assemblies.tz_of(assembly)
        term_ends = term.resolve(now=now, tz=tz, require_future=True) if term else None
        change = set_secretary(await self.current(assembly), assembly=assembly, user=user,
                               mandate=Mandate(since=now, how_decided=HowDecided.CONSENSUS, term_ends=term_ends,
                                               evidence=(EventId(ctx.event_id),)))
        await self.apply(change, assembly=assembly, reason=f"secretary set by {ctx.sender}")
        until = f" until {format_local(term_ends, tz)}" if term_ends else ""
        await ctx.reply(f"{user} is now the secretary of {assembly}{until}.")

    @command("deputy add", summary="Add a deputy secretary.", example="!h deputy add @bo:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def deputy_add(self, ctx: CommandContext, user: UserId) -> None:
        assembly = require_assembly(ctx.room.assembly)
        change = add_deputy(await self.current(assembly), assembly=assembly, user=user,
                            mandate=Mandate(since=self.clock(), how_decided=HowDecided.CONSENSUS,
                                            evidence=(EventId(ctx.event_id),)))
        await self.apply(change, assembly=assembly, reason=f"deputy added by {ctx.sender}")
        await ctx.reply(f"{user} is now a deputy of {assembly}.")

    @command("deputy remove", summary="Remove a deputy secretary.", example="!h deputy remove @bo:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def deputy_remove(self, ctx: CommandContext, user: UserId) -> None:
        assembly = require_assembly(ctx.room.assembly)
        change = remove_deputy(await self.current(assembly), assembly=assembly, user=user)
        await self.apply(change, assembly=assembly, reason=f"deputy removed by {ctx.sender}")
        await ctx.reply(f"{user} is no longer a deputy of {assembly}.")

    async def start_election(self, room_id: str, *, assembly: str, role: str, candidates: Sequence[UserId],
                             seats: int, created_by: str, evidence: str) -> Ballot:
        """Record an election ballot for the office ``role`` (secretary, deputy, or a configured office such
        as a Party Secretary's) and open its (Bloc) STAR poll in the votes room."""
        validate_election(await self.current(assembly), assembly=assembly,
                          role=Office(role) if role in OFFICE_CHOICES else None, options=candidates, seats=seats)
        if self.polls is None:
            raise UserError("polls are not available on this bot, so no election can be held")
        now = self.clock()
        names = await display_names(self.poster.gateway, candidates)  # voters see names; the ID says who
        ballot = await self.ballots.create(Ballot(
            id=0, kind=BallotKind.ELECTION, assembly=assembly, room_id=RoomId(room_id),
            options=tuple(names[c] for c in candidates),
            created_by=UserId(created_by), created_at=now, role=str(role), seats=seats,
            evidence=(EventId(evidence),)))
        votes = await self.assemblies.room(assembly, "votes", fallback=room_id)
        kind = "Bloc STAR" if seats > 1 else "STAR"
        try:
            poll_ref = await self.polls.start_poll(
                room_id=votes, question=f"Election of the {role}{'s' if seats > 1 else ''} of {assembly} ({kind})",
                options=list(ballot.options), seats=seats, closes_at=now + self.settings.ballot_duration,
                created_by=created_by, origin=ballot_origin(ballot.id))
        except Exception:
            # The polls feature refused (or failed): no election, so the ballot must never be applied.
            await self.ballots.abandon(ballot)
            raise
        return await self.ballots.started(ballot, poll_ref=poll_ref)

    async def election_result(self, ballot: Ballot, poll_ref: str, result: PollOutcome) -> None:
        """An election's poll closed: its winners take office for a term, and it is announced once."""
        winners = [candidate_of(w) for w in result.winners]
        if not winners:
            log.warning("election %s ended without winners", poll_ref)
            return
        role = Office(ballot.role or Office.SECRETARY)
        now = self.clock()
        term_ends = now + self.settings.elected_term  # elected roles carry a term
        change = apply_election_result(await self.current(ballot.assembly), assembly=ballot.assembly, role=role,
                                       winners=winners, decided_at=now, term_ends=term_ends,
                                       evidence=ballot.evidence, poll_ref=poll_ref)
        await self.apply(change, assembly=ballot.assembly, reason=f"election {poll_ref}", ballot=ballot)
        room = await self.assemblies.room(ballot.assembly, "announcements", fallback=ballot.room_id)
        until = format_local(term_ends, self.assemblies.tz_of(ballot.assembly))
        await self.poster.notice(
            room, f"🗳️ Election {poll_ref}: {', '.join(result.winners)} elected {role.value} of {ballot.assembly} until {until}.",
            extra={BALLOT_NOTICE: {"poll": poll_ref, "kind": "election", "winners": winners}},
            txn_seed=f"election-result:{poll_ref}")

    async def remind_terms(self, now: datetime) -> None:
        """Post each term reminder (ending soon, ended) once, in the assembly's secretariat.

        Settled keys are stored, so a restart does not repeat a reminder; the lock keeps the interval
        job and a direct call from racing each other in one process."""
        async with self._terms_lock:
            for reminder in term_reminders(await self.roles.current(), now=now, notice=self.settings.term_notice):
                if reminder.key in await self.notices.settled(reminder.key):
                    continue
                a = reminder.assignment
                room = await self.assemblies.room(a.assembly, "secretariat", fallback="")
                if room:
                    verb = "ended" if reminder.kind.value == "ended" else "ends"
                    await self.poster.notice(
                        room, f"📌 The {a.role.value} term of {a.user} in {a.assembly} {verb} on "
                              f"{format_local(reminder.term_ends, self.assemblies.tz_of(a.assembly))}. "
                              f"Hold an election: {self.prefix} election start {a.role.value} options=…",
                        extra={TERM_NOTICE: {"key": reminder.key, "kind": reminder.kind.value}},
                        txn_seed=f"term:{reminder.key}")
                await self.notices.settle(reminder.key, at=now)
