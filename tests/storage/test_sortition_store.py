"""The sortition stores on SQLite (always) and PostgreSQL (when HARMONY_TEST_POSTGRES is a DSN): a draw's
life stored all or nothing, guarded by its status; seats; self-described features and their erasure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from harmony_matrix.sortition import witness_commitment
from harmony_matrix.sortition.arguments import PoolKind, QuotaRow, SeatPower
from harmony_matrix.sortition.draws import Draw, DrawRequest, DrawStatus
from harmony_matrix.sortition.frozen import FrozenPool, PoolMember
from harmony_matrix.sortition.seats import Seat, SeatStatus
from storage.database import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
REQUEST = DrawRequest(purpose="Council", seat_in="council", pool=PoolKind.MEMBERS, seats=2, per_branch=None,
                      quotas=(QuotaRow("gender", "woman", 1, None),), power=SeatPower.NONE, alternates=2,
                      term_length=timedelta(days=30), term_ends=None, authorised_by="D-party-1", beacon=None)


def build(ref: str) -> Draw:
    return Draw(ref=ref, assembly="party", request=REQUEST, status=DrawStatus.COMMITTING, created_by="@sec:hs",
                created_at=NOW, room_id="!sec:hs")


POOL = FrozenPool(members=(PoolMember("aa" * 32, "@ann:hs", "01" * 16, "gender=woman", Fraction(2, 3)),
                           PoolMember("bb" * 32, "@bo:hs", "02" * 16, "gender=man", Fraction(1, 2))),
                  data={"pool_commitment": "cc" * 32, "tickets": [{"gender=woman": 1, "gender=man": 1}]})


def seat(user: str, pseudonym: str, **kw: object) -> Seat:
    base = dict(id=0, draw="S-party-1", assembly="council", user=user, type="gender=woman", pseudonym=pseudonym,
                since=NOW, term_ends=NOW + timedelta(days=30), power=SeatPower.NONE)
    base.update(kw)
    return Seat(**base)  # type: ignore[arg-type]


async def test_a_draw_is_numbered_per_assembly_and_round_trips(database: Database) -> None:
    draws = database.sortition.draws
    first = await draws.create(build, assembly="party", witnesses=["@w1:hs", "@w2:hs"])
    second = await draws.create(build, assembly="party", witnesses=["@w1:hs", "@w2:hs"])
    assert (first.ref, second.ref) == ("S-party-1", "S-party-2")
    loaded = await draws.get("S-party-1")
    assert loaded is not None and loaded.request == REQUEST and loaded.created_at == NOW
    assert [w.user for w in loaded.witnesses] == ["@w1:hs", "@w2:hs"]
    assert [d.ref for d in await draws.of_assembly("party")] == ["S-party-1", "S-party-2"]
    assert await draws.get("S-party-9") is None


async def test_freezing_and_finishing_happen_once_each(database: Database) -> None:
    draws = database.sortition.draws
    await draws.create(build, assembly="party", witnesses=["@w1:hs", "@w2:hs"])
    committed = await draws.commit("S-party-1", "@w1:hs", witness_commitment("a1" * 16), at=NOW)
    assert [w.commitment is not None for w in committed.witnesses] == [True, False]
    frozen = await draws.freeze("S-party-1", pool=POOL, reveal_by=NOW + timedelta(days=2), at=NOW)
    assert frozen is not None and frozen.status is DrawStatus.FROZEN and frozen.frozen == POOL.data
    assert frozen.reveal_by == NOW + timedelta(days=2)
    assert await draws.freeze("S-party-1", pool=POOL, reveal_by=NOW, at=NOW) is None  # already frozen
    assert [m.user_id for m in await draws.pool("S-party-1")] == ["@ann:hs", "@bo:hs"]
    assert await draws.pool("S-party-1") == list(POOL.members)
    revealed = await draws.reveal("S-party-1", "@w1:hs", "a1" * 16, at=NOW)
    assert revealed.witnesses[0].reveal == "a1" * 16

    record = {"status": "drawn", "cancel_reason": None, "seed": "ab"}
    done = await draws.finish("S-party-1", record=record, seats=[seat("@ann:hs", "aa" * 32)], at=NOW)
    assert done is not None and done.status is DrawStatus.DRAWN and done.record == record
    assert await draws.finish("S-party-1", record=None, seats=[], at=NOW, cancel_reason="late") is None
    [held] = await database.sortition.seats.seats(assembly="council")
    assert (held.user, held.status, held.term_ends) == ("@ann:hs", SeatStatus.SEATED, NOW + timedelta(days=30))
    assert [d.ref for d in await draws.unsettled()] == ["S-party-1"]
    await draws.mark_result_posted("S-party-1", at=NOW)
    assert await draws.unsettled() == []


async def test_a_draw_cancelled_before_its_freeze_keeps_its_reason(database: Database) -> None:
    draws = database.sortition.draws
    await draws.create(build, assembly="party", witnesses=["@w1:hs", "@w2:hs"])
    done = await draws.finish("S-party-1", record=None, seats=[], at=NOW, cancel_reason="wrong branches")
    assert done is not None and done.status is DrawStatus.CANCELLED and done.cancel_reason == "wrong branches"
    assert await draws.freeze("S-party-1", pool=POOL, reveal_by=NOW, at=NOW) is None


async def test_seats_stand_down_once_and_an_alternate_is_seated_once(database: Database) -> None:
    seats = database.sortition.seats
    taken = await seats.add(seat("@ann:hs", "aa" * 32))
    assert taken is not None and taken.id > 0
    assert await seats.add(seat("@ann:hs", "aa" * 32)) is None  # that pseudonym already had its seat
    assert await seats.end(taken.id, SeatStatus.STOOD_DOWN, at=NOW)
    assert not await seats.end(taken.id, SeatStatus.ENDED, at=NOW)
    alternate = await seats.add(replace(taken, id=0, user="@cy:hs", pseudonym="dd" * 32, via="alternate"))
    assert alternate is not None
    assert [s.user for s in await seats.seats(assembly="council")] == ["@cy:hs"]
    assert [s.status for s in await seats.seats(draw="S-party-1", status=None)] == [SeatStatus.STOOD_DOWN,
                                                                                   SeatStatus.SEATED]


async def test_features_are_set_replaced_read_and_erased(database: Database) -> None:
    features = database.sortition.features
    await features.set("@ann:hs", "gender", "woman", at=NOW)
    await features.set("@ann:hs", "gender", "nonbinary", at=NOW)
    await features.set("@bo:hs", "gender", "man", at=NOW)
    assert await features.of_user("@ann:hs") == {"gender": "nonbinary"}
    assert await features.of_users(["@ann:hs", "@cy:hs"], ["gender"]) == {"@ann:hs": {"gender": "nonbinary"}}
    assert await features.clear("@bo:hs", "gender") and not await features.clear("@bo:hs", "gender")
    assert await features.erase("@ann:hs") == 1 and await features.of_user("@ann:hs") == {}


async def test_forgetting_unlinks_pool_entries_but_keeps_the_pseudonyms(database: Database) -> None:
    draws = database.sortition.draws
    await draws.create(build, assembly="party", witnesses=["@w1:hs", "@w2:hs"])
    await draws.freeze("S-party-1", pool=POOL, reveal_by=NOW, at=NOW)
    assert [ref for ref, _ in await draws.entries_of("@ann:hs")] == ["S-party-1"]
    assert await draws.forget("@ann:hs") == 1
    assert await draws.entries_of("@ann:hs") == []
    assert [(m.pseudonym, m.user_id) for m in await draws.pool("S-party-1")] == [("aa" * 32, None),
                                                                                 ("bb" * 32, "@bo:hs")]
    notices = database.sortition.notices
    assert await notices.settle("draw-term:S-party-1:ending", at=NOW)
    assert not await notices.settle("draw-term:S-party-1:ending", at=NOW)
    assert await notices.settled("draw-term:S-party-1:ending")
