"""Freezing a draw's pool, and making its record from what was frozen (pure).

:func:`freeze_pool` gives every member a pseudonym from a fresh salt, fixes the pool commitment and
the tickets, and returns what the bot stores and announces (the pseudonyms' owners and salts stay in
the bot's database; each member is told their own). :func:`finish_record` rebuilds the problem and
the ticket plan from the frozen data alone, so the record made days later (after the reveals) is
exactly the one the frozen pool committed to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from harmony_matrix.sortition.design import Design
from harmony_matrix.sortition.draws import Draw
from harmony_matrix.sortition.errors import WitnessError
from harmony_matrix.sortition.lot import canonical_pool, make_pseudonym, pool_commitment, tickets_hash
from harmony_matrix.sortition.record import RecordInputs, build_record, cancelled_record
from harmony_matrix.sortition.tickets import TicketPlan
from harmony_matrix.sortition.types import Quota, make_problem

__all__ = ["FrozenPool", "PoolMember", "finish_record", "freeze_pool"]


@dataclass(frozen=True)
class PoolMember:
    """One member's entry in a frozen pool (sensitive: the type may hold a self-described feature).

    ``user_id`` is None once the member asked to be forgotten."""

    pseudonym: str
    user_id: str | None
    salt: str
    type: str
    probability: Fraction


@dataclass(frozen=True)
class FrozenPool:
    """The members' entries and the frozen data of the draw (see ``Draw.frozen``)."""

    members: tuple[PoolMember, ...]
    data: Mapping[str, Any]


def freeze_pool(design: Design, plan: TicketPlan, salts: Mapping[str, str]) -> FrozenPool:
    """Pseudonyms from ``salts`` (one fresh salt per member), the pool commitment and the tickets."""
    problem = design.problem
    members = tuple(sorted(
        (PoolMember(pseudonym=make_pseudonym(user, salts[user]), user_id=user, salt=salts[user], type=label,
                    probability=plan.probabilities[label]) for user, label in design.labels.items()),
        key=lambda m: m.pseudonym))
    pool = [(m.pseudonym, m.type) for m in members]
    tickets = [dict(sorted(ticket.items())) for ticket in plan.tickets]
    data = {
        "seats": problem.seats,
        "categories": {name: list(values) for name, values in problem.categories.items()},
        "quotas": [quota.as_record() for quota in problem.quotas],
        "pool": canonical_pool(pool),
        "algorithm": plan.algorithm,
        "tickets": tickets,
        "pool_commitment": pool_commitment(pool),
        "tickets_hash": tickets_hash(tickets),
        "types": [{"type": label, "count": count} for label, count in zip(problem.types, problem.counts)],
        "probabilities": {label: str(p) for label, p in sorted(plan.probabilities.items())},
    }
    return FrozenPool(members=members, data=data)


def finish_record(draw: Draw, *, secretaries: Collection[str], reason: str | None = None) -> dict[str, Any]:
    """The published record of a frozen draw: drawn from the reveals in time, or cancelled.

    With ``reason`` the draw is cancelled with it; otherwise it is drawn, and cancelled with the
    witness rule's own sentence when too few witnesses revealed (``WitnessError``)."""
    frozen = draw.frozen
    if frozen is None:
        raise ValueError(f"{draw.ref} has no frozen pool")
    pool = [(p, t) for p, t in frozen["pool"]]
    counts = {entry["type"]: entry["count"] for entry in frozen["types"]}
    problem = make_problem(
        seats=frozen["seats"], categories=frozen["categories"], counts=counts,
        quotas=[Quota(q["category"], q["value"], q["min"], q["max"]) for q in frozen["quotas"]])
    plan = TicketPlan(algorithm=frozen["algorithm"], tickets=tuple(frozen["tickets"]), probabilities={}, optimum={},
                      max_deviation=0.0)
    inputs = RecordInputs(
        ref=draw.ref, purpose=draw.request.purpose, assembly=draw.assembly,
        authorised_by=draw.request.authorised_by, problem=problem, pool=pool, plan=plan,
        witnesses=draw.record_witnesses(), beacon=draw.request.beacon)
    if reason is None:
        try:
            record = build_record(inputs, secretaries=secretaries, alternates_per_type=draw.request.alternates)
        except WitnessError as exc:
            reason = exc.message
        else:
            _check_same(record, frozen)
            return record
    record = cancelled_record(inputs, reason=reason)
    _check_same(record, frozen)
    return record


def _check_same(record: Mapping[str, Any], frozen: Mapping[str, Any]) -> None:
    # The record must be the one the announcement committed to: a mismatch is a bug, never published.
    if record["pool_commitment"] != frozen["pool_commitment"] or record["tickets_hash"] != frozen["tickets_hash"]:
        raise AssertionError("the record does not match the frozen pool")
