"""Quotas that cannot be met are refused with the clashing rows named (harmony_matrix.sortition.feasibility)."""

from __future__ import annotations

import pytest

from harmony_matrix.sortition import InfeasibleQuotas, InvalidDrawInput, Quota, make_problem, plan_leximin, type_label
from harmony_matrix.sortition.feasibility import check_feasible

from sortition_cases import branch_gender_problem

COUNTS = {("a", "woman"): 2, ("a", "man"): 4, ("b", "woman"): 1, ("b", "man"): 3, ("b", "nonbinary"): 1}


def conflicts(seats: int, quotas: list[Quota]) -> tuple[str, ...]:
    problem = branch_gender_problem(COUNTS, seats=seats, quotas=quotas)
    with pytest.raises(InfeasibleQuotas) as refused:
        plan_leximin(problem)  # refused before anything is computed: nothing half-done to clean up
    return refused.value.conflicts


def test_min_above_who_is_in_the_pool() -> None:
    assert conflicts(4, [Quota("gender", "woman", 5, 6)]) == (
        "gender=woman min 5 but only 3 in the pool",
        "gender: sum of mins 5 > seats 4",
    )


def test_min_above_max() -> None:
    assert "gender=man min 3 > max 2" in conflicts(4, [Quota("gender", "man", 3, 2)])


def test_sum_of_mins_above_seats() -> None:
    quotas = [Quota("gender", "woman", 3, 3), Quota("gender", "man", 4, 5)]
    assert conflicts(6, quotas) == ("gender: sum of mins 7 > seats 6",)


def test_sum_of_maxes_below_seats_counts_unlimited_values_by_the_pool() -> None:
    quotas = [Quota("gender", "woman", 0, 1), Quota("gender", "man", 0, 2)]
    # nonbinary has no row (1 member), undisclosed has nobody: at most 1 + 2 + 1 + 0 = 4 seats.
    assert conflicts(5, quotas) == ("gender: sum of maxes (capped by who is in the pool) 4 < seats 5",)


def test_seats_above_the_pool() -> None:
    assert "seats 12 > pool size 11" in conflicts(12, [])


def test_quotas_of_two_categories_that_clash_are_named_together() -> None:
    # Every woman is in branch a or b; branch b may have nobody and branch a only one seat, yet 3 women are
    # wanted. Each category on its own is fine.
    quotas = [
        Quota("gender", "woman", 3, 3),
        Quota("branch", "a", 0, 1),
        Quota("branch", "b", 0, 5),
        Quota("gender", "nonbinary", 0, 0),
    ]
    counts = {("a", "woman"): 4, ("a", "man"): 4, ("b", "woman"): 1, ("b", "man"): 3}
    problem = branch_gender_problem(counts, seats=4, quotas=quotas)
    with pytest.raises(InfeasibleQuotas) as refused:
        check_feasible(problem)
    (message,) = refused.value.conflicts
    assert message == (
        "these quotas cannot all be met together with 4 seats: branch=a min 0 max 1, gender=woman min 3 max 3"
    )


def test_malformed_input_is_refused() -> None:
    with pytest.raises(InvalidDrawInput, match="no such category value"):
        branch_gender_problem(COUNTS, seats=2, quotas=[Quota("age", "old", 0, 1)])
    with pytest.raises(InvalidDrawInput, match="given twice"):
        branch_gender_problem(COUNTS, seats=2, quotas=[Quota("gender", "man", 0, 1), Quota("gender", "man", 0, 2)])
    with pytest.raises(InvalidDrawInput, match="must be non-empty"):
        type_label({"gender": "a;b"})
    with pytest.raises(InvalidDrawInput, match="not canonical"):
        make_problem(seats=1, categories={"a": ["x"], "b": ["y"]}, quotas=[], counts={"b=y;a=x": 1})
    with pytest.raises(InvalidDrawInput, match="exactly the categories"):
        make_problem(seats=1, categories={"a": ["x"], "b": ["y"]}, quotas=[], counts={"a=x": 1})
