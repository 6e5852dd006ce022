"""Rounding a distribution over panels to M equally likely tickets.

The published lot draws one of M tickets uniformly, so the distribution must become M panels (repeats
allowed) whose per-type probability ``count of t over all tickets / (M * n_t)`` stays within ``1/M`` of
the leximin optimum ``p_t``. In seat counts: with ``y_t = n_t * p_t`` the expected seats of type t,
the tickets' total ``c_t`` must satisfy ``|c_t - M * y_t| <= n_t``.

* **At most two categories** (the common case, e.g. branch x gender): the constraint matrix of a panel
  (one row per category value, the seat total, the type bounds) is two laminar families plus the
  identity, hence totally unimodular. So the polytope ``Q`` of fractional panels has integral vertices
  and the integer decomposition property (Baum & Trotter 1977). Then (1) an integral ``c`` with every
  ``c_t`` equal to ``floor(M*y_t)`` or ``ceil(M*y_t)`` exists in ``M*Q`` (the box around ``M*y`` meets
  ``M*Q`` in ``M*y``, and box plus TU rows gives an integral vertex): ``|c_t - M*y_t| < 1 <= n_t``,
  **provably within 1/(M*n_t)**; (2) ``c`` splits into M panels: repeatedly take an integral ``x`` in
  ``Q`` with ``c - x`` in ``(R-1)*Q`` (again a TU system) — rounded from ``c/R`` so it repeats often —
  and use it as many times ``r`` as keeps ``c - r*x`` in ``(R-r)*Q``.
* **Three or more categories**: ``Q`` need not be integral and no such guarantee is known (Flanigan,
  Kehne & Procaccia 2021 bound agent-level deviations only by larger terms). An integer program chooses
  multiplicities of the distribution's panels (each within one of ``M*weight``) minimising the largest
  ``|c_t - M*y_t| / n_t``, capped at 1; if HiGHS proves the cap impossible or finds nothing within its
  node limit, it runs again without the cap, and failing even that, falls back to largest-remainder
  rounding. :attr:`Tickets.max_deviation` says what was reached, and the caller decides
  (``tickets.plan_leximin`` tries a larger M, then refuses a draw whose deviation exceeds ``1/M``).

If the distribution is exactly uniform over fewer than M points (e.g. a single possible panel), those
are the tickets and M is that number. Everything is in integers once the LP's weights are read, and
the tickets are sorted, so the output is a function of the distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from harmony_matrix.sortition import solver
from harmony_matrix.sortition.errors import SolverFailure
from harmony_matrix.sortition.leximin import Distribution
from harmony_matrix.sortition.panels import Panel
from harmony_matrix.sortition.types import Problem

__all__ = ["DEFAULT_TICKETS", "Tickets", "round_to_tickets", "ticket_probabilities"]

DEFAULT_TICKETS = 1000
# LP weights within this of a multiple of 1/D count as exactly that multiple (exact small lotteries).
_EXACT = 1e-9
# A value within this of an integer is that integer (LP vertex noise).
_SNAP = 1e-7
# Node limit of the integer program for three or more categories; a node limit, unlike a time limit,
# keeps the answer the same on a slow and a fast machine.
_MIP_NODES = 100


@dataclass(frozen=True)
class Tickets:
    """M equally likely panels, sorted; ``max_deviation`` = max over types of |ticket prob - p_t|."""

    panels: tuple[Panel, ...]
    max_deviation: float
    method: str

    @property
    def size(self) -> int:
        """M, the number of tickets."""
        return len(self.panels)


def ticket_probabilities(problem: Problem, panels: Sequence[Panel]) -> tuple[Fraction, ...]:
    """Each type's exact probability under a uniform draw of one of ``panels``."""
    size = len(panels)
    return tuple(
        Fraction(sum(panel[t] for panel in panels), size * count) for t, count in enumerate(problem.counts)
    )


def round_to_tickets(problem: Problem, distribution: Distribution, *, size: int = DEFAULT_TICKETS) -> Tickets:
    """Round ``distribution`` to ``size`` equally likely tickets (fewer if it is exactly that small)."""
    if size < 1:
        raise ValueError("the number of tickets must be at least 1")
    panels = distribution.panels
    weights = distribution.weights
    exact = _small_denominator(weights, size)
    if exact is not None:
        tickets = [panel for panel, m in zip(panels, (round(w * exact) for w in weights)) for _ in range(m)]
        return _finish(problem, distribution, tickets, "exact")
    expected = [sum(w * panel[t] for panel, w in zip(panels, weights)) for t in range(len(problem.types))]
    if len(problem.categories) <= 2:
        return _finish(problem, distribution, _totally_unimodular(problem, expected, size), "unimodular")
    tickets, method = _multiplicities(problem, panels, weights, expected, size)
    return _finish(problem, distribution, tickets, method)


