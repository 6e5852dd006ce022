"""Types of pool members, quotas and the problem a draw solves.

A member's *type* is the combination of their feature values, written as a label: ``name=value`` pairs
joined by ``;`` with the categories in sorted order, e.g. ``branch=cardiff-west;gender=woman``
(``docs/spec/sortition.md``). Members of one type are interchangeable for every quota, so the fair
distribution is computed over types with counts, never over people.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harmony_matrix.sortition.errors import InvalidDrawInput

__all__ = [
    "Composition",
    "PoolEntry",
    "Problem",
    "Quota",
    "count_types",
    "make_problem",
    "parse_type_label",
    "type_label",
]

PoolEntry = tuple[str, str]
"""One member of the frozen pool: ``(pseudonym, type label)``."""

Composition = Mapping[str, int]
"""A panel as seats per type label; a type left out has no seat."""

_FORBIDDEN = ("=", ";", "\0")


def _check_name(kind: str, text: str) -> None:
    if not text or any(ch in text for ch in _FORBIDDEN) or text != text.strip():
        # The label syntax has no escaping, so a name with "=" or ";" would make two types share a label.
        raise InvalidDrawInput(f"{kind} {text!r} must be non-empty, without surrounding spaces, '=', ';' or NUL")


def type_label(features: Mapping[str, str]) -> str:
    """The type label of a member with these feature values (categories sorted, ``;``-joined)."""
    if not features:
        raise InvalidDrawInput("a type needs at least one category")
    for name, value in features.items():
        _check_name("category", name)
        _check_name("value", value)
    return ";".join(f"{name}={features[name]}" for name in sorted(features))


def parse_type_label(label: str) -> dict[str, str]:
    """The feature values of a type label; refuses labels that :func:`type_label` would not produce."""
    features: dict[str, str] = {}
    for part in label.split(";"):
        name, sep, value = part.partition("=")
        if not sep or name in features:
            raise InvalidDrawInput(f"malformed type label {label!r}")
        features[name] = value
    if type_label(features) != label:
        raise InvalidDrawInput(f"type label {label!r} is not canonical (categories must be sorted)")
    return features


def count_types(pool: Iterable[PoolEntry]) -> dict[str, int]:
    """Members per type, sorted by label; refuses a pseudonym that appears twice."""
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for pseudonym, label in pool:
        if pseudonym in seen:
            raise InvalidDrawInput(f"pseudonym {pseudonym} appears twice in the pool")
        seen.add(pseudonym)
        counts[label] += 1
    return {label: counts[label] for label in sorted(counts)}


@dataclass(frozen=True, order=True)
class Quota:
    """At least ``min`` and at most ``max`` seats go to members whose ``category`` has ``value``."""

    category: str
    value: str
    min: int
    max: int

    @property
    def label(self) -> str:
        """``category=value``, the name of the row in messages."""
        return f"{self.category}={self.value}"

    def as_record(self) -> dict[str, str | int]:
        """The row as the published record writes it."""
        return {"category": self.category, "value": self.value, "min": self.min, "max": self.max}


@dataclass(frozen=True)
class Problem:
    """What a draw solves: fill ``seats`` from types with ``counts`` so that every quota row holds.

    Build it with :func:`make_problem`, which validates and sorts. ``types`` are the labels present in
    the pool (count > 0) in sorted order, ``counts[i]`` belongs to ``types[i]``; ``quotas`` are sorted
    by (category, value); ``members[j]`` holds the indices of the types that quota row ``j`` counts.
    """

    seats: int
    categories: Mapping[str, tuple[str, ...]]
    quotas: tuple[Quota, ...]
    types: tuple[str, ...]
    counts: tuple[int, ...]
    members: tuple[tuple[int, ...], ...]

    @property
    def pool_size(self) -> int:
        """Number of members in the pool."""
        return sum(self.counts)

    def composition(self, vector: Sequence[int]) -> dict[str, int]:
        """A vector over :attr:`types` as a composition, leaving out zero entries."""
        return {label: int(x) for label, x in zip(self.types, vector) if x}

    def vector(self, composition: Composition) -> tuple[int, ...]:
        """A composition as a vector over :attr:`types`; refuses labels not in the pool."""
        unknown = sorted(set(composition) - set(self.types))
        if unknown:
            raise InvalidDrawInput(f"type {unknown[0]!r} is not in the pool")
        return tuple(int(composition.get(label, 0)) for label in self.types)

    def meets_quotas(self, vector: Sequence[int]) -> bool:
        """Whether a vector is a panel: right size, within the counts, every quota row within bounds."""
        if sum(vector) != self.seats or any(not 0 <= x <= n for x, n in zip(vector, self.counts)):
            return False
        return all(
            quota.min <= sum(vector[i] for i in rows) <= quota.max for quota, rows in zip(self.quotas, self.members)
        )


def make_problem(
    *,
    seats: int,
    categories: Mapping[str, Sequence[str]],
    quotas: Iterable[Quota],
    counts: Mapping[str, int],
) -> Problem:
    """Validate and normalise a draw's input.

    ``categories`` maps each category to its possible values; every type label must name exactly these
    categories with one of their values; quota rows must name a known category and value, once each,
    with ``0 <= min``. Infeasible bounds (``min > max`` and the like) are left to
    :func:`harmony_matrix.sortition.feasibility.check_feasible`, which names them all at once.
    """
    if not categories:
        raise InvalidDrawInput("a draw needs at least one category")
    cats: dict[str, tuple[str, ...]] = {}
    for name in sorted(categories):
        _check_name("category", name)
        values = tuple(categories[name])
        if not values or len(set(values)) != len(values):
            raise InvalidDrawInput(f"category {name} needs distinct values")
        for value in values:
            _check_name("value", value)
        cats[name] = values
    types = tuple(sorted(label for label, n in counts.items() if n))
    for label in types:
        if counts[label] < 0:
            raise InvalidDrawInput(f"type {label} has a negative count")
        features = parse_type_label(label)
        if sorted(features) != sorted(cats):
            raise InvalidDrawInput(f"type {label} does not name exactly the categories {', '.join(cats)}")
        for name, value in features.items():
            if value not in cats[name]:
                raise InvalidDrawInput(f"type {label}: {value!r} is not a value of category {name}")
    rows = sorted(quotas)
    seen: set[tuple[str, str]] = set()
    members: list[tuple[int, ...]] = []
    for quota in rows:
        if quota.category not in cats or quota.value not in cats[quota.category]:
            raise InvalidDrawInput(f"quota {quota.label}: no such category value")
        if (quota.category, quota.value) in seen:
            raise InvalidDrawInput(f"quota {quota.label} is given twice")
        if quota.min < 0 or quota.max < 0:
            raise InvalidDrawInput(f"quota {quota.label}: bounds must not be negative")
        seen.add((quota.category, quota.value))
        members.append(
            tuple(i for i, label in enumerate(types) if parse_type_label(label)[quota.category] == quota.value)
        )
    return Problem(
        seats=seats,
        categories=cats,
        quotas=tuple(rows),
        types=types,
        counts=tuple(counts[label] for label in types),
        members=tuple(members),
    )
