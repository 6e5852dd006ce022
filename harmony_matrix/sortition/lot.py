"""The lot: commitments, the seed and every choice derived from it, bit for bit as ``docs/spec/sortition.md``.

Everything here is standard library and integer arithmetic on SHA-256 digests, so anyone can redo a
draw from its published record. ``verify_draw.py`` at the repository root carries a copy of these
rules for people who have only a bare ``python3``; ``tests/unit/test_sortition_lot.py`` checks the two
against each other and against digests computed by hand.

All strings are hashed as UTF-8. ``canonical(x)`` is
``json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harmony_matrix.sortition.types import PoolEntry

__all__ = [
    "TICKET_LABEL",
    "canonical",
    "canonical_pool",
    "choose_ticket",
    "derive_seed",
    "lot_key",
    "make_pseudonym",
    "new_salt",
    "order_within_type",
    "pool_commitment",
    "select_members",
    "sha256_hex",
    "tickets_hash",
    "uniform",
    "witness_commitment",
]

TICKET_LABEL = "ticket"
_SPACE = 2**256


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (sorted keys, no spaces, UTF-8 kept as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes | str) -> str:
    """SHA-256 hex digest of bytes, or of a string encoded as UTF-8."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def new_salt() -> str:
    """A fresh random salt for one member in one draw (32 hex digits, 128 bits)."""
    return secrets.token_hex(16)


def make_pseudonym(user_id: str, salt: str) -> str:
    """``sha256(user_id + "\\0" + salt)`` hex: the member's name in the published pool."""
    return sha256_hex(user_id + "\0" + salt)


def canonical_pool(pool: Iterable[PoolEntry]) -> list[list[str]]:
    """The pool as the sorted list ``[[pseudonym, type], ...]`` that is committed to and published."""
    return sorted([pseudonym, label] for pseudonym, label in pool)


def pool_commitment(pool: Iterable[PoolEntry]) -> str:
    """SHA-256 hex of ``canonical(canonical_pool(pool))``."""
    return sha256_hex(canonical(canonical_pool(pool)))


def tickets_hash(tickets: Sequence[Mapping[str, int]]) -> str:
    """SHA-256 hex of ``canonical(tickets)``, the list exactly as published (order matters)."""
    return sha256_hex(canonical([dict(ticket) for ticket in tickets]))


def witness_commitment(reveal: str) -> str:
    """What a witness posts before the pool is frozen: ``sha256(reveal)`` hex."""
    return sha256_hex(reveal)


def derive_seed(
    *, pool_commitment: str, tickets_hash: str, reveals: Mapping[str, str], beacon: str | None
) -> str:
    """The draw's seed from the commitments, the witnesses' reveals and the beacon.

    ``reveals`` maps each witness who revealed in time to their reveal; witnesses who did not reveal are
    simply absent. The reveals are joined in the order of the witnesses' user IDs, so the order in which
    they arrived cannot matter. An absent beacon counts as ``""``.
    """
    joined = "\n".join(reveals[user] for user in sorted(reveals))
    return sha256_hex(pool_commitment + "\n" + tickets_hash + "\n" + joined + "\n" + (beacon or ""))


def uniform(seed: str, label: str, n: int) -> int:
    """An integer in ``range(n)``, uniform, derived from ``seed`` and ``label``.

    Rejection sampling on 256-bit digests: values at or above the largest multiple of ``n`` are
    skipped (counter ``c`` = 0, 1, 2, …) so that no residue is favoured.
    """
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
    """The index of the drawn ticket: ``uniform(seed, "ticket", n_tickets)``."""
    return uniform(seed, TICKET_LABEL, n_tickets)


def lot_key(seed: str, label: str, pseudonym: str) -> str:
    """The sort key of a member within their type: ``sha256(seed \\0 type \\0 pseudonym)`` hex."""
    return sha256_hex(f"{seed}\0{label}\0{pseudonym}")


def order_within_type(seed: str, label: str, pseudonyms: Iterable[str]) -> list[str]:
    """The members of one type in lot order (ascending :func:`lot_key`).

    Two distinct pseudonyms cannot share a key short of a SHA-256 collision; the pseudonym breaks such
    a tie anyway so that the order is a total one.
    """
    return sorted(pseudonyms, key=lambda pseudonym: (lot_key(seed, label, pseudonym), pseudonym))


def select_members(
    seed: str, ticket: Mapping[str, int], pool: Iterable[PoolEntry], *, alternates_per_type: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The selected members and the alternates, as ``{"type", "pseudonym"}`` entries.

    Within each type, the first ``ticket[type]`` members in lot order are selected. Each type with a
    seat also gets up to ``alternates_per_type`` alternates: the members right after them in the same
    order, who replace a selected member of that type who steps down, first one first.

    ``selected`` is sorted by (type, pseudonym), as the record requires. ``alternates`` is grouped by
    type (types sorted) and kept in lot order within a type, because that order is who is asked first.
    """
    by_type: dict[str, list[str]] = {}
    for pseudonym, label in pool:
        by_type.setdefault(label, []).append(pseudonym)
    selected: list[dict[str, str]] = []
    alternates: list[dict[str, str]] = []
    for label in sorted(ticket):
        seats = ticket[label]
        if seats <= 0:
            continue
        order = order_within_type(seed, label, by_type.get(label, []))
        if len(order) < seats:
            raise ValueError(f"ticket gives type {label} {seats} seats but the pool has {len(order)}")
        selected.extend({"type": label, "pseudonym": pseudonym} for pseudonym in order[:seats])
        alternates.extend(
            {"type": label, "pseudonym": pseudonym} for pseudonym in order[seats : seats + alternates_per_type]
        )
    selected.sort(key=lambda entry: (entry["type"], entry["pseudonym"]))
    return selected, alternates
