"""Refusing quotas that no panel can meet, naming the rows that clash.

:func:`check_feasible` first runs the plain arithmetic checks, so the common mistakes get the plainest
sentences ("gender=woman min 5 but only 3 in the pool", "gender: sum of mins 12 > seats 8"). When they
all pass but quotas of different categories still clash, it asks the panel MIP and shrinks the set of
quota rows to one that still cannot be met but can once any row is dropped (a deletion filter), and
names those rows.
"""

from __future__ import annotations

from harmony_matrix.sortition.errors import InfeasibleQuotas
from harmony_matrix.sortition.panels import panel_exists
from harmony_matrix.sortition.types import Problem, parse_type_label

__all__ = ["arithmetic_conflicts", "check_feasible", "value_counts"]


def value_counts(problem: Problem) -> dict[tuple[str, str], int]:
    """Pool members per (category, value), every declared value included (zero when absent)."""
    counts = {(name, value): 0 for name, values in problem.categories.items() for value in values}
    for label, count in zip(problem.types, problem.counts):
        for name, value in parse_type_label(label).items():
            counts[(name, value)] += count
    return counts


def arithmetic_conflicts(problem: Problem) -> list[str]:
    """Every conflict that shows without a solver, one sentence each, in a fixed order."""
    conflicts: list[str] = []
    seats = problem.seats
    if seats < 1:
        conflicts.append(f"seats {seats}: a draw fills at least 1 seat")
    if seats > problem.pool_size:
        conflicts.append(f"seats {seats} > pool size {problem.pool_size}")
    available = value_counts(problem)
    quota_of = {(quota.category, quota.value): quota for quota in problem.quotas}
    for quota in problem.quotas:
        have = available[(quota.category, quota.value)]
        if quota.min > quota.max:
            conflicts.append(f"{quota.label} min {quota.min} > max {quota.max}")
        if quota.min > have:
            conflicts.append(f"{quota.label} min {quota.min} but only {have} in the pool")
    for name, values in problem.categories.items():
        # A value without a quota row may take any number of seats, up to who is in the pool.
        mins = sum(quota_of[(name, v)].min for v in values if (name, v) in quota_of)
        maxes = sum(
            min(quota_of[(name, v)].max, available[(name, v)]) if (name, v) in quota_of else available[(name, v)]
            for v in values
        )
        if mins > seats:
            conflicts.append(f"{name}: sum of mins {mins} > seats {seats}")
        if maxes < seats:
            conflicts.append(f"{name}: sum of maxes (capped by who is in the pool) {maxes} < seats {seats}")
    return conflicts


def check_feasible(problem: Problem) -> None:
    """Raise :class:`InfeasibleQuotas` unless some panel meets every quota row."""
    conflicts = arithmetic_conflicts(problem)
    if conflicts:
        raise InfeasibleQuotas(tuple(conflicts))
    rows = list(range(len(problem.quotas)))
    if panel_exists(problem, rows):
        return
    # Deletion filter: drop each row in turn (in the sorted order of the rows, so the answer is
    # reproducible) and keep it out when the rest still cannot be met. What remains clashes as a whole.
    needed = list(rows)
    for row in rows:
        trial = [r for r in needed if r != row]
        if not panel_exists(problem, trial):
            needed = trial
    if not needed:
        # Seats and pool counts alone clash: impossible once the arithmetic checks passed, kept as a guard.
        raise InfeasibleQuotas((f"no panel of {problem.seats} seats can be formed from this pool",))
    rows_named = (problem.quotas[r] for r in needed)
    named = ", ".join(f"{quota.label} min {quota.min} max {quota.max}" for quota in rows_named)
    raise InfeasibleQuotas((f"these quotas cannot all be met together with {problem.seats} seats: {named}",))
