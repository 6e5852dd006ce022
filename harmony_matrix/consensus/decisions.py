"""The consensus record: decisions, their tamper-evident chain, and which of them are in force.

The record is append-only. Each entry stores the hash of the entry before it, and its own hash covers
that link and the whole decision, so changing, removing or reordering any stored entry is detected by
``verify_chain`` (all but the removal of the newest entries, which only a published head hash could
reveal).

Precedence (which decision is in force for assembly X on topic T):

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

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId
from harmony_matrix.refs import make_ref

__all__ = [
    "GENESIS_HASH",
    "ChainEntry",
    "Decision",
    "InForce",
    "Level",
    "Link",
    "Method",
    "Relation",
    "append",
    "chain_hash",
    "decision_from_json",
    "decision_to_json",
    "decisions_in_force",
    "entry_from_json",
    "entry_to_json",
    "make_decision_ref",
    "normalize_topic",
    "overridden_by",
    "parse_topics",
    "verify_chain",
]

GENESIS_HASH = "0" * 64  # the "previous hash" of the first entry


class Level(Enum):
    """How far a decision reaches. Ordered: ``Level.MOOT < Level.ALL_THING``.

    Not a ``StrEnum`` on purpose: string comparison would put "all-thing" before "moot".
    """

    MOOT = "moot"
    ALL_THING = "all-thing"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Level:
        """Read ``moot`` or ``all-thing`` (also ``allthing``, ``all thing``, ``all_thing``)."""
        key = "".join(ch for ch in text.strip().lower() if ch.isalnum())
        for level in cls:
            if key == "".join(ch for ch in level.value if ch.isalnum()):
                return level
        raise UserError(f"unknown level '{text.strip()}'; use level=moot or level=all-thing")


_LEVEL_RANK = {Level.MOOT: 0, Level.ALL_THING: 1}


class Method(StrEnum):
    """How the decision was reached."""

    CONSENSUS = "consensus"  # broad approval
    REJECTED = "rejected"  # broad disagreement: the proposal is not adopted
    STAR_BALLOT = "star-ballot"  # a deadlock decided by a STAR poll
    BLOC_STAR_BALLOT = "bloc-star-ballot"  # several seats/options decided by Bloc STAR


class Relation(StrEnum):
    """Why one decision is in force instead of another."""

    SUPERSEDED = "superseded"  # same assembly and level, later (or named in ``supersedes``)
    OVERRIDDEN = "overridden"  # a higher level: the All Thing over an assembly
    TRUMPED = "trumped"  # the same level, an umbrella assembly over one nested in it


def normalize_topic(topic: str) -> str:
    """Topics are case-insensitive tags: ``#Housing Policy`` and ``housing-policy`` are the same."""
    return "-".join(topic.strip().lstrip("#").casefold().split())


def parse_topics(text: str) -> tuple[str, ...]:
    """Read ``housing, Transport,#budget`` as normalized, de-duplicated, sorted tags."""
    return tuple(sorted({normalize_topic(t) for t in text.split(",") if normalize_topic(t)}))


def make_decision_ref(assembly: str, number: int) -> str:
    """The reference code of the ``number``-th decision of an assembly: ``D-<assembly>-<n>``."""
    return make_ref("D", assembly, number)


@dataclass(frozen=True)
class Decision:
    """One decision in the consensus record.

    ``topics`` are normalized on construction (sorted, lower-case, unique). ``decided_at`` is kept in
    UTC to the second: databases round sub-second parts differently, and the hash must survive a round
    trip through storage. ``score_totals`` keeps the voters' enthusiasm of a ballot as (option, total)
    pairs in the poll's option order. ``evidence`` holds the Matrix event IDs that caused the decision.
    """

    ref: str
    assembly: str
    level: Level
    method: Method
    outcome: str
    statement: str
    topics: tuple[str, ...]
    decided_at: datetime
    evidence: tuple[EventId, ...] = ()
    proposal: str | None = None
    score_totals: tuple[tuple[str, int], ...] | None = None
    supersedes: str | None = None

    def __post_init__(self) -> None:
        if not self.ref:
            raise ValueError("a decision needs a reference")
        if self.decided_at.tzinfo is None:
            raise ValueError("Decision.decided_at must be aware")
        object.__setattr__(
            self, "topics", tuple(sorted({normalize_topic(t) for t in self.topics} - {""}))
        )
        object.__setattr__(
            self, "decided_at", self.decided_at.astimezone(UTC).replace(microsecond=0)
        )
        object.__setattr__(self, "evidence", tuple(self.evidence))
        if self.score_totals is not None:
            object.__setattr__(
                self, "score_totals", tuple((str(o), int(t)) for o, t in self.score_totals)
            )

    @property
    def adopts(self) -> bool:
        """False for a rejection: recording that something was not adopted changes nothing in force."""
        return self.method is not Method.REJECTED


@dataclass(frozen=True)
class ChainEntry:
    """A decision as stored in the record: its position, the previous entry's hash, and its own."""

    seq: int  # 1-based position in the record
    decision: Decision
    prev_hash: str
    hash: str


