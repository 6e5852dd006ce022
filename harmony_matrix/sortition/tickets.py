"""Tickets of a draw: the published list of equally likely compositions, by algorithm.

* ``leximin-types/1``: the leximin distribution over types (:mod:`.leximin`) rounded to M tickets
  (:mod:`.rounding`), M = 1000 unless the distribution is exactly uniform over fewer panels.
* ``strata-uniform/1``: one ticket, the fixed seats per stratum (:mod:`.strata`).

A plan is computed from the frozen pool alone, before any witness reveals, so its ``tickets_hash`` can
go into the seed; it is deterministic, so anyone holding the pool can recompute it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from harmony_matrix.sortition.errors import SolverFailure
from harmony_matrix.sortition.leximin import leximin
from harmony_matrix.sortition.rounding import DEFAULT_TICKETS, round_to_tickets, ticket_probabilities
from harmony_matrix.sortition.strata import strata_panel
from harmony_matrix.sortition.types import Problem

__all__ = ["ALGORITHMS", "LEXIMIN", "STRATA", "TicketPlan", "plan_leximin", "plan_strata"]

LEXIMIN = "leximin-types/1"
STRATA = "strata-uniform/1"
ALGORITHMS = (LEXIMIN, STRATA)

# With three or more categories the rounding has no proven 1/M bound (see rounding); if the first M
# misses it, a larger M gives the integer program other remainders to work with.
_SIZE_FACTORS = (1, 2, 4)


@dataclass(frozen=True)
class TicketPlan:
    """The tickets of a draw and what they mean for each type.

    ``tickets`` are the compositions in published order (zero entries left out). ``probabilities``
    are exact: count of the type over all tickets / (M * members of the type). ``optimum`` is what the
    algorithm aimed at (the leximin LP optimum, or exactly the ticket probabilities for strata);
    ``max_deviation`` is the largest gap between the two, never above 1/M.
    """

    algorithm: str
    tickets: tuple[dict[str, int], ...]
    probabilities: Mapping[str, Fraction]
    optimum: Mapping[str, float]
    max_deviation: float


def plan_leximin(problem: Problem, *, size: int = DEFAULT_TICKETS) -> TicketPlan:
    """Leximin tickets; raises ``InfeasibleQuotas`` (naming rows) when no panel meets the quotas."""
    distribution = leximin(problem)
    for factor in _SIZE_FACTORS:
        rounded = round_to_tickets(problem, distribution, size=size * factor)
        if rounded.max_deviation <= 1.0 / rounded.size + 1e-9:
            break
    else:
        raise SolverFailure(
            f"no rounding to {size * _SIZE_FACTORS[-1]} tickets keeps every type within 1/M of its leximin probability"
        )
    probabilities = ticket_probabilities(problem, rounded.panels)
    return TicketPlan(
        algorithm=LEXIMIN,
        tickets=tuple(problem.composition(panel) for panel in rounded.panels),
        probabilities=dict(zip(problem.types, probabilities)),
        optimum=dict(zip(problem.types, distribution.probabilities)),
        max_deviation=rounded.max_deviation,
    )


def plan_strata(problem: Problem, seats_per_stratum: Mapping[str, int]) -> TicketPlan:
    """The single ticket of a strata draw; raises ``InfeasibleQuotas`` naming what it breaks."""
    panel = strata_panel(problem, seats_per_stratum)
    probabilities = ticket_probabilities(problem, [panel])
    return TicketPlan(
        algorithm=STRATA,
        tickets=(problem.composition(panel),),
        probabilities=dict(zip(problem.types, probabilities)),
        optimum={label: float(p) for label, p in zip(problem.types, probabilities)},
        max_deviation=0.0,
    )
