"""Sortition: drawing delegates, councils and panels by a verifiable lot with quotas.

The pure core of ``docs/spec/sortition.md``; standard library plus HiGHS (``highspy``), no I/O.

* :mod:`.types` — type labels, quotas, the :class:`Problem` a draw solves;
* :mod:`.feasibility` — quotas no panel can meet, refused with the clashing rows named;
* :mod:`.leximin` — the leximin distribution over types by column generation;
* :mod:`.rounding` — that distribution as M equally likely tickets, each type within 1/M;
* :mod:`.strata` — the simple tier: fixed seats per stratum, uniform inside it;
* :mod:`.tickets` — the ticket plan per algorithm (``leximin-types/1``, ``strata-uniform/1``);
* :mod:`.lot` — pseudonyms, commitments, seed, ticket and selection, bit for bit;
* :mod:`.witnesses` — commit/reveal rules; :mod:`.record` — the published record and its check.

A draw goes: :func:`make_problem` from the frozen pool's type counts → :func:`plan_leximin` (or
:func:`plan_strata`) → publish ``pool_commitment`` and ``tickets_hash`` → witnesses reveal →
:func:`build_record` (or :func:`cancelled_record`).
"""

from __future__ import annotations

from harmony_matrix.sortition.errors import (
    InfeasibleQuotas,
    InvalidDrawInput,
    SolverFailure,
    SortitionError,
    WitnessError,
)
from harmony_matrix.sortition.lot import make_pseudonym, new_salt, pool_commitment, witness_commitment
from harmony_matrix.sortition.record import RecordInputs, build_record, cancelled_record, record_probabilities, verify_record
from harmony_matrix.sortition.tickets import LEXIMIN, STRATA, TicketPlan, plan_leximin, plan_strata
from harmony_matrix.sortition.types import PoolEntry, Problem, Quota, count_types, make_problem, type_label
from harmony_matrix.sortition.witnesses import Witness

__all__ = [
    "LEXIMIN",
    "STRATA",
    "InfeasibleQuotas",
    "InvalidDrawInput",
    "PoolEntry",
    "Problem",
    "Quota",
    "RecordInputs",
    "SolverFailure",
    "SortitionError",
    "TicketPlan",
    "Witness",
    "WitnessError",
    "build_record",
    "cancelled_record",
    "count_types",
    "make_problem",
    "make_pseudonym",
    "new_salt",
    "plan_leximin",
    "plan_strata",
    "pool_commitment",
    "record_probabilities",
    "type_label",
    "verify_record",
    "witness_commitment",
]
