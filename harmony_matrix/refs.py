"""References people type for numbered records of an assembly: ``P-ops-3``, ``M-ops-3``, ``D-ops-3``.

One grammar for all of them: a letter for the kind of record, the assembly's slug (which may contain
hyphens: the number is always the last part), and the record's number within that assembly. In an
assembly's own rooms the number alone (``3`` or ``#3``) is enough: ``parse_ref`` keeps such a bare
number as a ``Ref`` without an assembly, and ``Ref.locate`` fills in the room's assembly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harmony_matrix.errors import UserError


def make_ref(letter: str, assembly: str, number: int) -> str:
    """``make_ref("P", "ops", 3)`` → ``P-ops-3``."""
    return f"{letter}-{assembly}-{number}"


@dataclass(frozen=True)
class Ref:
    """A reference as typed: ``assembly`` is None for a bare number (``3``, ``#3``).

    ``text`` is what the person typed (stripped), for messages that quote it back."""

    letter: str
    noun: str
    number: int
    assembly: str | None
    text: str

    def locate(self, default_assembly: str | None) -> tuple[str, int]:
        """(assembly slug, number); a bare number belongs to ``default_assembly`` (the room's).

        Without a default a bare number is refused, naming the full form."""
        assembly = self.assembly or default_assembly
        if assembly is None:
            raise UserError(_not_a_ref(self.text, letter=self.letter, noun=self.noun))
        return assembly, self.number

    def resolve(self, default_assembly: str | None) -> str:
        """The full reference (``P-ops-3``), completing a bare number with ``default_assembly``."""
        return make_ref(self.letter, *self.locate(default_assembly))


def parse_ref(text: str, *, letter: str, noun: str) -> Ref:
    """Read ``<letter>-<assembly>-<n>``, or a bare ``n`` / ``#n`` (see ``Ref.locate``).

    A UserError names the expected form otherwise."""
    cleaned = text.strip()
    match = re.fullmatch(rf"{re.escape(letter)}-(?P<assembly>[a-z0-9][a-z0-9_-]*)-(?P<n>\d+)", cleaned,
                         re.IGNORECASE)
    if match:
        return Ref(letter=letter, noun=noun, number=int(match["n"]), assembly=match["assembly"].lower(),
                   text=cleaned)
    bare = cleaned.removeprefix("#")
    if bare.isdigit():
        return Ref(letter=letter, noun=noun, number=int(bare), assembly=None, text=cleaned)
    raise UserError(_not_a_ref(cleaned, letter=letter, noun=noun))


def _not_a_ref(text: str, *, letter: str, noun: str) -> str:
    return f"'{text}' is not a {noun} reference; {noun}s are named like {letter}-ops-3"
