"""The consensus record: decisions and their tamper-evident chain.

The record is append-only. Each entry stores the hash of the entry before it, and its own hash covers
that link and the whole decision, so changing, removing or reordering any stored entry is detected by
``verify_chain`` (all but the removal of the newest entries, which only a published head hash could
reveal).

Which decisions are in force (precedence) is decided in ``harmony_matrix.consensus.precedence``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.refs import Ref, make_ref, parse_ref

__all__ = [
    "GENESIS_HASH",
    "ChainEntry",
    "Decision",
    "Level",
    "Method",
    "append",
    "ballot_statement",
    "chain_hash",
    "decision_from_json",
    "decision_to_json",
    "entry_from_json",
    "entry_to_json",
    "make_decision_ref",
    "parse_decision_ref",
    "normalize_topic",
    "parse_topic",
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


def normalize_topic(topic: str) -> str:
    """Topics are case-insensitive tags: ``#Housing Policy`` and ``housing-policy`` are the same."""
    return "-".join(topic.strip().lstrip("#").casefold().split())


def parse_topic(text: str) -> str:
    """One topic tag as typed (``#Housing``); refused when nothing of a tag is left (``@``)."""
    topic = normalize_topic(text)
    if not any(ch.isalnum() for ch in topic):
        raise UserError(f"'{text.strip()}' is not a topic; topics are tags like budget or housing-policy")
    return topic


def ballot_statement(statement: str, winner: str) -> str:
    """What a deadlock ballot decided: the question's statement and the winning option, said once when
    the winner repeats the statement (``Buy a projector`` won on ``Buy a projector``)."""
    if normalize_topic(winner) == normalize_topic(statement) or not statement.strip():
        return winner
    return f"{statement}: {winner}"


def parse_topics(text: str) -> tuple[str, ...]:
    """Read ``housing, Transport,#budget`` as normalized, de-duplicated, sorted tags."""
    return tuple(sorted({normalize_topic(t) for t in text.split(",") if normalize_topic(t)}))


def parse_decision_ref(text: str) -> Ref:
    """Read ``D-ops-3`` (or a bare number in the assembly's rooms)."""
    return parse_ref(text, letter="D", noun="decision")


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

    Kept since recorders are checked (``harmony_matrix.consensus.authority``), and written into the
    canonical form only when set, so entries recorded before them hash as they always did:
    ``recorded_by`` (who recorded it), ``cites`` (references of the moot, consensus check or poll the
    verdict rests on) and ``without_quorum`` (decided at a moot that lacked its quorum).
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
    recorded_by: UserId | None = None
    cites: tuple[str, ...] = ()
    without_quorum: bool = False

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
        object.__setattr__(self, "cites", tuple(dict.fromkeys(self.cites)))
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
    data: dict[str, Any] = {
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
    # Later fields: present only when set, so older entries keep their canonical form and hash.
    if decision.recorded_by is not None:
        data["recorded_by"] = decision.recorded_by
    if decision.cites:
        data["cites"] = list(decision.cites)
    if decision.without_quorum:
        data["without_quorum"] = True
    return data


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
            recorded_by=None if data.get("recorded_by") is None else UserId(str(data["recorded_by"])),
            cites=tuple(str(c) for c in data.get("cites", ())),
            without_quorum=bool(data.get("without_quorum", False)),
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
