"""A draw from freezing to result: the steps that store and announce, each all or nothing.

* ``freeze``: read the pool, design the problem, compute the tickets (refusing quotas no panel can
  meet, naming the rows), give every member a pseudonym from a fresh salt and store it all in one
  transaction; only then announce, and tell each member their entry privately.
* ``finish``: make the record from the frozen data and the reveals in time (or cancel it with its
  reason), store it with every seat in one transaction; only then post the result with the record as
  a JSON file, and seat the drawn.

Posts carry transaction IDs derived from the draw, and the store remembers what was posted, so a
restart in between finishes the posting without posting twice (``tick``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.matrix.posting import Poster
from handlers.ports import AssemblySeating, Clock
from handlers.sortition.features import SortitionSettings
from handlers.sortition.pool import PoolReader
from handlers.sortition.render import announcement_text, cancelled_text, member_text, result_text
from handlers.sortition.seats import Seats
from handlers.sortition.stores import SortitionStores
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import DRAW_NOTICE
from harmony_matrix.sortition.arguments import PoolKind
from harmony_matrix.sortition.design import BRANCH, Design, design_draw, plan_draw
from harmony_matrix.sortition.draws import Draw, DrawRequest, DrawStatus, freeze_refusal, ready_to_draw
from harmony_matrix.sortition.errors import InfeasibleQuotas, SortitionError
from harmony_matrix.sortition.feasibility import check_feasible
from harmony_matrix.sortition.frozen import finish_record, freeze_pool
from harmony_matrix.sortition.lot import new_salt
from harmony_matrix.sortition.seats import Seat, next_alternate
from harmony_matrix.sortition.tickets import TicketPlan
from harmony_matrix.when import format_local

log = logging.getLogger(__name__)


def refusal_text(error: SortitionError) -> str:
    """A sortition error as the sentence the secretary reads (infeasible quotas name their rows)."""
    if isinstance(error, InfeasibleQuotas):
        return "The quotas cannot be met with the pool as it is now: " + "; ".join(error.conflicts) + "."
    return f"{error.message[0].upper()}{error.message[1:]}."


class Lifecycle:
    """Freezes, finishes and posts draws; see the module docstring."""

    def __init__(self, *, stores: SortitionStores, assemblies: AssemblySeating, pool: PoolReader, seats: Seats,
                 poster: Poster, clock: Clock, settings: SortitionSettings, prefix: str) -> None:
        self.stores = stores
        self.assemblies = assemblies
        self.pool = pool
        self.seats = seats
        self.poster = poster
        self.clock = clock
        self.settings = settings
        self.prefix = prefix
        # Freezing and finishing read, decide and write: one at a time in this process (the store's
        # status guard covers the rest).
        self._lock = asyncio.Lock()
        # Telling a large pool its entries takes a while (a direct chat each): done beside the sync loop.
        self._telling: dict[str, asyncio.Task[None]] = {}

    async def stop(self) -> None:
        """Cancel the private messages still being sent (the next start sends the rest)."""
        for task in list(self._telling.values()):
            task.cancel()
        self._telling.clear()

    def officers(self, slug: str) -> tuple[str, ...]:
        """The assembly's secretary and deputies."""
        assembly = self.assemblies.federation().get(slug)
        return tuple(assembly.officers) if assembly is not None else ()

    def tz_of(self, slug: str) -> ZoneInfo:
        """The zone the assembly's times are shown in."""
        return self.seats.tz_of(slug)

    async def public_room(self, draw: Draw) -> str:
        """Where a draw is announced: its assembly's announcements room, else the room it was made in."""
        return await self.seats.room(draw.assembly, "announcements", fallback=draw.room_id)

    # -- designing and planning (refusals name what is wrong; nothing is stored) ----------------------

    async def design(self, assembly: str, request: DrawRequest) -> Design:
        """The problem of a draw of ``assembly`` with the pool as it is now."""
        categories = {q.category for q in request.quotas} | ({BRANCH} if request.pool is PoolKind.BRANCHES else set())
        candidates = await self.pool.candidates(assembly, request.pool, categories)
        try:
            return design_draw(assembly=assembly, pool=request.pool, seats=request.seats,
                               per_branch=request.per_branch, quotas=request.quotas,
                               features=self.settings.features, branches=self.pool.branches(assembly),
                               candidates=candidates)
        except SortitionError as exc:
            raise UserError(refusal_text(exc)) from None

    async def check(self, assembly: str, request: DrawRequest) -> Design:
        """The design, refused (naming the rows) if no panel can meet the quotas with today's pool."""
        design = await self.design(assembly, request)
        try:
            await asyncio.to_thread(check_feasible, design.problem)
        except SortitionError as exc:
            raise UserError(refusal_text(exc)) from None
        return design

    async def plan(self, design: Design) -> TicketPlan:
        """The tickets (in a worker thread: leximin may take a second on a large pool)."""
        try:
            return await asyncio.to_thread(plan_draw, design)
        except SortitionError as exc:
            raise UserError(refusal_text(exc)) from None

    # -- freezing ---------------------------------------------------------------------------------------

    async def freeze(self, ref: str) -> Draw:
        """Freeze the pool of ``ref`` and announce it; a UserError says why not (nothing changed)."""
        async with self._lock:
            draw = await self.stores.draws.get(ref)
            if draw is None:
                raise UserError(f"There is no draw {ref}.")
            now = self.clock()
            why_not = freeze_refusal(draw, officers=self.officers(draw.assembly), now=now)
            if why_not:
                raise UserError(f"{why_not[0].upper()}{why_not[1:]}")
            design = await self.design(draw.assembly, draw.request)
            plan = await self.plan(design)
            frozen = freeze_pool(design, plan, {user: new_salt() for user in design.labels})
            reveal_by = draw.reveal_by or now + self.settings.reveal_window
            stored = await self.stores.draws.freeze(ref, pool=frozen, reveal_by=reveal_by, at=self.clock())
            if stored is None:
                raise UserError(f"{ref} was frozen or cancelled meanwhile.")
        await self.announce(stored)
        return stored

    async def announce(self, draw: Draw) -> None:
        """Post the frozen pool's announcement, then tell every member their entry in the background
        (each once; the draw is marked announced when all are told)."""
        tz = self.tz_of(draw.assembly)
        left_out = [w.user for w in draw.witnesses if w.commitment is None]
        assert draw.frozen is not None
        await self.poster.notice(
            await self.public_room(draw), announcement_text(draw, tz=tz, prefix=self.prefix, left_out=left_out),
            extra={DRAW_NOTICE: {"ref": draw.ref, "kind": "frozen", "pool_commitment": draw.frozen["pool_commitment"],
                                 "tickets_hash": draw.frozen["tickets_hash"]}},
            txn_seed=f"draw-frozen:{draw.ref}")
        if draw.ref not in self._telling:
            task = asyncio.create_task(self._tell_members(draw), name=f"sortition-tell-{draw.ref}")
            self._telling[draw.ref] = task
            task.add_done_callback(lambda _: self._telling.pop(draw.ref, None))

    async def _tell_members(self, draw: Draw) -> None:
        try:
            for member in await self.stores.draws.pool(draw.ref):
                if member.user_id is not None:
                    await self.poster.dm(member.user_id, member_text(draw, member, user=member.user_id),
                                         txn_seed=f"draw-member:{draw.ref}:{member.pseudonym}")
            await self.stores.draws.mark_announced(draw.ref, at=self.clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # tried again by the next tick
            log.exception("telling the members of %s their entries failed", draw.ref)

    # -- finishing -------------------------------------------------------------------------------------

    async def finish(self, ref: str, *, reason: str | None = None) -> Draw | None:
        """Draw the lot of ``ref`` (or cancel it with ``reason``), store, then post; None if it had
        already finished."""
        async with self._lock:
            draw = await self.stores.draws.get(ref)
            if draw is None or draw.status.finished:
                return None
            now = self.clock()
            record: dict[str, Any] | None = None
            seats: list[Seat] = []
            if draw.status is DrawStatus.FROZEN:
                record = finish_record(draw, secretaries=self.officers(draw.assembly), reason=reason)
                if record["status"] == "drawn":
                    seats = await self._seats_for(draw, record, now)
            stored = await self.stores.draws.finish(ref, record=record, seats=seats, at=now, cancel_reason=reason)
        if stored is not None:
            await self.post_result(stored)
        return stored

    async def _seats_for(self, draw: Draw, record: Mapping[str, Any], now: datetime) -> list[Seat]:
        """A seat for each selected member; one who asked to be forgotten is replaced by the next
        alternate of the same type."""
        owners = {m.pseudonym: m.user_id for m in await self.stores.draws.pool(draw.ref)}
        used = [entry["pseudonym"] for entry in record["selected"]]
        seats: list[Seat] = []
        for entry in record["selected"]:
            pseudonym: str | None = entry["pseudonym"]
            via = "drawn"
            while pseudonym is not None and owners.get(pseudonym) is None:
                pseudonym = next_alternate(record["alternates"], type_label=entry["type"], used=used)
                if pseudonym is not None:
                    used.append(pseudonym)
                via = "alternate"
            user = owners.get(pseudonym) if pseudonym is not None else None
            if pseudonym is None or user is None:
                continue
            seats.append(Seat(id=0, draw=draw.ref, assembly=draw.request.seat_in, user=user, type=entry["type"],
                              pseudonym=pseudonym, since=now, term_ends=draw.request.term_end(now),
                              power=draw.request.power, via=via))
        return seats

    async def post_result(self, draw: Draw) -> None:
        """Post the record as a JSON file and the result (or the cancellation); seat the drawn."""
        room = await self.public_room(draw)
        record = draw.record
        if record is not None:
            data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
            name = f"{draw.ref}.json"
            await self.poster.attachment(room, data, {
                "msgtype": "m.file", "body": name, "filename": name,
                "info": {"mimetype": "application/json", "size": len(data)},
                DRAW_NOTICE: {"ref": draw.ref, "kind": "record"}}, content_type="application/json",
                txn_seed=f"draw-record:{draw.ref}")
        if draw.status is DrawStatus.DRAWN and record is not None:
            tz = self.tz_of(draw.request.seat_in)
            seats = [s for s in await self.stores.seats.seats(draw=draw.ref, status=None) if s.since == draw.finished_at]
            names = sorted(s.user for s in seats)
            until = format_local(draw.request.term_end(draw.finished_at or self.clock()), tz)
            replaced = sum(1 for s in seats if s.via == "alternate")
            await self.poster.notice(
                room, result_text(draw, record, names=names, replaced=replaced, tz=tz, prefix=self.prefix,
                                  term_ends=until),
                extra={DRAW_NOTICE: {"ref": draw.ref, "kind": "result", "seed": record["seed"],
                                     "ticket": record["ticket"], "selected": names}},
                txn_seed=f"draw-result:{draw.ref}")
            await self.seats.seated(draw.request.seat_in, names, reason=f"drawn in {draw.ref}", draw=draw.ref,
                                    term_ends=until)
        else:
            reason = draw.cancel_reason or "no reason given"
            await self.poster.notice(room, cancelled_text(draw, reason, with_record=record is not None),
                                     extra={DRAW_NOTICE: {"ref": draw.ref, "kind": "cancelled", "reason": reason}},
                                     txn_seed=f"draw-cancelled:{draw.ref}")
        await self.stores.draws.mark_result_posted(draw.ref, at=self.clock())

    # -- deadlines and catching up ---------------------------------------------------------------------

    async def tick(self) -> None:
        """Finish what a restart left unposted, and draw the lots whose reveals are in or closed."""
        for draw in await self.stores.draws.unsettled():
            try:
                if (draw.status is DrawStatus.FROZEN and draw.ref not in self._telling
                        and not await self.stores.draws.announced(draw.ref)):
                    await self.announce(draw)
                if ready_to_draw(draw, now=self.clock()):
                    await self.finish(draw.ref)
                elif draw.status.finished:
                    await self.post_result(draw)
            except Exception:  # one draw's failure must not stop the others; tried again next tick
                log.exception("the draw %s could not be carried on", draw.ref)
