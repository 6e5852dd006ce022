"""Moots on the Matrix side: ``!h moot schedule|cancel|minutes``, ``!h moots``, and the notices.

The database is the source of truth. Each notice has a date job keyed by ``PlannedNotice.key``; a
periodic sweep (``consensus.check_interval``) catches anything due that has no job (after a restart, or
when the injected clock jumped). Both end in ``process``, which asks the core which notices are due and
whether each is still worth sending (``harmony_matrix.consensus.moots.due_notices``), posts with a transaction ID
derived from the key, and then settles the key (unique in storage): a notice is never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from handlers.matrix.commands import CommandContext, command
from handlers.consensus.common import MOOT_NOTICE, Deps, require_assembly, split_users
from harmony_matrix.commands import Option, Param, Place, Role
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.consensus.moots import (
    Moot,
    MootStatus,
    NoticeKind,
    PlannedNotice,
    Send,
    cancel_moot,
    due_notices,
    finish_moot,
    new_moot,
    parse_moot_ref,
    record_minutes,
    render_ical,
    upcoming_notices,
)
from harmony_matrix.consensus.proposals import ProposalStatus, parse_proposal_ref, transition
from harmony_matrix.when import format_duration, format_local, parse_duration, parse_when

log = logging.getLogger(__name__)

_WHEN_WORDS = 4  # the longest <when> form ("tomorrow at 7 pm" style) has at most four words


def split_when(text: str, *, now: datetime, tz) -> tuple[datetime, str]:  # type: ignore[no-untyped-def]
    """Split ``<when> <topic>``: the longest prefix of words that reads as a time, then the topic."""
    words = text.split()
    if len(words) <= 1:
        raise UserError("a moot needs a time and a topic: !h moot schedule <when> <topic>")
    errors: list[UserError] = []
    for length in range(min(len(words) - 1, _WHEN_WORDS), 0, -1):
        try:
            return parse_when(" ".join(words[:length]), now=now, tz=tz), " ".join(words[length:])
        except UserError as exc:
            errors.append(exc)
    raise errors[-1]


def _in_words(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 1:
        return "now"
    return "in " + format_duration(timedelta(minutes=minutes))


class MootNotices:
    """Posts the announcement, reminders, start and end notices of every scheduled moot."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        """Catch up on what is due, then rebuild a job for every pending notice from the database."""
        self.deps.scheduler.add_job(self.sweep, "interval",
                                    seconds=self.deps.settings.check_interval.total_seconds(),
                                    id="consensus-sweep", replace_existing=True, coalesce=True, max_instances=1)
        await self.sweep()
        for moot in await self.deps.stores.moots.scheduled():
            self.schedule(moot)

    def schedule(self, moot: Moot) -> None:
        """One date job per notice still ahead (by the injected clock, mapped onto real time)."""
        now = self.deps.now()
        skew = datetime.now(UTC) - now
        for planned in upcoming_notices(moot, now=now, reminder_offsets=self.deps.settings.reminders_before):
            self.deps.scheduler.add_job(self.process, "date", run_date=planned.due_at + skew, args=[moot.ref],
                                        id=planned.key, replace_existing=True, misfire_grace_time=None)

    def unschedule(self, ref: str) -> None:
        for job in self.deps.scheduler.get_jobs():
            if job.id.startswith(f"{ref}/"):
                job.remove()

    def pending_jobs(self, ref: str) -> list[str]:
        return [job.id for job in self.deps.scheduler.get_jobs() if job.id.startswith(f"{ref}/")]

    async def sweep(self) -> None:
        for moot in await self.deps.stores.moots.scheduled():
            try:
                await self.process(moot.ref)
            except Exception:
                log.exception("moot notices for %s failed", moot.ref)

    async def process(self, ref: str) -> None:
        """Send what is due for one moot, once; settle what is no longer worth sending."""
        lock = self._locks.setdefault(ref, asyncio.Lock())
        async with lock:
            moot = await self.deps.stores.moots.get(ref)
            if moot is None or moot.status is not MootStatus.SCHEDULED:
                return
            room_id = await self.deps.stores.moots.room_of(ref)
            settings = self.deps.settings
            now = self.deps.now()
            settled = await self.deps.stores.notices.settled(f"{ref}/")
            for planned, verdict in due_notices(moot, now=now, sent=settled, reminder_offsets=settings.reminders_before,
                                                end_grace=settings.end_grace):
                if isinstance(verdict, Send):
                    event_id = await self._post(moot, planned, room_id=str(room_id), now=now)
                    await self.deps.stores.notices.settle(planned.key, at=now, event_id=event_id)
                    log.info("moot notice %s sent", planned.key)
                else:
                    await self.deps.stores.notices.settle(planned.key, at=now, skipped=verdict.reason)
                    log.info("moot notice %s skipped: %s", planned.key, verdict.reason)
            if now >= moot.ends_at + settings.end_grace or f"{ref}/end" in await self.deps.stores.notices.settled(f"{ref}/"):
                await self.deps.stores.moots.save(finish_moot(moot))

    async def _post(self, moot: Moot, planned: PlannedNotice, *, room_id: str, now: datetime) -> str:
        tz = await self.deps.tz_of(moot.assembly)
        name = await self.deps.name_of(moot.assembly)
        when = f"{format_local(moot.starts_at, tz)} – {format_local(moot.ends_at, tz)}"
        marker = (MOOT_NOTICE, {"moot": moot.ref, "kind": planned.kind.value, "key": planned.key})
        seed = f"moot:{planned.key}"
        if planned.kind is NoticeKind.ANNOUNCEMENT:
            lines = [f"📅 Moot {moot.ref} of {name}: {moot.topic}", f"When: {when}", f"Agenda: {moot.topic}"]
            for ref in moot.proposals:
                proposal = await self.deps.stores.proposals.get(ref)
                lines.append(f"Proposal {ref}: {proposal.title if proposal else ''}".rstrip(": "))
            lines.append(f"Starts {_in_words(moot.starts_at - now)}. The calendar file follows.")
            event_id = await self.deps.post(room_id, "\n".join(lines), marker=marker, txn_seed=seed)
            ical = render_ical(moot, assembly_name=name, tz=tz, uid_domain=self.deps.gateway.server_name)
            await self._attach_ical(room_id, moot, ical.encode(), seed=f"{seed}/ical")
            return event_id
        if planned.kind is NoticeKind.REMINDER:
            text = f"⏰ Reminder: moot {moot.ref} ({moot.topic}) starts {_in_words(moot.starts_at - now)}, at {format_local(moot.starts_at, tz)}."
        elif planned.kind is NoticeKind.START:
            text = f"▶️ Moot {moot.ref} ({moot.topic}) has started; it runs until {format_local(moot.ends_at, tz)}."
        else:
            text = (f"⏹️ Moot {moot.ref} ({moot.topic}) has ended. A secretary records the minutes with "
                    f"!h moot minutes {moot.ref} <text>.")
        return await self.deps.post(room_id, text, marker=marker, txn_seed=seed)

    async def _attach_ical(self, room_id: str, moot: Moot, data: bytes, *, seed: str) -> str:
        filename = f"{moot.ref}.ics"
        url = await self.deps.gateway.upload(data, content_type="text/calendar", filename=filename)
        content = {"msgtype": "m.file", "body": filename, "filename": filename, "url": url,
                   "info": {"mimetype": "text/calendar", "size": len(data)},
                   MOOT_NOTICE: {"moot": moot.ref, "kind": "ical"}}
        return await self.deps.gateway.send_event(room_id, "m.room.message", content, txn_seed=seed)


class MootCommands:
    def __init__(self, deps: Deps, notices: MootNotices) -> None:
        self.deps = deps
        self.notices = notices

    @command("moot schedule", summary="Schedule a moot: a structured discussion at a set time.",
             example="!h moot schedule tomorrow 19:00 Budget for 2027 duration=90m proposal=P-ops-2",
             params=(Param("when_and_topic", help="when (e.g. tomorrow 19:00, in 2h, 2026-12-01 19:00), then the topic",
                           rest=True),),
             options=(Option("duration", help="how long, e.g. 90m or 2h (default 1h)", metavar="d"),
                      Option("proposal", help="proposals on the agenda, e.g. P-ops-2,P-ops-3", metavar="ref")),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def schedule(self, ctx: CommandContext, when_and_topic: str, duration: str | None,
                       proposal: str | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        now = self.deps.now()
        tz = await self.deps.tz_of(assembly)
        starts_at, topic = split_when(when_and_topic, now=now, tz=tz)
        if starts_at <= now:
            raise UserError(f"that time is in the past ({format_local(starts_at, tz)}; it is now "
                            f"{format_local(now, tz)}); a moot must start in the future")
        length = parse_duration(duration) if duration else self.deps.settings.default_moot_duration
        linked = []
        for text in (proposal or "").replace(",", " ").split():
            slug, number = parse_proposal_ref(text, default_assembly=assembly)
            found = await self.deps.stores.proposals.get(f"P-{slug}-{number}")
            if found is None:
                raise UserError(f"there is no proposal {text}; see the references the bot gave when they were raised")
            if found.status is not ProposalStatus.MOOT:
                found = transition(found, ProposalStatus.MOOT, evidence=EventId(ctx.event_id))
            linked.append(found)
        room_id = await self.deps.room(assembly, "announcements", fallback=ctx.room_id)
        for attempt in range(3):
            ref = await self.deps.stores.moots.next_ref(assembly)
            moot = new_moot(ref=ref, assembly=assembly, topic=topic, starts_at=starts_at, duration=length, now=now,
                            scheduled_by=UserId(ctx.sender), proposals=[p.ref for p in linked],
                            evidence=[EventId(ctx.event_id)])
            try:
                await self.deps.stores.moots.create(moot, room_id=RoomId(room_id), proposals=linked)
                break
            except Exception:
                if attempt == 2:
                    raise
        await ctx.reply(f"Scheduled {moot.ref}: {moot.topic}, {format_local(moot.starts_at, tz)} "
                        f"for {format_duration(moot.duration)}. I'll announce it and remind everyone.")
        self.notices.schedule(moot)
        await self.notices.process(moot.ref)

    @command("moot cancel", summary="Cancel a scheduled moot; its reminders are dropped.",
             example="!h moot cancel M-ops-3", params=(Param("moot", help="the moot's reference, e.g. M-ops-3"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def cancel(self, ctx: CommandContext, moot: str) -> None:
        found = await self._find(ctx, moot)
        cancelled = cancel_moot(found, now=self.deps.now(), evidence=EventId(ctx.event_id))
        await self.deps.stores.moots.save(cancelled)
        self.notices.unschedule(found.ref)
        room_id = await self.deps.stores.moots.room_of(found.ref)
        tz = await self.deps.tz_of(found.assembly)
        await self.deps.post(str(room_id), f"❌ Moot {found.ref} ({found.topic}, {format_local(found.starts_at, tz)}) is cancelled.",
                             marker=(MOOT_NOTICE, {"moot": found.ref, "kind": "cancelled"}),
                             txn_seed=f"moot:{found.ref}/cancelled")
        await ctx.reply(f"Cancelled {found.ref}; its pending reminders and notices are dropped.")

    @command("moot minutes", summary="Record the minutes (and who attended) of a moot that has started.",
             example="!h moot minutes M-ops-3 We agreed to ... attendees=@ann:example.org,@bo:example.org",
             params=(Param("moot", help="the moot's reference"), Param("text", help="the minutes", rest=True)),
             options=(Option("attendees", help="who attended, e.g. @a:x,@b:x (you are counted)", metavar="users"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY)
    async def minutes(self, ctx: CommandContext, moot: str, text: str, attendees: str | None) -> None:
        found = await self._find(ctx, moot)
        people = [UserId(u) for u in split_users(attendees or "")] + [UserId(ctx.sender)]
        updated = record_minutes(found, text, now=self.deps.now(), attendees=people, evidence=EventId(ctx.event_id))
        await self.deps.stores.moots.save(updated)
        await ctx.reply(f"Minutes of {found.ref} recorded; {len(updated.attendees)} attended.")

    @command("moots", summary="Upcoming moots of an assembly (this one by default).", example="!h moots ops",
             params=(Param("assembly", help="an assembly's short name", optional=True),))
    async def list_moots(self, ctx: CommandContext, assembly: str | None) -> None:
        slug = assembly or ctx.room.assembly
        moots = await self.deps.stores.moots.upcoming(assemblies=None if slug is None else [slug], after=self.deps.now())
        if not moots:
            await ctx.reply(f"No upcoming moots{' in ' + slug if slug else ''}.")
            return
        lines = []
        for moot in moots:
            tz = await self.deps.tz_of(moot.assembly)
            extra = f" — proposals {', '.join(moot.proposals)}" if moot.proposals else ""
            lines.append(f"{moot.ref}: {moot.topic}, {format_local(moot.starts_at, tz)} "
                         f"({format_duration(moot.duration)}){extra}")
        await ctx.reply("Upcoming moots:\n" + "\n".join(lines))

    async def _find(self, ctx: CommandContext, text: str) -> Moot:
        slug, number = parse_moot_ref(text, default_assembly=ctx.room.assembly)
        found = await self.deps.stores.moots.get(f"M-{slug}-{number}")
        if found is None or found.assembly != ctx.room.assembly:
            raise UserError(f"there is no moot {text} in this assembly; !h moots lists them")
        return found
