"""Shared builders for the sortition tests: small pools, problems and records, and a hypothesis strategy."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from harmony_matrix.sortition import (
    InfeasibleQuotas,
    Problem,
    Quota,
    RecordInputs,
    TicketPlan,
    Witness,
    build_record,
    count_types,
    make_problem,
    make_pseudonym,
    plan_leximin,
    type_label,
    witness_commitment,
)
from harmony_matrix.sortition.types import PoolEntry

GENDERS = ("woman", "man", "nonbinary", "undisclosed")
REVEAL_A = "a1" * 16
REVEAL_B = "b2" * 16


def pool_from_counts(counts: Mapping[str, int]) -> list[PoolEntry]:
    """A pool with ``counts[type]`` members of each type; pseudonyms made from numbered user IDs."""
    pool: list[PoolEntry] = []
    for label in sorted(counts):
        for _ in range(counts[label]):
            n = len(pool)
            pool.append((make_pseudonym(f"@member{n}:example.org", f"{n:032x}"), label))
    return pool


def branch_gender_problem(
    counts: Mapping[tuple[str, str], int], *, seats: int, quotas: Sequence[Quota] = ()
) -> Problem:
    """A branch x gender problem from counts keyed by (branch, gender)."""
    branches = sorted({b for b, _ in counts})
    labels = {type_label({"branch": b, "gender": g}): n for (b, g), n in counts.items()}
    return make_problem(
        seats=seats, categories={"branch": branches, "gender": list(GENDERS)}, quotas=quotas, counts=labels
    )


def witnesses() -> list[Witness]:
    return [
        Witness("@bob:example.org", witness_commitment(REVEAL_B), REVEAL_B),
        Witness("@alice:example.org", witness_commitment(REVEAL_A), REVEAL_A),
        Witness("@carol:example.org", witness_commitment("c3" * 16)),  # did not reveal
    ]


def make_record(
    problem: Problem, plan: TicketPlan | None = None, *, beacon: str | None = "lottery 7 12 31"
) -> dict[str, Any]:
    """A drawn record over a pool generated from ``problem``'s counts."""
    pool = pool_from_counts(dict(zip(problem.types, problem.counts)))
    assert count_types(pool) == dict(zip(problem.types, problem.counts))
    return build_record(
        RecordInputs(
            ref="S-cardiff-1",
            purpose="delegates to conference",
            assembly="cardiff",
            authorised_by="D-cardiff-3",
            problem=problem,
            pool=pool,
            plan=plan if plan is not None else plan_leximin(problem),
            witnesses=witnesses(),
            beacon=beacon,
        ),
        secretaries={"@alice:example.org"},
    )


def example_problem() -> Problem:
    """The running example: 3 branches x 4 genders, 8 seats, quotas that bind."""
    counts = {
        ("cardiff-east", "woman"): 5, ("cardiff-east", "man"): 7, ("cardiff-east", "nonbinary"): 1,
        ("cardiff-west", "woman"): 3, ("cardiff-west", "man"): 9, ("cardiff-west", "undisclosed"): 2,
        ("swansea", "woman"): 2, ("swansea", "man"): 4, ("swansea", "nonbinary"): 1,
    }  # fmt: skip
    quotas = [
        Quota("gender", "woman", 4, 5),
        Quota("gender", "nonbinary", 1, 2),
        Quota("branch", "swansea", 2, 3),
        Quota("branch", "cardiff-west", 1, 3),
    ]
    return branch_gender_problem(counts, seats=8, quotas=quotas)


@st.composite
def problems(
    draw: st.DrawFn, *, max_categories: int = 2, max_values: int = 3, max_count: int = 4, max_seats: int = 6
) -> Problem:
    """Small random problems whose quotas can be met (infeasible draws are rejected by ``filter``)."""
    n_cats = draw(st.integers(1, max_categories))
    categories = {f"c{i}": [f"v{j}" for j in range(draw(st.integers(2, max_values)))] for i in range(n_cats)}
    names = sorted(categories)
    counts: dict[str, int] = {}
    for combo in itertools.product(*(categories[name] for name in names)):
        n = draw(st.integers(0, max_count))
        if n:
            counts[type_label(dict(zip(names, combo)))] = n
    total = sum(counts.values())
    if total == 0:
        counts[type_label({name: categories[name][0] for name in names})] = 1
        total = 1
    seats = draw(st.integers(1, min(total, max_seats)))
    quotas: list[Quota] = []
    for name in names:
        for value in categories[name]:
            if draw(st.booleans()):
                low = draw(st.integers(0, seats))
                high = draw(st.integers(low, seats))
                quotas.append(Quota(name, value, low, high))
    return make_problem(seats=seats, categories=categories, quotas=quotas, counts=counts)


def feasible(problem: Problem) -> bool:
    """Whether the quotas can be met (by the feasibility check under test elsewhere)."""
    from harmony_matrix.sortition.feasibility import check_feasible

    try:
        check_feasible(problem)
    except InfeasibleQuotas:
        return False
    return True


def all_panels(problem: Problem) -> list[tuple[int, ...]]:
    """Every panel, by brute force (for tiny problems only)."""

    def fill(t: int, left: int) -> list[tuple[int, ...]]:
        if t == len(problem.counts):
            return [()] if left == 0 else []
        return [(x, *rest) for x in range(min(left, problem.counts[t]) + 1) for rest in fill(t + 1, left - x)]

    return [x for x in fill(0, problem.seats) if problem.meets_quotas(x)]
