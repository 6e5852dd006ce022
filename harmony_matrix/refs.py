"""References people type for numbered records of an assembly: ``P-ops-3``, ``M-ops-3``, ``D-ops-3``.

One grammar for all of them: a letter for the kind of record, the assembly's slug (which may contain
hyphens: the number is always the last part), and the record's number within that assembly.
"""

from __future__ import annotations

import re

from harmony_matrix.errors import UserError


def make_ref(letter: str, assembly: str, number: int) -> str:
    """``make_ref("P", "ops", 3)`` → ``P-ops-3``."""
    return f"{letter}-{assembly}-{number}"


def parse_ref(text: str, *, letter: str, noun: str, default_assembly: str | None = None) -> tuple[str, int]:
    """Read ``<letter>-<assembly>-<n>`` (or ``n`` / ``#n`` when a default assembly is known).

    Returns (assembly slug, number); a UserError names the expected form otherwise.
    """
    cleaned = text.strip()
    match = re.fullmatch(rf"{re.escape(letter)}-(?P<assembly>[a-z0-9][a-z0-9_-]*)-(?P<n>\d+)", cleaned,
                         re.IGNORECASE)
    if match:
        return match["assembly"].lower(), int(match["n"])
    bare = cleaned.removeprefix("#")
    if default_assembly is not None and bare.isdigit():
        return default_assembly, int(bare)
    raise UserError(f"'{cleaned}' is not a {noun} reference; {noun}s are named like {letter}-ops-3")
