"""Leximin over types by column generation (Flanigan, Gölz, Gupta, Hennig, Procaccia, Nature 2021).

The distribution over panels is *leximin*: it maximises the lowest selection probability, then the
next lowest, and so on. Over types the probability of type ``t`` is ``E[x_t] / n_t``; all members of a
type share it, and leximin over types is leximin over people, because the optimum gives equal members
equal probabilities anyway.

Each *stage* solves, over the types ``U`` not yet fixed and the fixed ones ``F`` with values ``p_f``::

    maximise z  s.t.  E[x_t]/n_t >= z (t in U),  E[x_t]/n_t >= p_t (t in F),  a distribution over panels

through its dual (one row per panel), adding panels found by the panel MIP while some panel violates the
dual (column generation on the primal). The dual is then solved once more by an interior point method
without crossover, which lands inside the optimal face: every type whose dual is positive there is
tight in every optimal distribution (strict complementarity), so all of them are fixed at ``z`` at once.
A last LP finds the distribution over the panels found that meets every fixed probability.

Determinism: the panels are kept in the order they were found, ties inside HiGHS are broken by its own
fixed rules, dual weights are rounded before they choose a panel, and the fixed probabilities are cut
to a fixed grid, so a run is a function of the problem alone (the same build of HiGHS assumed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from harmony_matrix.sortition import solver
from harmony_matrix.sortition.errors import SolverFailure
from harmony_matrix.sortition.feasibility import check_feasible
from harmony_matrix.sortition.panels import Panel, PanelOracle
from harmony_matrix.sortition.types import Problem

__all__ = ["EPS", "Distribution", "leximin"]

EPS = 1e-7
"""How far a panel may exceed the dual bound before it counts as a violation, and how large a dual must
be for its type to be fixed. The solver works an order or more below this."""

# Fixed probabilities are cut down to this grid so that the last bits of a float never decide anything.
_GRID = 1e-10
# The final LP may miss the fixed probabilities by at most this much before we call it a failure.
_FINAL_SLACK = 1e-6


@dataclass(frozen=True)
class Distribution:
    """A leximin distribution over panels.

    ``probabilities[t]`` is the leximin (LP optimum) probability of type ``t``; ``panels`` and
    ``weights`` are a distribution over panels reaching it (the support of a basic solution, so at most
    one panel more than there are types). ``stages`` and ``panels_found`` describe the run.
    """

    probabilities: tuple[float, ...]
    panels: tuple[Panel, ...]
    weights: tuple[float, ...]
    stages: int
    panels_found: int


def leximin(problem: Problem) -> Distribution:
    """The leximin distribution of ``problem``; raises ``InfeasibleQuotas`` when no panel exists."""
    check_feasible(problem)
    oracle = PanelOracle(problem)
    n_types = len(problem.types)
    panels: list[Panel] = []
    known: set[Panel] = set()

    def add(panel: Panel) -> bool:
        if panel in known:
            return False
        known.add(panel)
        panels.append(panel)
        return True

    fixed = _cover(problem, oracle, add)
    stages = 0
    while len(fixed) < n_types:
        stages += 1
        value, duals = _stage(problem, oracle, panels, fixed, add)
        unfixed = [t for t in range(n_types) if t not in fixed]
        tight = [t for t in unfixed if duals[t] > EPS]
        if not tight:
            # The duals of the unfixed types add up to 1, so one of them is at least 1/len(unfixed).
            tight = [max(unfixed, key=lambda t: (duals[t], -t))]
        level = max(0.0, math.floor(value / _GRID) * _GRID)
        for t in tight:
            fixed[t] = level
    probabilities = tuple(fixed[t] for t in range(n_types))
    support, weights = _final_distribution(problem, panels, probabilities)
    return Distribution(
        probabilities=probabilities,
        panels=support,
        weights=weights,
        stages=stages,
        panels_found=len(panels),
    )


def _cover(problem: Problem, oracle: PanelOracle, add: Callable[[Panel], bool]) -> dict[int, float]:
    """Find panels until every type that can have a seat has one; fix the others at probability 0."""
    uncovered = set(range(len(problem.types)))
    while uncovered:
        weights = [1.0 / problem.counts[t] if t in uncovered else 0.0 for t in range(len(problem.types))]
        panel = oracle.best(weights)
        newly = {t for t in uncovered if panel[t] > 0}
        if not newly:
            break  # no panel at all seats any of them: the quotas keep them out
        add(panel)
        uncovered -= newly
    return {t: 0.0 for t in sorted(uncovered)}


def _stage_program(problem: Problem, panels: list[Panel], fixed: dict[int, float]) -> solver.LinearProgram:
    """The dual of the stage LP over ``panels``: minimise yhat - sum_F p_f y_f, s.t. per panel
    sum_t y_t x_t / n_t <= yhat, sum_U y_t = 1, y >= 0."""
    n_types = len(problem.types)
    program = solver.LinearProgram()
    for t in range(n_types):
        program.add_col(-fixed[t] if t in fixed else 0.0, 0.0, solver.INF)
    program.add_col(1.0, -solver.INF, solver.INF)  # yhat
    unfixed = [t for t in range(n_types) if t not in fixed]
    program.add_row(1.0, 1.0, unfixed, [1.0] * len(unfixed))
    for panel in panels:
        _add_panel_row(program, problem, panel)
    return program


def _add_panel_row(program: solver.LinearProgram, problem: Problem, panel: Panel) -> None:
    indices = [t for t, x in enumerate(panel) if x]
    program.add_row(
        -solver.INF, 0.0, [*indices, len(problem.types)], [panel[t] / problem.counts[t] for t in indices] + [-1.0]
    )


def _violation(problem: Problem, oracle: PanelOracle, duals: tuple[float, ...], yhat: float) -> Panel | None:
    """The panel whose dual row is most violated, if it is violated by more than EPS."""
    weights = [duals[t] / problem.counts[t] for t in range(len(problem.types))]
    panel = oracle.best(weights)
    value = sum(w * x for w, x in zip(weights, panel))
    return panel if value > yhat + EPS else None


def _stage(
    problem: Problem, oracle: PanelOracle, panels: list[Panel], fixed: dict[int, float], add: Callable[[Panel], bool]
) -> tuple[float, tuple[float, ...]]:
    """Run one stage to convergence; returns its optimal value and interior-point duals of the types."""
    n_types = len(problem.types)
    program = _stage_program(problem, panels, fixed)
    highs = solver.new_highs()
    solver.load(highs, program)
    while True:
        solution = solver.run(highs, what="a leximin stage")
        if solution is None:
            raise SolverFailure("a leximin stage became infeasible")
        duals = solution.x[:n_types]
        panel = _violation(problem, oracle, duals, solution.x[n_types])
        if panel is None:
            # Simplex has converged; look for the interior point of the same optimal face, which must pass
            # the same test against every panel before its duals may fix anything.
            try:
                interior = solver.solve(program, what="a leximin stage (interior point)", ipm=True)
            except SolverFailure:
                interior = None  # the simplex duals are optimal too; they merely may fix fewer types
            if interior is None:
                return solution.objective, duals
            inner = interior.x[:n_types]
            panel = _violation(problem, oracle, inner, interior.x[n_types])
            if panel is None:
                return solution.objective, inner
        if not add(panel):
            # A panel we already have cannot be violated by more than the solver's tolerance; if it is,
            # the LP is numerically stuck, so stop here with what the simplex solution says.
            return solution.objective, duals
        _add_panel_row(program, problem, panel)
        lower, upper, indices, values = program.rows[-1]
        highs.addRow(lower, upper, len(indices), indices, values)


def _final_distribution(
    problem: Problem, panels: list[Panel], probabilities: tuple[float, ...]
) -> tuple[tuple[Panel, ...], tuple[float, ...]]:
    """Weights on ``panels`` meeting every type's probability (minimising the largest shortfall)."""
    program = solver.LinearProgram()
    for _ in panels:
        program.add_col(0.0, 0.0, 1.0)
    shortfall = program.add_col(1.0, 0.0, 1.0)
    program.add_row(1.0, 1.0, list(range(len(panels))), [1.0] * len(panels))
    for t, count in enumerate(problem.counts):
        using = [i for i, panel in enumerate(panels) if panel[t]]
        values = [panels[i][t] / count for i in using]
        program.add_row(probabilities[t], solver.INF, [*using, shortfall], [*values, 1.0])
    solution = solver.solve(program, what="the final leximin distribution")
    if solution is None or solution.x[shortfall] > _FINAL_SLACK:
        raise SolverFailure("no distribution over the panels found meets the leximin probabilities")
    # A basic solution: at most one positive weight per row. Tiny weights are solver noise, not panels.
    chosen = [(panels[i], w) for i, w in enumerate(solution.x[: len(panels)]) if w > 1e-12]
    total = sum(w for _, w in chosen)
    return tuple(panel for panel, _ in chosen), tuple(w / total for _, w in chosen)
