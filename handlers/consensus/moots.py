"""Moots on the Matrix side: ``moot schedule|cancel|minutes``, ``moots``, and the notices.

The database is the source of truth. Each notice has a date job keyed by ``PlannedNotice.key``; a
periodic sweep (``consensus.check_interval``) catches anything due that has no job (after a restart, or
when the injected clock jumped). Both end in ``MootNotices.process``, which asks the core which notices
are due and whether each is still worth sending (``harmony_matrix.consensus.moots.due_notices``), posts
with a transaction ID derived from the key, and then settles the key (unique in storage): a notice is
never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from handlers.consensus.common import AssemblyLookup, ConsensusSettings, require_assembly
from handlers.consensus.running import MinutesPoster, agenda_lines
from handlers.consensus.stores import MootStore, NoticeStore, ProposalStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.posting import Poster
from handlers.matrix.render import with_links
from handlers.ports import Clock, PublicLinks, Scheduler
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role, parse_users
from harmony_matrix.consensus.agenda import quorum_text
from harmony_matrix.consensus.ical import render_ical
from harmony_matrix.consensus.moots import (
    MAX_DURATION,
    MIN_DURATION,
    Moot,
    MootStatus,
    NoticeKind,
    PlannedNotice,
    Send,
    WhenAndTopic,
    cancel_moot,
    due_notices,
    finish_moot,
    new_moot,
    parse_moot_ref,
    parse_when_and_topic,
    record_minutes,
    upcoming_notices,
)
from harmony_matrix.consensus.proposals import ProposalStatus, parse_proposal_refs, transition
from harmony_matrix.consensus.recurrence import parse_moot_or_series_ref, parse_repeat
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import MOOT_NOTICE
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref
from harmony_matrix.when import format_duration, format_local, parse_duration

if TYPE_CHECKING:  # built after these classes (it needs MootNotices); only annotations refer to it
    from handlers.consensus.moot_series import MootSeriesKeeper

log = logging.getLogger(__name__)

SWEEP_JOB = "consensus-sweep"


def _in_words(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 1:
        return "now"
    return "in " + format_duration(timedelta(minutes=minutes))


class MootNotices:
    """Posts the announcement, reminders, start and end notices of every scheduled moot."""

    def __init__(self, *, moots: MootStore, notices: NoticeStore, proposals: ProposalStore,
                 assemblies: AssemblyLookup, poster: Poster, gateway: MatrixGateway, scheduler: Scheduler,
                 clock: Clock, settings: ConsensusSettings, prefix: str, links: PublicLinks | None = None) -> None:
        self.links = links  # the assembly's public page lists its moots
        self.moots = moots
        self.notices = notices
        self.proposals = proposals
        self.assemblies = assemblies
        self.poster = poster
        self.gateway = gateway  # uploads the calendar file; its server names the calendar event
        self.scheduler = scheduler
        self.clock = clock
        self.settings = settings
        self.prefix = prefix  # the configured prefix, for notices that name a command
        self._locks: dict[str, asyncio.Lock] = {}
        #: Run before each sweep: the recurring moots make their coming occurrences (``MootSeriesKeeper``).
        self.before_sweep: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        """Catch up on what is due, then rebuild a job for every pending notice from the database."""
        self.scheduler.add_job(self.sweep, "interval", seconds=self.settings.check_interval.total_seconds(),
                               id=SWEEP_JOB, replace_existing=True, coalesce=True, max_instances=1)
        await self.sweep()
        for moot in await self.moots.scheduled():
            self.schedule(moot)

    def stop(self) -> None:
        """Stop the sweep (the notices' date jobs end with the scheduler)."""
        if self.scheduler.get_job(SWEEP_JOB) is not None:
            self.scheduler.remove_job(SWEEP_JOB)

    def schedule(self, moot: Moot) -> None:
        """One date job per notice still ahead (by the injected clock, mapped onto real time)."""
        now = self.clock()
        skew = datetime.now(UTC) - now
        for planned in upcoming_notices(moot, now=now, reminder_offsets=self.settings.reminders_before):
            self.scheduler.add_job(self.process, "date", run_date=planned.due_at + skew, args=[moot.ref],
                                   id=planned.key, replace_existing=True, misfire_grace_time=None)

    def unschedule(self, ref: str) -> None:
        """Drop the pending jobs of a moot (cancelled)."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith(f"{ref}/"):
                job.remove()

    def pending_jobs(self, ref: str) -> list[str]:
        """The IDs of a moot's pending notice jobs."""
        return [job.id for job in self.scheduler.get_jobs() if job.id.startswith(f"{ref}/")]

    async def sweep(self) -> None:
        """Make the coming occurrences of recurring moots, then process every scheduled moot; one moot's
        failure does not stop the others."""
        if self.before_sweep is not None:
            try:
                await self.before_sweep()
            except Exception:
                log.exception("recurring moots could not be topped up")
        for moot in await self.moots.scheduled():
            try:
                await self.process(moot.ref)
            except Exception:
                log.exception("moot notices for %s failed", moot.ref)

    async def process(self, ref: str) -> None:
        """Send what is due for one moot, once; settle what is no longer worth sending."""
        lock = self._locks.setdefault(ref, asyncio.Lock())
        async with lock:
            moot = await self.moots.get(ref)
            if moot is None or moot.status is not MootStatus.SCHEDULED:
                return
            room_id = await self.moots.room_of(ref)
            settings = self.settings
            now = self.clock()
            settled = await self.notices.settled(f"{ref}/")
            for planned, verdict in due_notices(moot, now=now, sent=settled, reminder_offsets=settings.reminders_before,
                                                end_grace=settings.end_grace):
                if isinstance(verdict, Send):
                    event_id = await self._post(moot, planned, room_id=str(room_id), now=now)
                    await self.notices.settle(planned.key, at=now, event_id=event_id)
                    log.info("moot notice %s sent", planned.key)
                else:
                    await self.notices.settle(planned.key, at=now, skipped=verdict.reason)
                    log.info("moot notice %s skipped: %s", planned.key, verdict.reason)
            if now >= moot.ends_at + settings.end_grace or f"{ref}/end" in await self.notices.settled(f"{ref}/"):
                await self.moots.save(finish_moot(moot))

    async def _post(self, moot: Moot, planned: PlannedNotice, *, room_id: str, now: datetime) -> str:
        tz = self.assemblies.tz_of(moot.assembly)
        name = self.assemblies.name_of(moot.assembly)
        when = f"{format_local(moot.starts_at, tz)} – {format_local(moot.ends_at, tz)}"
        marker = {MOOT_NOTICE: {"moot": moot.ref, "kind": planned.kind.value, "key": planned.key}}
        seed = f"moot:{planned.key}"
        if planned.kind is NoticeKind.ANNOUNCEMENT:
            lines = [f"📅 Moot {moot.ref} of {name}: {moot.topic}", f"When: {when}", "Agenda:"]
            lines += await agenda_lines(moot, self.proposals) or [f"  {moot.topic}"]
            lines.append(f"Starts {_in_words(moot.starts_at - now)}. The calendar file follows.")
            page = self.links.url_for_assembly(moot.assembly) if self.links is not None else None
            text, html = with_links("\n".join(lines), [("Public page", page)])
            event_id = await self.poster.notice(room_id, text, html, extra=marker, txn_seed=seed)
            ical = render_ical(moot, assembly_name=name, tz=tz, uid_domain=self.gateway.server_name)
            await self._attach_ical(room_id, moot, ical.encode(), seed=f"{seed}/ical")
            return event_id
        if planned.kind is NoticeKind.REMINDER:
            text = (f"⏰ Reminder: moot {moot.ref} ({moot.topic}) starts {_in_words(moot.starts_at - now)}, "
                    f"at {format_local(moot.starts_at, tz)}.")
        elif planned.kind is NoticeKind.START:
            text = (f"▶️ Moot {moot.ref} ({moot.topic}) has started; it runs until {format_local(moot.ends_at, tz)}. "
                    "React ✋ to this message to record that you are here.")
        else:
            text = (f"⏹️ Moot {moot.ref} ({moot.topic}) has ended. A secretary records the minutes with "
                    f"{self.prefix} moot minutes {moot.ref} <text>.")
        return await self.poster.notice(room_id, text, extra=marker, txn_seed=seed)

    async def _attach_ical(self, room_id: str, moot: Moot, data: bytes, *, seed: str) -> str:
        filename = f"{moot.ref}.ics"
        content = {"msgtype": "m.file", "body": filename, "filename": filename,
                   "info": {"mimetype": "text/calendar", "size": len(data)},
                   MOOT_NOTICE: {"moot": moot.ref, "kind": "ical"}}
        return await self.poster.attachment(room_id, data, content, content_type="text/calendar", txn_seed=seed)

    async def cancelled(self, moot: Moot) -> None:
        """Drop a cancelled moot's jobs and say so where its notices went."""
        self.unschedule(moot.ref)
        room_id = await self.moots.room_of(moot.ref)
        tz = self.assemblies.tz_of(moot.assembly)
        await self.poster.notice(
            str(room_id), f"❌ Moot {moot.ref} ({moot.topic}, {format_local(moot.starts_at, tz)}) is cancelled.",
            extra={MOOT_NOTICE: {"moot": moot.ref, "kind": "cancelled"}}, txn_seed=f"moot:{moot.ref}/cancelled")


class Moots:
    """Schedules, cancels and minutes moots, and lists the upcoming ones."""

    def __init__(self, *, moots: MootStore, proposals: ProposalStore, notices: MootNotices,
                 assemblies: AssemblyLookup, clock: Clock, settings: ConsensusSettings,
                 series: MootSeriesKeeper | None = None, minutes: MinutesPoster | None = None) -> None:
        self.series = series
        self.minutes_poster = minutes
        self.moots = moots
        self.proposals = proposals
        self.notices = notices
        self.assemblies = assemblies
        self.clock = clock
        self.settings = settings

    @command("moot schedule", summary="Schedule a moot: a structured discussion at a set time.",
             example="!h moot schedule tomorrow 19:00 Budget for 2027 duration=90m proposal=P-ops-2",
             params=(Param("when", help="when (e.g. tomorrow 19:00, in 2h, 2026-12-01 19:00), then the topic",
                           parser=parse_when_and_topic, rest=True,
                           label="when> <topic", max_length=500),),  # shown as <when> <topic>
             options=(Option("duration", help=f"how long, e.g. 90m or 2h (default 1h; at least "
                                                  f"{format_duration(MIN_DURATION)}, at most {format_duration(MAX_DURATION)})",
                             parser=parse_duration,
                             metavar="d"),
                      Option("proposal", help="proposals on the agenda, e.g. P-ops-2,P-ops-3",
                             parser=parse_proposal_refs, metavar="ref"),
                      Option("repeat", help="weekly, fortnightly, monthly or an RRULE such as FREQ=MONTHLY;BYDAY=1TU",
                             parser=parse_repeat, metavar="rule")),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def schedule(self, ctx: CommandContext, when: WhenAndTopic, duration: timedelta | None,
                       proposal: tuple[Ref, ...] | None, repeat: str | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        now = self.clock()
        tz = self.assemblies.tz_of(assembly)
        starts_at = when.time.resolve(now=now, tz=tz)
        if starts_at <= now:
            raise UserError(f"that time is in the past ({format_local(starts_at, tz)}; it is now "
                            f"{format_local(now, tz)}); a moot must start in the future")
        length = duration or self.settings.default_moot_duration
        linked = []
        for ref in proposal or ():
            found = await self.proposals.get(ref.resolve(assembly))
            if found is None:
                raise UserError(f"there is no proposal {ref.text}; see the references the bot gave when they were raised")
            if found.status is not ProposalStatus.MOOT:
                found = transition(found, ProposalStatus.MOOT, evidence=EventId(ctx.event_id))
            linked.append(found)
        room_id = await self.assemblies.room(assembly, "announcements", fallback=ctx.room_id)
        if repeat is not None:
            if self.series is None:
                raise UserError("recurring moots are not available on this bot")
            await self.series.create(ctx, assembly=assembly, topic=when.topic, first_start=starts_at, duration=length,
                                     rule=repeat, proposals=linked, room_id=room_id)
            return
        moot = await self.moots.create(
            lambda ref: new_moot(ref=ref, assembly=assembly, topic=when.topic, starts_at=starts_at,
                                 duration=length, now=now, scheduled_by=UserId(ctx.sender),
                                 proposals=[p.ref for p in linked], evidence=[EventId(ctx.event_id)]),
            assembly=assembly, room_id=RoomId(room_id), proposals=linked)
        await ctx.reply(f"Scheduled {moot.ref}: {moot.topic}, {format_local(moot.starts_at, tz)} "
                        f"for {format_duration(moot.duration)}. I'll announce it and remind everyone.")
        self.notices.schedule(moot)
        await self.notices.process(moot.ref)

    @command("moot cancel", summary="Cancel a scheduled moot (one occurrence of a series too), or a whole "
                                    "series (S-…); their reminders are dropped.",
             example="!h moot cancel M-ops-3",
             params=(Param("moot", help="the moot's reference, e.g. M-ops-3, or a series' S-ops-1",
                           parser=parse_moot_or_series_ref),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def cancel(self, ctx: CommandContext, moot: Ref) -> None:
        if moot.letter == "S":
            if self.series is None:
                raise UserError("recurring moots are not available on this bot")
            await self.series.end(ctx, moot)
            return
        found = await self._find(ctx, moot)
        await self.moots.save(cancel_moot(found, now=self.clock(), evidence=EventId(ctx.event_id)))
        await self.notices.cancelled(found)
        if found.series is not None and self.series is not None:
            await self.series.skip(found)
        also = f" The other occurrences of {found.series} are unaffected." if found.series else ""
        await ctx.reply(f"Cancelled {found.ref}; its pending reminders and notices are dropped.{also}")

    @command("moot minutes", summary="Record the minutes (and who attended) of a moot that has started.",
             example="!h moot minutes M-ops-3 We agreed to ... attendees=@ann:example.org,@bo:example.org",
             params=(Param("moot", help="the moot's reference", parser=parse_moot_ref),
                     Param("text", help="the minutes", rest=True, max_length=10_000)),
             options=(Option("attendees", help="who attended besides those who reacted ✋ on the start notice, "
                                              "e.g. @a:x,@b:x (you are counted)", parser=parse_users,
                             metavar="users"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def minutes(self, ctx: CommandContext, moot: Ref, text: str,
                      attendees: tuple[UserId, ...] | None) -> None:
        found = await self._find(ctx, moot)
        people = [*(attendees or ()), UserId(ctx.sender)]
        updated = record_minutes(found, text, now=self.clock(), attendees=people, evidence=EventId(ctx.event_id))
        await self.moots.save(updated)
        quorum = self.settings.quorum_for(found.assembly)
        if self.minutes_poster is not None:
            await self.minutes_poster.post(updated, seed=f"minutes:{ctx.event_id}")
        await ctx.reply(f"Minutes of {found.ref} recorded and posted to the announcements; "
                        f"{quorum_text(updated, quorum)}. Read them later with {ctx.prefix} moot show {found.ref}")

    @command("moots", summary="Upcoming moots of an assembly (this one by default).", example="!h moots ops",
             params=(Param("assembly", help="an assembly's short name", optional=True),))
    async def list_moots(self, ctx: CommandContext, assembly: str | None) -> None:
        slug = assembly and self.assemblies.which(assembly, here=None, usage="moots <assembly>", prefix=ctx.prefix)
        slug = slug or ctx.room.assembly
        moots = await self.moots.upcoming(assemblies=None if slug is None else [slug], after=self.clock())
        if not moots:
            await ctx.reply(f"No upcoming moots{' in ' + slug if slug else ''}.")
            return
        lines = []
        for moot in moots:
            tz = self.assemblies.tz_of(moot.assembly)
            extra = f" — proposals {', '.join(moot.proposals)}" if moot.proposals else ""
            lines.append(f"{moot.ref}: {moot.topic}, {format_local(moot.starts_at, tz)} "
                         f"({format_duration(moot.duration)}){extra}")
        await ctx.reply("Upcoming moots:\n" + "\n".join(lines))

    async def _find(self, ctx: CommandContext, ref: Ref) -> Moot:
        found = await self.moots.get(ref.resolve(ctx.room.assembly))
        if found is None or found.assembly != ctx.room.assembly:
            raise UserError(f"there is no moot {ref.text} in this assembly; {ctx.prefix} moots lists them")
        return found
