#!/usr/bin/env python3
"""Check a harmony-matrix sortition record with nothing but Python's standard library.

    python3 verify_draw.py RECORD.json [--member USER_ID SALT]

It re-derives, from the record alone, everything the draw published (``docs/spec/sortition.md``):

* ``pool_commitment`` from the record's ``pool`` field and the ``types`` counts from the same pool;
* ``tickets_hash`` from ``tickets``, and that every ticket meets every quota, fits the pool and fills
  exactly ``seats``;
* each witness's ``commitment`` from their ``reveal``; the ``seed`` from the pool commitment, the
  tickets hash, the reveals (in the order of the witnesses' user IDs) and the ``beacon``;
* the ``ticket`` from the seed, and ``selected`` and the ORDER of ``alternates`` from the seed, the
  ticket and the pool;

and prints each type's selection probability (count of the type over all tickets / (M x members)).
With ``--member`` it also tells whether that user, with the salt the bot sent them privately, is in the
pool and with which type. It exits 1 when anything does not match, naming it on a ``MISMATCH:`` line,
and 2 when it cannot read the file.

The record's ``pool`` field (``[[pseudonym, type], ...]``, sorted) is an addition to the spec's record:
the selection orders every member of a type, so it cannot be redone from the selected alone. Pseudonyms
are salted hashes and the salts go only to their members, so the list names nobody.

The lot rules below are a copy of ``harmony_matrix/sortition/lot.py``, kept byte-for-byte the same
algorithm (the unit tests run both on the same records); this file must stay standalone.
"""

from __future__ import annotations

import hashlib
import json
import sys
from fractions import Fraction
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

FIELDS = (
    "ref", "purpose", "assembly", "authorised_by", "seats", "categories", "quotas", "types",
    "pool_commitment", "algorithm", "tickets", "tickets_hash", "witnesses", "beacon", "seed", "ticket",
    "selected", "alternates", "status", "cancel_reason",
)  # fmt: skip
MIN_WITNESSES = 2
_SPACE = 2**256


# --- the lot (same algorithm as harmony_matrix/sortition/lot.py) ------------------------------------


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: "bytes | str") -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def make_pseudonym(user_id: str, salt: str) -> str:
    return sha256_hex(user_id + "\0" + salt)


def canonical_pool(pool: Sequence[Sequence[str]]) -> List[List[str]]:
    return sorted([pseudonym, label] for pseudonym, label in pool)


def pool_commitment(pool: Sequence[Sequence[str]]) -> str:
    return sha256_hex(canonical(canonical_pool(pool)))


def tickets_hash(tickets: Sequence[Mapping[str, int]]) -> str:
    return sha256_hex(canonical([dict(ticket) for ticket in tickets]))


def witness_commitment(reveal: str) -> str:
    return sha256_hex(reveal)


def derive_seed(pool_commitment: str, tickets_hash: str, reveals: Mapping[str, str], beacon: Optional[str]) -> str:
    joined = "\n".join(reveals[user] for user in sorted(reveals))
    return sha256_hex(pool_commitment + "\n" + tickets_hash + "\n" + joined + "\n" + (beacon or ""))


def uniform(seed: str, label: str, n: int) -> int:
    if n < 1:
        raise ValueError("uniform() needs n >= 1")
    limit = _SPACE - (_SPACE % n)
    counter = 0
    while True:
        value = int(sha256_hex(f"{seed}\0{label}\0{counter}"), 16)
        if value < limit:
            return value % n
        counter += 1


def choose_ticket(seed: str, n_tickets: int) -> int:
    return uniform(seed, "ticket", n_tickets)


def lot_key(seed: str, label: str, pseudonym: str) -> str:
    return sha256_hex(f"{seed}\0{label}\0{pseudonym}")


def order_within_type(seed: str, label: str, pseudonyms: Sequence[str]) -> List[str]:
    return sorted(pseudonyms, key=lambda pseudonym: (lot_key(seed, label, pseudonym), pseudonym))


# --- the checks --------------------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, text: str) -> None:
        print(f"ok        {text}")

    def mismatch(self, text: str) -> None:
        self.failures += 1
        print(f"MISMATCH: {text}")


