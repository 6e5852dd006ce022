"""Offices and races on the Matrix side: ``offices``, ``race declare``, ``stand``, ``withdraw``,
``election start``, ``office appoint`` and ``office vacate``.

The rules are in ``harmony_matrix.consensus.offices``; this class reads what they need (the registry's
party-wide body, who takes part in an assembly, the membership registry, current holders and races),
calls them, stores the result and answers. Elections of the secretary and deputies go through ``Roles``
(their winners get power and the secretariat, as ``secretary set`` gives); the configured offices' holders
are stored here. A refusal whose reason is about the person who asked (membership) is told to them in a
direct message, never in a room.
"""

from __future__ import annotations

import logging

from handlers.consensus.common import AssemblyLookup, ConsensusSettings, PollOutcome, display_names
from handlers.consensus.roles import OFFICE_CHOICES, Roles
from handlers.consensus.stores import BallotStore, OfficeStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.ports import Clock, MemberRegistry, SeatHolders
from harmony_matrix.assemblies.assembly import parse_slug
from harmony_matrix.commands import (
    ROOM_ASSEMBLY,
    Option,
    Param,
    Place,
    Role,
    parse_positive_int,
    parse_user,
    parse_users,
)
from harmony_matrix.consensus.ballots import Ballot, BallotStatus, candidate_of
from harmony_matrix.consensus.offices import (
    Eligibility,
    Filling,
    Office,
    OfficeLine,
    PrivateRefusal,
    Race,
    RaceStatus,
    appoint,
    ballot_started,
    check_standing,
    declare_race,
    elect_holders,
    election_warning,
    find_office,
    office_board,
    offices_of,
    open_by_vacancy,
    race_candidates,
    race_decided,
    require_elected,
    stand,
    vacate,
    withdraw,
)
from harmony_matrix.consensus.roles import Role as RoleName
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import BALLOT_NOTICE
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.when import format_duration, format_local

log = logging.getLogger(__name__)

_OFFICE = Param("office", help="secretary, deputy, or one of the party's offices (see offices)", parser=str.lower)
_HOLDER = (_OFFICE, Param("user", help="their Matrix ID", parser=parse_user))
_ASSEMBLY = Param("assembly", help="the assembly (the room's, if left out)", parser=parse_slug, optional=True)


