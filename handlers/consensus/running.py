"""Running a moot on the Matrix side: its agenda (``moot agenda add|link|move|remove``), attendance by
reaction on the start notice, the minutes posted to the announcements (and, for bodies that report to
others such as the Council of Secretaries, to those assemblies' rooms: ``consensus.minutes_copies``), and
``moot show`` to read a moot or a series back. The rules are the core's (``harmony_matrix.consensus.agenda``).
"""

from __future__ import annotations

import logging

from nio import ReactionEvent

from handlers.consensus.common import AssemblyLookup, ConsensusSettings
from handlers.consensus.stores import MootStore, NoticeStore, ProposalStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.posting import Poster
from handlers.ports import Clock
from harmony_matrix.commands import ROOM_ASSEMBLY, Param, Place, Role, parse_positive_int
from harmony_matrix.consensus.agenda import (
    ATTENDANCE_KEYS,
    add_item,
    attend,
    link_proposal,
    move_item,
    quorum_text,
    remove_item,
)
from harmony_matrix.consensus.moots import Moot, MootStatus, parse_moot_ref
from harmony_matrix.consensus.proposals import ProposalStatus, parse_proposal_ref, transition
from harmony_matrix.consensus.recurrence import describe_rule, next_starts, parse_moot_or_series_ref
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import MINUTES_NOTICE
from harmony_matrix.ids import UserId
from harmony_matrix.refs import Ref
from harmony_matrix.when import format_duration, format_local

log = logging.getLogger(__name__)


async def agenda_lines(moot: Moot, proposals: ProposalStore) -> list[str]:
    """The agenda, numbered; a proposal's item shows its title."""
    lines = []
    for number, item in enumerate(moot.agenda, start=1):
        proposal = await proposals.get(item) if item.upper().startswith("P-") else None
        lines.append(f"  {number}. {item}: {proposal.title}" if proposal else f"  {number}. {item}")
    return lines


class MinutesPoster:
    """Posts a moot's minutes where its notices go, and copies them to the assemblies it reports to."""

    def __init__(self, *, moots: MootStore, poster: Poster, assemblies: AssemblyLookup,
                 settings: ConsensusSettings) -> None:
        self.moots = moots
        self.poster = poster
        self.assemblies = assemblies
        self.settings = settings

    async def post(self, moot: Moot, *, seed: str) -> None:
        """Post the minutes (once per ``seed``), then a copy to each assembly in ``minutes_copies``."""
        tz = self.assemblies.tz_of(moot.assembly)
        name = self.assemblies.name_of(moot.assembly)
        text = (f"📝 Minutes of moot {moot.ref} of {name}: {moot.topic} ({format_local(moot.starts_at, tz)})\n"
                f"{moot.minutes}\nAttendance: {quorum_text(moot, self.settings.quorum_for(moot.assembly))}")
        marker = {MINUTES_NOTICE: {"moot": moot.ref}}
        room = await self.moots.room_of(moot.ref)
        await self.poster.notice(str(room), text, extra=marker, txn_seed=seed)
        for slug in self.settings.minutes_copies.get(moot.assembly, ()):
            copy_room = await self.assemblies.room(slug, "announcements", fallback="")
            if not copy_room:
                log.warning("minutes of %s not copied to %s: it has no announcements room", moot.ref, slug)
                continue
            await self.poster.notice(copy_room, f"(Reported to {self.assemblies.name_of(slug)})\n{text}",
                                     extra={MINUTES_NOTICE: {"moot": moot.ref, "copy_for": slug}},
                                     txn_seed=f"{seed}:{slug}")