def check_tickets(record: Dict[str, Any], counts: Dict[str, int], report: Report) -> None:
    tickets = record["tickets"]
    if not tickets:
        report.mismatch("tickets: the record has none")
        return
    bad = 0
    for index, ticket in enumerate(tickets):
        problems: List[str] = []
        unknown = sorted(set(ticket) - set(counts))
        if unknown:
            problems.append(f"names type {unknown[0]} which is not in the pool")
        for label, seats in sorted(ticket.items()):
            if label in counts and not 0 <= seats <= counts[label]:
                problems.append(f"gives {label} {seats} seats, it has {counts[label]} members")
        if sum(ticket.values()) != record["seats"]:
            problems.append(f"fills {sum(ticket.values())} seats, not {record['seats']}")
        for quota in record["quotas"]:
            part = f"{quota['category']}={quota['value']}"
            got = sum(seats for label, seats in ticket.items() if part in label.split(";"))
            if not quota["min"] <= got <= quota["max"]:
                problems.append(f"gives {part} {got} seats, quota {quota['min']}..{quota['max']}")
        for problem in problems:
            bad += 1
            report.mismatch(f"ticket {index} {problem}")
    if not bad:
        report.ok(f"{len(tickets)} tickets each fill {record['seats']} seats within every quota and the pool")


def check_alternates(
    record: Dict[str, Any], seed: str, ticket: Dict[str, int], by_type: Dict[str, List[str]], report: Report
) -> None:
    listed: Dict[str, List[str]] = {}
    for entry in record["alternates"]:
        listed.setdefault(entry["type"], []).append(entry["pseudonym"])
    types_in_order = [entry["type"] for entry in record["alternates"]]
    if types_in_order != sorted(types_in_order):
        report.mismatch("alternates: not grouped by type in sorted order")
        return
    for label in sorted(listed):
        seats = ticket.get(label, 0)
        order = order_within_type(seed, label, by_type.get(label, []))
        expected = order[seats : seats + len(listed[label])]
        if seats == 0 or listed[label] != expected:
            report.mismatch(f"alternates of {label}: record lists {listed[label]}, lot order gives {expected}")
            return
    report.ok(f"alternates ({len(record['alternates'])}) are the next members in lot order of their types")


