"""The draw commands: announce, commit, freeze, reveal, cancel, show (``docs/spec/sortition.md``).

Each command is one declared method: options arrive parsed (``harmony_matrix.sortition.arguments``),
who may run it is declared (``role=``, ``manages=``), and the rules of a draw's life are the pure
core's (``harmony_matrix.sortition.draws``). Storing and announcing are ``Lifecycle``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.ports import Clock
from handlers.sortition.features import SortitionSettings
from handlers.sortition.lifecycle import Lifecycle
from handlers.sortition.render import describe_request, setup_text, witness_text
from handlers.sortition.stores import SortitionStores
from harmony_matrix.assemblies.assembly import parse_slug
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role, parse_positive_int, parse_users
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import DRAW_NOTICE
from harmony_matrix.ids import UserId
from harmony_matrix.refs import Ref
from harmony_matrix.sortition.arguments import (
    PoolKind,
    QuotaRow,
    SeatPower,
    Term,
    parse_commitment,
    parse_count,
    parse_draw_ref,
    parse_pool,
    parse_power,
    parse_quotas,
    parse_reveal,
    parse_term,
)
from harmony_matrix.sortition.draws import (
    Draw,
    DrawRequest,
    DrawStatus,
    check_named_witnesses,
    commit_refusal,
    ready_to_draw,
    reveal_refusal,
)
from harmony_matrix.sortition.lot import witness_commitment
from harmony_matrix.when import When, format_local, read_when

_DRAW = Param("draw", help="e.g. S-party-1 (or its number in the assembly's rooms)", parser=parse_draw_ref)


class DrawCommands:
    """The commands of draws by lot."""

    def __init__(self, *, stores: SortitionStores, lifecycle: Lifecycle, poster: Poster, clock: Clock,
                 settings: SortitionSettings) -> None:
        self.stores = stores
        self.lifecycle = lifecycle
        self.poster = poster
        self.clock = clock
        self.settings = settings

    async def _draw(self, ref: Ref, ctx: CommandContext, *, own_assembly: bool = False) -> Draw:
        """The draw ``ref`` names; with ``own_assembly`` it must belong to the room's assembly."""
        full = ref.resolve(ctx.room.assembly)
        draw = await self.stores.draws.get(full)
        if draw is None:
            raise UserError(f"There is no draw {full}.")
        if own_assembly and draw.assembly != ctx.room.assembly:
            raise UserError(f"{full} belongs to {draw.assembly}: run this in one of its rooms.")
        return draw

    @command("draw announce", summary="Announce a draw by lot: pool, seats, quotas, witnesses, term.",
             example="!h draw announce Delegates to the region pool=branches each=1 witnesses=@a:example.org,"
                     "@b:example.org term=365d",
             params=(Param("purpose", help="what the drawn will do", rest=True, max_length=500),),
             options=(
                 Option("seats", help="how many are drawn", parser=parse_positive_int, metavar="N"),
                 Option("pool", help="members (taking part here) or branches (of the assemblies nested here)",
                        parser=parse_pool, metavar="members|branches"),
                 Option("each", help="seats per branch (pool=branches)", parser=parse_positive_int, metavar="N"),
                 Option("quotas", help="e.g. gender:woman=2-3,gender:man=1-3", parser=parse_quotas,
                        metavar="category:value=N-M,…", max_length=2000),
                 Option("into", help="the assembly the drawn sit in (this one, or one nested in it)",
                        parser=parse_slug, metavar="assembly"),
                 Option("witnesses", help="at least two; one not a secretary", parser=parse_users, metavar="users",
                        max_length=2000),
                 Option("deadline", help="when reveals close (default: a set time after the freeze)",
                        parser=read_when, metavar="when"),
                 Option("term", help="how long the drawn sit: 365d, or a date", parser=parse_term,
                        metavar="duration|date"),
                 Option("power", help="moderator: the drawn get moderator power where they sit",
                        parser=parse_power, metavar="moderator|none"),
                 Option("alternates", help="alternates kept per type (default 2)", parser=parse_count, metavar="N"),
                 Option("decision", help="the decision authorising it, e.g. D-party-4", metavar="ref", max_length=100),
                 Option("beacon", help="a public value named in advance (e.g. a lottery result)", max_length=200)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def announce(self, ctx: CommandContext, purpose: str, seats: int | None, pool: PoolKind | None,
                       each: int | None, quotas: tuple[QuotaRow, ...] | None, into: str | None,
                       witnesses: tuple[UserId, ...] | None, deadline: When | None, term: Term | None,
                       power: SeatPower | None, alternates: int | None, decision: str | None,
                       beacon: str | None) -> None:
        """Check everything (the quotas against today's pool included), store, then announce."""
        assembly = ctx.room.assembly
        assert assembly is not None  # Place.ASSEMBLY
        federation = self.lifecycle.assemblies.federation()
        seat_in = into or assembly
        if seat_in != assembly and seat_in not in federation.descendants(assembly):
            raise UserError(f"into={seat_in}: the drawn can sit in {assembly} or an assembly nested in it.")
        if not witnesses:
            raise UserError("Name the witnesses: witnesses=@a:example.org,@b:example.org (at least two, one of "
                            "them not a secretary or deputy).")
        check_named_witnesses(witnesses, officers=self.lifecycle.officers(assembly))
        now, tz = self.clock(), self.lifecycle.tz_of(assembly)
        term = term or Term(length=self.settings.default_term)
        request = DrawRequest(
            purpose=purpose, seat_in=seat_in, pool=pool or PoolKind.MEMBERS, seats=seats, per_branch=each,
            quotas=quotas or (), power=power or SeatPower.NONE,
            alternates=self.settings.alternates if alternates is None else alternates,
            term_length=term.length,
            term_ends=term.until.resolve(now=now, tz=tz, require_future=True) if term.until else None,
            authorised_by=decision, beacon=beacon)
        reveal_by = deadline.resolve(now=now, tz=tz, require_future=True) if deadline else None
        design = await self.lifecycle.check(assembly, request)  # refuses infeasible quotas: nothing stored
        if request.seats is None:
            request = replace(request, seats=design.problem.seats)
        draw = await self.stores.draws.create(
            lambda ref: Draw(ref=ref, assembly=assembly, request=request, status=DrawStatus.COMMITTING,
                             created_by=ctx.sender, created_at=now, room_id=ctx.room_id, reveal_by=reveal_by),
            assembly=assembly, witnesses=list(witnesses))
        room = await self.lifecycle.public_room(draw)
        text = setup_text(draw, tz=tz, prefix=ctx.prefix)
        await self.poster.notice(room, text, extra={DRAW_NOTICE: {"ref": draw.ref, "kind": "setup"}},
                                 txn_seed=f"draw-setup:{draw.ref}")
        for witness in draw.witnesses:
            await self.poster.dm(witness.user, witness_text(draw, prefix=ctx.prefix),
                                 txn_seed=f"draw-witness:{draw.ref}:{witness.user}")
        where = "" if room == ctx.room_id else " (posted in the announcements room)"
        await ctx.reply(f"Draw {draw.ref} is announced{where}: {len(design.labels)} members in the pool today. "
                        "I have asked each witness privately to commit.")

    @command("draw commit", summary="As a witness: commit to your secret (its SHA-256), before the pool is frozen.",
             example="!h draw commit S-party-1 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
             params=(_DRAW, Param("commitment", help="sha256 of your secret, 64 hex digits", parser=parse_commitment,
                                  max_length=100)))
    async def commit(self, ctx: CommandContext, draw: Ref, commitment: str) -> None:
        """Record the sender's commitment; the pool is frozen once every witness has committed."""
        found = await self._draw(draw, ctx)
        why_not = commit_refusal(found, ctx.sender)
        if why_not:
            raise UserError(why_not)
        updated = await self.stores.draws.commit(found.ref, ctx.sender, commitment, at=self.clock())
        waiting = [w.user for w in updated.witnesses if w.commitment is None]
        if waiting:
            await ctx.reply(f"Commitment recorded for {found.ref}. Keep your secret until the pool is frozen; "
                            f"still to commit: {', '.join(waiting)}.")
            return
        await ctx.reply(f"Commitment recorded for {found.ref}; every witness has committed, so I freeze the pool now.")
        try:
            frozen = await self.lifecycle.freeze(found.ref)
        except UserError as exc:
            await self._not_frozen(found, exc.message, prefix=ctx.prefix)
            return
        await ctx.reply(self._reveal_now(frozen, ctx.prefix))

    async def _not_frozen(self, draw: Draw, why: str, *, prefix: str) -> None:
        """Tell the room the draw was announced in why its pool could not be frozen (nothing changed)."""
        await self.poster.notice(draw.room_id, f"The pool of {draw.ref} could not be frozen: {why} Nothing was "
                                               f"announced. Change the pool, or cancel the draw: "
                                               f"{prefix} draw cancel {draw.ref} <reason>",
                                 txn_seed=f"draw-not-frozen:{draw.ref}:{len(draw.committed)}")

    def _reveal_now(self, draw: Draw, prefix: str) -> str:
        assert draw.reveal_by is not None
        return (f"The pool of {draw.ref} is frozen and announced. Witnesses: reveal your secret by "
                f"{format_local(draw.reveal_by, self.lifecycle.tz_of(draw.assembly))}: "
                f"{prefix} draw reveal {draw.ref} <secret>")

    @command("draw freeze", summary="Freeze a draw's pool with the commitments in so far (at least two).",
             example="!h draw freeze S-party-1", params=(_DRAW,),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def freeze(self, ctx: CommandContext, draw: Ref) -> None:
        """Freeze now; witnesses who have not committed are left out."""
        found = await self._draw(draw, ctx, own_assembly=True)
        frozen = await self.lifecycle.freeze(found.ref)
        await ctx.reply(self._reveal_now(frozen, ctx.prefix))

    @command("draw reveal", summary="As a witness: reveal your secret once the pool is frozen.",
             example="!h draw reveal S-party-1 5f1e0a…", params=(_DRAW, Param("secret", parser=parse_reveal,
                                                                            max_length=300)))
    async def reveal(self, ctx: CommandContext, draw: Ref, secret: str) -> None:
        """Record the reveal; the lot is drawn once every committed witness has revealed."""
        found = await self._draw(draw, ctx)
        mine = found.witness(ctx.sender)
        if (found.status is DrawStatus.COMMITTING and mine is not None and mine.commitment is not None
                and witness_commitment(secret) == mine.commitment):
            # Revealed before the pool was frozen: the secret is out, so it must not count.
            await self.stores.draws.commit(found.ref, ctx.sender, None, at=self.clock())
            raise UserError(f"Too early: the pool of {found.ref} is not frozen yet, and that secret is now known. "
                            f"I dropped your commitment: make a new secret and commit to it again "
                            f"({ctx.prefix} draw commit {found.ref} <sha256>).")
        why_not = reveal_refusal(found, ctx.sender, secret, now=self.clock())
        if why_not:
            raise UserError(why_not)
        updated = await self.stores.draws.reveal(found.ref, ctx.sender, secret, at=self.clock())
        if not ready_to_draw(updated, now=self.clock()):
            waiting = [w.user for w in updated.committed if w.reveal is None]
            await ctx.reply(f"Reveal recorded for {found.ref}; still to reveal: {', '.join(waiting)}.")
            return
        await ctx.reply(f"Reveal recorded for {found.ref}; every witness has revealed, so the lot is drawn now.")
        await self.lifecycle.finish(found.ref)

    @command("draw cancel", summary="Call a draw off, with the reason (it stays on record).",
             example="!h draw cancel S-party-1 the branch list was wrong",
             params=(_DRAW, Param("reason", rest=True, max_length=500)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def cancel(self, ctx: CommandContext, draw: Ref, reason: str) -> None:
        """Cancel a draw not yet drawn; a frozen one gets its cancelled record published."""
        found = await self._draw(draw, ctx, own_assembly=True)
        if found.status.finished:
            raise UserError(f"{found.ref} is already {found.status.value}; a drawn lot is not undone (a seat "
                            f"holder may stand down: {ctx.prefix} seat stand-down {found.ref}).")
        done = await self.lifecycle.finish(found.ref, reason=f"cancelled by {ctx.sender}: {reason}")
        await ctx.reply(f"{found.ref} is cancelled; it stays on record with your reason." if done
                        else f"{found.ref} had just finished; nothing was cancelled.")

    @command("draw show", summary="Where a draw stands: witnesses, deadline, result.", example="!h draw show S-party-1",
             params=(_DRAW,))
    async def show(self, ctx: CommandContext, draw: Ref) -> None:
        """Describe one draw (public facts only)."""
        found = await self._draw(draw, ctx)
        tz = self.lifecycle.tz_of(found.assembly)
        lines = [f"Draw {found.ref}: {found.status.value}", *describe_request(found, tz=tz)]
        lines += [f"Witness {w.user}: " + ("revealed" if w.reveal else "committed" if w.commitment else "not committed")
                  for w in found.witnesses]
        if found.reveal_by is not None and not found.status.finished:
            lines.append(f"Reveals close: {format_local(found.reveal_by, tz)}")
        if found.record is not None and found.status is DrawStatus.DRAWN:
            lines.append(f"Seed {found.record['seed']}, ticket {found.record['ticket']}")
        if found.cancel_reason:
            lines.append(f"Cancelled: {found.cancel_reason}")
        await ctx.reply("\n".join(lines))

    @command("draws", summary="The draws of an assembly.", example="!h draws party",
             params=(Param("assembly", parser=parse_slug, optional=True),))
    async def list_draws(self, ctx: CommandContext, assembly: str | None) -> None:
        """List the draws of an assembly (the room's by default)."""
        slug = assembly or ctx.room.assembly
        if slug is None:
            raise UserError(f"Name the assembly: {ctx.prefix} draws <assembly>")
        draws: Sequence[Draw] = await self.stores.draws.of_assembly(slug)
        if not draws:
            await ctx.reply(f"{slug} has no draws yet.")
            return
        await ctx.reply(f"Draws of {slug}:\n" + "\n".join(
            f"• {d.ref} ({d.status.value}): {d.request.purpose}" for d in draws))
