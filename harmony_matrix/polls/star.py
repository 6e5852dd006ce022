"""The STAR tally: Score Then Automatic Runoff, single winner and Bloc STAR.

This module implements the project's STAR rules (``docs/spec/star.md``: the Equal Vote Coalition's Official
Tie-breaker Protocol in force since July 2025) exactly. It is pure: standard library only, no I/O, no
clock, and every comparison is made on integers.

Terms used in docstrings and in the plain-English tie-break messages:

* ``T(x)`` total score ("stars") of option x; ``F(x)`` number of ballots giving x a 5;
* ``P(x, y)`` number of ballots scoring x strictly higher than y.

Lots
----
A real tie is decided by a reproducible, checkable lot, never by list order:

1. The seed is the ``seed`` argument when given. Otherwise it is :func:`ballots_seed` — the SHA-256
   hex digest of the canonical JSON of the options and the filled ballots (see there).
2. The lot order of the options is :func:`lot_order`: sort the options by the SHA-256 hex digest of
   ``seed + "\\x00" + option`` (UTF-8), smallest first.
3. A draw of k among tied options takes the first k of the tied options in lot order.

Because the order depends only on the seed and the option names, every draw in a tally (scoring round,
runoff, later Bloc rounds) follows the same published ranking, and anyone can redo it with
``sha256sum``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from operator import gt, itemgetter

__all__ = [
    "MAX_SCORE",
    "MIN_SCORE",
    "Lot",
    "Runoff",
    "StarResult",
    "StarRound",
    "ballots_seed",
    "lot_order",
    "tally_star",
]

MIN_SCORE = 0
MAX_SCORE = 5


@dataclass(frozen=True)
class Lot:
    """A tie decided by lot.

    ``options`` are the options that were still level (sorted by name), ``winners`` the ones the draw
    picked (in lot order), ``seed`` the seed the draw was derived from. ``stage`` is ``"scoring"`` (the
    lot chose finalist(s)) or ``"runoff"`` (the lot chose the round's winner); ``round`` is the 1-based
    round (seat) number.
    """

    options: tuple[str, ...]
    winners: tuple[str, ...]
    seed: str
    stage: str
    round: int


@dataclass(frozen=True)
class Runoff:
    """The automatic runoff between the two finalists ``a`` and ``b``.

    ``prefer_a`` = P(a, b), ``prefer_b`` = P(b, a); ``no_preference`` counts ballots scoring both
    equally (blank ballots included), so the three always add up to the number of ballots.
    ``decided_by`` is ``"preference"`` (more ballots preferred the winner), ``"total"``,
    ``"five_star"`` or ``"lot"`` (the runoff tie-breaks, in that order).
    """

    a: str
    b: str
    prefer_a: int
    prefer_b: int
    no_preference: int
    winner: str
    decided_by: str

    @property
    def loser(self) -> str:
        return self.b if self.winner == self.a else self.a


@dataclass(frozen=True)
class StarRound:
    """One single-winner STAR round (one per seat).

    ``options`` are the options still in the running in this round. ``finalists`` has two entries, or
    one when a single option was left (it wins without a runoff, and ``runoff`` is None). Finalists are
    listed in the order they advanced; options that advanced together without a tie-break are listed by
    higher total, then by name. ``tie_breaks`` holds every tie-break step of this round in plain words;
    ``lots`` every draw, ``lot`` the first one (or None).
    """

    number: int
    options: tuple[str, ...]
    finalists: tuple[str, ...]
    runoff: Runoff | None
    winner: str
    tie_breaks: tuple[str, ...]
    lots: tuple[Lot, ...]

    @property
    def lot(self) -> Lot | None:
        return self.lots[0] if self.lots else None


@dataclass(frozen=True)
class StarResult:
    """The outcome of :func:`tally_star`.

    * ``options``: the options as given; ``seats``: seats asked for.
    * ``totals`` T(x) and ``five_star`` F(x) for every option (ints); ``averages`` T(x) / ballots as an
      exact :class:`fractions.Fraction` (``Fraction(0)`` when there are no ballots).
    * ``ballot_count``; ``blank_or_equal_count``: ballots that scored every option the same (blank
      ballots included) — they count, and are "no preference" in every runoff; ``no_votes``: True
      when there were no ballots at all (the winner was then decided by lot).
    * ``rounds``: one :class:`StarRound` per seat filled; ``winners``: in order of election,
      ``len(winners) == min(seats, len(options))``.
    * ``finalists`` and ``runoff``: those of the first round (for single-winner STAR, *the* finalists and
      runoff).
    * ``tie_breaks``: every tie-break step of every round in plain words (prefixed ``"Round n: "``
      when there is more than one round); ``lots``: every lot drawn; ``lot``: the first one or None.
    * ``five_star_used``: True when a five-star count decided (or was compared in) a tie, so a renderer
      knows to show ``five_star``.
    """

    options: tuple[str, ...]
    seats: int
    totals: dict[str, int]
    averages: dict[str, Fraction]
    five_star: dict[str, int]
    ballot_count: int
    blank_or_equal_count: int
    no_votes: bool
    rounds: tuple[StarRound, ...]
    winners: tuple[str, ...]
    finalists: tuple[str, ...]
    runoff: Runoff | None
    tie_breaks: tuple[str, ...]
    lots: tuple[Lot, ...]
    five_star_used: bool

    @property
    def lot(self) -> Lot | None:
        return self.lots[0] if self.lots else None


def tally_star(
    options: Sequence[str],
    ballots: Iterable[Mapping[str, int]],
    *,
    seats: int = 1,
    seed: str | None = None,
) -> StarResult:
    """Tally a STAR (``seats == 1``) or Bloc STAR (``seats > 1``) election, per ``docs/spec/star.md``.

    ``ballots`` map option → score (an int 0..5); an option a ballot leaves out scores 0. Raises
    ``ValueError`` for: no options, a duplicate or non-string option name, ``seats < 1``, a ballot
    naming an unknown option, a score that is not an integer from 0 to 5 (floats and strings are
    refused; ``bool`` is an ``int`` in Python and counts as 0/1).

    Scoring round: the top two totals are finalists. If options are tied for the last open place(s):
    exactly two tied → more ballots scoring one higher (P) advances it; three or more tied, or P equal
    → the five-star rule (while a place is open and the leader has strictly more 5s than the next it
    advances; options sharing the top five-star count that exactly fill the open places advance);
    still level → lot. Runoff: more ballots preferring a finalist wins; a tie goes to the higher
    total, then more 5s, then lot. Bloc STAR repeats this on the same ballots without the winners.

    ``seed`` fixes the lot (see the module docstring); when None, :func:`ballots_seed` is used, which
    is only computed if a lot is actually drawn.
    """
    opts = _check_options(options)
    if type(seats) is not int or seats < 1:
        raise ValueError(f"seats must be a whole number of at least 1, not {seats!r}")
    rows = _read_ballots(opts, ballots)
    n_ballots = len(rows)
    n_opts = len(opts)

    # Per-option score vectors as bytes: building them checks every score is an int 0..255 at C
    # speed, and every later count (sum, count of 5s, P) is a C-level pass over one or two of them.
    raw_columns = list(zip(*rows)) if rows else [()] * n_opts
    columns = {
        option: _score_vector(option, index, raw_columns[index], rows)
        for index, option in enumerate(opts)
    }

    totals = {o: sum(columns[o]) for o in opts}
    five_star = {o: columns[o].count(MAX_SCORE) for o in opts}
    averages = {
        o: Fraction(totals[o], n_ballots) if n_ballots else Fraction(0) for o in opts
    }
    blank_or_equal = sum(1 for r in rows if r.count(r[0]) == n_opts)

    ctx = _Tally(opts, rows, columns, totals, five_star, n_ballots, seed)
    rounds: list[StarRound] = []
    remaining = list(opts)
    while len(rounds) < seats and remaining:
        rnd = ctx.run_round(len(rounds) + 1, tuple(remaining))
        rounds.append(rnd)
        remaining.remove(rnd.winner)

    if len(rounds) > 1:
        tie_breaks = tuple(f"Round {r.number}: {m}" for r in rounds for m in r.tie_breaks)
    else:
        tie_breaks = rounds[0].tie_breaks
    return StarResult(
        options=opts,
        seats=seats,
        totals=totals,
        averages=averages,
        five_star=five_star,
        ballot_count=n_ballots,
        blank_or_equal_count=blank_or_equal,
        no_votes=n_ballots == 0,
        rounds=tuple(rounds),
        winners=tuple(r.winner for r in rounds),
        finalists=rounds[0].finalists,
        runoff=rounds[0].runoff,
        tie_breaks=tie_breaks,
        lots=tuple(lot for r in rounds for lot in r.lots),
        five_star_used=ctx.five_star_used,
    )


def ballots_seed(options: Sequence[str], ballots: Iterable[Mapping[str, int]]) -> str:
    """The default lot seed: SHA-256 (hex) of the canonical JSON of options and filled ballots.

    The document is ``{"ballots": [...], "options": [...]}`` where ``options`` are sorted by code
    point and each ballot is the list of its scores in that option order (unscored = 0); the ballots
    are sorted as lists of integers. JSON is written with ``sort_keys``, ``separators=(",", ":")``
    and ``ensure_ascii=False``, then encoded as UTF-8. Neither ballot order nor option order matters.
    """
    opts = _check_options(options)
    rows = _read_ballots(opts, ballots)
    return _canonical_seed(opts, rows)


def lot_order(seed: str, options: Iterable[str]) -> tuple[str, ...]:
    """The options in lot order: by SHA-256 hex digest of ``seed + "\\x00" + option`` (UTF-8)."""
    return tuple(sorted(options, key=lambda o: (_lot_key(seed, o), o)))


# --- internals ---------------------------------------------------------------------------------------


def _lot_key(seed: str, option: str) -> str:
    return hashlib.sha256(f"{seed}\x00{option}".encode()).hexdigest()


def _canonical_seed(opts: tuple[str, ...], rows: list[tuple[int, ...]]) -> str:
    order = sorted(range(len(opts)), key=opts.__getitem__)
    doc = {
        "ballots": sorted([int(r[i]) for i in order] for r in rows),  # int(): True -> 1
        "options": [opts[i] for i in order],
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_options(options: Sequence[str]) -> tuple[str, ...]:
    if isinstance(options, str):
        raise ValueError("options must be a sequence of option names, not a single string")
    opts = tuple(options)
    if not opts:
        raise ValueError("a STAR poll needs at least one option")
    seen: set[str] = set()
    for o in opts:
        if not isinstance(o, str):
            raise ValueError(f"option names must be strings, not {o!r}")
        if o in seen:
            raise ValueError(f"option {o!r} is listed twice")
        seen.add(o)
    return opts


def _read_ballots(
    opts: tuple[str, ...], ballots: Iterable[Mapping[str, int]]
) -> list[tuple[int, ...]]:
    """Fill every ballot over the full option list (unscored = 0); scores are checked per column."""
    n_opts = len(opts)
    blank = dict.fromkeys(opts, 0)
    # itemgetter over a dict pre-filled with zeros: the fastest pure-Python fill we measured; a
    # merged dict longer than the option list means the ballot named an unknown option.
    pick = itemgetter(*opts) if n_opts > 1 else (lambda filled: (filled[opts[0]],))
    rows: list[tuple[int, ...]] = []
    append = rows.append
    for number, ballot in enumerate(ballots, start=1):
        filled = {**blank, **ballot}
        if len(filled) != n_opts:
            unknown = next(k for k in filled if k not in blank)
            raise ValueError(f"ballot {number} scores {unknown!r}, which is not an option")
        append(pick(filled))
    return rows


def _score_vector(
    option: str, index: int, column: tuple[int, ...], rows: list[tuple[int, ...]]
) -> bytes:
    try:
        vector = bytes(column)
    except (TypeError, ValueError):
        vector = b"\xff"  # forces the slow path below
    if not vector or max(vector) <= MAX_SCORE:
        return vector
    # Slow path, only on bad input: name the first offending ballot.
    for number, row in enumerate(rows, start=1):
        value = row[index]
        if not isinstance(value, int) or not MIN_SCORE <= value <= MAX_SCORE:
            raise ValueError(
                f"ballot {number} gives {option!r} the score {value!r}; "
                f"scores must be whole numbers from {MIN_SCORE} to {MAX_SCORE}"
            )
    raise AssertionError("unreachable: a score failed the fast check but not the slow one")


def _stars(n: int) -> str:
    return f"{n} star" if n == 1 else f"{n} stars"


def _fives(n: int) -> str:
    return f"{n} five-star rating" if n == 1 else f"{n} five-star ratings"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _places(n: int) -> str:
    return "the last finalist place" if n == 1 else "both finalist places"


class _Tally:
    """State shared by the rounds of one tally: score vectors, counts, memoised P, the lazy seed."""

    def __init__(
        self,
        opts: tuple[str, ...],
        rows: list[tuple[int, ...]],
        columns: dict[str, bytes],
        totals: dict[str, int],
        five_star: dict[str, int],
        n_ballots: int,
        seed: str | None,
    ) -> None:
        self.opts = opts
        self.rows = rows
        self.columns = columns
        self.totals = totals
        self.five_star = five_star
        self.n_ballots = n_ballots
        self._seed = seed
        self._pref: dict[tuple[str, str], int] = {}
        self.five_star_used = False

    @property
    def seed(self) -> str:
        if self._seed is None:
            self._seed = _canonical_seed(self.opts, self.rows)
        return self._seed

    def pref(self, x: str, y: str) -> int:
        """P(x, y): ballots scoring x strictly higher than y (computed only when needed)."""
        key = (x, y)
        if key not in self._pref:
            self._pref[key] = sum(map(gt, self.columns[x], self.columns[y]))
        return self._pref[key]

    def draw(self, tied: Sequence[str], k: int, stage: str, number: int) -> Lot:
        seed = self.seed
        winners = lot_order(seed, tied)[:k]
        return Lot(tuple(sorted(tied)), winners, seed, stage, number)

    def run_round(self, number: int, remaining: tuple[str, ...]) -> StarRound:
        T = self.totals
        ranked = sorted(remaining, key=lambda o: (-T[o], o))
        notes: list[str] = []
        lots: list[Lot] = []

        if len(ranked) == 1:
            return StarRound(number, remaining, (ranked[0],), None, ranked[0], (), ())

        if len(ranked) == 2 or T[ranked[1]] != T[ranked[2]]:
            finalists = ranked[:2]
        else:
            finalists = self._break_scoring_tie(number, ranked, notes, lots)

        a, b = finalists
        runoff = self._runoff(number, a, b, notes, lots)
        return StarRound(
            number, remaining, (a, b), runoff, runoff.winner, tuple(notes), tuple(lots)
        )

    def _break_scoring_tie(
        self, number: int, ranked: list[str], notes: list[str], lots: list[Lot]
    ) -> list[str]:
        T, F = self.totals, self.five_star
        second = T[ranked[1]]
        group = [o for o in ranked if T[o] == second]
        finalists = [ranked[0]] if T[ranked[0]] > second else []
        open_places = 2 - len(finalists)

        if len(group) == 2:
            # Exactly two tied (necessarily for the last place): head-to-head.
            x, y = group
            pxy, pyx = self.pref(x, y), self.pref(y, x)
            if pxy != pyx:
                w, pw, pl = (x, pxy, pyx) if pxy > pyx else (y, pyx, pxy)
                notes.append(
                    f"{x} and {y} tied on {_stars(second)}; {w} advanced: "
                    f"more ballots scored {w} higher, {pw} to {pl}."
                )
                return finalists + [w]
            notes.append(
                f"{x} and {y} tied on {_stars(second)}, and as many ballots scored {x} higher "
                f"as scored {y} higher ({pxy} each); the five-star ratings decide."
            )
        else:
            notes.append(
                f"{_names(group)} tied on {_stars(second)} for {_places(open_places)}; "
                f"the five-star ratings decide."
            )

        # Five-star rule; head-to-head is deliberately not applied again.
        self.five_star_used = True
        pool = sorted(group, key=lambda o: (-F[o], o))
        while open_places:
            best = F[pool[0]]
            top = [o for o in pool if F[o] == best]
            rest = pool[len(top):]
            if len(top) == 1:
                at_most = "" if len(rest) == 1 else "at most "
                notes.append(
                    f"{top[0]} advanced: most five-star ratings, {best} against "
                    f"{at_most}{F[rest[0]]} for {_names(rest)}."
                )
            elif len(top) == open_places:
                notes.append(
                    f"{_names(top)} advanced: they share the most five-star ratings ({best} each) "
                    f"and exactly fill {_places(open_places)}."
                )
            else:
                lot = self.draw(top, open_places, "scoring", number)
                lots.append(lot)
                notes.append(
                    f"{_names(top)} are still level with {_fives(best)} each for "
                    f"{_places(open_places)}; decided by lot (seed {lot.seed}): "
                    f"{_names(lot.winners)} advanced."
                )
                return finalists + list(lot.winners)
            finalists.extend(top)
            open_places -= len(top)
            pool = rest
        return finalists

    def _runoff(
        self, number: int, a: str, b: str, notes: list[str], lots: list[Lot]
    ) -> Runoff:
        T, F = self.totals, self.five_star
        pa, pb = self.pref(a, b), self.pref(b, a)
        neither = self.n_ballots - pa - pb
        if pa != pb:
            return Runoff(a, b, pa, pb, neither, a if pa > pb else b, "preference")

        tied = (
            f"The runoff between {a} and {b} tied, {pa} to {pb} "
            f"({neither} with no preference); "
        )
        if T[a] != T[b]:
            w, l = (a, b) if T[a] > T[b] else (b, a)
            notes.append(tied + f"{w} won: higher total score, {T[w]} to {T[l]} stars.")
            return Runoff(a, b, pa, pb, neither, w, "total")
        self.five_star_used = True
        if F[a] != F[b]:
            w, l = (a, b) if F[a] > F[b] else (b, a)
            notes.append(
                tied + f"both have {_stars(T[a])}; {w} won: more five-star ratings, {F[w]} to {F[l]}."
            )
            return Runoff(a, b, pa, pb, neither, w, "five_star")
        lot = self.draw((a, b), 1, "runoff", number)
        lots.append(lot)
        notes.append(
            tied + f"both have {_stars(T[a])} and {_fives(F[a])}; "
            f"decided by lot (seed {lot.seed}): {lot.winners[0]} won."
        )
        return Runoff(a, b, pa, pb, neither, lot.winners[0], "lot")

