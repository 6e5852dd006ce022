"""The report of checking a published record, as ``harmony-matrix verify-draw FILE`` prints it.

The checks are :func:`harmony_matrix.sortition.record.verify_record`, the same ones ``verify_draw.py``
makes with the standard library alone (a unit test runs both on the same records); the lines follow
that script's (``ok`` / ``note`` / ``MISMATCH:``), so a member reads the same report either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harmony_matrix.sortition.lot import make_pseudonym
from harmony_matrix.sortition.record import record_probabilities, verify_membership, verify_record

__all__ = ["verification_report"]


def verification_report(record: Mapping[str, Any], member: tuple[str, str] | None = None) -> tuple[list[str], int]:
    """The lines of the report and the number of mismatches (0: everything re-derives).

    ``member`` is ``(user ID, salt)`` as the bot told that member privately: the report then says
    whether they are in the pool, with which type, and whether they were selected. A record of the
    wrong shape is one mismatch, not an exception."""
    try:
        return _report(record, member)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        return [f"MISMATCH: the record is malformed ({type(error).__name__}: {error})"], 1


def _report(record: Mapping[str, Any], member: tuple[str, str] | None) -> tuple[list[str], int]:
    problems = verify_record(record)
    if problems and problems[0].startswith("fields missing"):
        return [f"MISMATCH: {problems[0]}"], 1
    tickets = record["tickets"]
    lines = [f"record {record['ref']} ({record['status']}), algorithm {record['algorithm']}, "
             f"{record['seats']} seats, {len(tickets)} tickets"]
    lines += [f"MISMATCH: {problem}" for problem in problems]
    failures = len(problems)
    lines += [f"note      witness {w['user']} did not reveal; left out of the seed"
              for w in record["witnesses"] if w.get("reveal") is None]
    if not problems:
        lines.append(f"ok        pool_commitment {record['pool_commitment']} ({len(record['pool'])} members)")
        lines.append(f"ok        tickets_hash {record['tickets_hash']}: every ticket meets every quota")
        if record["status"] == "drawn":
            ticket = record["ticket"]
            lines.append(f"ok        seed {record['seed']}")
            lines.append(f"ok        ticket {ticket} of {len(tickets)}: "
                         f"{json.dumps(tickets[ticket], sort_keys=True, ensure_ascii=False)}")
            lines.append(f"ok        selected ({len(record['selected'])}) are the first members in lot order of "
                         "their types")
        else:
            lines.append(f"cancelled: {record['cancel_reason']}")
    lines.append("probabilities (count of the type over all tickets / (tickets x members)):")
    counts = {entry["type"]: entry["count"] for entry in record["types"]}
    for label, p in sorted(record_probabilities(record).items()):
        lines.append(f"  {label}  members {counts[label]}  p = {float(p):.6f} ({p})")
    if member is not None:
        user, salt = member
        mine = make_pseudonym(user, salt)
        found = verify_membership(record, user, salt)
        if found is None:
            failures += 1
            lines.append(f"MISMATCH: member {user}: pseudonym {mine} is not in the pool")
        else:
            chosen = any(entry["pseudonym"] == mine for entry in record["selected"])
            lines.append(f"ok        member {user}: pseudonym {mine}, type {found}, selected: "
                         f"{'yes' if chosen else 'no'}")
    lines.append(f"FAILED: {failures} mismatch(es)" if failures else "all checks passed")
    return lines, failures
