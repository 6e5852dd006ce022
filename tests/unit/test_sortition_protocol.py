"""The draw protocol's pure rules: what people type, designing a draw from a pool, a draw's life, freezing
and finishing the record, seats and terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from harmony_matrix.errors import UserError
from harmony_matrix.sortition import InfeasibleQuotas, InvalidDrawInput, verify_record, witness_commitment
from harmony_matrix.sortition.arguments import (
    PoolKind,
    QuotaRow,
    SeatPower,
    parse_commitment,
    parse_draw_ref,
    parse_quotas,
    parse_reveal,
    parse_term,
)
from harmony_matrix.sortition.design import Candidate, design_draw, plan_draw, public_counts
from harmony_matrix.sortition.draws import (
    Draw,
    DrawRequest,
    DrawStatus,
    DrawWitness,
    check_named_witnesses,
    commit_refusal,
    freeze_refusal,
    ready_to_draw,
    reveal_refusal,
)
from harmony_matrix.sortition.frozen import finish_record, freeze_pool
from harmony_matrix.sortition.lot import make_pseudonym
from harmony_matrix.sortition.seats import Seat, SeatStatus, next_alternate, term_reminders

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
FEATURES = {"gender": ("woman", "man", "nonbinary")}
SECRET_A, SECRET_B, SECRET_C = "a1" * 16, "b2" * 16, "c3" * 16


def people(spec: dict[str, list[str | None]]) -> list[Candidate]:
    """``{branch: [gender or None, ...]}`` as candidates ``@<branch><n>:hs``."""
    return [Candidate(f"@{branch}{i}:hs", branch, {} if g is None else {"gender": g})
            for branch, genders in spec.items() for i, g in enumerate(genders)]


POOL = people({"north": ["woman", "man", None, "woman"], "south": ["man", "man", "nonbinary"],
               "west": ["woman", "man"]})


def design(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(assembly="region", pool=PoolKind.BRANCHES, seats=None, per_branch=1, quotas=(),
                                   features=FEATURES, branches=["north", "south", "west"], candidates=POOL)
    args.update(kw)
    return design_draw(**args)  # type: ignore[arg-type]


# --- what people type --------------------------------------------------------------------------------
def test_quota_rows_parse_with_their_bounds() -> None:
    assert parse_quotas("gender:woman=2-3, gender:man=1+ ,branch:north=1") == (
        QuotaRow("gender", "woman", 2, 3), QuotaRow("gender", "man", 1, None), QuotaRow("branch", "north", 1, 1))
    assert QuotaRow("gender", "man", 1, None).describe() == "gender=man at least 1"


@pytest.mark.parametrize(("text", "problem"), [
    ("gender=woman:2", 'is not a quota row; write category:value=N'),
    ("gender:woman=3-2", "gender=woman: the minimum 3 is above the maximum 2"),
    ("gender:woman=1,gender:woman=2", "gender=woman is given twice"),
    ("", "name at least one quota row"),
])
def test_bad_quota_rows_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_quotas(text)


def test_commitments_reveals_terms_and_refs() -> None:
    assert parse_commitment(witness_commitment(SECRET_A).upper()) == witness_commitment(SECRET_A)
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_commitment("abc")
    assert parse_reveal(SECRET_A) == SECRET_A
    with pytest.raises(ValueError, match="32 to 256 lowercase hex digits"):
        parse_reveal("ABCDEF" * 8)
    assert parse_term("30d").length == timedelta(days=30)
    assert parse_term("2027-06-30").until is not None
    with pytest.raises(ValueError, match="a term is a duration"):
        parse_term("whenever")
    assert parse_draw_ref("S-party-3").resolve(None) == "S-party-3"
    assert parse_draw_ref("3").resolve("ops") == "S-ops-3"


# --- designing a draw -------------------------------------------------------------------------------
def test_one_delegate_per_branch_is_a_strata_draw() -> None:
    d = design()
    assert d.problem.seats == 3
    assert d.problem.categories == {"branch": ("north", "south", "west")}
    assert d.strata == {"branch=north": 1, "branch=south": 1, "branch=west": 1}
    plan = plan_draw(d)
    assert plan.algorithm == "strata-uniform/1" and plan.tickets == ({"branch=north": 1, "branch=south": 1,
                                                                      "branch=west": 1},)
    assert plan.probabilities["branch=north"] == Fraction(1, 4)


def test_gender_quotas_make_a_leximin_draw_and_a_missing_value_is_undisclosed() -> None:
    d = design(per_branch=None, seats=3, pool=PoolKind.MEMBERS, quotas=(QuotaRow("gender", "woman", 1, 2),))
    assert d.problem.categories == {"gender": ("woman", "man", "nonbinary", "undisclosed")}
    assert d.labels["@north2:hs"] == "gender=undisclosed"
    assert d.strata is None
    plan = plan_draw(d)
    assert plan.algorithm == "leximin-types/1"
    assert all(1 <= t.get("gender=woman", 0) <= 2 for t in plan.tickets)


def test_a_draw_without_quotas_is_uniform_over_the_pool() -> None:
    d = design(per_branch=None, seats=2, pool=PoolKind.MEMBERS)
    assert d.problem.types == ("assembly=region",) and d.strata == {"assembly=region": 2}
    assert plan_draw(d).probabilities["assembly=region"] == Fraction(2, 9)


def test_infeasible_quotas_are_refused_naming_the_rows() -> None:
    with pytest.raises(InfeasibleQuotas) as err:
        plan_draw(design(per_branch=None, seats=3, pool=PoolKind.MEMBERS,
                         quotas=(QuotaRow("gender", "nonbinary", 2, 3),)))
    assert err.value.conflicts == ("gender=nonbinary min 2 but only 1 in the pool",)
    empty_branch = design(branches=["north", "south", "west", "east"])
    with pytest.raises(InfeasibleQuotas, match="branch=east min 1 but only 0 in the pool"):
        plan_draw(empty_branch)


@pytest.mark.parametrize(("kw", "problem"), [
    ({"quotas": (QuotaRow("age", "young", 1, 1),)}, "there is no feature age"),
    ({"quotas": (QuotaRow("gender", "robot", 1, 1),)}, "robot is not a value of gender"),
    ({"quotas": (QuotaRow("branch", "east", 1, 1),)}, "east is not an assembly nested in region"),
    ({"pool": PoolKind.MEMBERS, "per_branch": None, "seats": 1, "quotas": (QuotaRow("branch", "north", 1, 1),)},
     "branch quotas need pool=branches"),
    ({"pool": PoolKind.MEMBERS}, "per-branch= needs pool=branches"),
    ({"branches": []}, "region has no assemblies nested in it"),
])
def test_requests_that_do_not_fit_are_named(kw: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidDrawInput, match=problem):
        design(**kw)


def test_public_counts_hide_small_cells() -> None:
    assert public_counts([("a", 4), ("b", 5), ("c", 12)]) == [("a", "<5"), ("b", "5"), ("c", "12")]


# --- a draw's life ----------------------------------------------------------------------------------
def request(**kw: object) -> DrawRequest:
    base = dict(purpose="Delegates", seat_in="region", pool=PoolKind.BRANCHES, seats=3, per_branch=1, quotas=(),
                power=SeatPower.MODERATOR, alternates=2, term_length=timedelta(days=30), term_ends=None,
                authorised_by=None, beacon=None)
    base.update(kw)
    return DrawRequest(**base)  # type: ignore[arg-type]


def draw(status: DrawStatus = DrawStatus.COMMITTING, *witnesses: DrawWitness, **kw: object) -> Draw:
    return Draw(ref="S-region-1", assembly="region", request=request(), status=status, created_by="@sec:hs",
                created_at=NOW, room_id="!r", witnesses=witnesses, **kw)  # type: ignore[arg-type]


def test_the_request_round_trips_through_plain_data() -> None:
    r = request(quotas=(QuotaRow("gender", "woman", 1, None),), term_length=None, term_ends=NOW, beacon="7 12 31")
    assert DrawRequest.from_data(r.as_data()) == r
    assert r.term_end(NOW + timedelta(days=1)) == NOW
    assert request().term_end(NOW) == NOW + timedelta(days=30)


def test_witness_rules() -> None:
    check_named_witnesses(["@a:hs", "@sec:hs"], officers=["@sec:hs"])
    with pytest.raises(UserError, match="at least 2 witnesses"):
        check_named_witnesses(["@a:hs"], officers=[])
    with pytest.raises(UserError, match="must not be a secretary"):
        check_named_witnesses(["@sec:hs", "@dep:hs"], officers=["@sec:hs", "@dep:hs"])
    a, b = DrawWitness("@a:hs"), DrawWitness("@b:hs", witness_commitment(SECRET_B))
    assert commit_refusal(draw(DrawStatus.COMMITTING, a, b), "@x:hs") == "You are not a witness of S-region-1."
    assert "before its pool was frozen" in (commit_refusal(draw(DrawStatus.FROZEN, a, b), "@a:hs") or "")
    assert "1 commitment(s)" in (freeze_refusal(draw(DrawStatus.COMMITTING, a, b), officers=[], now=NOW) or "")
    both = draw(DrawStatus.COMMITTING, DrawWitness("@a:hs", witness_commitment(SECRET_A)), b)
    assert freeze_refusal(both, officers=[], now=NOW) is None
    assert "is a secretary" in (freeze_refusal(both, officers=["@a:hs", "@b:hs"], now=NOW) or "")


def test_reveals_count_only_while_frozen_and_matching() -> None:
    a = DrawWitness("@a:hs", witness_commitment(SECRET_A))
    b = DrawWitness("@b:hs", witness_commitment(SECRET_B))
    frozen = draw(DrawStatus.FROZEN, a, b, reveal_by=NOW + timedelta(hours=1))
    assert reveal_refusal(frozen, "@a:hs", SECRET_A, now=NOW) is None
    assert "does not match their commitment" in (reveal_refusal(frozen, "@a:hs", SECRET_B, now=NOW) or "")
    assert "Too late" in (reveal_refusal(frozen, "@a:hs", SECRET_A, now=NOW + timedelta(hours=1)) or "")
    assert "Too early" in (reveal_refusal(draw(DrawStatus.COMMITTING, a, b), "@a:hs", SECRET_A, now=NOW) or "")
    assert not ready_to_draw(frozen, now=NOW)
    assert ready_to_draw(frozen, now=NOW + timedelta(hours=1))
    revealed = draw(DrawStatus.FROZEN, DrawWitness("@a:hs", a.commitment, SECRET_A),
                    DrawWitness("@b:hs", b.commitment, SECRET_B), DrawWitness("@c:hs"), reveal_by=NOW)
    assert ready_to_draw(revealed, now=NOW - timedelta(days=1))  # the uncommitted @c is not waited for


# --- freezing and finishing --------------------------------------------------------------------------
def frozen_draw(*witnesses: DrawWitness) -> tuple[Draw, list[str]]:
    d = design(per_branch=None, seats=3, pool=PoolKind.MEMBERS, quotas=(QuotaRow("gender", "woman", 1, 2),))
    salts = {user: f"{i:032x}" for i, user in enumerate(sorted(d.labels))}
    pool = freeze_pool(d, plan_draw(d), salts)
    assert [m.pseudonym for m in pool.members] == sorted(make_pseudonym(u, s) for u, s in salts.items())
    return draw(DrawStatus.FROZEN, *witnesses, frozen=pool.data, reveal_by=NOW), sorted(d.labels)


def test_a_frozen_draw_is_drawn_from_the_reveals_in_time_and_checks_out() -> None:
    a = DrawWitness("@a:hs", witness_commitment(SECRET_A), SECRET_A)
    b = DrawWitness("@b:hs", witness_commitment(SECRET_B), SECRET_B)
    silent = DrawWitness("@c:hs", witness_commitment(SECRET_C))
    d, _ = frozen_draw(a, b, silent, DrawWitness("@never:hs"))
    record = finish_record(d, secretaries=["@sec:hs"])
    assert record["status"] == "drawn" and verify_record(record) == []
    assert [w["user"] for w in record["witnesses"]] == ["@a:hs", "@b:hs", "@c:hs"]  # @never never committed
    assert record["witnesses"][2]["reveal"] is None
    assert record["pool_commitment"] == d.frozen["pool_commitment"]  # type: ignore[index]
    assert len(record["selected"]) == 3 and 1 <= sum("woman" in e["type"] for e in record["selected"]) <= 2


def test_too_few_reveals_cancel_the_draw_on_record() -> None:
    a = DrawWitness("@a:hs", witness_commitment(SECRET_A), SECRET_A)
    d, _ = frozen_draw(a, DrawWitness("@b:hs", witness_commitment(SECRET_B)))
    record = finish_record(d, secretaries=[])
    assert record["status"] == "cancelled" and record["seed"] is None
    assert record["cancel_reason"] == "only 1 witness(es) revealed; a draw needs at least 2"
    assert verify_record(record) == []
    cancelled = finish_record(d, secretaries=[], reason="cancelled by @sec:hs: wrong pool")
    assert cancelled["cancel_reason"] == "cancelled by @sec:hs: wrong pool"


# --- seats and terms ---------------------------------------------------------------------------------
def seat(n: int, draw_ref: str = "S-region-1", **kw: object) -> Seat:
    base = dict(id=n, draw=draw_ref, assembly="region", user=f"@u{n}:hs", type="branch=north", pseudonym=f"p{n}",
                since=NOW, term_ends=NOW + timedelta(days=30), power=SeatPower.NONE)
    base.update(kw)
    return Seat(**base)  # type: ignore[arg-type]


def test_the_next_alternate_is_the_first_unused_of_the_same_type() -> None:
    alternates = [{"type": "branch=north", "pseudonym": "x"}, {"type": "branch=north", "pseudonym": "y"},
                  {"type": "branch=south", "pseudonym": "z"}]
    assert next_alternate(alternates, type_label="branch=north", used=["a"]) == "x"
    assert next_alternate(alternates, type_label="branch=north", used=["x"]) == "y"
    assert next_alternate(alternates, type_label="branch=south", used=["z"]) is None


def test_term_reminders_come_once_per_draw_ending_then_ended() -> None:
    seats = [seat(1), seat(2), seat(3, "S-region-2", term_ends=NOW + timedelta(days=300)),
             seat(4, status=SeatStatus.STOOD_DOWN)]
    notice = timedelta(days=14)
    assert term_reminders(seats, now=NOW, notice=notice) == []
    [ending] = term_reminders(seats, now=NOW + timedelta(days=20), notice=notice)
    assert (ending.draw, ending.kind, ending.key) == ("S-region-1", "ending", "draw-term:S-region-1:ending")
    [ended] = term_reminders(seats, now=NOW + timedelta(days=30), notice=notice)
    assert ended.kind == "ended"
    assert not seats[0].current(NOW + timedelta(days=30)) and seats[0].current(NOW)
