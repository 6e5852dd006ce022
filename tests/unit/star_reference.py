"""A slow, obviously-correct STAR tally, written straight from spec/star.md, for cross-checking.

It shares no code with ``harmony_matrix.polls.star``: every count is a loop over filled ballot dicts, the
lot order and the default seed are re-derived from their documented definitions. Only for tests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass
class RefRound:
    finalists: frozenset[str]
    runoff: dict[str, int] | None  # finalist -> ballots preferring it
    no_preference: int
    winner: str
    lot_used: bool


@dataclass
class RefResult:
    totals: dict[str, int]
    five_star: dict[str, int]
    winners: list[str]
    rounds: list[RefRound]
    blank_or_equal: int


def reference_seed(options: list[str], ballots: list[dict[str, int]]) -> str:
    names = sorted(options)
    listed = []
    for ballot in ballots:
        listed.append([ballot.get(name, 0) for name in names])
    listed.sort()
    text = json.dumps(
        {"ballots": listed, "options": names}, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reference_star(
    options: list[str], ballots: list[dict[str, int]], seats: int = 1, seed: str | None = None
) -> RefResult:
    filled = []
    for ballot in ballots:
        filled.append({option: ballot.get(option, 0) for option in options})
    if seed is None:
        seed = reference_seed(options, ballots)

    def T(x: str) -> int:
        total = 0
        for b in filled:
            total += b[x]
        return total

    def F(x: str) -> int:
        count = 0
        for b in filled:
            if b[x] == 5:
                count += 1
        return count

    def P(x: str, y: str) -> int:
        count = 0
        for b in filled:
            if b[x] > b[y]:
                count += 1
        return count

    def lot(tied: list[str], k: int) -> list[str]:
        def key(option: str) -> str:
            return hashlib.sha256((seed + "\x00" + option).encode("utf-8")).hexdigest()

        return sorted(tied, key=key)[:k]

    blank_or_equal = 0
    for b in filled:
        if len(set(b.values())) <= 1:
            blank_or_equal += 1

    winners: list[str] = []
    rounds: list[RefRound] = []
    remaining = list(options)
    while len(winners) < seats and remaining:
        lot_used = False
        if len(remaining) == 1:
            rounds.append(RefRound(frozenset(remaining), None, 0, remaining[0], False))
            winners.append(remaining[0])
            remaining = []
            break

        # Scoring round.
        by_total = sorted(remaining, key=T, reverse=True)
        if len(remaining) == 2 or T(by_total[1]) != T(by_total[2]):
            finalists = by_total[:2]
        else:
            second = T(by_total[1])
            finalists = [x for x in remaining if T(x) > second]
            tied = [x for x in remaining if T(x) == second]
            slots = 2 - len(finalists)
            head_to_head_decided = False
            if len(tied) == 2:
                x, y = tied
                if P(x, y) > P(y, x):
                    finalists.append(x)
                    head_to_head_decided = True
                elif P(y, x) > P(x, y):
                    finalists.append(y)
                    head_to_head_decided = True
            if not head_to_head_decided:
                pool = list(tied)
                while slots > 0:
                    best = max(F(x) for x in pool)
                    top = [x for x in pool if F(x) == best]
                    if len(top) <= slots:
                        finalists.extend(top)
                        slots -= len(top)
                        pool = [x for x in pool if x not in top]
                    else:
                        finalists.extend(lot(top, slots))
                        lot_used = True
                        slots = 0

        # Automatic runoff.
        a, b = finalists
        votes_a, votes_b = P(a, b), P(b, a)
        if votes_a > votes_b:
            winner = a
        elif votes_b > votes_a:
            winner = b
        elif T(a) != T(b):
            winner = a if T(a) > T(b) else b
        elif F(a) != F(b):
            winner = a if F(a) > F(b) else b
        else:
            winner = lot([a, b], 1)[0]
            lot_used = True
        rounds.append(
            RefRound(
                frozenset(finalists),
                {a: votes_a, b: votes_b},
                len(filled) - votes_a - votes_b,
                winner,
                lot_used,
            )
        )
        winners.append(winner)
        remaining.remove(winner)

    return RefResult(
        totals={x: T(x) for x in options},
        five_star={x: F(x) for x in options},
        winners=winners,
        rounds=rounds,
        blank_or_equal=blank_or_equal,
    )
