"""The published record of a draw, and checking one.

:func:`build_record` assembles the JSON object of ``docs/spec/sortition.md`` (field names are the contract)
from the frozen pool, the ticket plan and the witnesses, deriving the seed, the ticket and the selection
with :mod:`.lot`. :func:`verify_record` re-derives everything from a record and lists every mismatch.

Additions to the spec's record (documented here because the record is the contract):

* ``"pool"``: the canonical pool ``[[pseudonym, type], ...]`` (sorted). Without it nobody could redo
  the selection, which orders *all* members of a type; pseudonyms are salted hashes, and the salts go
  only to their members, so the list names nobody. Its SHA-256 is ``pool_commitment``.
* ``"alternates"`` has the shape of ``"selected"`` but is grouped by type (types sorted) and keeps lot
  order within a type, since that order is who is asked first; each type with a seat gets up to
  ``alternates_per_type`` of them.
* Ticket compositions leave out types with no seat; ``"beacon"`` is ``null`` when there is none (it
  counts as ``""`` in the seed); ``"witnesses"`` are sorted by user, with ``"reveal": null`` for one
  who did not reveal in time. A cancelled record has ``"seed"`` and ``"ticket"`` null and empty
  ``"selected"``/``"alternates"``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from harmony_matrix.sortition.errors import InvalidDrawInput
from harmony_matrix.sortition.lot import (
    canonical_pool,
    choose_ticket,
    derive_seed,
    make_pseudonym,
    order_within_type,
    pool_commitment,
    select_members,
    tickets_hash,
    witness_commitment,
)
from harmony_matrix.sortition.tickets import ALGORITHMS, TicketPlan
from harmony_matrix.sortition.types import PoolEntry, Problem, count_types
from harmony_matrix.sortition.witnesses import MIN_WITNESSES, Witness, check_witnesses

__all__ = [
    "DEFAULT_ALTERNATES",
    "RECORD_FIELDS",
    "RecordInputs",
    "build_record",
    "cancelled_record",
    "record_probabilities",
    "verify_membership",
    "verify_record",
]

DEFAULT_ALTERNATES = 2
RECORD_FIELDS = (
    "ref", "purpose", "assembly", "authorised_by", "seats", "categories", "quotas", "types",
    "pool_commitment", "algorithm", "tickets", "tickets_hash", "witnesses", "beacon", "seed", "ticket",
    "selected", "alternates", "status", "cancel_reason", "pool",
)  # fmt: skip
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RecordInputs:
    """What every record of a draw is made from, drawn or cancelled: the draw's reference, purpose,
    assembly and authorising decision, the quota problem, the frozen pool, the ticket plan, the
    witnesses and the beacon."""

    ref: str
    purpose: str
    assembly: str
    authorised_by: str | None
    problem: Problem
    pool: Sequence[PoolEntry]
    plan: TicketPlan
    witnesses: Sequence[Witness]
    beacon: str | None = None


def _base(draw: RecordInputs) -> dict[str, Any]:
    problem, pool, plan = draw.problem, draw.pool, draw.plan
    if count_types(pool) != dict(zip(problem.types, problem.counts)):
        raise InvalidDrawInput("the pool's types and counts differ from the problem's")
    for pseudonym, _ in pool:
        if _HEX64.fullmatch(pseudonym) is None:
            raise InvalidDrawInput(f"pseudonym {pseudonym!r} is not a SHA-256 hex digest")
    for ticket in plan.tickets:
        if not problem.meets_quotas(problem.vector(ticket)):
            raise InvalidDrawInput(f"ticket {ticket} does not meet the quotas")
    tickets = [dict(sorted(ticket.items())) for ticket in plan.tickets]
    return {
        "ref": draw.ref,
        "purpose": draw.purpose,
        "assembly": draw.assembly,
        "authorised_by": draw.authorised_by,
        "seats": problem.seats,
        "categories": {name: list(values) for name, values in problem.categories.items()},
        "quotas": [quota.as_record() for quota in problem.quotas],
        "types": [{"type": label, "count": count} for label, count in zip(problem.types, problem.counts)],
        "pool_commitment": pool_commitment(pool),
        "algorithm": plan.algorithm,
        "tickets": tickets,
        "tickets_hash": tickets_hash(tickets),
        "witnesses": [w.as_record() for w in sorted(draw.witnesses, key=lambda w: w.user)],
        "beacon": draw.beacon,
        "seed": None,
        "ticket": None,
        "selected": [],
        "alternates": [],
        "status": "cancelled",
        "cancel_reason": None,
        "pool": canonical_pool(pool),
    }


def build_record(
    draw: RecordInputs, *, secretaries: Collection[str], alternates_per_type: int = DEFAULT_ALTERNATES
) -> dict[str, Any]:
    """The record of a drawn lot. Raises ``WitnessError`` when the witnesses do not make a draw (then
    publish :func:`cancelled_record` with that reason) and ``InvalidDrawInput`` on inconsistent input."""
    record = _base(draw)
    reveals = check_witnesses(draw.witnesses, secretaries=secretaries)
    seed = derive_seed(
        pool_commitment=record["pool_commitment"], tickets_hash=record["tickets_hash"], reveals=reveals,
        beacon=draw.beacon,
    )
    ticket = choose_ticket(seed, len(record["tickets"]))
    selected, alternates = select_members(
        seed, record["tickets"][ticket], draw.pool, alternates_per_type=alternates_per_type
    )
    record.update(seed=seed, ticket=ticket, selected=selected, alternates=alternates, status="drawn")
    return record


def cancelled_record(draw: RecordInputs, *, reason: str) -> dict[str, Any]:
    """The record of a draw called off, kept on record with its reason (no quiet re-rolls)."""
    if not reason.strip():
        raise InvalidDrawInput("a cancelled draw needs a reason")
    record = _base(draw)
    record["cancel_reason"] = reason
    return record


def record_probabilities(record: Mapping[str, Any]) -> dict[str, Fraction]:
    """Each type's selection probability from the record's tickets: count / (M * members)."""
    tickets = record["tickets"]
    return {
        entry["type"]: Fraction(sum(t.get(entry["type"], 0) for t in tickets), len(tickets) * entry["count"])
        for entry in record["types"]
    }


def verify_membership(record: Mapping[str, Any], user_id: str, salt: str) -> str | None:
    """The type recorded for the member with this user ID and salt, or ``None`` if not in the pool."""
    mine = make_pseudonym(user_id, salt)
    return next((label for pseudonym, label in record.get("pool") or [] if pseudonym == mine), None)


def verify_record(record: Mapping[str, Any]) -> list[str]:
    """Every way the record fails to re-derive, one line each; an empty list means it checks out.

    The same checks as ``verify_draw.py`` (which a bare ``python3`` runs); see there for the wording.
    """
    problems: list[str] = []
    missing = [name for name in RECORD_FIELDS if name not in record]
    if missing:
        return [f"fields missing: {', '.join(missing)}"]
    if record["algorithm"] not in ALGORITHMS:
        problems.append(f"algorithm: unknown {record['algorithm']!r}")
    counts = {entry["type"]: entry["count"] for entry in record["types"]}
    if [entry["type"] for entry in record["types"]] != sorted(counts):
        problems.append("types: not sorted by type")
    pool = [(p, t) for p, t in record["pool"]]
    if [list(entry) for entry in pool] != canonical_pool(pool):
        problems.append("pool: not the canonical (sorted) list")
    if pool_commitment(pool) != record["pool_commitment"]:
        problems.append("pool_commitment: does not match the pool")
    try:
        if count_types(pool) != counts:
            problems.append("types: counts do not match the pool")
    except InvalidDrawInput as error:
        problems.append(f"pool: {error.message}")
    tickets = record["tickets"]
    if tickets_hash(tickets) != record["tickets_hash"]:
        problems.append("tickets_hash: does not match the tickets")
    problems.extend(_ticket_problems(record, counts))
    reveals: dict[str, str] = {}
    for witness in record["witnesses"]:
        if witness["reveal"] is None:
            continue
        if witness_commitment(witness["reveal"]) != witness["commitment"]:
            problems.append(f"witness {witness['user']}: reveal does not match commitment")
        reveals[witness["user"]] = witness["reveal"]
    if record["status"] == "cancelled":
        if not record["cancel_reason"]:
            problems.append("cancel_reason: a cancelled draw needs one")
        return problems
    if record["status"] != "drawn":
        return [*problems, f"status: unknown {record['status']!r}"]
    if len(reveals) < MIN_WITNESSES:
        problems.append(f"witnesses: {len(reveals)} revealed, a draw needs {MIN_WITNESSES}")
    seed = derive_seed(
        pool_commitment=record["pool_commitment"], tickets_hash=record["tickets_hash"], reveals=reveals,
        beacon=record["beacon"],
    )  # fmt: skip
    if seed != record["seed"]:
        problems.append("seed: does not match the commitments, reveals and beacon")
    if not tickets:
        return problems
    ticket = choose_ticket(seed, len(tickets))
    if ticket != record["ticket"]:
        problems.append(f"ticket: record says {record['ticket']}, the seed gives {ticket}")
    selected, _ = select_members(seed, tickets[ticket], pool, alternates_per_type=0)
    if record["selected"] != selected:
        problems.append("selected: not the members the seed and ticket select")
    problems.extend(_alternate_problems(record, seed, tickets[ticket], pool))
    return problems


def _ticket_problems(record: Mapping[str, Any], counts: Mapping[str, int]) -> list[str]:
    problems: list[str] = []
    if not record["tickets"]:
        problems.append("tickets: none")
    for index, ticket in enumerate(record["tickets"]):
        if set(ticket) - set(counts):
            problems.append(f"ticket {index}: names a type not in the pool")
            continue
        if any(not 0 <= seats <= counts[label] for label, seats in ticket.items()):
            problems.append(f"ticket {index}: more seats for a type than it has members")
        if sum(ticket.values()) != record["seats"]:
            problems.append(f"ticket {index}: {sum(ticket.values())} seats, not {record['seats']}")
        for quota in record["quotas"]:
            part = f"{quota['category']}={quota['value']}"
            got = sum(seats for label, seats in ticket.items() if part in label.split(";"))
            if not quota["min"] <= got <= quota["max"]:
                problems.append(f"ticket {index}: {part} gets {got}, quota {quota['min']}..{quota['max']}")
    return problems


def _alternate_problems(
    record: Mapping[str, Any], seed: str, ticket: Mapping[str, int], pool: Sequence[PoolEntry]
) -> list[str]:
    by_type: dict[str, list[str]] = {}
    for entry in record["alternates"]:
        by_type.setdefault(entry["type"], []).append(entry["pseudonym"])
    if [entry["type"] for entry in record["alternates"]] != sorted(entry["type"] for entry in record["alternates"]):
        return ["alternates: not grouped by type in sorted order"]
    problems: list[str] = []
    for label, listed in by_type.items():
        order = order_within_type(seed, label, [p for p, t in pool if t == label])
        seats = ticket.get(label, 0)
        if seats == 0 or listed != order[seats : seats + len(listed)]:
            problems.append(f"alternates of {label}: not the next members in lot order")
    return problems
