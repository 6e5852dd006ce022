"""Petitions for re-election on the Matrix side: ``petition re-elect`` and ``petition withdraw``.

Members sign (the first signature opens the petition); at the configured threshold an election starts
through ``Roles.start_election``, with the current office-holders and anyone the signers named.
"""

from __future__ import annotations

from handlers.consensus.common import ConsensusSettings, require_assembly
from handlers.consensus.roles import OFFICE_CHOICES, Roles
from handlers.consensus.stores import PetitionStore
from handlers.matrix.commands import CommandContext, command
from handlers.ports import Clock, MemberRegistry
from harmony_matrix.commands import Option, Param, Place, parse_users
from harmony_matrix.consensus.petitions import (
    Petition,
    PetitionStatus,
    close_petition,
    nominate,
    open_petition,
    petition_election,
    sign_petition,
    threshold_reached,
    withdraw_signature,
)
from harmony_matrix.consensus.roles import Role as Office
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId


class Petitions:
    """Collects members' signatures for a re-election and starts it at the threshold."""

    def __init__(self, *, petitions: PetitionStore, roles: Roles, members: MemberRegistry, clock: Clock,
                 settings: ConsensusSettings) -> None:
        self.petitions = petitions
        self.roles = roles
        self.members = members  # the party membership registry: who may petition and sign
        self.clock = clock
        self.settings = settings

    @command("petition re-elect",
             summary="Sign (or open) a petition for re-electing the secretary or deputies. At the threshold an "
                     "election starts: the current office-holders stand, with anyone named in options=.",
             example="!h petition re-elect secretary options=@cy:example.org",
             params=(Param("role", choices=OFFICE_CHOICES, parser=Office, optional=True),),
             options=(Option("options", help="people to stand besides the current office-holders, e.g. @a:x,@b:x",
                             parser=parse_users, metavar="users"),),
             place=Place.ASSEMBLY)
    async def sign(self, ctx: CommandContext, role: Office | None, options: tuple[UserId, ...] | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        office = role or Office.SECRETARY
        now = self.clock()
        sender = UserId(ctx.sender)
        event_id = EventId(ctx.event_id)
        is_member = await self.members.is_member(sender)
        open_one = await self._open_petition(assembly, office)
        already = open_one is not None and is_member and sender in open_one.signers
        if open_one is not None and already:
            petition = open_one  # signing twice counts once; the signer may still name candidates
        elif open_one is not None:
            petition = sign_petition(open_one, sender, now=now, is_member=is_member, event_id=event_id)
        else:
            petition = await self.petitions.open(
                lambda ref: open_petition(ref=ref, assembly=assembly, role=office, opened_by=sender, now=now,
                                          is_member=is_member, event_id=event_id),
                assembly=assembly)
        if options:
            petition = nominate(petition, options)
        threshold = self.settings.petition_threshold
        signed = (f"You have already signed {petition.ref}" if already else f"Signed {petition.ref}") \
            + f": {len(petition.signers)} of {threshold} signatures."
        if petition.candidates:
            signed += f" Named to stand besides the {office.value}: {', '.join(petition.candidates)}."
        if not threshold_reached(petition, threshold=threshold):
            await self.petitions.save(petition)
            await ctx.reply(signed)
            return
        try:
            candidates, seats = petition_election(petition, await self.roles.current(assembly))
            ballot = await self.roles.start_election(ctx.room_id, assembly=assembly, role=office,
                                                     candidates=candidates, seats=seats, created_by=ctx.sender,
                                                     evidence=ctx.event_id)
        except UserError as exc:
            # The signature and the names count even when the election can't start yet.
            await self.petitions.save(petition)
            await ctx.reply(f"{signed} {exc.message} ({ctx.prefix} petition re-elect {office.value} options=…)")
            return
        await self.petitions.save(close_petition(petition, status=PetitionStatus.ELECTION_STARTED))
        await ctx.reply(f"{petition.ref} reached {threshold} signatures: the {office.value} election is open in "
                        f"the votes room as poll {ballot.poll_ref}, standing: {', '.join(ballot.options)}. It closes "
                        f"by itself, or a secretary closes it there with: {ctx.prefix} poll close {ballot.poll_ref}")

    @command("petition withdraw", summary="Take your signature off the open re-election petition.",
             example="!h petition withdraw secretary",
             params=(Param("role", choices=OFFICE_CHOICES, parser=Office, optional=True),),
             place=Place.ASSEMBLY)
    async def withdraw(self, ctx: CommandContext, role: Office | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        office = role or Office.SECRETARY
        open_one = await self._open_petition(assembly, office)
        if open_one is None:
            raise UserError(f"there is no open petition to re-elect the {office.value} of {assembly}")
        petition = withdraw_signature(open_one, UserId(ctx.sender))
        await self.petitions.save(petition)
        threshold = self.settings.petition_threshold
        await ctx.reply(f"Your signature is off {petition.ref}: {len(petition.signers)} of {threshold} signatures.")

    async def _open_petition(self, assembly: str, office: Office) -> Petition | None:
        return next((p for p in await self.petitions.open_for(assembly) if p.role is office), None)
