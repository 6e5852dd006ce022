"""Reactions as votes: which key means which score, and which vote counts.

Pure: the Matrix side (``handlers/polls/voting.py``) feeds in what it saw and the store returned, and
persists what these functions decide.

Rules:

* A reaction key means a score when it is a keycap digit 0–5, with or without the variation selector
  U+FE0F (``"3\\uFE0F\\u20E3"`` from Element, ``"3\\u20E3"`` from other clients), or a plain digit
  ``"3"``. Any other key is not a vote.
* Per voter and option the **latest** vote counts (by server timestamp, then event ID, so the order is
  the same whoever recounts); older ones on the same option are *superseded*. A withdrawn (redacted)
  reaction counts for nothing.
* A voter's ballot is their counted score per option; options they did not score count 0 in the
  tally (``star.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harmony_matrix.polls.star import MAX_SCORE, MIN_SCORE

__all__ = [
    "SEED_KEYS",
    "BallotBuild",
    "CountedReaction",
    "VoteOutcome",
    "build_ballots",
    "missing_seed_keys",
    "score_of_key",
    "settle_vote",
    "settle_votes",
]

KEYCAP = "\u20e3"
VS16 = "\ufe0f"
#: The keys the bot pre-seeds on each option message, as Element sends them (digit, U+FE0F, U+20E3).
SEED_KEYS: tuple[str, ...] = tuple(f"{digit}{VS16}{KEYCAP}" for digit in range(MIN_SCORE, MAX_SCORE + 1))

#: ``CountedReaction.source`` of a reaction in the room, and of a line of a ballot sent by DM.
FROM_REACTION = "reaction"
FROM_DM = "dm"


def score_of_key(key: str) -> int | None:
    """The score a reaction key stands for, or None if it is not a vote (any other emoji)."""
    if not isinstance(key, str):
        return None
    stripped = key.replace(VS16, "")
    if stripped.endswith(KEYCAP):
        stripped = stripped[: -len(KEYCAP)]
    elif len(stripped) != len(key):  # a lone digit + U+FE0F without the keycap is not a vote
        return None
    if len(stripped) == 1 and stripped in "012345":
        return int(stripped)
    return None


def missing_seed_keys(present: Iterable[str]) -> tuple[str, ...]:
    """The pre-seed keys (in score order) not among ``present``, the bot's own reaction keys on one
    option message. Used to finish seeding that a crash interrupted: only these are added."""
    have = set(present)
    return tuple(key for key in SEED_KEYS if key not in have)


# --- which vote counts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountedReaction:
    """A vote the bot accepted: who scored which option (by position) how, and when.

    ``ts`` is the server timestamp in milliseconds (``origin_server_ts``); ``source`` says whether it
    is a reaction in the room (``"reaction"``) or a line of a ballot sent by DM (``"dm"``, which has
    nothing in the room to remove or recount).
    """

    event_id: str
    voter: str
    option: int
    score: int
    ts: int
    source: str = FROM_REACTION


@dataclass(frozen=True)
class BallotBuild:
    """What :func:`build_ballots` decided.

    ``ballots``: voter → {option position: score} (voters with at least one counted reaction);
    ``counted``: the event ID that counts per (voter, option); ``superseded``: event IDs of older
    reactions that a later one on the same option replaced.
    """

    ballots: dict[str, dict[int, int]]
    counted: dict[tuple[str, int], str]
    superseded: frozenset[str] = field(default_factory=frozenset)


def _order(reaction: CountedReaction) -> tuple[int, str]:
    return reaction.ts, reaction.event_id


def build_ballots(reactions: Iterable[CountedReaction]) -> BallotBuild:
    """Latest reaction per (voter, option) wins; older ones are superseded.

    ``reactions`` are the live (not withdrawn) counted reactions in any order; the result does not
    depend on their order. The same event ID given twice is taken once.
    """
    latest: dict[tuple[str, int], CountedReaction] = {}
    seen: dict[str, CountedReaction] = {}
    for reaction in reactions:
        seen.setdefault(reaction.event_id, reaction)
    for reaction in seen.values():
        key = (reaction.voter, reaction.option)
        current = latest.get(key)
        if current is None or _order(reaction) > _order(current):
            latest[key] = reaction
    ballots: dict[str, dict[int, int]] = {}
    for (voter, option), reaction in sorted(latest.items()):
        ballots.setdefault(voter, {})[option] = reaction.score
    counted = {key: r.event_id for key, r in latest.items()}
    winners = set(counted.values())
    superseded = frozenset(event_id for event_id in seen if event_id not in winners)
    return BallotBuild(ballots=ballots, counted=counted, superseded=superseded)


@dataclass(frozen=True)
class VoteOutcome:
    """What adding one vote did to its voter's votes on its option (:func:`settle_vote`).

    ``counts``: the new vote is the latest, so it counts; ``superseded``: every event ID that no longer
    counts (older votes, or the new one when a newer vote was already there), for the store to mark;
    ``replaced``: the older *reactions in the room* the new vote replaced, for the bot to remove.
    """

    counts: bool
    superseded: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()


def settle_vote(vote: CountedReaction, live: Iterable[CountedReaction]) -> VoteOutcome:
    """Which of a voter's votes on one option counts now that ``vote`` was added.

    ``live`` are the votes the store holds as counting (neither withdrawn nor superseded), ``vote``
    among them or not; only those of the same voter on the same option matter. The latest counts
    (:func:`build_ballots`), so a vote that arrives late but is older counts for nothing."""
    same = [r for r in live if r.voter == vote.voter and r.option == vote.option and r.event_id != vote.event_id]
    built = build_ballots([vote, *same])
    superseded = tuple(r.event_id for r in [*same, vote] if r.event_id in built.superseded)
    replaced = tuple(r.event_id for r in same if r.event_id in built.superseded and r.source == FROM_REACTION)
    return VoteOutcome(counts=vote.event_id not in built.superseded, superseded=superseded, replaced=replaced)


def settle_votes(votes: Sequence[CountedReaction],
                 live: Iterable[CountedReaction]) -> dict[str, VoteOutcome]:
    """:func:`settle_vote` for many new ``votes`` at once (a catch-up stores them in one go), in the order
    given, as if each had been stored and settled before the next: ``live`` are the votes counting
    before the first of them. Returns each new vote's outcome by event ID; the union of their
    ``superseded`` is what the store marks."""
    pairs: dict[tuple[str, int], list[CountedReaction]] = {}
    for reaction in live:
        pairs.setdefault((reaction.voter, reaction.option), []).append(reaction)
    outcomes: dict[str, VoteOutcome] = {}
    for vote in votes:
        key = (vote.voter, vote.option)
        current = pairs.get(key, [])
        outcome = settle_vote(vote, current)
        outcomes[vote.event_id] = outcome
        gone = set(outcome.superseded)
        pairs[key] = [r for r in [*current, vote] if r.event_id not in gone]
    return outcomes
