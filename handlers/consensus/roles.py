"""Secretaries, deputies, elections and petitions on the Matrix side.

Every role change is stored (with how it was decided and its evidence) and then handed to the
assemblies feature's ``set_officers``, which updates the registry and the power levels in every room of
the assembly.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from handlers.matrix.commands import CommandContext, command
from handlers.consensus.common import BALLOT_NOTICE, TERM_NOTICE, Deps, require_assembly, split_users
from harmony_matrix.consensus.ballots import Ballot, BallotKind, BallotStatus, ballot_origin
from harmony_matrix.commands import Option, Param, Place, Role, parse_positive_int, parse_user
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.consensus.roles import (
    HowDecided,
    Petition,
    PetitionStatus,
    Role as OfficeRole,
    RoleChange,
    add_deputy,
    apply_election_result,
    close_petition,
    nominate,
    open_petition,
    petition_election,
    remove_deputy,
    set_secretary,
    sign_petition,
    term_reminders,
    threshold_reached,
    validate_election,
    withdraw_signature,
)
from harmony_matrix.when import format_local, parse_when

log = logging.getLogger(__name__)


class RoleCommands:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        # The interval job and a direct call (start-up, tests) must not both post the same reminder.
        self._terms_lock = asyncio.Lock()

    async def apply(self, change: RoleChange, *, assembly: str, reason: str, ballot: Ballot | None = None) -> None:
        """Store the change, then update the registry and power levels (the assemblies feature)."""
        await self.deps.stores.roles.apply(change, at=self.deps.now(), ballot=ballot)
        directory = self.deps.assemblies
        if directory is None:
            log.warning("no assemblies feature: power levels of %s not updated", assembly)
            return
        secretary = change.secretary.user if change.secretary else None
        await directory.set_officers(assembly, secretary=secretary, deputies=[d.user for d in change.deputies],
                                     reason=reason)

    async def _current(self, assembly: str) -> list:  # type: ignore[type-arg]
        """Roles on record; an assembly set up before (registry only) is taken over as appointed."""
        current = await self.deps.stores.roles.current(assembly)
        if current:
            return current
        info = await self.deps.assembly_info(assembly)
        if info is None or getattr(info, "secretary", None) is None:
            return []
        seeded = set_secretary([], assembly=assembly, user=info.secretary, since=self.deps.now(),
                               how_decided=HowDecided.APPOINTED)
        roles = list(seeded.assignments)
        for deputy in getattr(info, "deputies", ()):
            roles = list(add_deputy(roles, assembly=assembly, user=deputy, since=self.deps.now(),
                                    how_decided=HowDecided.APPOINTED).assignments)
        await self.deps.stores.roles.apply(RoleChange(tuple(roles), tuple(roles), ()), at=self.deps.now())
        return roles

    @command("secretary set", summary="Make someone the assembly's secretary (recorded as decided by consensus).",
             example="!h secretary set @ann:example.org term=2027-06-30",
             params=(Param("user", help="their Matrix ID", parser=parse_user),),
             options=(Option("term", help="when the term ends, e.g. 2027-06-30", metavar="date"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def secretary_set(self, ctx: CommandContext, user: str, term: str | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        now = self.deps.now()
        term_ends = parse_when(term, now=now, tz=await self.deps.tz_of(assembly), require_future=True) if term else None
        change = set_secretary(await self._current(assembly), assembly=assembly, user=UserId(user), since=now,
                               how_decided=HowDecided.CONSENSUS, term_ends=term_ends, evidence=[EventId(ctx.event_id)])
        await self.apply(change, assembly=assembly, reason=f"secretary set by {ctx.sender}")
        until = f" until {format_local(term_ends, await self.deps.tz_of(assembly))}" if term_ends else ""
        await ctx.reply(f"{user} is now the secretary of {assembly}{until}.")

    @command("deputy add", summary="Add a deputy secretary.", example="!h deputy add @bo:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def deputy_add(self, ctx: CommandContext, user: str) -> None:
        assembly = require_assembly(ctx.room.assembly)
        change = add_deputy(await self._current(assembly), assembly=assembly, user=UserId(user), since=self.deps.now(),
                            how_decided=HowDecided.CONSENSUS, evidence=[EventId(ctx.event_id)])
        await self.apply(change, assembly=assembly, reason=f"deputy added by {ctx.sender}")
        await ctx.reply(f"{user} is now a deputy of {assembly}.")

    @command("deputy remove", summary="Remove a deputy secretary.", example="!h deputy remove @bo:example.org",
             params=(Param("user", help="their Matrix ID", parser=parse_user),),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def deputy_remove(self, ctx: CommandContext, user: str) -> None:
        assembly = require_assembly(ctx.room.assembly)
        change = remove_deputy(await self._current(assembly), assembly=assembly, user=UserId(user))
        await self.apply(change, assembly=assembly, reason=f"deputy removed by {ctx.sender}")
        await ctx.reply(f"{user} is no longer a deputy of {assembly}.")

    @command("election start", summary="Elect the secretary (STAR) or deputies (Bloc STAR) by ballot.",
             example="!h election start secretary options=@ann:example.org,@bo:example.org",
             params=(Param("role", choices=("secretary", "deputy")),),
             options=(Option("options", help="the candidates, e.g. @a:x,@b:x", metavar="users"),
                      Option("seats", help="deputy seats to fill (default 1)", parser=parse_positive_int, metavar="N")),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def election_start(self, ctx: CommandContext, role: str, options: str | None, seats: int | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        if not options:
            raise UserError("name the candidates: options=@a:example.org,@b:example.org")
        candidates = split_users(options)
        await self.start_election(ctx.room_id, assembly=assembly, role=OfficeRole(role), candidates=candidates,
                                  seats=seats or 1, created_by=ctx.sender, evidence=ctx.event_id)
        await ctx.reply(f"The {role} election is open in the votes room: score each candidate 0–5.")

    async def start_election(self, room_id: str, *, assembly: str, role: OfficeRole, candidates: list[str],
                             seats: int, created_by: str, evidence: str) -> Ballot:
        validate_election(await self._current(assembly), assembly=assembly, role=role,
                          options=[UserId(c) for c in candidates], seats=seats)
        polls = self.deps.polls
        if polls is None:
            raise UserError("polls are not available on this bot, so no election can be held")
        now = self.deps.now()
        ballot = await self.deps.stores.ballots.create(Ballot(
            id=0, kind=BallotKind.ELECTION, assembly=assembly, room_id=RoomId(room_id), options=tuple(candidates),
            created_by=UserId(created_by), created_at=now, role=role.value, seats=seats,
            evidence=(EventId(evidence),)))
        votes = await self.deps.room(assembly, "votes", fallback=room_id)
        kind = "Bloc STAR" if seats > 1 else "STAR"
        try:
            poll_ref = await polls.start_poll(
                room_id=votes, question=f"Election of the {role.value}{'s' if seats > 1 else ''} of {assembly} ({kind})",
                options=list(candidates), seats=seats, closes_at=now + self.deps.settings.ballot_duration,
                created_by=created_by, origin=ballot_origin(ballot.id))
        except Exception:
            # The polls feature refused (or failed): no election, so the ballot must never be applied.
            await self.deps.stores.ballots.abandon(ballot)
            raise
        return await self.deps.stores.ballots.started(ballot, poll_ref=poll_ref)

    async def election_result(self, ballot: Ballot, poll_ref: str, result: object) -> None:
        winners = [UserId(w) for w in getattr(result, "winners", ())]
        if not winners:
            log.warning("election %s ended without winners", poll_ref)
            return
        role = OfficeRole(ballot.role or "secretary")
        now = self.deps.now()
        term_ends = now + self.deps.settings.elected_term  # elected roles carry a term (product spec §1)
        change = apply_election_result(await self._current(ballot.assembly), assembly=ballot.assembly, role=role,
                                       winners=winners, decided_at=now, term_ends=term_ends,
                                       evidence=ballot.evidence, poll_ref=poll_ref)
        await self.apply(change, assembly=ballot.assembly, reason=f"election {poll_ref}", ballot=ballot)
        room = await self.deps.room(ballot.assembly, "announcements", fallback=ballot.room_id)
        until = format_local(term_ends, await self.deps.tz_of(ballot.assembly))
        await self.deps.post(room, f"🗳️ Election {poll_ref}: {', '.join(winners)} elected {role.value} of "
                             f"{ballot.assembly} until {until}.",
                             marker=(BALLOT_NOTICE, {"poll": poll_ref, "kind": "election", "winners": winners}),
                             txn_seed=f"election-result:{poll_ref}")

    @command("petition re-elect",
             summary="Sign (or open) a petition for re-electing the secretary or deputies. At the threshold an "
                     "election starts: the current office-holders stand, with anyone named in options=.",
             example="!h petition re-elect secretary options=@cy:example.org",
             params=(Param("role", choices=("secretary", "deputy"), optional=True),),
             options=(Option("options", help="people to stand besides the current office-holders, e.g. @a:x,@b:x",
                             metavar="users"),),
             place=Place.ASSEMBLY)
    async def petition(self, ctx: CommandContext, role: str | None, options: str | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        office = OfficeRole(role or "secretary")
        named = [UserId(u) for u in split_users(options)] if options else []
        now = self.deps.now()
        sender = UserId(ctx.sender)
        is_member = await self._is_member(ctx.sender)
        open_one = await self._open_petition(assembly, office)
        already = open_one is not None and is_member and sender in open_one.signers
        if open_one is not None and already:
            petition = open_one  # signing twice counts once; the signer may still name candidates
        elif open_one is not None:
            petition = sign_petition(open_one, sender, now=now, is_member=is_member, event_id=EventId(ctx.event_id))
        else:
            petition = open_petition(ref=await self.deps.stores.petitions.next_ref(assembly), assembly=assembly,
                                     role=office, opened_by=sender, now=now, is_member=is_member,
                                     event_id=EventId(ctx.event_id))
        if named:
            petition = nominate(petition, named)
        threshold = self.deps.settings.petition_threshold
        signed = (f"You have already signed {petition.ref}" if already else f"Signed {petition.ref}") \
            + f": {len(petition.signers)} of {threshold} signatures."
        if petition.candidates:
            signed += f" Named to stand besides the {office.value}: {', '.join(petition.candidates)}."
        if not threshold_reached(petition, threshold=threshold):
            await self.deps.stores.petitions.save(petition)
            await ctx.reply(signed)
            return
        try:
            candidates, seats = petition_election(petition, await self._current(assembly))
            await self.start_election(ctx.room_id, assembly=assembly, role=office, candidates=list(candidates),
                                      seats=seats, created_by=ctx.sender, evidence=ctx.event_id)
        except UserError as exc:
            # The signature and the names count even when the election can't start yet.
            await self.deps.stores.petitions.save(petition)
            await ctx.reply(f"{signed} {exc.message} ({ctx.prefix} petition re-elect {office.value} options=…)")
            return
        await self.deps.stores.petitions.save(close_petition(petition, status=PetitionStatus.ELECTION_STARTED))
        await ctx.reply(f"{petition.ref} reached {threshold} signatures: the {office.value} election is open in "
                        f"the votes room, standing: {', '.join(candidates)}.")

    @command("petition withdraw", summary="Take your signature off the open re-election petition.",
             example="!h petition withdraw secretary",
             params=(Param("role", choices=("secretary", "deputy"), optional=True),),
             place=Place.ASSEMBLY)
    async def petition_withdraw(self, ctx: CommandContext, role: str | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        office = OfficeRole(role or "secretary")
        open_one = await self._open_petition(assembly, office)
        if open_one is None:
            raise UserError(f"there is no open petition to re-elect the {office.value} of {assembly}")
        petition = withdraw_signature(open_one, UserId(ctx.sender))
        await self.deps.stores.petitions.save(petition)
        threshold = self.deps.settings.petition_threshold
        await ctx.reply(f"Your signature is off {petition.ref}: {len(petition.signers)} of {threshold} signatures.")

    async def _open_petition(self, assembly: str, office: OfficeRole) -> Petition | None:
        return next((p for p in await self.deps.stores.petitions.open_for(assembly) if p.role is office), None)

    async def _is_member(self, user: str) -> bool:
        return await self.deps.members.is_member(user)

    async def remind_terms(self, now: datetime) -> None:
        """Post each term reminder (ending soon, ended) once, in the assembly's secretariat.

        Settled keys are stored, so a restart does not repeat a reminder; the lock keeps the interval
        job and a direct call from racing each other in one process."""
        async with self._terms_lock:
            await self._remind_terms(now)

    async def _remind_terms(self, now: datetime) -> None:
        for reminder in term_reminders(await self.deps.stores.roles.current(), now=now,
                                       notice=self.deps.settings.term_notice):
            if reminder.key in await self.deps.stores.notices.settled(reminder.key):
                continue
            a = reminder.assignment
            room = await self.deps.room(a.assembly, "secretariat", fallback="")
            if room:
                tz = await self.deps.tz_of(a.assembly)
                verb = "ended" if reminder.kind.value == "ended" else "ends"
                await self.deps.post(room, f"📌 The {a.role.value} term of {a.user} in {a.assembly} {verb} on "
                                     f"{format_local(a.term_ends, tz)}. Hold an election: !h election start {a.role.value} options=…",
                                     marker=(TERM_NOTICE, {"key": reminder.key, "kind": reminder.kind.value}), txn_seed=f"term:{reminder.key}")
            await self.deps.stores.notices.settle(reminder.key, at=now)


__all__ = ["BallotStatus", "RoleCommands"]
