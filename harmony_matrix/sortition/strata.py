"""The simple tier, ``strata-uniform/1``: a fixed number of seats per stratum, uniform inside it.

The strata are the types: a draw of this kind uses as categories exactly the features that define the
strata (e.g. only ``branch``), and says how many seats each type gets. There is then a single possible
panel, hence a single ticket, and the lot order within each type (``lot.order_within_type``) makes
every member of a stratum equally likely: probability ``seats / members`` of the stratum, exactly.
No solver is involved.
"""

from __future__ import annotations

from collections.abc import Mapping

from harmony_matrix.sortition.errors import InfeasibleQuotas, InvalidDrawInput
from harmony_matrix.sortition.panels import Panel
from harmony_matrix.sortition.types import Problem

__all__ = ["strata_panel"]


def strata_panel(problem: Problem, seats_per_stratum: Mapping[str, int]) -> Panel:
    """The one panel giving each type (stratum) its seats; refuses what breaks a count or a quota.

    Every type of the pool must be named (0 is allowed, and means its members cannot be drawn); the
    seats must add up to ``problem.seats``. All conflicts are reported together.
    """
    unknown = sorted(set(seats_per_stratum) - set(problem.types))
    missing = sorted(set(problem.types) - set(seats_per_stratum))
    if unknown:
        raise InvalidDrawInput(f"stratum {unknown[0]} has nobody in the pool")
    if missing:
        raise InvalidDrawInput(f"stratum {missing[0]} is in the pool but given no number of seats")
    panel = tuple(seats_per_stratum[label] for label in problem.types)
    conflicts: list[str] = []
    for label, seats, count in zip(problem.types, panel, problem.counts):
        if seats < 0:
            conflicts.append(f"{label}: {seats} seats")
        elif seats > count:
            conflicts.append(f"{label}: {seats} seats but only {count} in the pool")
    if sum(panel) != problem.seats:
        conflicts.append(f"the strata's seats add up to {sum(panel)}, not seats {problem.seats}")
    for quota, members in zip(problem.quotas, problem.members):
        got = sum(panel[i] for i in members)
        if not quota.min <= got <= quota.max:
            conflicts.append(f"{quota.label} min {quota.min} max {quota.max} but the strata give it {got}")
    if conflicts:
        raise InfeasibleQuotas(tuple(conflicts))
    return panel
