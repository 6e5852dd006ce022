"""From a secretary's request and the people in the pool to the :class:`Problem` a draw solves (pure).

The categories of a draw are the ones its quotas name: ``branch`` (the assembly nested directly in the
drawing one that a member takes part in, for ``pool=branches``) and the members' self-described
features (``gender``…), where a member who gave no value counts as ``undisclosed``. A draw without
categories gets the single placeholder category ``assembly`` (every member the same type), so that it
is an ordinary uniform draw.

The algorithm follows from the categories: one category whose every value has a fixed number of seats
(``per-branch=1``, or the placeholder) is a strata draw (``strata-uniform/1``: one ticket, uniform inside
each stratum); anything else is leximin (``leximin-types/1``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harmony_matrix.sortition.arguments import PoolKind, QuotaRow
from harmony_matrix.sortition.errors import InvalidDrawInput
from harmony_matrix.sortition.feasibility import check_feasible
from harmony_matrix.sortition.tickets import TicketPlan, plan_leximin, plan_strata
from harmony_matrix.sortition.types import Problem, Quota, make_problem, type_label

__all__ = [
    "BRANCH",
    "PLACEHOLDER",
    "UNDISCLOSED",
    "Candidate",
    "Design",
    "design_draw",
    "plan_draw",
    "public_counts",
]

BRANCH = "branch"
PLACEHOLDER = "assembly"
#: The value of a feature a member never gave (or chose not to give).
UNDISCLOSED = "undisclosed"
#: Type counts below this are shown as "<5" in public posts (the record itself has them exactly).
SMALL_CELL = 5


@dataclass(frozen=True)
class Candidate:
    """One person of the pool before pseudonyms: their branch (``pool=branches``) and feature values.

    Sensitive (features): never log or post it."""

    user_id: str
    branch: str | None = None
    features: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Design:
    """A draw's problem and each candidate's type label, ready for a plan."""

    problem: Problem
    labels: Mapping[str, str]  # user ID -> type label
    strata: Mapping[str, int] | None  # seats per type for a strata draw, else None (leximin)


def _categories(*, pool: PoolKind, branches: Sequence[str], quotas: Sequence[QuotaRow],
                features: Mapping[str, Sequence[str]], assembly: str) -> dict[str, tuple[str, ...]]:
    categories: dict[str, tuple[str, ...]] = {}
    if pool is PoolKind.BRANCHES:
        if not branches:
            raise InvalidDrawInput(f"{assembly} has no assemblies nested in it, so it has no branches to draw from")
        categories[BRANCH] = tuple(sorted(branches))
    for row in quotas:
        if row.category == BRANCH:
            if pool is not PoolKind.BRANCHES:
                raise InvalidDrawInput(f"quota {row.label}: branch quotas need pool=branches")
            if row.value not in categories[BRANCH]:
                raise InvalidDrawInput(f"quota {row.label}: {row.value} is not an assembly nested in {assembly} "
                                       f"(branches: {', '.join(categories[BRANCH])})")
            continue
        if row.category not in features:
            known = ", ".join(sorted(features)) or "none are configured"
            raise InvalidDrawInput(f"quota {row.label}: there is no feature {row.category} (features: {known})")
        values = tuple(dict.fromkeys([*features[row.category], UNDISCLOSED]))
        if row.value not in values:
            raise InvalidDrawInput(f"quota {row.label}: {row.value} is not a value of {row.category} "
                                   f"({', '.join(values)})")
        categories[row.category] = values
    return categories or {PLACEHOLDER: (assembly,)}


def design_draw(*, assembly: str, pool: PoolKind, seats: int | None, per_branch: int | None,
                quotas: Sequence[QuotaRow], features: Mapping[str, Sequence[str]], branches: Sequence[str],
                candidates: Iterable[Candidate]) -> Design:
    """The problem of a draw; ``InvalidDrawInput`` names a row or option that does not fit.

    ``features`` are the configured features and their values (``undisclosed`` is added to each);
    ``branches`` the slugs of the assemblies nested directly in ``assembly``. Candidates of
    ``pool=branches`` without a branch are not in the pool. Feasibility is not checked here
    (:func:`plan_draw` refuses infeasible quotas naming the rows).
    """
    if per_branch is not None and pool is not PoolKind.BRANCHES:
        raise InvalidDrawInput("per-branch= needs pool=branches")
    categories = _categories(pool=pool, branches=branches, quotas=quotas, features=features, assembly=assembly)
    rows = list(quotas)
    if per_branch is not None:
        given = {row.value for row in rows if row.category == BRANCH}
        rows += [QuotaRow(BRANCH, b, per_branch, per_branch) for b in categories[BRANCH] if b not in given]
    if seats is None:
        if per_branch is None:
            raise InvalidDrawInput("say how many seats: seats=N (or per-branch=N with pool=branches)")
        seats = sum(row.min for row in rows if row.category == BRANCH)
    labels: dict[str, str] = {}
    for person in candidates:
        if pool is PoolKind.BRANCHES and person.branch is None:
            continue
        values = {}
        for name in categories:
            if name == BRANCH:
                values[name] = person.branch or ""
            elif name == PLACEHOLDER:
                values[name] = assembly
            else:
                given_value = (person.features or {}).get(name, UNDISCLOSED)
                values[name] = given_value if given_value in categories[name] else UNDISCLOSED
        labels[person.user_id] = type_label(values)
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    problem = make_problem(
        seats=seats, categories=categories, counts=counts,
        quotas=[Quota(r.category, r.value, r.min, seats if r.max is None else r.max) for r in rows])
    return Design(problem=problem, labels=labels, strata=_strata(problem))


def _strata(problem: Problem) -> dict[str, int] | None:
    """Seats per type when the draw is a strata draw (see the module docstring), else None."""
    if len(problem.categories) != 1:
        return None
    [(name, values)] = problem.categories.items()
    if name == PLACEHOLDER:
        return {label: problem.seats for label in problem.types}
    fixed = {q.value: q.min for q in problem.quotas if q.category == name and q.min == q.max}
    if set(fixed) != set(values) or sum(fixed.values()) != problem.seats:
        return None
    return {label: fixed[label.partition("=")[2]] for label in problem.types}


def plan_draw(design: Design) -> TicketPlan:
    """The tickets of the draw; ``InfeasibleQuotas`` names the rows no panel can meet.

    Deterministic: the same pool and quotas give the same tickets (the spec's requirement)."""
    check_feasible(design.problem)
    if design.strata is not None:
        return plan_strata(design.problem, design.strata)
    return plan_leximin(design.problem)


def public_counts(types: Iterable[tuple[str, int]]) -> list[tuple[str, str]]:
    """Type counts for a public post, cells under 5 shown as ``<5`` (``docs/spec/sortition.md``)."""
    return [(label, str(count) if count >= SMALL_CELL else f"<{SMALL_CELL}") for label, count in types]