def _finish(problem: Problem, distribution: Distribution, tickets: list[Panel], method: str) -> Tickets:
    for panel in tickets:
        if not problem.meets_quotas(panel):
            raise SolverFailure(f"a ticket breaks a quota: {panel}")
    probabilities = ticket_probabilities(problem, tickets)
    deviation = max(abs(float(q) - p) for q, p in zip(probabilities, distribution.probabilities))
    return Tickets(panels=tuple(sorted(tickets, reverse=True)), max_deviation=deviation, method=method)


def _small_denominator(weights: Sequence[float], size: int) -> int | None:
    """The least D < size such that every weight is a multiple of 1/D, if there is one."""
    for denominator in range(1, size):
        if all(abs(w * denominator - round(w * denominator)) <= _EXACT * denominator for w in weights):
            if sum(round(w * denominator) for w in weights) == denominator:
                return denominator
    return None


def _snap(value: float) -> float:
    nearest = round(value)
    return float(nearest) if abs(value - nearest) <= _SNAP else value


# --- at most two categories --------------------------------------------------------------------------


def _totally_unimodular(problem: Problem, expected: Sequence[float], size: int) -> list[Panel]:
    """Tickets whose seat totals are ``M*expected`` rounded up or down, provably (see module doc)."""
    try:
        totals = _round_totals(problem, [_snap(size * y) for y in expected], size)
    except SolverFailure:
        # Snapping near-integers pins those types; should float noise make that box miss M*Q, round without.
        totals = _round_totals(problem, [size * y for y in expected], size)
    return _decompose(problem, totals, size)


def _row_bounds(problem: Problem, scale: int) -> list[tuple[int, int, tuple[int, ...]]]:
    """Seat-total row and quota rows of ``scale * Q`` as ``(lower, upper, type indices)``."""
    everyone = tuple(range(len(problem.types)))
    rows = [(scale * problem.seats, scale * problem.seats, everyone)]
    rows.extend(
        (scale * quota.min, scale * quota.max, members) for quota, members in zip(problem.quotas, problem.members)
    )
    return rows


def _integral_point(
    box: Sequence[tuple[int, int]], rows: Sequence[tuple[int, int, tuple[int, ...]]], cost: Sequence[float]
) -> tuple[int, ...]:
    """A vertex of {x in box, rows hold} minimising ``cost``: integral because the system is TU.

    The simplex answer is rounded and checked in integers; should float noise ever break it, the same
    system is solved as a MIP, so the result is always an exactly feasible integer point.
    """
    program = solver.LinearProgram()
    for (low, high), c in zip(box, cost):
        program.add_col(c, float(low), float(high))
    for low, high, members in rows:
        program.add_row(float(low), float(high), list(members), [1.0] * len(members))
    for integer in (False, True):
        program.integer = [integer] * len(box)
        solution = solver.solve(program, what="a ticket")
        if solution is None:
            break
        point = tuple(int(round(v)) for v in solution.x)
        inside = all(low <= v <= high for v, (low, high) in zip(point, box))
        if inside and all(low <= sum(point[i] for i in members) <= high for low, high, members in rows):
            return point
    raise SolverFailure("rounding found no integral point where the theory promises one")


def _round_totals(problem: Problem, target: Sequence[float], size: int) -> tuple[int, ...]:
    """Integral seat totals, each the floor or ceiling of its target, that M panels can add up to."""
    box = [(math.floor(v), math.ceil(v)) for v in target]
    # Cost of rounding up minus rounding down, per member of the type: prefer the nearer integer.
    cost = [(1.0 - 2.0 * (v - math.floor(v))) / n for v, n in zip(target, problem.counts)]
    rows = _row_bounds(problem, size)
    return _integral_point(box, rows, cost)


