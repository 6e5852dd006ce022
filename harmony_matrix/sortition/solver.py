"""A narrow seam over HiGHS (``highspy``): the only module of the core that talks to the solver.

HiGHS is open source (MIT), maintained, and ships typed Python bindings. It is run single-threaded
with output off and a fixed random seed: with the same input on the same build it then takes the same
path and returns the same answer, which the draw needs (same pool, same tickets). Nothing here uses a
time limit, because a time limit would make the answer depend on the machine's speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harmony_matrix.sortition.errors import SolverFailure

if TYPE_CHECKING:
    import highspy

__all__ = ["INF", "LinearProgram", "Solution", "load", "new_highs", "run", "solve"]

#: HiGHS's infinity (``highspy.kHighsInf`` is IEEE infinity). highspy, and numpy with it, is imported
#: only when a draw is solved: a running bot need not carry either until then.
INF = float("inf")

# Feasibility and optimality tolerances tighter than HiGHS's defaults (1e-7): the algorithm compares LP
# values against each other at 1e-7 (see leximin.EPS), so the solver must be an order more precise.
_TOLERANCES = {
    "primal_feasibility_tolerance": 1e-9,
    "dual_feasibility_tolerance": 1e-9,
    "ipm_optimality_tolerance": 1e-10,
    "mip_feasibility_tolerance": 1e-9,
    "mip_rel_gap": 0.0,
    "mip_abs_gap": 1e-10,
}


@dataclass
class LinearProgram:
    """A (mixed-integer) linear program written row by row.

    ``rows`` holds ``(lower, upper, indices, values)``; use ``-INF``/``INF`` for a missing bound.
    """

    cost: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[tuple[float, float, list[int], list[float]]] = field(default_factory=list)
    maximize: bool = False

    def add_col(self, cost: float, lower: float, upper: float, *, integer: bool = False) -> int:
        """Add a variable; returns its index."""
        self.cost.append(cost)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        return len(self.cost) - 1

    def add_row(self, lower: float, upper: float, indices: Sequence[int], values: Sequence[float]) -> int:
        """Add a constraint ``lower <= sum(values[k] * x[indices[k]]) <= upper``; returns its index."""
        self.rows.append((lower, upper, list(indices), list(values)))
        return len(self.rows) - 1


@dataclass(frozen=True)
class Solution:
    """An optimal solution: column values, row duals (HiGHS's sign convention) and the objective."""

    x: tuple[float, ...]
    row_dual: tuple[float, ...]
    objective: float


def new_highs(*, ipm: bool = False) -> highspy.Highs:
    """A quiet, single-threaded, seeded HiGHS instance (simplex unless ``ipm``)."""
    import highspy

    highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves Highs.__init__ unannotated
    options: dict[str, bool | int | float | str] = {
        "output_flag": False,
        "threads": 1,
        "random_seed": 0,
        **_TOLERANCES,
    }
    if ipm:
        # An interior point without crossover ends near the centre of the optimal face, so every dual that
        # can be positive is positive: the leximin stage can then fix every tight type at once.
        options.update(solver="ipm", run_crossover="off")
    for name, value in options.items():
        highs.setOptionValue(name, value)
    return highs


def load(highs: highspy.Highs, program: LinearProgram) -> None:
    """Pass ``program`` to ``highs`` (replacing any model it had)."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = len(program.cost)
    lp.num_row_ = len(program.rows)
    lp.col_cost_ = program.cost
    lp.col_lower_ = program.lower
    lp.col_upper_ = program.upper
    lp.row_lower_ = [row[0] for row in program.rows]
    lp.row_upper_ = [row[1] for row in program.rows]
    starts = [0]
    indices: list[int] = []
    values: list[float] = []
    for _, _, row_indices, row_values in program.rows:
        indices.extend(row_indices)
        values.extend(row_values)
        starts.append(len(indices))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = lp.num_col_
    lp.a_matrix_.num_row_ = lp.num_row_
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = indices
    lp.a_matrix_.value_ = values
    lp.sense_ = highspy.ObjSense.kMaximize if program.maximize else highspy.ObjSense.kMinimize
    if any(program.integer):
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in program.integer
        ]
    if highs.passModel(lp) != highspy.HighsStatus.kOk:
        raise SolverFailure("HiGHS refused the model")


def run(highs: highspy.Highs, *, what: str) -> Solution | None:
    """Solve the loaded model: the solution, or ``None`` when it is infeasible.

    Any other outcome (unbounded, a limit reached, a numerical failure) is a :class:`SolverFailure`
    naming ``what`` was being solved: the callers only pose bounded problems.
    """
    import highspy

    highs.run()
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverFailure(f"HiGHS could not solve {what}: {highs.modelStatusToString(status)}")
    solution = highs.getSolution()
    return Solution(
        x=tuple(solution.col_value),
        row_dual=tuple(solution.row_dual),
        objective=highs.getInfo().objective_function_value,
    )


def solve(program: LinearProgram, *, what: str, ipm: bool = False) -> Solution | None:
    """Load and solve ``program`` on a fresh instance (see :func:`run`)."""
    highs = new_highs(ipm=ipm)
    load(highs, program)
    return run(highs, what=what)
