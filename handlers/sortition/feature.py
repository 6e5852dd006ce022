"""Sortition as a feature of the app: draws by lot that anyone can check, seats with a term, and the
self-described features their quotas use.

Where a thing lives
-------------------
``DrawCommands`` (``draws.py``) declares the draw commands; ``Lifecycle`` (``lifecycle.py``) freezes,
finishes and posts; ``Seats`` (``seats.py``) holds who sits where, stand-downs and terms;
``FeatureCommands`` (``features.py``) takes people's features by DM; ``PoolReader`` (``pool.py``) reads
who is in a pool. The algorithm and the record are the pure core's (``harmony_matrix.sortition``).
The assemblies feature is reached through ``handlers.ports.AssemblySeating``; it reads seats back
through ``handlers.ports.SeatDirectory`` (this object), for access and power levels.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.posting import Poster
from handlers.ports import AssemblySeating, Clock, MemberRegistry, Scheduler
from handlers.sortition.draws import DrawCommands
from handlers.sortition.features import FeatureCommands, SortitionSettings
from handlers.sortition.lifecycle import Lifecycle
from handlers.sortition.pool import PoolReader
from handlers.sortition.seats import SeatReader, Seats
from handlers.sortition.stores import SortitionStores

log = logging.getLogger(__name__)

_JOB = "sortition-deadlines"


class SortitionFeature:
    """The sortition feature (see ``harmony_app.app.Feature``) and the seat directory of assemblies."""

    def __init__(self, *, stores: SortitionStores, assemblies: AssemblySeating, members: MemberRegistry,
                 gateway: MatrixGateway, poster: Poster, scheduler: Scheduler, clock: Clock,
                 settings: SortitionSettings, prefix: str) -> None:
        self.stores = stores
        self.scheduler = scheduler
        self.clock = clock
        self.settings = settings
        self.seats = Seats(stores=stores, assemblies=assemblies, poster=poster, clock=clock, settings=settings,
                           prefix=prefix)
        pool = PoolReader(assemblies=assemblies, gateway=gateway, members=members, features=stores.features)
        self.lifecycle = Lifecycle(stores=stores, assemblies=assemblies, pool=pool, seats=self.seats, poster=poster,
                                   clock=clock, settings=settings, prefix=prefix)
        self.draws = DrawCommands(stores=stores, lifecycle=self.lifecycle, poster=poster, clock=clock,
                                  settings=settings)
        self.features = FeatureCommands(features=stores.features, settings=settings, clock=clock)

    # -- the Feature protocol ---------------------------------------------------------------------------

    def command_handlers(self) -> list[object]:
        """The objects whose ``@command`` methods the router collects."""
        return [self.draws, self.seats, self.features]

    def register(self, dispatcher: object) -> None:
        """No events of its own: everything arrives as commands, deadlines and term ends."""

    async def start(self) -> None:
        """Catch up on what a restart interrupted, then check deadlines and terms periodically."""
        self.scheduler.add_job(self.tick, "interval", seconds=self.settings.check_interval.total_seconds(), id=_JOB,
                               replace_existing=True, coalesce=True, max_instances=1)
        await self.tick()

    async def stop(self) -> None:
        """Remove the periodic check and stop sending members their entries (resumed at the next start)."""
        if self.scheduler.get_job(_JOB) is not None:
            self.scheduler.remove_job(_JOB)
        await self.lifecycle.stop()

    async def tick(self) -> None:
        """Draw the lots whose reveals are in or closed, post what is unposted, remind and end terms.
        (The scheduler calls it; tests call it after moving their clock.)"""
        try:
            await self.lifecycle.tick()
            await self.seats.check_terms()
        except Exception:  # a scheduler job: log, and try again at the next interval
            log.exception("the sortition check failed")

    # -- ``ports.SeatDirectory`` -------------------------------------------------------------------------

    async def seated_in(self, user_id: str) -> frozenset[str]:
        """Assemblies where ``user_id`` holds a seat drawn by lot, within its term."""
        return await self.seats.seated_in(user_id)

    async def seats_by_person(self) -> dict[str, frozenset[str]]:
        """Everyone holding a seat drawn by lot within its term → the assemblies where."""
        return await self.seats.seats_by_person()

    async def seat_moderators(self, slug: str) -> frozenset[str]:
        """Seat holders of ``slug`` with moderator power by their draw."""
        return await self.seats.seat_moderators(slug)

    async def seat_holders(self, slug: str) -> frozenset[str]:
        """Who holds a seat of ``slug`` drawn by lot now (``ports.SeatHolders``, for the offices)."""
        return await SeatReader(self.stores.seats, self.clock).seat_holders(slug)

    # -- a person's data ---------------------------------------------------------------------------------

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """Features, pool entries (pseudonym, salt, type, probability) and seats of ``user_id``."""
        entries = await self.stores.draws.entries_of(user_id)
        seats = await self.stores.seats.seats(user=user_id, status=None)
        return {
            "features": await self.stores.features.of_user(user_id),
            "pool_entries": [{"draw": ref, "pseudonym": m.pseudonym, "salt": m.salt, "type": m.type,
                              "probability": str(m.probability)} for ref, m in entries],
            "seats": [{"draw": s.draw, "assembly": s.assembly, "since": s.since.isoformat(),
                       "term_ends": s.term_ends.isoformat(), "status": s.status.value, "via": s.via} for s in seats],
        }

    async def erase_user_data(self, user_id: str) -> None:
        """Forget the person's features and their link to pool entries (the published pseudonyms stay,
        naming nobody). Seats are public roles and stay on record, like the consensus record's roles;
        a forgotten member selected in a draw still open gives their seat to the next alternate."""
        await self.stores.features.erase(user_id)
        await self.stores.draws.forget(user_id)
