"""Recurring moots on the Matrix side: ``moot schedule … repeat=monthly`` makes a series (``S-…``), whose
next occurrences are kept as ordinary moots (``M-…``) with their own notices; each sweep makes the ones
that come into reach. Cancelling one occurrence records an exception date (it is never made again, the
others are unaffected); cancelling the series cancels what is still ahead. The recurrence itself is
python-dateutil's RFC 5545 rules (``harmony_matrix.consensus.recurrence``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from handlers.consensus.common import AssemblyLookup, ConsensusSettings
from handlers.consensus.moots import MootNotices
from handlers.consensus.stores import MootStore
from handlers.matrix.commands import CommandContext
from handlers.ports import Clock
from harmony_matrix.consensus.moots import Moot, MootStatus, cancel_moot, new_moot
from harmony_matrix.consensus.proposals import Proposal
from harmony_matrix.consensus.recurrence import (
    AHEAD,
    ANNOUNCE_AHEAD,
    Series,
    SeriesStatus,
    describe_rule,
    ended,
    next_starts,
    skip_occurrence,
)
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref
from harmony_matrix.when import format_duration, format_local


class MootSeriesKeeper:
    """Creates series, keeps their next ``AHEAD`` occurrences made, records exceptions and ends series."""

    def __init__(self, *, moots: MootStore, notices: MootNotices, assemblies: AssemblyLookup, clock: Clock,
                 settings: ConsensusSettings) -> None:
        self.moots = moots
        self.notices = notices
        self.assemblies = assemblies
        self.clock = clock
        self.settings = settings
        self._lock = asyncio.Lock()  # the sweep and a command must not make the same occurrence twice

    async def create(self, ctx: CommandContext, *, assembly: str, topic: str, first_start: datetime,
                     duration: timedelta, rule: str, proposals: Sequence[Proposal], room_id: str) -> None:
        """A new series from ``moot schedule … repeat=``; its first occurrences are made at once."""
        tz = self.assemblies.tz_of(assembly)
        now = self.clock()
        # The first occurrence is checked like any moot (topic, duration) before anything is stored.
        new_moot(ref="M-check-0", assembly=assembly, topic=topic, starts_at=first_start, duration=duration, now=now,
                 scheduled_by=UserId(ctx.sender))
        series = await self.moots.create_series(
            lambda ref: Series(ref=ref, assembly=assembly, topic=" ".join(topic.split()), rule=rule,
                               first_start=first_start, tz=getattr(tz, "key", str(tz)), duration=duration,
                               scheduled_by=UserId(ctx.sender), created_at=now),
            assembly=assembly, room_id=RoomId(room_id))
        made = await self.top_up(series, proposals=proposals, evidence=EventId(ctx.event_id))
        listed = "; ".join(f"{m.ref} {format_local(m.starts_at, tz)}" for m in made)
        await ctx.reply(f"Scheduled the series {series.ref}: {series.topic}, {describe_rule(rule)}, "
                        f"{format_duration(duration)} each. Next: {listed}. Each is announced a week ahead and "
                        f"reminded like any moot; {ctx.prefix} moot show {series.ref} lists what is coming.")

    async def top_up(self, series: Series, *, proposals: Sequence[Proposal] = (),
                     evidence: EventId | None = None) -> list[Moot]:
        """Make the series' next occurrences that are not made yet; returns the coming ones, made. The
        ``proposals`` of a new series go on its first occurrence's agenda."""
        async with self._lock:
            if series.status is SeriesStatus.ENDED:
                return []
            zone = self.assemblies.tz_of(series.assembly)
            now = self.clock()
            existing = await self.moots.occurrences(series.ref)
            have = {m.starts_at for m in existing}
            room = await self.moots.series_room(series.ref)
            for start in next_starts(series, zone=zone, after=now, count=AHEAD):
                if start in have:
                    continue
                first = not existing
                moot = await self.moots.create(
                    functools.partial(
                        self._occurrence, series, start=start, now=now, evidence=evidence,
                        proposals=[p.ref for p in proposals] if first else []),
                    assembly=series.assembly, room_id=room or RoomId(""), proposals=proposals if first else ())
                existing.append(moot)
                self.notices.schedule(moot)
                await self.notices.process(moot.ref)
            return sorted((m for m in existing if m.status is MootStatus.SCHEDULED and m.ends_at > now),
                          key=lambda m: m.starts_at)[:AHEAD]

    @staticmethod
    def _occurrence(series: Series, ref: str, *, start: datetime, now: datetime, evidence: EventId | None,
                    proposals: Sequence[str]) -> Moot:
        return new_moot(ref=ref, assembly=series.assembly, topic=series.topic, starts_at=start,
                        duration=series.duration, now=now, scheduled_by=series.scheduled_by, proposals=proposals,
                        series=series.ref, evidence=[evidence] if evidence else (),
                        announce_from=start - ANNOUNCE_AHEAD)

    async def top_up_all(self) -> None:
        """Every active series makes what came into reach (run before each sweep)."""
        for series in await self.moots.active_series():
            await self.top_up(series)

    async def skip(self, occurrence: Moot) -> None:
        """An occurrence was cancelled: record it as an exception date, so it is never made again."""
        if occurrence.series is None:
            return
        series = await self.moots.get_series(occurrence.series)
        if series is not None:
            await self.moots.save_series(skip_occurrence(series, occurrence.starts_at))

    async def end(self, ctx: CommandContext, ref: Ref) -> None:
        """``moot cancel S-…``: no more occurrences; those still ahead are cancelled."""
        series = await self.moots.get_series(ref.resolve(ctx.room.assembly))
        if series is None or series.assembly != ctx.room.assembly:
            raise UserError(f"there is no series {ref.text} in this assembly")
        if series.status is SeriesStatus.ENDED:
            raise UserError(f"{series.ref} has already ended")
        await self.moots.save_series(ended(series))
        now = self.clock()
        cancelled = []
        for moot in await self.moots.occurrences(series.ref):
            if moot.status is MootStatus.SCHEDULED and moot.starts_at > now:
                await self.moots.save(cancel_moot(moot, now=now, evidence=EventId(ctx.event_id)))
                await self.notices.cancelled(moot)
                cancelled.append(moot.ref)
        await ctx.reply(f"Ended the series {series.ref}; cancelled {', '.join(cancelled) or 'nothing still ahead'}.")
