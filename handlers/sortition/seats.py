"""Seats taken by the drawn: who sits where now (for the assemblies feature's access and power levels),
standing down (the first alternate of the same type takes the seat), and the end of terms.

Seat holders are named in public (they are delegates or council members); their type is not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.ports import AssemblySeating, Clock
from handlers.sortition.features import SortitionSettings
from handlers.sortition.stores import SeatStore, SortitionStores
from harmony_matrix.assemblies.assembly import parse_slug
from harmony_matrix.commands import Param
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import DRAW_NOTICE
from harmony_matrix.refs import Ref
from harmony_matrix.sortition.arguments import SeatPower, parse_draw_ref
from harmony_matrix.sortition.seats import Seat, SeatStatus, next_alternate, term_reminders
from harmony_matrix.when import format_local

log = logging.getLogger(__name__)


class SeatReader:
    """Who sits where now, read from the seat store: the ``ports.SeatDirectory`` the assemblies feature
    uses for access and power levels (also without a running bot, e.g. for a command-line import)."""

    def __init__(self, seats: SeatStore, clock: Clock) -> None:
        self._seats = seats
        self._clock = clock

    async def seated_in(self, user_id: str) -> frozenset[str]:
        """Assemblies where ``user_id`` holds a seat within its term."""
        now = self._clock()
        return frozenset(s.assembly for s in await self._seats.seats(user=user_id) if s.current(now))

    async def seats_by_person(self) -> dict[str, frozenset[str]]:
        """Everyone holding a seat within its term → the assemblies where."""
        now = self._clock()
        found: dict[str, set[str]] = {}
        for seat in await self._seats.seats():
            if seat.current(now):
                found.setdefault(seat.user, set()).add(seat.assembly)
        return {user: frozenset(slugs) for user, slugs in found.items()}

    async def seat_moderators(self, slug: str) -> frozenset[str]:
        """Seat holders of ``slug`` whose draw gave them moderator power, within their term."""
        now = self._clock()
        return frozenset(s.user for s in await self._seats.seats(assembly=slug)
                         if s.current(now) and s.power is SeatPower.MODERATOR)

    async def seat_holders(self, slug: str) -> frozenset[str]:
        """Who holds a seat of ``slug`` within its term (``ports.SeatHolders``)."""
        now = self._clock()
        return frozenset(s.user for s in await self._seats.seats(assembly=slug) if s.current(now))


class Seats:
    """The seats of every draw; see the module docstring."""

    def __init__(self, *, stores: SortitionStores, assemblies: AssemblySeating, poster: Poster, clock: Clock,
                 settings: SortitionSettings, prefix: str) -> None:
        self.stores = stores
        self.assemblies = assemblies
        self.poster = poster
        self.clock = clock
        self.settings = settings
        self.prefix = prefix
        self._lock = asyncio.Lock()

    def tz_of(self, slug: str) -> ZoneInfo:
        """The zone an assembly's times are shown in."""
        assembly = self.assemblies.federation().get(slug)
        return ZoneInfo(assembly.timezone if assembly is not None and assembly.timezone else self.settings.default_tz)

    async def room(self, slug: str, kind: str, *, fallback: str) -> str:
        """An assembly's room of ``kind``, or ``fallback``."""
        return (await self.assemblies.rooms_of(slug)).get(kind) or fallback

    # -- what the assemblies feature reads (``ports.SeatDirectory``) ------------------------------------

    async def seated_in(self, user_id: str) -> frozenset[str]:
        """Assemblies where ``user_id`` holds a seat within its term."""
        return await SeatReader(self.stores.seats, self.clock).seated_in(user_id)

    async def seats_by_person(self) -> dict[str, frozenset[str]]:
        """Everyone holding a seat within its term → the assemblies where."""
        return await SeatReader(self.stores.seats, self.clock).seats_by_person()

    async def seat_moderators(self, slug: str) -> frozenset[str]:
        """Seat holders of ``slug`` whose draw gave them moderator power, within their term."""
        return await SeatReader(self.stores.seats, self.clock).seat_moderators(slug)

    # -- taking and giving up seats -----------------------------------------------------------------------

    async def seated(self, slug: str, users: Sequence[str], *, reason: str, draw: str, term_ends: str) -> None:
        """Tell the assemblies feature (invitations, power) and each new seat holder privately."""
        await self.assemblies.seats_changed(slug, seated=list(users), reason=reason)
        for user in users:
            await self.poster.dm(user, f"You take a seat in {slug} (draw {draw}) until {term_ends}. I have invited "
                                       f"you to its rooms. To stand down: {self.prefix} seat stand-down {draw}",
                                 txn_seed=f"seated:{draw}:{user}")

    async def stand_down(self, seat: Seat) -> str | None:
        """End ``seat`` and seat the first alternate of its type; returns the alternate (or None)."""
        async with self._lock:
            now = self.clock()
            if not await self.stores.seats.end(seat.id, SeatStatus.STOOD_DOWN, at=now):
                raise UserError(f"Your seat from {seat.draw} has already ended.")
            draw = await self.stores.draws.get(seat.draw)
            alternate = None
            if draw is not None and draw.record is not None:
                used = [s.pseudonym for s in await self.stores.seats.seats(draw=seat.draw, status=None)]
                owners = {m.pseudonym: m.user_id for m in await self.stores.draws.pool(seat.draw)}
                while (pseudonym := next_alternate(draw.record["alternates"], type_label=seat.type, used=used)):
                    used.append(pseudonym)
                    user = owners.get(pseudonym)
                    if user is None:  # asked to be forgotten: the next one is asked
                        continue
                    taken = await self.stores.seats.add(replace(seat, id=0, user=user, pseudonym=pseudonym, since=now,
                                                                status=SeatStatus.SEATED, via="alternate"))
                    if taken is not None:
                        alternate = user
                        break
        tz = self.tz_of(seat.assembly)
        until = format_local(seat.term_ends, tz)
        await self.seated(seat.assembly, [alternate] if alternate else [], reason=f"stand-down in {seat.draw}",
                          draw=seat.draw, term_ends=until)
        text = (f"{seat.user} stood down from their seat in {seat.assembly} (draw {seat.draw}). "
                + (f"{alternate}, the next alternate of the same type in lot order, takes the seat until {until}."
                   if alternate else "No alternate of the same type is left: the seat stays empty until a new draw."))
        room = await self.room(seat.assembly, "announcements", fallback="")
        if room:
            await self.poster.notice(room, text, extra={DRAW_NOTICE: {"ref": seat.draw, "kind": "stand-down"}},
                                     txn_seed=f"stand-down:{seat.id}")
        return alternate

    @command("seat stand-down", summary="Give up your seat drawn by lot; the next alternate of your type takes it.",
             example="!h seat stand-down S-region-1",
             params=(Param("draw", help="the draw that gave you the seat (if you hold several)",
                           parser=parse_draw_ref, optional=True),))
    async def stand_down_command(self, ctx: CommandContext, draw: Ref | None) -> None:
        """The sender stands down from a current seat."""
        now = self.clock()
        mine = [s for s in await self.stores.seats.seats(user=ctx.sender) if s.current(now)]
        if draw is not None:
            ref = draw.resolve(ctx.room.assembly)
            mine = [s for s in mine if s.draw == ref]
        if not mine:
            raise UserError("You hold no seat drawn by lot" + (f" from {draw.text}." if draw else "."))
        if len(mine) > 1:
            raise UserError("You hold seats from several draws; name one: "
                            + ", ".join(f"{self.prefix} seat stand-down {s.draw}" for s in mine))
        alternate = await self.stand_down(mine[0])
        await ctx.reply(f"You have stood down from your seat in {mine[0].assembly}."
                        + (f" {alternate} takes it." if alternate else " No alternate of your type is left."))

    @command("seats", summary="Who holds a seat drawn by lot in an assembly, and until when.",
             example="!h seats region", params=(Param("assembly", parser=parse_slug, optional=True),))
    async def list_seats(self, ctx: CommandContext, assembly: str | None) -> None:
        """List the current seats of an assembly (the room's, by default)."""
        slug = assembly or ctx.room.assembly
        if slug is None:
            raise UserError(f"Name the assembly: {ctx.prefix} seats <assembly>")
        now, tz = self.clock(), self.tz_of(slug)
        seats = [s for s in await self.stores.seats.seats(assembly=slug) if s.current(now)]
        if not seats:
            await ctx.reply(f"Nobody holds a seat drawn by lot in {slug}.")
            return
        lines = [f"• {s.user} (draw {s.draw}{', as alternate' if s.via == 'alternate' else ''}) until "
                 f"{format_local(s.term_ends, tz)}" for s in sorted(seats, key=lambda s: (s.draw, s.user))]
        await ctx.reply(f"Seats drawn by lot in {slug}:\n" + "\n".join(lines))

    # -- terms ---------------------------------------------------------------------------------------------

    async def check_terms(self) -> None:
        """Remind a draw's assembly of its seats' term ending, then end them (once each)."""
        async with self._lock:
            now = self.clock()
            seated = await self.stores.seats.seats()
            for reminder in term_reminders(seated, now=now, notice=self.settings.term_notice):
                if await self.stores.notices.settled(reminder.key):
                    continue
                holders = [s for s in seated if s.draw == reminder.draw]
                slug = holders[0].assembly
                draw = await self.stores.draws.get(reminder.draw)
                if reminder.kind == "ended":
                    # Power and places follow first, so the notice tells what has already happened.
                    for seat in holders:
                        await self.stores.seats.end(seat.id, SeatStatus.ENDED, at=now)
                    await self.assemblies.seats_changed(slug, seated=[], reason=f"term of {reminder.draw} ended")
                await self._remind(reminder.draw, reminder.kind, slug, draw.assembly if draw else slug,
                                   format_local(reminder.term_ends, self.tz_of(slug)), [s.user for s in holders])
                await self.stores.notices.settle(reminder.key, at=now)

    async def _remind(self, ref: str, kind: str, slug: str, owner: str, when: str, users: Sequence[str]) -> None:
        verb = "ended" if kind == "ended" else "ends"
        redraw = f"Hold a new draw: {self.prefix} draw announce <purpose> … (see {self.prefix} help draw announce)."
        text = (f"📌 The term of the seats drawn in {ref} ({slug}: {', '.join(users)}) {verb} on {when}. "
                f"{redraw}")
        room = await self.room(owner, "secretariat", fallback="")
        if room:
            await self.poster.notice(room, text, extra={DRAW_NOTICE: {"ref": ref, "kind": f"term-{kind}"}},
                                     txn_seed=f"draw-term:{ref}:{kind}")
        for user in users:
            await self.poster.dm(user, f"Your seat in {slug} (draw {ref}) {verb} on {when}.",
                                 txn_seed=f"draw-term:{ref}:{kind}:{user}")
