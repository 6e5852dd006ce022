"""Precedence: which decisions of the record are in force for an assembly, on a topic.

The rules, for assembly X and topic T:

* Only decisions that bind X count: its own, those of the umbrella assemblies it is nested in (at any
  depth), and every All Thing decision (the All Thing speaks for the whole party).
* An **All Thing** decision overrides any assembly-level ("moot") decision on the same topic.
* Between decisions of the same level, an **umbrella** assembly's decision trumps one of an assembly
  nested in it, whatever their dates.
* Within the same assembly and level, the **later** decision supersedes the earlier one on the same
  topic. An explicit ``supersedes`` link retires the named decision on every topic.
* Two decisions of the same level from assemblies neither of which is nested in the other (X sits in
  two committees that decided differently) are both in force and reported as conflicting: the bot does
  not pick a winner the constitution doesn't name.
* A rejection (the proposal was not adopted) is part of the record but changes nothing in force.
* Topics are case-insensitive tags; decisions on different topics never interact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from harmony_matrix.consensus.decisions import Decision, Level, normalize_topic

__all__ = ["InForce", "Link", "Relation", "decisions_in_force", "overridden_by"]


class Relation(StrEnum):
    """Why one decision is in force instead of another."""

    SUPERSEDED = "superseded"  # same assembly and level, later (or named in ``supersedes``)
    OVERRIDDEN = "overridden"  # a higher level: the All Thing over an assembly
    TRUMPED = "trumped"  # the same level, an umbrella assembly over one nested in it


@dataclass(frozen=True)
class Link:
    """``winner`` is in force instead of ``loser`` because of ``relation`` (on ``topic``; ``None`` for
    an explicit ``supersedes`` link, which holds on every topic)."""

    winner: str
    loser: str
    relation: Relation
    topic: str | None


@dataclass(frozen=True)
class InForce:
    """A decision in force for the assembly asked about, with its chain.

    ``topics``: the topics (of those asked about) on which it is in force; empty for an untagged
    decision. ``displaced``: what it superseded, overrode or trumped, most recent first, including
    what those had displaced in turn through explicit ``supersedes`` links. ``displaced_by``: where it
    is *not* in force (a decision tagged with several topics may lose on one and hold on another).
    ``conflicts_with``: decisions of equal standing, also in force, on a shared topic.
    """

    decision: Decision
    topics: tuple[str, ...]
    displaced: tuple[Link, ...] = ()
    displaced_by: tuple[Link, ...] = ()
    conflicts_with: tuple[str, ...] = field(default=())


def decisions_in_force(
    decisions: Iterable[Decision],
    *,
    assembly: str,
    topic: str | None,
    ancestors_of: Callable[[str], AbstractSet[str]],
    at: datetime | None = None,
) -> list[InForce]:
    """What is in force for ``assembly`` (on ``topic``, or on every topic when ``None``).

    ``ancestors_of(slug)`` gives the umbrella assemblies of ``slug``, transitively. ``at`` leaves out
    decisions taken later (the record "as of" a date); by default all count. Results are ordered by
    level (All Thing first), then most recent first. See the module docstring for the rules.
    """
    record = [d for d in decisions if at is None or d.decided_at <= at]
    order = {d.ref: i for i, d in enumerate(record)}  # ties on decided_at: the later entry wins
    ancestors_of = _memoized(ancestors_of)  # asked once per pair of decisions otherwise
    ancestors = set(ancestors_of(assembly))
    binding = [
        d
        for d in record
        if d.adopts
        and (d.assembly == assembly or d.assembly in ancestors or d.level is Level.ALL_THING)
    ]
    explicit = _explicit_links(record)
    retired = {link.loser for link in explicit}
    live = [d for d in binding if d.ref not in retired]
    wanted = normalize_topic(topic) if topic is not None else None

    def beats(a: Decision, b: Decision) -> Relation | None:
        return _beats(a, b, ancestors_of=ancestors_of, order=order)

    topics = (
        [wanted] if wanted is not None else sorted({t for d in live for t in d.topics})
    )
    holds: dict[str, list[str]] = {}
    displaced: dict[str, list[Link]] = {}
    displaced_by: dict[str, list[Link]] = {}
    conflicts: dict[str, set[str]] = {}
    for current in topics:
        candidates = [d for d in live if current in d.topics]
        winners = [d for d in candidates if not any(beats(o, d) for o in candidates if o is not d)]
        for winner in winners:
            holds.setdefault(winner.ref, []).append(current)
            conflicts.setdefault(winner.ref, set()).update(
                w.ref for w in winners if w is not winner
            )
            for loser in candidates:
                relation = beats(winner, loser)
                if relation is not None:
                    link = Link(winner.ref, loser.ref, relation, current)
                    displaced.setdefault(winner.ref, []).append(link)
                    displaced_by.setdefault(loser.ref, []).append(link)

    by_ref = {d.ref: d for d in record}
    results: list[InForce] = []
    for decision in live:
        untagged = not decision.topics and wanted is None
        if decision.ref not in holds and not untagged:
            continue
        links = sorted(
            displaced.get(decision.ref, []),
            key=lambda link: (by_ref[link.loser].decided_at, order[link.loser]),
            reverse=True,
        )
        results.append(
            InForce(
                decision=decision,
                topics=tuple(holds.get(decision.ref, [])),
                displaced=(*_explicit_chain(decision.ref, explicit), *links),
                displaced_by=tuple(displaced_by.get(decision.ref, [])),
                conflicts_with=tuple(sorted(conflicts.get(decision.ref, set()))),
            )
        )
    results.sort(
        key=lambda f: (f.decision.level.rank, f.decision.decided_at, order[f.decision.ref]),
        reverse=True,
    )
    return results


def overridden_by(
    decision: Decision,
    decisions: Iterable[Decision],
    *,
    ancestors_of: Callable[[str], AbstractSet[str]],
) -> list[Link]:
    """Every link in the record that puts another decision above ``decision`` (its ``overridden_by``).

    Unlike ``decisions_in_force`` this is not tied to one assembly's view: it lists each decision that
    supersedes, overrides or trumps this one on a shared topic, and explicit ``supersedes`` links.
    """
    record = list(decisions)
    order = {d.ref: i for i, d in enumerate(record)}
    links = [link for link in _explicit_links(record) if link.loser == decision.ref]
    if not decision.adopts:
        return links
    for other in record:
        if other.ref == decision.ref or not other.adopts:
            continue
        relation = _beats(other, decision, ancestors_of=ancestors_of, order=order)
        if relation is None:
            continue
        links += [
            Link(other.ref, decision.ref, relation, t) for t in decision.topics if t in other.topics
        ]
    return links


def _beats(
    a: Decision,
    b: Decision,
    *,
    ancestors_of: Callable[[str], AbstractSet[str]],
    order: Mapping[str, int],
) -> Relation | None:
    """Whether ``a`` displaces ``b`` where they share a topic, and why. A strict partial order."""
    if a.level != b.level:
        return Relation.OVERRIDDEN if a.level > b.level else None
    if a.assembly != b.assembly:
        return Relation.TRUMPED if a.assembly in ancestors_of(b.assembly) else None
    if (a.decided_at, order.get(a.ref, 0)) > (b.decided_at, order.get(b.ref, 0)):
        return Relation.SUPERSEDED
    return None


def _memoized(ancestors_of: Callable[[str], AbstractSet[str]]) -> Callable[[str], AbstractSet[str]]:
    cache: dict[str, frozenset[str]] = {}

    def lookup(slug: str) -> frozenset[str]:
        if slug not in cache:
            cache[slug] = frozenset(ancestors_of(slug))
        return cache[slug]

    return lookup


def _explicit_links(record: Sequence[Decision]) -> list[Link]:
    known = {d.ref for d in record}
    return [
        Link(d.ref, d.supersedes, Relation.SUPERSEDED, None)
        for d in record
        if d.supersedes is not None and d.supersedes in known and d.adopts
    ]


def _explicit_chain(ref: str, explicit: Sequence[Link]) -> tuple[Link, ...]:
    """Follow ``supersedes`` links down from ``ref``: D3 superseded D2, which superseded D1, ..."""
    by_winner: dict[str, list[Link]] = {}
    for link in explicit:
        by_winner.setdefault(link.winner, []).append(link)
    chain: list[Link] = []
    seen = {ref}
    frontier = [ref]
    while frontier:
        current = frontier.pop(0)
        for link in by_winner.get(current, []):
            if link.loser not in seen:  # a malformed record could loop; never follow it twice
                seen.add(link.loser)
                chain.append(link)
                frontier.append(link.loser)
    return tuple(chain)
