"""What people type about draws: quota rows, the pool, seat power, terms, draw references, witnesses'
commitments and reveals, and feature values (pure; each parser raises ``ValueError`` naming the form).

A quota row is ``category:value=bounds`` and rows are joined by commas::

    quotas=gender:woman=2-3,gender:man=1-2,branch:north=1,gender:nonbinary=1+

``bounds`` is ``N`` (exactly N), ``N-M`` (at least N, at most M) or ``N+`` (at least N).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.refs import Ref, parse_ref
from harmony_matrix.when import When, parse_duration, read_when

__all__ = [
    "DRAW_LETTER",
    "PoolKind",
    "QuotaRow",
    "SeatPower",
    "Term",
    "parse_commitment",
    "parse_count",
    "parse_draw_ref",
    "parse_feature_name",
    "parse_pool",
    "parse_power",
    "parse_quotas",
    "parse_reveal",
    "parse_term",
]

#: Draws are referenced like ``S-party-3`` (the spec's record ``ref``).
DRAW_LETTER = "S"
#: Feature names and values: lowercase words with inner hyphens (they become parts of type labels).
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_ROW = re.compile(r"^(?P<category>[^:=,\s]+):(?P<value>[^:=,\s]+)=(?P<min>\d{1,4})(?:(?P<range>-(?P<max>\d{1,4}))|(?P<plus>\+))?$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]+$")
#: A reveal must carry at least 128 bits (``sortition.witnesses.MIN_REVEAL_HEX_DIGITS``); at most 256 digits.
MIN_REVEAL_DIGITS = 32
MAX_REVEAL_DIGITS = 256


class PoolKind(StrEnum):
    """Whom a draw is made from."""

    #: Registered members taking part in the assembly (directly or in an assembly nested in it).
    MEMBERS = "members"
    #: Registered members of the assemblies nested directly in it, each with their branch as a category.
    BRANCHES = "branches"


class SeatPower(StrEnum):
    """What power the drawn hold in the rooms where they take their seat."""

    NONE = "none"
    #: Moderator power (as secretaries hold it) in the assembly's rooms for the term.
    MODERATOR = "moderator"


@dataclass(frozen=True)
class QuotaRow:
    """A quota as typed: ``max`` is None for "at least ``min``"."""

    category: str
    value: str
    min: int
    max: int | None

    @property
    def label(self) -> str:
        """``category=value``, as the record and messages name the row."""
        return f"{self.category}={self.value}"

    def describe(self) -> str:
        """``gender=woman 2–3`` / ``branch=north exactly 1`` / ``gender=man at least 1``."""
        if self.max is None:
            return f"{self.label} at least {self.min}"
        if self.max == self.min:
            return f"{self.label} exactly {self.min}"
        return f"{self.label} {self.min}–{self.max}"


@dataclass(frozen=True)
class Term:
    """How long the drawn sit: a duration from the draw, or until a time (``until`` read, not placed)."""

    length: timedelta | None = None
    until: When | None = None


def parse_name(text: str, *, what: str) -> str:
    """A feature name or value: lowercase letters, digits and inner hyphens, at most 32 characters."""
    cleaned = text.strip().lower()
    if not _NAME.match(cleaned):
        raise ValueError(f'"{text}" is not a {what}: use lowercase letters, digits and inner hyphens (at most 32)')
    return cleaned


def parse_feature_name(text: str) -> str:
    """A feature's name as typed (``gender``)."""
    return parse_name(text, what="feature name")


def parse_quotas(text: str) -> tuple[QuotaRow, ...]:
    """``gender:woman=2-3,branch:north=1``: quota rows, each category and value once."""
    rows: list[QuotaRow] = []
    seen: set[tuple[str, str]] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _ROW.match(part)
        if match is None:
            raise ValueError(f'"{part}" is not a quota row; write category:value=N, =N-M or =N+ '
                             "(e.g. gender:woman=2-3)")
        category = parse_name(match["category"], what="category")
        value = match["value"].lower()
        low = int(match["min"])
        high = None if match["plus"] else int(match["max"]) if match["range"] else low
        if high is not None and high < low:
            raise ValueError(f"{category}={value}: the minimum {low} is above the maximum {high}")
        if (category, value) in seen:
            raise ValueError(f"{category}={value} is given twice")
        seen.add((category, value))
        rows.append(QuotaRow(category, value, low, high))
    if not rows:
        raise ValueError("name at least one quota row, e.g. gender:woman=2-3")
    return tuple(rows)


def parse_pool(text: str) -> PoolKind:
    """``members`` or ``branches``."""
    try:
        return PoolKind(text.strip().lower())
    except ValueError:
        raise ValueError(f'unknown pool "{text}" (allowed: members, branches)') from None


def parse_power(text: str) -> SeatPower:
    """``moderator`` or ``none``."""
    try:
        return SeatPower(text.strip().lower())
    except ValueError:
        raise ValueError(f'unknown power "{text}" (allowed: moderator, none)') from None


def parse_count(text: str) -> int:
    """A whole number from 0 to 100."""
    if not text.isdigit() or int(text) > 100:
        raise ValueError(f'"{text}" is not a whole number from 0 to 100')
    return int(text)


def parse_term(text: str) -> Term:
    """``365d`` / ``6 months`` is not a duration (use days); ``2027-06-30`` or ``in 90d`` are times."""
    try:
        return Term(length=parse_duration(text))
    except UserError:
        pass
    try:
        return Term(until=read_when(text))
    except UserError as exc:
        raise ValueError(f"a term is a duration like 365d or a date like 2027-06-30 ({exc.message})") from None


def parse_draw_ref(text: str) -> Ref:
    """``S-party-3`` (or the bare number ``3`` in the assembly's own rooms)."""
    try:
        return parse_ref(text, letter=DRAW_LETTER, noun="draw")
    except UserError as exc:
        raise ValueError(exc.message) from None


def parse_commitment(text: str) -> str:
    """A witness's commitment: the SHA-256 hex digest (64 hex digits) of their secret."""
    cleaned = text.strip().lower()
    if not _HEX64.match(cleaned):
        raise ValueError("a commitment is the SHA-256 of your secret: 64 hex digits "
                         "(e.g. printf %s YOUR-SECRET | sha256sum)")
    return cleaned


def parse_reveal(text: str) -> str:
    """A witness's secret: lowercase hex, 32 to 256 digits."""
    cleaned = text.strip()
    if not _HEX.match(cleaned) or not MIN_REVEAL_DIGITS <= len(cleaned) <= MAX_REVEAL_DIGITS:
        raise ValueError(f"a secret is {MIN_REVEAL_DIGITS} to {MAX_REVEAL_DIGITS} lowercase hex digits "
                         "(e.g. python3 -c 'import secrets; print(secrets.token_hex(16))')")
    return cleaned
