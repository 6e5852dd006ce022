"""Consensus checks: the assembly shows broad approval or disagreement on a proposal, by reaction.

A check (``C-<assembly>-<n>``) is posted on a proposal; people react with one of four stances, the
scale Loomio's consensus check uses:

* 👍 **agree** — I support it;
* 🤷 **stand aside** — I won't support it, but I won't stand in the way;
* 👎 **disagree** — I don't support it (a reason is asked for);
* 🛑 **block** — I object on principle: it must not go ahead as it is (a reason is asked for).

Each person's stance is their latest reaction still standing. Only **registered party members** (at the
moment they reacted, the same rule as votes) are counted; others who react are **participants**, shown
apart and not counted.

Reading the members' stances, with the thresholds of the assembly (``Thresholds``; defaults in the
README), where *taking a side* means agree, disagree or block:

* a **block** stands → ``blocked``: the proposal does not go ahead as it is; only a ballot can override
  a block (the secretary records a deadlock and the STAR ballot decides);
* fewer members took a stance (standing aside counts) than ``min_members`` → ``too few``;
* at least ``broad_approval`` of the members taking a side agree → ``broad approval``;
* at least ``broad_disagreement`` of them disagree → ``broad disagreement``;
* otherwise → ``no clear reading`` (neither: a deadlock, if it stays so).

The secretary's verdict (``consensus <proposal> reached|rejected``) must agree with the reading of the
proposal's open check (``verdict_refusal``), and the decision cites the check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import make_ref

__all__ = [
    "REASON_MAX",
    "Check",
    "CheckStatus",
    "Reading",
    "Stance",
    "StanceRecord",
    "Tally",
    "Thresholds",
    "current_stances",
    "describe_thresholds",
    "make_check_ref",
    "parse_reason",
    "render_tally",
    "scale_text",
    "stance_of_key",
    "summary_line",
    "tally",
    "verdict_refusal",
]

REASON_MAX = 1000


class Stance(StrEnum):
    AGREE = "agree"
    STAND_ASIDE = "stand aside"
    DISAGREE = "disagree"
    BLOCK = "block"

    @property
    def key(self) -> str:
        """The reaction that expresses this stance."""
        return _KEYS[self]

    @property
    def wants_reason(self) -> bool:
        """Disagreeing and blocking are explained."""
        return self in (Stance.DISAGREE, Stance.BLOCK)


_KEYS = {Stance.AGREE: "👍", Stance.STAND_ASIDE: "🤷", Stance.DISAGREE: "👎", Stance.BLOCK: "🛑"}
_MEANING = {
    Stance.AGREE: "I support it",
    Stance.STAND_ASIDE: "I won't support it, but I won't stand in the way",
    Stance.DISAGREE: "I don't support it; I'll say why",
    Stance.BLOCK: "I object on principle: it must not go ahead as it is; I'll say why",
}
_BY_KEY = {key: stance for stance, key in _KEYS.items()}
# Variation selectors, zero-width joiners and skin-tone modifiers change how an emoji looks, not what it says.
_IGNORED = {"\ufe0f", "\ufe0e", "\u200d", *(chr(c) for c in range(0x1F3FB, 0x1F400)), "\u2640", "\u2642"}


def stance_of_key(key: str) -> Stance | None:
    """The stance a reaction expresses (``👍️``, ``🤷🏽‍♀️`` …), or None for any other reaction."""
    return _BY_KEY.get("".join(ch for ch in key if ch not in _IGNORED))


def scale_text() -> str:
    """The scale in words, for the check's message."""
    return "\n".join(f"{stance.key} {stance.value} — {_MEANING[stance]}" for stance in Stance)


class CheckStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # a verdict was recorded (or the check was replaced): stances no longer change


class Reading(StrEnum):
    BROAD_APPROVAL = "broad approval"
    BROAD_DISAGREEMENT = "broad disagreement"
    BLOCKED = "blocked"
    UNCLEAR = "no clear reading"
    TOO_FEW = "too few stances"


@dataclass(frozen=True)
class Thresholds:
    """What counts as broad approval and broad disagreement in an assembly (shares of the members who
    take a side), and how many members must take a stance for any reading."""

    broad_approval: float = 0.75
    broad_disagreement: float = 0.5
    min_members: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.broad_approval <= 1 or not 0 < self.broad_disagreement <= 1:
            raise ValueError("thresholds are shares between 0 and 1")
        if self.broad_approval + self.broad_disagreement <= 1:
            raise ValueError("broad approval and broad disagreement must not both be possible at once")
        if self.min_members < 1:
            raise ValueError("min_members must be at least 1")


def describe_thresholds(thresholds: Thresholds) -> str:
    """The thresholds in words."""
    return (f"broad approval: at least {_percent(thresholds.broad_approval)} of the members taking a side agree, "
            f"and no block; broad disagreement: at least {_percent(thresholds.broad_disagreement)} disagree; "
            f"at least {thresholds.min_members} member(s) must take a stance")


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def make_check_ref(assembly: str, number: int) -> str:
    """``C-<assembly>-<n>``: the ``number``-th consensus check of an assembly."""
    return make_ref("C", assembly, number)


@dataclass(frozen=True)
class Check:
    """A consensus check on ``proposal``, posted as ``event_id`` in ``room_id`` (None until posted)."""

    ref: str
    assembly: str
    proposal: str
    room_id: RoomId
    opened_at: datetime
    opened_by: UserId
    status: CheckStatus = CheckStatus.OPEN
    event_id: EventId | None = None
    closed_at: datetime | None = None

    def takes_stances_at(self, ts_ms: int) -> bool:
        """Whether a reaction stamped ``ts_ms`` (server time, ms) still counts."""
        return self.closed_at is None or ts_ms <= int(self.closed_at.timestamp() * 1000)