def verify(record: Dict[str, Any], member: Optional[Tuple[str, str]] = None) -> int:
    """Print the checks of ``record``; returns the number of mismatches."""
    report = Report()
    missing = [name for name in FIELDS if name not in record]
    if missing:
        report.mismatch(f"the record lacks the fields {', '.join(missing)}")
        return report.failures
    tickets = record["tickets"]
    print(
        f"record {record['ref']} ({record['status']}), algorithm {record['algorithm']}, "
        f"{record['seats']} seats, {len(tickets)} tickets"
    )
    counts = {entry["type"]: entry["count"] for entry in record["types"]}
    if [entry["type"] for entry in record["types"]] != sorted(counts):
        report.mismatch("types: not sorted by type")

    pool = record.get("pool")
    by_type: Dict[str, List[str]] = {}
    if pool is None:
        report.mismatch("pool: the record has no pool, so the pool commitment and the selection cannot be re-derived")
    else:
        if pool != canonical_pool(pool):
            report.mismatch("pool: not the canonical sorted list [[pseudonym, type], ...]")
        recomputed = pool_commitment(pool)
        if recomputed != record["pool_commitment"]:
            report.mismatch(f"pool_commitment: record says {record['pool_commitment']}, pool gives {recomputed}")
        else:
            report.ok(f"pool_commitment {recomputed} ({len(pool)} members)")
        for pseudonym, label in pool:
            by_type.setdefault(label, []).append(pseudonym)
        pool_counts = {label: len(members) for label, members in by_type.items()}
        pseudonyms = [pseudonym for pseudonym, _ in pool]
        if len(set(pseudonyms)) != len(pseudonyms):
            report.mismatch("pool: a pseudonym appears twice")
        if pool_counts != counts:
            report.mismatch("types: the counts differ from the pool's")
        else:
            report.ok(f"types: {len(counts)} types, counts as in the pool")

    recomputed = tickets_hash(tickets)
    if recomputed != record["tickets_hash"]:
        report.mismatch(f"tickets_hash: record says {record['tickets_hash']}, tickets give {recomputed}")
    else:
        report.ok(f"tickets_hash {recomputed}")
    check_tickets(record, counts, report)

    reveals: Dict[str, str] = {}
    for witness in record["witnesses"]:
        if witness.get("reveal") is None:
            print(f"note      witness {witness['user']} did not reveal; left out of the seed")
            continue
        if witness_commitment(witness["reveal"]) != witness["commitment"]:
            report.mismatch(f"witness {witness['user']}: the reveal does not hash to the commitment")
        reveals[witness["user"]] = witness["reveal"]
    if reveals:
        report.ok(f"witnesses: {len(reveals)} reveal(s) match their commitments")

    if tickets and all(isinstance(t, dict) for t in tickets):
        print("probabilities (count of the type over all tickets / (tickets x members)):")
        for label in sorted(counts):
            total = sum(ticket.get(label, 0) for ticket in tickets)
            p = Fraction(total, len(tickets) * counts[label])
            print(f"  {label}  members {counts[label]}  p = {float(p):.6f} ({p})")

    if member is not None:
        mine = make_pseudonym(member[0], member[1])
        found = [label for pseudonym, label in (pool or []) if pseudonym == mine]
        if found:
            chosen = any(entry["pseudonym"] == mine for entry in record["selected"])
            report.ok(f"member {member[0]}: pseudonym {mine}, type {found[0]}, selected: {'yes' if chosen else 'no'}")
        else:
            report.mismatch(f"member {member[0]}: pseudonym {mine} is not in the pool")

    if record["status"] == "cancelled":
        if record["cancel_reason"]:
            print(f"cancelled: {record['cancel_reason']}")
        else:
            report.mismatch("cancel_reason: a cancelled draw must say why")
        return report.failures
    if record["status"] != "drawn":
        report.mismatch(f"status: {record['status']!r} is neither 'drawn' nor 'cancelled'")
        return report.failures
    if len(reveals) < MIN_WITNESSES:
        report.mismatch(f"witnesses: {len(reveals)} revealed, a draw needs at least {MIN_WITNESSES}")

    seed = derive_seed(record["pool_commitment"], record["tickets_hash"], reveals, record["beacon"])
    if seed != record["seed"]:
        report.mismatch(f"seed: record says {record['seed']}, re-derived {seed}")
        return report.failures
    report.ok(f"seed {seed}")
    if not tickets:
        return report.failures
    index = choose_ticket(seed, len(tickets))
    if index != record["ticket"]:
        report.mismatch(f"ticket: record says {record['ticket']}, the seed gives {index}")
        return report.failures
    report.ok(f"ticket {index} of {len(tickets)}: {json.dumps(tickets[index], sort_keys=True, ensure_ascii=False)}")
    if pool is None:
        return report.failures
    ticket = tickets[index]
    selected: List[Dict[str, str]] = []
    for label in sorted(ticket):
        order = order_within_type(seed, label, by_type.get(label, []))
        selected.extend({"type": label, "pseudonym": pseudonym} for pseudonym in order[: ticket[label]])
    selected.sort(key=lambda entry: (entry["type"], entry["pseudonym"]))
    if selected != record["selected"]:
        report.mismatch("selected: not the members that the seed and the ticket select")
        for entry in selected:
            print(f"          expected {entry['type']} {entry['pseudonym']}")
    else:
        report.ok(f"selected ({len(selected)}) are the first members in lot order of their types")
    check_alternates(record, seed, ticket, by_type, report)
    return report.failures


def main(argv: List[str]) -> int:
    if len(argv) not in (2, 5) or (len(argv) == 5 and argv[2] != "--member"):
        print("usage: python3 verify_draw.py RECORD.json [--member USER_ID SALT]", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"cannot read {argv[1]}: {error}", file=sys.stderr)
        return 2
    member = (argv[3], argv[4]) if len(argv) == 5 else None
    try:
        failures = verify(record, member)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        # A record of the wrong shape is a failed check, not a crash.
        print(f"MISMATCH: the record is malformed ({type(error).__name__}: {error})")
        return 1
    if failures:
        print(f"FAILED: {failures} mismatch(es)")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