def _decompose(problem: Problem, totals: Sequence[int], size: int) -> list[Panel]:
    """Split integral ``totals`` in ``size * Q`` into ``size`` panels (TU: integer decomposition)."""
    remaining = list(totals)
    left = size
    tickets: list[Panel] = []
    zero = [0.0] * len(problem.types)
    panel_rows = _row_bounds(problem, 1)
    while left:
        # Rounding c/R keeps the panel close to the average of what is left, so it can repeat many times.
        box = [(c // left, -(-c // left)) for c in remaining]
        rows = []
        for low, high, members in panel_rows:
            have = sum(remaining[i] for i in members)
            rows.append((max(low, have - (left - 1) * high), min(high, have - (left - 1) * low), members))
        panel = _integral_point(box, rows, zero)
        repeat = _max_repeat(problem, remaining, left, panel)
        tickets.extend([panel] * repeat)
        remaining = [c - repeat * x for c, x in zip(remaining, panel)]
        left -= repeat
    return tickets


def _max_repeat(problem: Problem, remaining: Sequence[int], left: int, panel: Panel) -> int:
    """The largest r <= left with ``remaining - r*panel`` in ``(left - r) * Q`` (at least 1 by choice of panel)."""
    repeat = left
    for c, x, n in zip(remaining, panel, problem.counts):
        if x > 0:
            repeat = min(repeat, c // x)
        if n > x:
            repeat = min(repeat, (left * n - c) // (n - x))
    for low, high, members in _row_bounds(problem, 1)[1:]:
        have = sum(remaining[i] for i in members)
        take = sum(panel[i] for i in members)
        if take > low:
            repeat = min(repeat, (have - left * low) // (take - low))
        if high > take:
            repeat = min(repeat, (left * high - have) // (high - take))
    if repeat < 1:
        raise SolverFailure("rounding chose a panel that cannot be used even once")
    return repeat


# --- three or more categories ------------------------------------------------------------------------


def _multiplicities(
    problem: Problem, panels: Sequence[Panel], weights: Sequence[float], expected: Sequence[float], size: int
) -> tuple[list[Panel], str]:
    """Integer multiplicities of ``panels`` adding up to ``size``, keeping every type within 1/M if it can."""
    target = [size * y for y in expected]
    start = _largest_remainder(weights, size)
    for method, capped in (("integer program", True), ("integer program (min deviation)", False)):
        counts = _multiplicity_program(problem, panels, weights, target, size, capped=capped)
        if counts is not None:
            return [panel for panel, m in zip(panels, counts) for _ in range(m)], method
    return [panel for panel, m in zip(panels, start) for _ in range(m)], "largest remainder"


def _largest_remainder(weights: Sequence[float], size: int) -> list[int]:
    """Hamilton rounding of ``size * weights``; ties go to the earlier panel."""
    scaled = [w * size for w in weights]
    counts = [math.floor(v) for v in scaled]
    order = sorted(range(len(weights)), key=lambda i: (-(scaled[i] - counts[i]), i))
    for i in order[: size - sum(counts)]:
        counts[i] += 1
    return counts


def _multiplicity_program(
    problem: Problem,
    panels: Sequence[Panel],
    weights: Sequence[float],
    target: Sequence[float],
    size: int,
    *,
    capped: bool,
) -> list[int] | None:
    """Multiplicities minimising the largest deviation; ``capped`` demands it be at most 1 (that is, 1/M)."""
    program = solver.LinearProgram()
    for w in weights:
        base = w * size
        program.add_col(0.0, float(max(0, math.floor(base) - 1)), float(math.ceil(base) + 1), integer=True)
    # Minimise the largest deviation (in units of 1/M of probability), not merely keep it under 1: the
    # smallest types have the smallest probabilities, and a loose rounding would cost them most.
    deviation = program.add_col(1.0, 0.0, 1.0 if capped else solver.INF)
    program.add_row(size, size, list(range(len(panels))), [1.0] * len(panels))
    for t, count in enumerate(problem.counts):
        using = [i for i, panel in enumerate(panels) if panel[t]]
        values = [float(panels[i][t]) for i in using]
        program.add_row(-solver.INF, target[t], [*using, deviation], [*values, -float(count)])
        program.add_row(target[t], solver.INF, [*using, deviation], [*values, float(count)])
    highs = solver.new_highs()
    highs.setOptionValue("mip_max_nodes", _MIP_NODES)
    solver.load(highs, program)
    highs.run()
    solution = highs.getSolution()
    if not solution.value_valid:
        return None
    counts = [int(round(v)) for v in solution.col_value[: len(panels)]]
    if sum(counts) != size or any(m < 0 for m in counts):
        return None
    achieved = max(
        abs(sum(m * panel[t] for m, panel in zip(counts, panels)) - target[t]) / problem.counts[t]
        for t in range(len(problem.types))
    )
    if capped and achieved > 1.0 + 1e-9:
        return None
    return counts
