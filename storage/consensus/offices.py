"""The office store: races for elected offices (with their candidates), and who holds the configured
offices (the Party Secretaries' besides the secretary and deputies, e.g. the Treasurer), with history."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from harmony_matrix.consensus.ballots import Ballot
from harmony_matrix.consensus.offices import Candidacy, Holding, Race, RaceStatus, make_race_ref
from harmony_matrix.consensus.roles import HowDecided, Mandate
from harmony_matrix.ids import EventId, UserId
from storage.consensus.ballots import settle_ballot
from storage.consensus.models import HoldingRow, RaceRow
from storage.consensus.numbering import insert_numbered
from storage.scope import ContextScope
from storage.timestamps import as_utc, as_utc_or_none


def _race(row: RaceRow) -> Race:
    return Race(
        ref=row.ref, assembly=row.assembly, office=row.office, seats=row.seats,
        opened_at=row.opened_at.astimezone(UTC), opened_by=None if row.opened_by is None else UserId(row.opened_by),
        candidates=tuple(Candidacy(UserId(str(c["user"])), datetime.fromisoformat(str(c["at"])).astimezone(UTC),
                                   None if c.get("event") is None else EventId(str(c["event"])))
                         for c in row.candidates or ()),
        status=RaceStatus(row.status), ballot_id=row.ballot_id, poll_ref=row.poll_ref)


def _candidates(race: Race) -> list[dict[str, str | None]]:
    return [{"user": c.user, "at": as_utc(c.stood_at, "stood_at").isoformat(), "event": c.event_id}
            for c in race.candidates]


def _holding(row: HoldingRow) -> Holding:
    return Holding(
        assembly=row.assembly, office=row.office, user=UserId(row.user), by=None if row.by is None else UserId(row.by),
        mandate=Mandate(since=row.since.astimezone(UTC), how_decided=HowDecided(row.how_decided),
                        term_ends=None if row.term_ends is None else row.term_ends.astimezone(UTC),
                        evidence=tuple(EventId(e) for e in row.evidence or ()), decision_ref=row.decision_ref))


class OfficeStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    # -- races -------------------------------------------------------------------------------------

    async def open_race(self, build: Callable[[str], Race], *, assembly: str) -> Race:
        """Store the race ``build(ref)`` returns, with the assembly's next race reference."""

        async def insert(connection: BaseDBAsyncClient) -> Race:
            number = await RaceRow.filter(assembly=assembly).using_db(connection).count() + 1
            race = build(make_race_ref(assembly, number))
            await RaceRow.create(
                ref=race.ref, assembly=race.assembly, number=number, office=race.office, seats=race.seats,
                opened_at=as_utc(race.opened_at, "opened_at"), opened_by=race.opened_by,
                candidates=_candidates(race), status=race.status.value, ballot_id=race.ballot_id,
                poll_ref=race.poll_ref, using_db=connection)
            return race

        return await insert_numbered(self._scope, insert)

    async def save_race(self, race: Race, *, ballot: Ballot | None = None) -> None:
        """Write back a race's candidates, status and poll (and settle its election's ballot), at once."""
        with self._scope():
            async with in_transaction("default") as connection:
                updated = await RaceRow.filter(ref=race.ref).using_db(connection).update(
                    candidates=_candidates(race), status=race.status.value, ballot_id=race.ballot_id,
                    poll_ref=race.poll_ref)
                if not updated:
                    raise LookupError(f"race {race.ref} was never opened")
                if ballot is not None:
                    await settle_ballot(ballot, connection)

    async def races(self, assembly: str | None = None, *, undecided: bool = True) -> list[Race]:
        """Races (of one assembly, or all), oldest first; by default only those not decided yet."""
        with self._scope():
            query = RaceRow.all()
            if assembly is not None:
                query = query.filter(assembly=assembly)
            if undecided:
                query = query.exclude(status=RaceStatus.DECIDED.value)
            rows = await query.order_by("id")
        return [_race(r) for r in rows]

    async def race_of_ballot(self, ballot_id: int) -> Race | None:
        """The race whose election is the ballot ``ballot_id``, if any."""
        with self._scope():
            row = await RaceRow.filter(ballot_id=ballot_id).first()
        return None if row is None else _race(row)

    # -- holders -----------------------------------------------------------------------------------

    async def holdings(self, assembly: str | None = None) -> list[Holding]:
        """Who holds a configured office now (of one assembly, or all), in the order they took it."""
        with self._scope():
            query = HoldingRow.filter(ended_at__isnull=True)
            if assembly is not None:
                query = query.filter(assembly=assembly)
            rows = await query.order_by("id")
        return [_holding(r) for r in rows]

    async def change_holders(self, *, ended: Iterable[Holding], begun: Iterable[Holding], at: datetime,
                             ballot: Ballot | None = None) -> None:
        """End ``ended`` and record ``begun`` (and settle the election's ballot), in one transaction."""
        with self._scope():
            async with in_transaction("default") as connection:
                for gone in ended:
                    await HoldingRow.filter(assembly=gone.assembly, office=gone.office, user=gone.user,
                                            ended_at__isnull=True).using_db(connection).update(
                        ended_at=as_utc(at, "at"))
                for new in begun:
                    mandate = new.mandate
                    await HoldingRow.create(
                        assembly=new.assembly, office=new.office, user=new.user, by=new.by,
                        since=as_utc(mandate.since, "since"), how_decided=mandate.how_decided.value,
                        term_ends=as_utc_or_none(mandate.term_ends, "term_ends"), evidence=list(mandate.evidence),
                        decision_ref=mandate.decision_ref, using_db=connection)
                if ballot is not None:
                    await settle_ballot(ballot, connection)

    async def history(self, user: str) -> list[Holding]:
        """Every configured office ``user`` held or holds (for their data export)."""
        with self._scope():
            rows = await HoldingRow.filter(user=user).order_by("id")
        return [_holding(r) for r in rows]

    async def standing_in(self, user: str) -> list[str]:
        """The races ``user`` stands in or stood in (for their data export)."""
        return [race.ref for race in await self.races(undecided=False) if user in race.standing]