@dataclass(frozen=True)
class StanceRecord:
    """One reaction: ``member`` says whether its sender was a registered member when they sent it."""

    user: UserId
    stance: Stance
    event_id: EventId
    ts: int  # server timestamp, ms
    member: bool
    withdrawn: bool = False


def current_stances(records: Iterable[StanceRecord]) -> dict[UserId, StanceRecord]:
    """Each person's stance: their latest reaction not withdrawn (ties broken by event ID)."""
    latest: dict[UserId, StanceRecord] = {}
    for record in records:
        if record.withdrawn:
            continue
        held = latest.get(record.user)
        if held is None or (record.ts, record.event_id) > (held.ts, held.event_id):
            latest[record.user] = record
    return latest


@dataclass(frozen=True)
class Tally:
    """Counts by stance (members, participants), the reading, and who disagreed or blocked."""

    members: Mapping[Stance, int]
    participants: Mapping[Stance, int]
    reading: Reading
    objections: tuple[StanceRecord, ...]  # members' and participants' disagreements and blocks

    @property
    def members_in(self) -> int:
        return sum(self.members.values())

    @property
    def blocked(self) -> bool:
        return self.reading is Reading.BLOCKED


def tally(records: Iterable[StanceRecord], thresholds: Thresholds) -> Tally:
    """Count the current stances and read them (see the module docstring)."""
    stances = current_stances(records).values()
    members = Counter(r.stance for r in stances if r.member)
    participants = Counter(r.stance for r in stances if not r.member)
    sides = members[Stance.AGREE] + members[Stance.DISAGREE] + members[Stance.BLOCK]
    if members[Stance.BLOCK]:
        reading = Reading.BLOCKED
    elif sum(members.values()) < thresholds.min_members:
        reading = Reading.TOO_FEW
    elif sides and members[Stance.AGREE] >= thresholds.broad_approval * sides:
        reading = Reading.BROAD_APPROVAL
    elif sides and members[Stance.DISAGREE] >= thresholds.broad_disagreement * sides:
        reading = Reading.BROAD_DISAGREEMENT
    else:
        reading = Reading.UNCLEAR
    objections = tuple(sorted((r for r in stances if r.stance.wants_reason),
                              key=lambda r: (r.stance is not Stance.BLOCK, r.ts)))
    return Tally(members={s: members[s] for s in Stance}, participants={s: participants[s] for s in Stance},
                 reading=reading, objections=objections)


def _counts(counts: Mapping[Stance, int]) -> str:
    return ", ".join(f"{counts.get(stance, 0)} {stance.value}" for stance in Stance)


def render_tally(check: Check, result: Tally, *, title: str, reasons: Mapping[UserId, str],
                 names: Mapping[UserId, str], thresholds: Thresholds) -> str:
    """The tally as plain text: members' counts, objections with their reasons, participants apart, the
    reading and the thresholds it was read with."""
    lines = [f"Consensus check {check.ref} on {check.proposal} ({title}): {check.status.value}",
             f"Members (counted): {_counts(result.members)}"]
    participants = sum(result.participants.values())
    lines.append(f"Participants (not counted): {_counts(result.participants)}" if participants
                 else "Participants (not counted): none")
    # Reasons are listed by person without saying who is a registered member: membership is private.
    for record in result.objections:
        who = names.get(record.user) or record.user
        reason = reasons.get(record.user)
        lines.append(f"  {record.stance.key} {record.stance.value} — {who}: "
                     + (f"“{reason}”" if reason else "no reason given yet"))
    lines.append(f"Reading: {result.reading.value} ({describe_thresholds(thresholds)})")
    return "\n".join(lines)


def summary_line(check: Check, result: Tally) -> str:
    """One line for a decision's announcement: the check, the members' counts and the reading."""
    return f"Consensus check {check.ref}: {_counts(result.members)} (members); {result.reading.value}"


def verdict_refusal(outcome: str, *, check: Check, result: Tally, prefix: str) -> str | None:
    """Why the secretary's verdict ``reached`` / ``rejected`` contradicts the open check, or None.

    A deadlock may always be recorded: it sends the proposal to a ballot, the only way past a block."""
    proposal = check.proposal
    if outcome == "reached" and result.reading is not Reading.BROAD_APPROVAL:
        if result.blocked:
            return (f"a block stands in {check.ref} on {proposal}; a block can only be overridden by a ballot: "
                    f"{prefix} consensus {proposal} deadlock")
        return (f"{check.ref} on {proposal} shows {result.reading.value}, not broad approval; see "
                f"{prefix} sense show {proposal}, or record a deadlock: {prefix} consensus {proposal} deadlock")
    if outcome == "rejected" and result.reading not in (Reading.BROAD_DISAGREEMENT, Reading.BLOCKED):
        return (f"{check.ref} on {proposal} shows {result.reading.value}, not broad disagreement; see "
                f"{prefix} sense show {proposal}, or record a deadlock: {prefix} consensus {proposal} deadlock")
    return None


def parse_reason(text: str) -> str:
    """A reason as typed: one paragraph, at most ``REASON_MAX`` characters."""
    reason = " ".join(text.split())
    if not reason:
        raise UserError("the reason is empty")
    if len(reason) > REASON_MAX:
        raise UserError(f"the reason is too long ({len(reason)} characters; at most {REASON_MAX})")
    return reason
