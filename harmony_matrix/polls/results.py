"""A poll's result: the tally with the poll's lot seed, and the stored form everyone reads afterwards.

Pure. A poll is tallied once, when it closes (:func:`poll_result`); the stored :class:`PollResult` is
what the results message, the chart and the feature that opened the poll (its origin) read later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmony_matrix.polls.poll import Poll
from harmony_matrix.polls.star import MAX_SCORE, Lot, Runoff, StarResult, ballots_seed, tally_star

__all__ = ["PollResult", "lot_seed", "poll_result", "summarize_result", "tally_poll"]

Ballots = Sequence[Mapping[int, int]]  # option position -> score, one mapping per ballot


def _named(poll: Poll, ballots: Ballots) -> list[dict[str, int]]:
    return [{poll.labels[position]: score for position, score in ballot.items()} for ballot in ballots]


def lot_seed(poll: Poll, ballots: Ballots) -> str:
    """The seed of the poll's lots, as the README documents it ("How lots are drawn"):
    ``<poll>:<sha256 of the canonical ballots>``.

    ``<poll>`` is the reference and the event ID of the poll's announcement (``#3@$header``; the room
    ID if the announcement was never posted), so two polls with the same ballots draw differently; the
    hash is ``star.ballots_seed``, so anyone holding the ballots can redo the draw."""
    return f"{poll.ref}@{poll.header_event_id or poll.room_id}:{ballots_seed(poll.labels, _named(poll, ballots))}"


def tally_poll(poll: Poll, ballots: Ballots) -> StarResult:
    """The STAR (or Bloc STAR, for several seats) tally of ``ballots``, lots drawn with :func:`lot_seed`."""
    return tally_star(poll.labels, _named(poll, ballots), seats=poll.seats, seed=lot_seed(poll, ballots))


@dataclass(frozen=True)
class PollResult:
    """A closed poll's result as stored: what the results message and the chart show, and what the
    poll's origin is told.

    ``averages`` are exact fractions (numerator, denominator); ``distribution`` counts, per option,
    the ballots giving it each score 0–5 (an option a ballot left out scored 0)."""

    winners: tuple[str, ...]
    totals: dict[str, int]
    averages: dict[str, tuple[int, int]]
    five_star: dict[str, int]
    five_star_used: bool
    finalists: tuple[str, ...]
    runoff: Runoff | None
    tie_breaks: tuple[str, ...]
    lots: tuple[Lot, ...]
    ballot_count: int
    blank_or_equal_count: int
    no_votes: bool
    distribution: dict[str, list[int]]

    def to_json(self) -> dict[str, Any]:
        """The JSON document the store keeps."""
        runoff = self.runoff
        return {
            "winners": list(self.winners),
            "totals": dict(self.totals),
            "averages": {option: list(fraction) for option, fraction in self.averages.items()},
            "five_star": dict(self.five_star),
            "five_star_used": self.five_star_used,
            "finalists": list(self.finalists),
            "runoff": None if runoff is None else {
                "a": runoff.a, "b": runoff.b, "prefer_a": runoff.prefer_a, "prefer_b": runoff.prefer_b,
                "no_preference": runoff.no_preference, "winner": runoff.winner, "decided_by": runoff.decided_by},
            "tie_breaks": list(self.tie_breaks),
            "lots": [{"options": list(lot.options), "winners": list(lot.winners), "seed": lot.seed,
                      "stage": lot.stage, "round": lot.round} for lot in self.lots],
            "ballot_count": self.ballot_count,
            "blank_or_equal_count": self.blank_or_equal_count,
            "no_votes": self.no_votes,
            "distribution": {option: list(counts) for option, counts in self.distribution.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PollResult:
        """Read back what :meth:`to_json` wrote."""
        runoff = data.get("runoff")
        return cls(
            winners=tuple(data["winners"]),
            totals={str(k): int(v) for k, v in data["totals"].items()},
            averages={str(k): (int(v[0]), int(v[1])) for k, v in data["averages"].items()},
            five_star={str(k): int(v) for k, v in data["five_star"].items()},
            five_star_used=bool(data["five_star_used"]),
            finalists=tuple(data["finalists"]),
            runoff=None if runoff is None else Runoff(
                a=runoff["a"], b=runoff["b"], prefer_a=int(runoff["prefer_a"]), prefer_b=int(runoff["prefer_b"]),
                no_preference=int(runoff["no_preference"]), winner=runoff["winner"],
                decided_by=runoff["decided_by"]),
            tie_breaks=tuple(data["tie_breaks"]),
            lots=tuple(Lot(options=tuple(lot["options"]), winners=tuple(lot["winners"]), seed=lot["seed"],
                                stage=lot["stage"], round=int(lot["round"])) for lot in data["lots"]),
            ballot_count=int(data["ballot_count"]),
            blank_or_equal_count=int(data["blank_or_equal_count"]),
            no_votes=bool(data["no_votes"]),
            distribution={str(k): [int(n) for n in v] for k, v in data["distribution"].items()},
        )


def summarize_result(poll: Poll, ballots: Ballots, result: StarResult) -> PollResult:
    """The stored form of ``result``, the tally of ``ballots`` in ``poll``."""
    distribution = {label: [0] * (MAX_SCORE + 1) for label in poll.labels}
    for ballot in ballots:
        for position, label in enumerate(poll.labels):
            distribution[label][ballot.get(position, 0)] += 1
    return PollResult(
        winners=tuple(result.winners),
        totals=dict(result.totals),
        averages={option: (average.numerator, average.denominator) for option, average in result.averages.items()},
        five_star=dict(result.five_star),
        five_star_used=result.five_star_used,
        finalists=tuple(result.finalists),
        runoff=result.runoff,
        tie_breaks=tuple(result.tie_breaks),
        lots=tuple(result.lots),
        ballot_count=result.ballot_count,
        blank_or_equal_count=result.blank_or_equal_count,
        no_votes=result.no_votes,
        distribution=distribution,
    )


def poll_result(poll: Poll, ballots: Ballots) -> PollResult:
    """Tally ``ballots`` (:func:`tally_poll`) and give the result in its stored form."""
    return summarize_result(poll, ballots, tally_poll(poll, ballots))