class Offices:
    """Each assembly's offices, their holders and vacancies, races, and elections from them."""

    def __init__(self, *, offices: OfficeStore, ballots: BallotStore, roles: Roles, members: MemberRegistry,
                 assemblies: AssemblyLookup, seats: SeatHolders | None, poster: Poster, clock: Clock,
                 settings: ConsensusSettings) -> None:
        self.offices = offices
        self.ballots = ballots
        self.roles = roles
        self.members = members  # the party membership registry: the Party Secretaries must be members
        self.assemblies = assemblies
        self.seats = seats  # seats drawn by lot (None without the sortition feature)
        self.poster = poster
        self.clock = clock
        self.settings = settings

    # -- reading -------------------------------------------------------------------------------------

    def offices_of(self, assembly: str) -> tuple[Office, ...]:
        """The offices of ``assembly`` (the party-wide body has the Party Secretaries')."""
        federation = self.assemblies.federation()
        body = federation.all_thing_body() if federation is not None else None
        return offices_of(assembly, party_body=body.slug if body is not None else None,
                          party_offices=self.settings.party_offices)

    def _office(self, assembly: str, name: str) -> Office:
        return find_office(self.offices_of(assembly), name, assembly=assembly)

    def _room_office(self, ctx: CommandContext, name: str) -> tuple[str, Office]:
        """The room's assembly and its office called ``name`` (for the secretaries' commands)."""
        assembly = self._assembly(ctx, None)
        return assembly, self._office(assembly, name)

    def _assembly(self, ctx: CommandContext, named: str | None) -> str:
        return self.assemblies.which(named, here=ctx.room.assembly, usage="offices <assembly>", prefix=ctx.prefix)

    async def _races(self, assembly: str) -> list[Race]:
        """The assembly's races not yet decided; a race whose ballot was applied (a crash between the
        result and this race's update) is settled here."""
        races = []
        for race in await self.offices.races(assembly):
            if race.status is RaceStatus.VOTING and race.ballot_id is not None:
                ballot = await self.ballots.get(race.ballot_id)
                if ballot is not None and ballot.status is BallotStatus.DONE:
                    await self.offices.save_race(race_decided(race))
                    continue
            races.append(race)
        return races

    async def _board(self, assembly: str) -> list[OfficeLine]:
        seated = await self.seats.seat_holders(assembly) if self.seats is not None else frozenset()
        return office_board(self.offices_of(assembly), assembly=assembly, roles=await self.roles.current(assembly),
                            holdings=await self.offices.holdings(assembly), seated=sorted(UserId(u) for u in seated),
                            races=await self._races(assembly))

    async def _rooms(self, assembly: str) -> list[str]:
        """The assembly's space and discussion room (where taking part shows), as provisioned."""
        if self.assemblies.directory is None:
            return []
        rooms = await self.assemblies.directory.rooms_of(assembly)
        return [room for room in (rooms.get("space"), rooms.get("discussion")) if room]

    async def _eligibility(self, assembly: str, user: UserId) -> Eligibility:
        """Is ``user`` a registered member; have they joined the assembly (which its access rule lets
        only the eligible do)? Without the assemblies feature there are no rooms to join: everyone takes part."""
        rooms = await self._rooms(assembly)
        takes_part = not rooms or await self.poster.gateway.first_joined(rooms, user) is not None
        return Eligibility(is_member=await self.members.is_member(user), takes_part=takes_part)

    async def _warning(self, office: Office, assembly: str) -> str | None:
        """The constitution's minimum-membership warning, when the assembly is below it (people joined to
        its discussion room, besides the bot)."""
        rooms = await self._rooms(assembly)
        if not rooms:
            return None
        joined = await self.poster.gateway.current_joined(rooms[-1])
        people = len(joined - {self.poster.gateway.user_id})
        return election_warning(office, assembly=assembly, members=people, minimum=self.settings.min_members_to_elect)

    async def _secretary(self, assembly: str) -> UserId | None:
        return next((a.user for a in await self.roles.current(assembly) if a.role is RoleName.SECRETARY), None)

    # -- commands ------------------------------------------------------------------------------------

    @command("offices", summary="An assembly's offices: who holds each and how it was filled, vacancies and "
                                "open races.",
             example="!h offices party", params=(_ASSEMBLY,))
    async def list_offices(self, ctx: CommandContext, assembly: str | None) -> None:
        slug = self._assembly(ctx, assembly)
        board = await self._board(slug)
        names = await display_names(self.poster.gateway,
                                    [h.user for line in board for h in line.holders]
                                    + [u for line in board if line.race for u in line.race.standing])
        tz = self.assemblies.tz_of(slug)
        lines = [f"Offices of {self.assemblies.name_of(slug)} ({slug}):"]
        for line in board:
            office = line.office
            held = [f"{names[h.user]}, {h.how}" + (f" until {format_local(h.until, tz)}" if h.until else "")
                    for h in line.holders]
            filled = {Filling.ELECTED: "elected", Filling.APPOINTED: "appointed by the secretaries",
                      Filling.DRAWN: "drawn by lot"}[office.filling]
            party = "; a Party Secretary, members only" if office.party else ""
            text = f"• {office.title} ({filled}{party}): " + ("; ".join(held) if held else "nobody")
            if line.vacant:
                text += f" — VACANT ({line.vacant} seat{'s' if line.vacant > 1 else ''})"
                if office.filling is Filling.ELECTED and line.race is None:
                    text += f": anyone eligible may stand with {ctx.prefix} stand {office.name} {slug}"
            if line.race is not None:
                race = line.race
                standing = ", ".join(names[u] for u in race.standing) or "nobody yet"
                state = f"voting in poll {race.poll_ref}" if race.status is RaceStatus.VOTING else "open"
                text += f"\n    race {race.ref} ({state}, {race.seats} seat{'s' if race.seats > 1 else ''}): {standing}"
            lines.append(text)
        await ctx.reply("\n".join(lines))

    @command("race declare", summary="Declare a race for an elected office: anyone eligible may then stand.",
             example="!h race declare secretary",
             params=(_OFFICE,),
             options=(Option("seats", help="seats to fill, for deputies (default 1)", parser=parse_positive_int,
                             metavar="N"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def declare(self, ctx: CommandContext, office: str, seats: int | None) -> None:
        assembly, post = self._room_office(ctx, office)
        races = await self._races(assembly)
        now = self.clock()
        race = await self.offices.open_race(
            lambda ref: declare_race(post, races, ref=ref, assembly=assembly, seats=seats, by=ctx.sender, now=now),
            assembly=assembly)
        who = "registered party members taking part in" if post.party else "anyone taking part in"
        how = f"{ctx.prefix} stand {post.name} {assembly}"
        announcements = await self.assemblies.room(assembly, "announcements", fallback="")
        if announcements and announcements != ctx.room_id:
            await ctx.send(announcements, f"🏁 Race {race.ref}: {post.what(assembly)} ({race.seats} seat"
                                          f"{'s' if race.seats > 1 else ''}). {who.capitalize()} {assembly} may "
                                          f"stand with: {how}")
        warning = await self._warning(post, assembly)
        await ctx.reply((f"{warning}\n" if warning else "")
                        + f"Race {race.ref} for {post.what(assembly)} is open: {who} {assembly} may stand with "
                          f"{how} (and withdraw with {ctx.prefix} withdraw {post.name} {assembly}). When they have, "
                          f"start the election with: {ctx.prefix} election start {post.name}")

    @command("stand", summary="Put yourself forward for an office: in its declared race, or for a vacant post.",
             example="!h stand secretary party", params=(_OFFICE, _ASSEMBLY))
    async def stand_for(self, ctx: CommandContext, office: str, assembly: str | None) -> None:
        slug = self._assembly(ctx, assembly)
        post = self._office(slug, office)
        sender = UserId(ctx.sender)
        races = await self._races(slug)
        running = next((r for r in races if r.office == post.name), None)
        vacant = 0
        if running is None:  # a vacancy opens the race; say why not before storing anything
            vacant = next((line.vacant for line in await self._board(slug) if line.office.name == post.name), 0)
            open_by_vacancy(post, races, ref="", assembly=slug, vacant=vacant, now=self.clock())
        eligibility = await self._eligibility(slug, sender)
        secretary = await self._secretary(slug)
        try:
            check_standing(post, assembly=slug, user=sender, eligibility=eligibility, secretary=secretary)
        except PrivateRefusal as refusal:  # said to the sender alone, by the command router
            raise PrivateRefusal(refusal.message, doing=f"standing for {post.what(slug)}") from None
        now, event_id = self.clock(), EventId(ctx.event_id)
        if running is None:
            race = await self.offices.open_race(
                lambda ref: stand(open_by_vacancy(post, races, ref=ref, assembly=slug, vacant=vacant, now=now), post,
                                  user=sender, eligibility=eligibility, now=now, secretary=secretary,
                                  event_id=event_id),
                assembly=slug)
            what = post.what(slug)
            opened = f" {what[0].upper()}{what[1:]} is vacant, so your standing opened race {race.ref}."
        else:
            race = stand(running, post, user=sender, eligibility=eligibility, now=now, secretary=secretary,
                         event_id=event_id)
            await self.offices.save_race(race)
            opened = ""
        names = await display_names(self.poster.gateway, race.standing)
        await ctx.reply(f"You stand for {post.what(slug)} in race {race.ref}.{opened} Standing now: "
                        f"{', '.join(names[u] for u in race.standing)}.")

    @command("withdraw", summary="Stop standing in a race (while it is open).", example="!h withdraw secretary party",
             params=(Param("office", help="the office you stand for (needed if you stand for several)",
                           parser=str.lower, optional=True), _ASSEMBLY))
    async def withdraw_from(self, ctx: CommandContext, office: str | None, assembly: str | None) -> None:
        sender = UserId(ctx.sender)
        slug = assembly or ctx.room.assembly
        races = [r for r in (await self._races(slug) if slug else await self.offices.races())
                 if sender in r.standing and (office is None or r.office == office)]
        if not races:
            raise UserError("you do not stand in an open race" + (f" for {office}" if office else "")
                            + (f" in {slug}" if slug else ""))
        if len(races) > 1:
            raise UserError("you stand in several races: name one, e.g. " + ", ".join(
                f"{ctx.prefix} withdraw {r.office} {r.assembly}" for r in races))
        race = withdraw(races[0], user=sender)
        await self.offices.save_race(race)
        await ctx.reply(f"You no longer stand in race {race.ref} ({race.office} of {race.assembly}). Standing now: "
                        f"{', '.join(race.standing) or 'nobody'}.")

    @command("election start", summary="Elect an office by STAR (Bloc STAR for several seats): from its race, "
                                        "or with the candidates named.",
             example="!h election start secretary",
             params=(_OFFICE,),
             options=(Option("options", help="the candidates, e.g. @a:x,@b:x (leave out to use the office's race)",
                             parser=parse_users, metavar="users"),
                      Option("seats", help="deputy seats to fill (default 1)", parser=parse_positive_int, metavar="N")),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def election_start(self, ctx: CommandContext, office: str, options: tuple[UserId, ...] | None,
                             seats: int | None) -> None:
        assembly, post = self._room_office(ctx, office)
        require_elected(post, assembly)
        race = next((r for r in await self._races(assembly) if r.office == post.name), None)
        if race is not None and options:
            raise UserError(f"race {race.ref} is open for {post.what(assembly)}: start its election without "
                            f"options= (who stands in it is on the ballot)")
        if race is not None:
            candidates, places = race_candidates(race)
        elif options:
            candidates, places = list(options), seats or (post.seats or 1)
        else:
            raise UserError(f"name the candidates (options=@a:example.org,@b:example.org), or declare a race "
                            f"and let people stand: {ctx.prefix} race declare {post.name}")
        warning = await self._warning(post, assembly)
        ballot = await self.roles.start_election(ctx.room_id, assembly=assembly, role=post.name, candidates=candidates,
                                                 seats=places, created_by=ctx.sender, evidence=ctx.event_id)
        assert ballot.poll_ref is not None
        if race is not None:
            await self.offices.save_race(ballot_started(race, ballot_id=ballot.id, poll_ref=ballot.poll_ref))
        source = f" (race {race.ref})" if race is not None else ""
        await ctx.reply((f"{warning}\n" if warning else "")
                        + f"The {post.title.lower()} election is open in the votes room as poll "
                          f"{ballot.poll_ref}{source}: score each candidate 0–5 ({', '.join(ballot.options)}). It "
                          f"closes by itself in {format_duration(self.settings.ballot_duration)}, or a secretary "
                          f"closes it there with: {ctx.prefix} poll close {ballot.poll_ref}")

    @command("office appoint", summary="Appoint someone to an appointed office, such as the Treasurer.",
             example="!h office appoint treasurer @cy:example.org",
             params=_HOLDER,
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def appoint_to(self, ctx: CommandContext, office: str, user: UserId) -> None:
        assembly, post = self._room_office(ctx, office)
        holding = appoint(post, await self.offices.holdings(assembly), assembly=assembly, user=user,
                          since=self.clock(), by=UserId(ctx.sender), evidence=(EventId(ctx.event_id),))
        if post.party and not await self.members.is_member(user):
            raise PrivateRefusal(
                f"I can't appoint {user} as {post.what(assembly)}: the Party Secretaries must be registered party "
                f"members, and the membership registry does not list them.", doing=f"appointing {post.name}")
        await self.offices.change_holders(ended=(), begun=(holding,), at=holding.mandate.since)
        names = await display_names(self.poster.gateway, [user])
        await ctx.reply(f"{names[user]} is now {post.what(assembly)}, appointed by {ctx.sender}.")

    @command("office vacate", summary="End someone's appointment to an office.",
             example="!h office vacate treasurer @cy:example.org",
             params=_HOLDER,
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def vacate_office(self, ctx: CommandContext, office: str, user: UserId) -> None:
        assembly, post = self._room_office(ctx, office)
        if post.name in OFFICE_CHOICES:
            raise UserError(f"the {post.name} changes with {ctx.prefix} secretary set, {ctx.prefix} deputy remove "
                            f"or an election")
        ended = vacate(post, await self.offices.holdings(assembly), assembly=assembly, user=user)
        await self.offices.change_holders(ended=(ended,), begun=(), at=self.clock())
        await ctx.reply(f"{user} no longer holds {post.what(assembly)}: it is vacant.")

    # -- results ---------------------------------------------------------------------------------------

    async def election_closed(self, ballot: Ballot, poll_ref: str, result: PollOutcome) -> None:
        """An election's poll closed: the secretary's and deputies' go through ``Roles`` (power, the
        secretariat); a configured office's winners become its holders. Its race, if any, is decided."""
        role = ballot.role or RoleName.SECRETARY.value
        if role in OFFICE_CHOICES:
            await self.roles.election_result(ballot, poll_ref, result)
        else:
            await self._configured_result(ballot, poll_ref, result, role)
        race = await self.offices.race_of_ballot(ballot.id)
        if race is not None and race.status is not RaceStatus.DECIDED:
            await self.offices.save_race(race_decided(race))

    async def _configured_result(self, ballot: Ballot, poll_ref: str, result: PollOutcome, role: str) -> None:
        winners = [candidate_of(w) for w in result.winners]
        if not winners:
            log.warning("election %s ended without winners", poll_ref)
            return
        post = self._office(ballot.assembly, role)
        now = self.clock()
        ended, begun = elect_holders(post, await self.offices.holdings(ballot.assembly), assembly=ballot.assembly,
                                     winners=winners, decided_at=now, term_ends=now + self.settings.elected_term,
                                     poll_ref=poll_ref, evidence=ballot.evidence)
        await self.offices.change_holders(ended=ended, begun=begun, at=now, ballot=ballot)
        room = await self.assemblies.room(ballot.assembly, "announcements", fallback=ballot.room_id)
        await self.poster.notice(
            room, f"🗳️ Election {poll_ref}: {', '.join(result.winners)} elected {post.title} of {ballot.assembly}.",
            extra={BALLOT_NOTICE: {"poll": poll_ref, "kind": "election", "winners": winners}},
            txn_seed=f"election-result:{poll_ref}")