# --- canonical form and the hash chain ---------------------------------------------------------


def decision_to_json(decision: Decision) -> dict[str, Any]:
    """The canonical JSON-ready form of a decision (also the export format)."""
    return {
        "ref": decision.ref,
        "assembly": decision.assembly,
        "level": decision.level.value,
        "method": decision.method.value,
        "outcome": decision.outcome,
        "statement": decision.statement,
        "topics": list(decision.topics),
        "decided_at": decision.decided_at.isoformat(),
        "evidence": list(decision.evidence),
        "proposal": decision.proposal,
        "score_totals": (
            None
            if decision.score_totals is None
            else [[option, total] for option, total in decision.score_totals]
        ),
        "supersedes": decision.supersedes,
    }


def decision_from_json(data: Mapping[str, Any]) -> Decision:
    """Rebuild a decision from ``decision_to_json`` output; raises ``ValueError`` naming a bad field."""
    try:
        totals = data.get("score_totals")
        return Decision(
            ref=str(data["ref"]),
            assembly=str(data["assembly"]),
            level=Level(data["level"]),
            method=Method(data["method"]),
            outcome=str(data["outcome"]),
            statement=str(data["statement"]),
            topics=tuple(data["topics"]),
            decided_at=datetime.fromisoformat(data["decided_at"]),
            evidence=tuple(EventId(e) for e in data.get("evidence", ())),
            proposal=data.get("proposal"),
            score_totals=None if totals is None else tuple((o, t) for o, t in totals),
            supersedes=data.get("supersedes"),
        )
    except KeyError as missing:
        raise ValueError(f"decision is missing the field {missing}") from None


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, decision: Decision) -> str:
    """SHA-256 (hex) over the canonical JSON of the previous hash and the decision.

    Canonical: sorted keys, no whitespace, UTF-8, ISO timestamps in UTC — so any implementation that
    reads the export can recompute it.
    """
    return hashlib.sha256(_canonical({"prev": prev_hash, "decision": decision_to_json(decision)})).hexdigest()


def append(chain: Sequence[ChainEntry], decision: Decision) -> ChainEntry:
    """The entry that appends ``decision`` to ``chain`` (the caller stores it; nothing is mutated).

    Refuses a reference already in the record, and a ``supersedes`` link to a decision that is not in
    the record or that stands higher (an assembly can't retire an All Thing decision).
    """
    by_ref = {entry.decision.ref: entry.decision for entry in chain}
    if decision.ref in by_ref:
        raise ValueError(f"{decision.ref} is already in the record")
    if decision.supersedes is not None:
        target = by_ref.get(decision.supersedes)
        if target is None:
            raise UserError(f"{decision.ref} supersedes {decision.supersedes}, which is not in the record")
        if target.level > decision.level:
            raise UserError(
                f"a {decision.level.value} decision can't supersede {target.ref}, "
                f"a {target.level.value} decision"
            )
    prev = chain[-1].hash if chain else GENESIS_HASH
    return ChainEntry(
        seq=len(chain) + 1, decision=decision, prev_hash=prev, hash=chain_hash(prev, decision)
    )


def verify_chain(entries: Sequence[ChainEntry]) -> list[str]:
    """Every problem found in the stored record, one sentence each; an empty list means intact.

    An edited entry shows as a hash mismatch on that entry; if its stored hash was rewritten too, the
    next entry's link names it instead. Gaps and reordering show as wrong positions and broken links.
    """
    problems: list[str] = []
    expected_prev = GENESIS_HASH
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        name = f"entry {index} ({entry.decision.ref})"
        if entry.seq != index:
            problems.append(f"{name}: position is {entry.seq}, expected {index}")
        if entry.prev_hash != expected_prev:
            what = "the start of the record" if index == 1 else f"entry {index - 1}"
            problems.append(
                f"{name}: link to {what} broken: expected previous hash {expected_prev}, "
                f"found {entry.prev_hash}"
            )
        recomputed = chain_hash(entry.prev_hash, entry.decision)
        if recomputed != entry.hash:
            problems.append(
                f"{name}: content does not match its hash: expected {recomputed}, found {entry.hash} "
                "(the entry was changed after it was recorded)"
            )
        if entry.decision.ref in seen:
            problems.append(f"{name}: reference already used by entry {seen[entry.decision.ref]}")
        seen.setdefault(entry.decision.ref, index)
        expected_prev = entry.hash
    return problems


def entry_to_json(entry: ChainEntry) -> dict[str, Any]:
    """An entry in the export format (``harmony-matrix export-decisions``)."""
    return {
        "seq": entry.seq,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "decision": decision_to_json(entry.decision),
    }


def entry_from_json(data: Mapping[str, Any]) -> ChainEntry:
    """Read an exported entry back (for verifying an export)."""
    try:
        return ChainEntry(
            seq=int(data["seq"]),
            decision=decision_from_json(data["decision"]),
            prev_hash=str(data["prev_hash"]),
            hash=str(data["hash"]),
        )
    except KeyError as missing:
        raise ValueError(f"entry is missing the field {missing}") from None


# --- precedence --------------------------------------------------------------------------------


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
