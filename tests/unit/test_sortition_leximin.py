"""Leximin over types (harmony_matrix.sortition.leximin), against a brute-force reference.

The reference enumerates every panel of a tiny problem and solves the textbook leximin (maximise the
minimum, then fix each type that cannot rise above it, one LP per type) with HiGHS directly, without
column generation, so it shares nothing with the code under test but the solver.
"""

from __future__ import annotations

import highspy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmony_matrix.sortition import InfeasibleQuotas, Problem, Quota
from harmony_matrix.sortition.leximin import leximin

from sortition_cases import all_panels, branch_gender_problem, example_problem, feasible, problems

TOL = 1e-6


def _max_lp(
    panels: list[tuple[int, ...]],
    counts: tuple[int, ...],
    objective_type: int | None,
    floors: dict[int, float],
    level: float | None,
) -> float:
    """max z (objective_type None) or max p_t, over distributions on all ``panels``."""
    h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves Highs.__init__ unannotated
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    n = len(panels)
    for _ in panels:
        h.addVar(0.0, 1.0)
    h.addVar(-inf, inf)  # z
    h.addRow(1.0, 1.0, n, list(range(n)), [1.0] * n)
    for t, count in enumerate(counts):
        idx = [i for i, p in enumerate(panels) if p[t]]
        vals = [panels[i][t] / count for i in idx]
        if t in floors:
            h.addRow(floors[t] - 1e-9, inf, len(idx), idx, vals)
        elif objective_type is None:
            h.addRow(0.0, inf, len(idx) + 1, [*idx, n], [*vals, -1.0])
        else:
            assert level is not None
            h.addRow(level - 1e-9, inf, len(idx), idx, vals)
    costs = [0.0] * (n + 1)
    if objective_type is None:
        costs[n] = 1.0
    else:
        for i, p in enumerate(panels):
            costs[i] = p[objective_type] / counts[objective_type]
    h.changeColsCost(n + 1, list(range(n + 1)), costs)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


def reference_leximin(problem: Problem) -> list[float]:
    panels = all_panels(problem)
    fixed: dict[int, float] = {}
    for t in range(len(problem.types)):
        if all(p[t] == 0 for p in panels):
            fixed[t] = 0.0
    while len(fixed) < len(problem.types):
        z = _max_lp(panels, problem.counts, None, fixed, None)
        unfixed = [t for t in range(len(problem.types)) if t not in fixed]
        newly = [t for t in unfixed if _max_lp(panels, problem.counts, t, fixed, z) <= z + 1e-7]
        if not newly:  # numerically all can rise: fix the first, as any leximin argument allows one
            newly = [min(t for t in range(len(problem.types)) if t not in fixed)]
        for t in newly:
            fixed[t] = z
    return [fixed[t] for t in range(len(problem.types))]


def test_example_is_leximin_and_the_panels_reach_it() -> None:
    problem = example_problem()
    result = leximin(problem)
    assert sorted(result.probabilities) == pytest.approx(sorted(reference_leximin(problem)), abs=TOL)
    assert sum(result.weights) == pytest.approx(1.0)
    assert all(problem.meets_quotas(panel) for panel in result.panels)
    for t, count in enumerate(problem.counts):
        reached = sum(w * panel[t] for panel, w in zip(result.panels, result.weights)) / count
        assert reached == pytest.approx(result.probabilities[t], abs=TOL)
    assert len(result.panels) <= len(problem.types) + 1  # a basic solution


def test_no_quotas_gives_everyone_seats_over_pool() -> None:
    problem = branch_gender_problem({("a", "woman"): 3, ("a", "man"): 5, ("b", "man"): 2}, seats=4)
    assert leximin(problem).probabilities == pytest.approx((0.4, 0.4, 0.4), abs=1e-9)


def test_a_type_no_panel_can_seat_gets_zero_and_the_rest_are_still_leximin() -> None:
    quotas = [Quota("gender", "man", 0, 0)]
    problem = branch_gender_problem({("a", "woman"): 2, ("a", "man"): 5, ("b", "woman"): 4}, seats=3, quotas=quotas)
    by_type = dict(zip(problem.types, leximin(problem).probabilities))
    assert by_type["branch=a;gender=man"] == 0.0
    assert by_type["branch=a;gender=woman"] == pytest.approx(0.5, abs=TOL)
    assert by_type["branch=b;gender=woman"] == pytest.approx(0.5, abs=TOL)


def test_infeasible_quotas_are_refused_before_solving() -> None:
    quotas = [Quota("gender", "woman", 5, 6)]
    problem = branch_gender_problem({("a", "woman"): 3, ("a", "man"): 5}, seats=6, quotas=quotas)
    with pytest.raises(InfeasibleQuotas, match="gender=woman min 5 but only 3 in the pool"):
        leximin(problem)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problems(max_categories=2, max_values=3, max_count=3, max_seats=5).filter(feasible))
def test_leximin_matches_the_brute_force_reference(problem: Problem) -> None:
    result = leximin(problem)
    reference = reference_leximin(problem)
    # Leximin's sorted vector is unique; its first entry is the maximin value.
    assert sorted(result.probabilities) == pytest.approx(sorted(reference), abs=TOL)
    assert min(result.probabilities) >= min(reference) - TOL
    assert all(problem.meets_quotas(panel) for panel in result.panels)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problems(max_categories=3, max_values=2, max_count=3, max_seats=5).filter(feasible))
def test_three_categories_also_match_the_reference(problem: Problem) -> None:
    assert sorted(leximin(problem).probabilities) == pytest.approx(sorted(reference_leximin(problem)), abs=TOL)


@settings(max_examples=20, deadline=None)
@given(
    women=st.integers(1, 4),
    men=st.integers(1, 4),
    seats=st.integers(1, 6),
    low=st.integers(0, 3),
    twin_quota=st.booleans(),
)
def test_interchangeable_types_get_the_same_probability(
    women: int, men: int, seats: int, low: int, twin_quota: bool
) -> None:
    # Branches "b" and "c" have the same members per gender and the same quota (or none): swapping them
    # maps panels to panels, so leximin (unique in its marginals) must treat them alike.
    counts = {("a", "woman"): 1, ("a", "man"): 3}
    for branch in ("b", "c"):
        counts[(branch, "woman")] = women
        counts[(branch, "man")] = men
    quotas = [Quota("gender", "woman", min(low, seats), seats)]
    if twin_quota:
        quotas += [Quota("branch", "b", 0, max(1, seats // 3)), Quota("branch", "c", 0, max(1, seats // 3))]
    problem = branch_gender_problem(counts, seats=min(seats, sum(counts.values())), quotas=quotas)
    if not feasible(problem):
        return
    p = dict(zip(problem.types, leximin(problem).probabilities))
    for gender in ("woman", "man"):
        assert p[f"branch=b;gender={gender}"] == pytest.approx(p[f"branch=c;gender={gender}"], abs=TOL)


def test_same_input_same_distribution() -> None:
    problem = example_problem()
    assert leximin(problem) == leximin(problem)