class MootRunning:
    """The agenda commands, ``moot show`` and attendance."""

    def __init__(self, *, moots: MootStore, notices: NoticeStore, proposals: ProposalStore,
                 assemblies: AssemblyLookup, clock: Clock, settings: ConsensusSettings) -> None:
        self.moots = moots
        self.notices = notices
        self.proposals = proposals
        self.assemblies = assemblies
        self.clock = clock
        self.settings = settings

    @command("moot agenda add", summary="Add an item to a moot's agenda.",
             example="!h moot agenda add M-ops-3 Treasurer's report",
             params=(Param("moot", help="the moot's reference", parser=parse_moot_ref),
                     Param("item", help="the item", rest=True)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def agenda_add(self, ctx: CommandContext, moot: Ref, item: str) -> None:
        found = await self._find(ctx, moot)
        await self._save_and_show(ctx, add_item(found, item))

    @command("moot agenda link", summary="Put a proposal on a moot's agenda (it moves to the moot stage).",
             example="!h moot agenda link M-ops-3 P-ops-2",
             params=(Param("moot", help="the moot's reference", parser=parse_moot_ref),
                     Param("proposal", help="the proposal's reference", parser=parse_proposal_ref)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def agenda_link(self, ctx: CommandContext, moot: Ref, proposal: Ref) -> None:
        found = await self._find(ctx, moot)
        linked = await self.proposals.get(proposal.resolve(ctx.room.assembly))
        if linked is None or linked.assembly != found.assembly:
            raise UserError(f"there is no proposal {proposal.text} in {found.assembly}")
        updated = link_proposal(found, linked.ref)
        if linked.status is not ProposalStatus.MOOT:
            await self.proposals.save(transition(linked, ProposalStatus.MOOT))
        await self._save_and_show(ctx, updated)

    @command("moot agenda move", summary="Move an agenda item to another place.",
             example="!h moot agenda move M-ops-3 3 1",
             params=(Param("moot", help="the moot's reference", parser=parse_moot_ref),
                     Param("item", help="the item's number", parser=parse_positive_int),
                     Param("to", help="its new number", parser=parse_positive_int)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def agenda_move(self, ctx: CommandContext, moot: Ref, item: int, to: int) -> None:
        found = await self._find(ctx, moot)
        await self._save_and_show(ctx, move_item(found, item, to))

    @command("moot agenda remove", summary="Take an item off a moot's agenda.",
             example="!h moot agenda remove M-ops-3 2",
             params=(Param("moot", help="the moot's reference", parser=parse_moot_ref),
                     Param("item", help="the item's number", parser=parse_positive_int)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def agenda_remove(self, ctx: CommandContext, moot: Ref, item: int) -> None:
        found = await self._find(ctx, moot)
        await self._save_and_show(ctx, remove_item(found, item))

    async def _save_and_show(self, ctx: CommandContext, moot: Moot) -> None:
        await self.moots.save(moot)
        await ctx.reply(f"Agenda of {moot.ref}:\n" + "\n".join(await agenda_lines(moot, self.proposals)))

    @command("moot show", summary="A moot (agenda, attendance, quorum, minutes) or a recurring series (its next "
                                  "occurrences).",
             example="!h moot show M-ops-3",
             params=(Param("moot", help="a moot's reference (M-ops-3) or a series' (S-ops-1)",
                           parser=parse_moot_or_series_ref),))
    async def show(self, ctx: CommandContext, moot: Ref) -> None:
        if moot.letter == "S":
            await ctx.reply(await self._series_page(moot.resolve(ctx.room.assembly), ctx.prefix))
            return
        found = await self.moots.get(moot.resolve(ctx.room.assembly))
        if found is None:
            raise UserError(f"there is no moot {moot.text}; {ctx.prefix} moots lists the upcoming ones")
        tz = self.assemblies.tz_of(found.assembly)
        lines = [f"📅 Moot {found.ref} of {self.assemblies.name_of(found.assembly)}: {found.topic} — "
                 f"{found.status.value}",
                 f"When: {format_local(found.starts_at, tz)} – {format_local(found.ends_at, tz)}"]
        if found.series:
            lines.append(f"Part of the recurring series {found.series}")
        lines += ["Agenda:", *(await agenda_lines(found, self.proposals) or ["  (no items)"])]
        lines.append(f"Attendance: {quorum_text(found, self.settings.quorum_for(found.assembly))}")
        lines.append(f"Minutes: {found.minutes}" if found.minutes else "Minutes: not recorded yet")
        await ctx.reply("\n".join(lines))

    async def _series_page(self, ref: str, prefix: str) -> str:
        series = await self.moots.get_series(ref)
        if series is None:
            raise UserError(f"there is no series {ref}")
        tz = self.assemblies.tz_of(series.assembly)
        made = [m for m in await self.moots.occurrences(series.ref)]
        now = self.clock()
        lines = [f"🔁 Series {series.ref}: {series.topic}, {describe_rule(series.rule)} from "
                 f"{format_local(series.first_start, tz)}, {format_duration(series.duration)} — {series.status.value}"]
        coming = [m for m in made if m.status is MootStatus.SCHEDULED and m.ends_at > now]
        lines.append("Next: " + ("; ".join(f"{m.ref} {format_local(m.starts_at, tz)}" for m in coming) or "none"))
        later = [s for s in next_starts(series, zone=tz, after=max([now, *(m.starts_at for m in made)]), count=2)]
        if later:
            lines.append("Then: " + "; ".join(format_local(s, tz) for s in later))
        cancelled = [m for m in made if m.status is MootStatus.CANCELLED]
        if cancelled:
            lines.append("Cancelled: " + "; ".join(f"{m.ref} {format_local(m.starts_at, tz)}" for m in cancelled))
        lines.append(f"Cancel one occurrence with {prefix} moot cancel M-…, the whole series with "
                     f"{prefix} moot cancel {series.ref}")
        return "\n".join(lines)

    async def on_reaction(self, room_id: str, event: ReactionEvent) -> None:
        """✋ on a moot's start notice: the sender attends."""
        if event.key.replace("\ufe0f", "") not in ATTENDANCE_KEYS:
            return
        key = await self.notices.key_of(event.reacts_to)
        if key is None or not key.endswith("/start"):
            return
        moot = await self.moots.get(key.removesuffix("/start"))
        if moot is None or moot.status is MootStatus.CANCELLED:
            return
        if moot.ends_at + self.settings.end_grace < self.clock():
            return  # long over: attendance is taken during the moot
        await self.moots.save(attend(moot, UserId(event.sender)))

    async def _find(self, ctx: CommandContext, ref: Ref) -> Moot:
        found = await self.moots.get(ref.resolve(ctx.room.assembly))
        if found is None or found.assembly != ctx.room.assembly:
            raise UserError(f"there is no moot {ref.text} in this assembly; {ctx.prefix} moots lists them")
        return found
