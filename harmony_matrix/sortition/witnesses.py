"""Witnesses: who supplies the draw's randomness, by commit and reveal.

A witness posts ``sha256(reveal)`` before the pool is frozen and the reveal afterwards, so nobody can
pick their contribution after seeing the pool, and nobody but the last revealer can even choose to
withhold with knowledge of the others (which only cancels the draw, on record, if too few reveal).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from harmony_matrix.sortition.errors import WitnessError
from harmony_matrix.sortition.lot import witness_commitment

__all__ = ["MIN_REVEAL_HEX_DIGITS", "MIN_WITNESSES", "Witness", "check_reveal", "check_witnesses"]

MIN_WITNESSES = 2
MIN_REVEAL_HEX_DIGITS = 32
"""A reveal carries at least 128 bits, so nobody can find it from its commitment by trying guesses."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class Witness:
    """One witness of a draw; ``reveal`` is ``None`` while (or because) they have not revealed."""

    user: str
    commitment: str
    reveal: str | None = None

    def as_record(self) -> dict[str, str | None]:
        """The witness as the record writes it (``reveal`` null when they did not reveal in time)."""
        return {"user": self.user, "commitment": self.commitment, "reveal": self.reveal}


def check_reveal(witness: Witness, reveal: str) -> None:
    """Refuse a reveal that is not lowercase hex of 32+ digits or does not match the commitment."""
    if _HEX.fullmatch(reveal) is None or len(reveal) < MIN_REVEAL_HEX_DIGITS:
        raise WitnessError(
            f"the reveal of {witness.user} must be at least {MIN_REVEAL_HEX_DIGITS} lowercase hex digits"
        )
    if witness_commitment(reveal) != witness.commitment:
        raise WitnessError(f"the reveal of {witness.user} does not match their commitment")


def check_witnesses(witnesses: Sequence[Witness], *, secretaries: Collection[str]) -> dict[str, str]:
    """The reveals that count, by user; raises :class:`WitnessError` when they do not make a draw.

    Rules (``docs/spec/sortition.md``): commitments are SHA-256 hex, one witness per user, every reveal
    matches its commitment, at least two witnesses revealed, and at least one of those is not a
    secretary of the assembly. Witnesses who did not reveal are left out of the seed.
    """
    users = [w.user for w in witnesses]
    if len(set(users)) != len(users):
        raise WitnessError("a witness is listed twice")
    reveals: dict[str, str] = {}
    for witness in witnesses:
        if _HEX64.fullmatch(witness.commitment) is None:
            raise WitnessError(f"the commitment of {witness.user} is not a SHA-256 hex digest")
        if witness.reveal is not None:
            check_reveal(witness, witness.reveal)
            reveals[witness.user] = witness.reveal
    if len(reveals) < MIN_WITNESSES:
        raise WitnessError(f"only {len(reveals)} witness(es) revealed; a draw needs at least {MIN_WITNESSES}")
    if all(user in secretaries for user in reveals):
        raise WitnessError("every witness who revealed is a secretary of the assembly; one must not be")
    return reveals
