"""Errors raised by the sortition core.

Every error carries ``message``, one sentence fit to show the person who asked for the draw; the Matrix
edge maps them onto its own user-facing error type. None of them is ever raised half-way through
building something: a function either returns its whole result or raises before producing any of it.
"""

from __future__ import annotations

__all__ = ["InfeasibleQuotas", "InvalidDrawInput", "SolverFailure", "SortitionError", "WitnessError"]


class SortitionError(Exception):
    """Base class of every error of the sortition core."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDrawInput(SortitionError):
    """The input is malformed: an unknown category, a bad type label, a duplicate pseudonym or quota row."""


class InfeasibleQuotas(SortitionError):
    """No panel meets every quota. ``conflicts`` names the rows that clash, one plain sentence each.

    The sentences name quota rows (``gender=woman min 5``), seat counts and counts of the pool per
    category value; pool counts are what the announcement of a draw shows anyway.
    """

    def __init__(self, conflicts: tuple[str, ...]) -> None:
        super().__init__("the quotas cannot be met: " + "; ".join(conflicts))
        self.conflicts = conflicts


class WitnessError(SortitionError):
    """The witnesses do not make a valid draw: too few reveals, a reveal not matching its commitment, …"""


class SolverFailure(SortitionError):
    """HiGHS answered something the algorithm cannot go on from (it should not happen on valid input)."""
