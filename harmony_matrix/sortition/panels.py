"""Panels as integer vectors over types, and the mixed-integer program that finds them.

A panel is ``x`` with ``0 <= x[t] <= counts[t]``, ``sum(x) == seats`` and every quota row within its
bounds. :class:`PanelOracle` answers "which panel has the largest weight ``sum(w[t] * x[t])``?", the
pricing step of column generation; :func:`panel_exists` answers whether a subset of the quota rows can
be met at all, for naming the rows that clash.
"""

from __future__ import annotations

from collections.abc import Sequence

from harmony_matrix.sortition import solver
from harmony_matrix.sortition.errors import SolverFailure
from harmony_matrix.sortition.types import Problem

__all__ = ["Panel", "PanelOracle", "panel_exists", "panel_program"]

Panel = tuple[int, ...]
"""Seats per type, in the order of :attr:`Problem.types`."""

# Weights are rounded to this many decimals before they reach the MIP, so that float noise in the last
# bits of an LP answer cannot change which of two equally good panels comes back.
_WEIGHT_DECIMALS = 12
# A relaxation value this close to an integer is taken as that integer.
_INTEGRAL = 1e-9


def panel_program(problem: Problem, rows: Sequence[int] | None = None) -> solver.LinearProgram:
    """The panel MIP (zero objective) with the quota rows ``rows`` (all rows when ``None``)."""
    program = solver.LinearProgram(maximize=True)
    for count in problem.counts:
        program.add_col(0.0, 0.0, float(count), integer=True)
    everyone = range(len(problem.types))
    program.add_row(problem.seats, problem.seats, list(everyone), [1.0] * len(problem.types))
    for j in range(len(problem.quotas)) if rows is None else rows:
        quota, members = problem.quotas[j], problem.members[j]
        program.add_row(float(quota.min), float(quota.max), list(members), [1.0] * len(members))
    return program


def panel_exists(problem: Problem, rows: Sequence[int] | None = None) -> bool:
    """Whether some panel meets the seat count, the type counts and the quota rows ``rows``."""
    return solver.solve(panel_program(problem, rows), what="the panel existence check") is not None


class PanelOracle:
    """Finds a panel of largest weight.

    It first solves the LP relaxation: with at most two categories the constraint matrix is totally
    unimodular, so the simplex vertex is already integral, and with more it often is; an integral optimum
    of the relaxation is an optimum of the MIP. Only otherwise does it run the MIP. Both HiGHS instances
    are kept between calls and only their objective changes, so the simplex starts from the last basis.
    """

    def __init__(self, problem: Problem) -> None:
        self._problem = problem
        program = panel_program(problem)
        self._mip = solver.new_highs()
        solver.load(self._mip, program)
        program.integer = [False] * len(program.integer)
        self._relaxation = solver.new_highs()
        solver.load(self._relaxation, program)
        self._columns = list(range(len(problem.types)))

    def best(self, weights: Sequence[float]) -> Panel:
        """A panel maximising ``sum(weights[t] * x[t])``."""
        costs = [round(w, _WEIGHT_DECIMALS) for w in weights]
        self._relaxation.changeColsCost(len(costs), self._columns, costs)
        solution = solver.run(self._relaxation, what="the panel search")
        if solution is not None and any(abs(v - round(v)) > _INTEGRAL for v in solution.x):
            self._mip.changeColsCost(len(costs), self._columns, costs)
            solution = solver.run(self._mip, what="the panel search")
        if solution is None:
            raise SolverFailure("no panel meets the quotas (the feasibility check should have said so)")
        panel = tuple(int(round(v)) for v in solution.x)
        if not self._problem.meets_quotas(panel):
            # Integer answers are rounded from floats; refuse rather than publish a ticket that breaks a quota.
            raise SolverFailure(f"HiGHS returned a panel that breaks a quota: {panel}")
        return panel
