"""Rounding the leximin distribution to M equally likely tickets (harmony_matrix.sortition.rounding)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings

from harmony_matrix.sortition import Problem, Quota, plan_leximin
from harmony_matrix.sortition.leximin import leximin
from harmony_matrix.sortition.rounding import round_to_tickets, ticket_probabilities

from sortition_cases import branch_gender_problem, example_problem, feasible, problems


def check_tickets(problem: Problem, size: int = 1000) -> None:
    distribution = leximin(problem)
    tickets = round_to_tickets(problem, distribution, size=size)
    m = tickets.size
    assert m == size or m < size and tickets.method == "exact"
    for panel in tickets.panels:
        assert problem.meets_quotas(panel)
    for q, p in zip(ticket_probabilities(problem, tickets.panels), distribution.probabilities):
        assert abs(float(q) - p) <= 1 / m + 1e-9
    assert tickets.max_deviation <= 1 / m + 1e-9


def test_example_tickets() -> None:
    check_tickets(example_problem())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problems(max_categories=2, max_values=4, max_count=5, max_seats=8).filter(feasible))
def test_two_categories_every_ticket_meets_the_quotas_and_types_stay_within_one_over_m(problem: Problem) -> None:
    check_tickets(problem)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problems(max_categories=3, max_values=3, max_count=4, max_seats=7).filter(feasible))
def test_three_categories_every_ticket_meets_the_quotas_and_types_stay_within_one_over_m(problem: Problem) -> None:
    check_tickets(problem)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(problems(max_categories=2, max_values=3, max_count=4, max_seats=6).filter(feasible))
def test_a_small_m_also_keeps_the_bound(problem: Problem) -> None:
    check_tickets(problem, size=7)


def test_a_single_possible_panel_is_a_single_ticket() -> None:
    quotas = [Quota("gender", "woman", 2, 2), Quota("gender", "man", 1, 1)]
    problem = branch_gender_problem({("a", "woman"): 2, ("a", "man"): 1}, seats=3, quotas=quotas)
    plan = plan_leximin(problem)
    assert plan.tickets == ({"branch=a;gender=man": 1, "branch=a;gender=woman": 2},)
    assert set(plan.probabilities.values()) == {Fraction(1)}


def test_plan_probabilities_are_exact_fractions_of_the_tickets() -> None:
    problem = example_problem()
    plan = plan_leximin(problem)
    m = len(plan.tickets)
    for label, count in zip(problem.types, problem.counts):
        assert plan.probabilities[label] == Fraction(sum(t.get(label, 0) for t in plan.tickets), m * count)
        assert float(plan.probabilities[label]) == pytest.approx(plan.optimum[label], abs=1 / m)
    assert all(0 not in ticket.values() for ticket in plan.tickets)


def test_rounding_is_deterministic() -> None:
    problem = example_problem()
    assert plan_leximin(problem) == plan_leximin(problem)
