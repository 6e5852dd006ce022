"""Tests for the STAR tally (harmony_matrix.polls.star), against spec/star.md."""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmony_matrix.polls.star import Lot, StarResult, ballots_seed, lot_order, tally_star

from star_reference import reference_seed, reference_star

ABC = ["A", "B", "C"]


def repeat(ballot: dict[str, int], n: int) -> list[dict[str, int]]:
    return [dict(ballot) for _ in range(n)]


# --- plain elections ---------------------------------------------------------------------------------


def test_plain_election_reports_totals_finalists_and_runoff() -> None:
    ballots = [{"A": 5, "B": 3}, {"B": 5, "C": 4}, {"C": 5}]
    r = tally_star(ABC, ballots)
    assert r.totals == {"A": 5, "B": 8, "C": 9}
    assert r.averages == {"A": Fraction(5, 3), "B": Fraction(8, 3), "C": Fraction(3)}
    assert r.five_star == {"A": 1, "B": 1, "C": 1}
    assert r.finalists == ("C", "B")
    assert r.runoff is not None
    assert (r.runoff.a, r.runoff.b) == ("C", "B")
    assert (r.runoff.prefer_a, r.runoff.prefer_b, r.runoff.no_preference) == (1, 2, 0)
    assert r.runoff.decided_by == "preference"
    assert r.winners == ("B",)
    assert r.tie_breaks == () and r.lot is None and r.lots == ()
    assert r.ballot_count == 3 and r.blank_or_equal_count == 0 and not r.no_votes
    assert len(r.rounds) == 1 and r.rounds[0].winner == "B"


def test_two_tied_for_first_both_advance_without_tie_break() -> None:
    ballots = [{"A": 5, "B": 2, "C": 1}, {"A": 2, "B": 5, "C": 1}]
    r = tally_star(ABC, ballots)
    assert set(r.finalists) == {"A", "B"}
    assert r.tie_breaks[:1] != ("A and B tied",)
    assert all("tied on" not in m for m in r.tie_breaks)


# --- scoring-round tie-breaks ------------------------------------------------------------------------


def test_two_tied_for_second_head_to_head_decides_with_plain_message() -> None:
    ballots = [{"A": 5, "B": 4}] + repeat({"A": 5, "C": 1}, 4)
    r = tally_star(ABC, ballots)
    assert r.totals == {"A": 25, "B": 4, "C": 4}
    assert r.finalists == ("A", "C")
    assert r.tie_breaks[0] == "B and C tied on 4 stars; C advanced: more ballots scored C higher, 4 to 1."
    assert not r.five_star_used


def test_head_to_head_equal_falls_to_five_star() -> None:
    ballots = [{"A": 5, "B": 5, "C": 1}, {"A": 5, "B": 0, "C": 4}]
    r = tally_star(ABC, ballots)
    assert r.finalists == ("A", "B")
    assert "as many ballots scored B higher as scored C higher (1 each)" in r.tie_breaks[0]
    assert r.tie_breaks[1] == "B advanced: most five-star ratings, 1 against 0 for C."
    assert r.five_star_used and r.lot is None


def test_head_to_head_and_five_star_equal_goes_to_lot() -> None:
    ballots = [{"A": 5, "B": 5}, {"A": 5, "C": 5}]
    r = tally_star(ABC, ballots, seed="s")
    lot = r.rounds[0].lots[0]
    assert lot.stage == "scoring" and lot.options == ("B", "C") and lot.seed == "s"
    assert lot.winners == lot_order("s", ["B", "C"])[:1]
    assert r.finalists == ("A", lot.winners[0])
    assert "decided by lot (seed s)" in r.tie_breaks[-1]


def test_three_tied_for_second_uses_five_star_not_head_to_head() -> None:
    # B, C and D tie on 5 stars; C and D each beat B head-to-head on 1 of 2 ballots vs B's 1,
    # but only B has a 5: five-star decides straight away.
    ballots = [{"A": 5, "B": 5, "C": 2, "D": 2}, {"A": 5, "C": 3, "D": 3}]
    r = tally_star(["A", "B", "C", "D"], ballots)
    assert r.totals == {"A": 10, "B": 5, "C": 5, "D": 5}
    assert r.finalists == ("A", "B")
    assert r.tie_breaks[0] == "B, C and D tied on 5 stars for the last finalist place; the five-star ratings decide."
    assert r.tie_breaks[1] == "B advanced: most five-star ratings, 1 against at most 0 for C and D."


def test_three_tied_for_first_two_share_top_five_star_and_fill_both_places() -> None:
    ballots = [{"A": 5, "C": 2}, {"B": 5, "C": 3}]
    r = tally_star(ABC, ballots)
    assert set(r.finalists) == {"A", "B"}
    assert "both finalist places" in r.tie_breaks[0]
    assert r.tie_breaks[1] == (
        "A and B advanced: they share the most five-star ratings (1 each) and exactly fill both finalist places."
    )


def test_three_tied_for_first_leaders_advance_one_by_one() -> None:
    ballots = [{"A": 5, "B": 5, "C": 4}, {"A": 5, "B": 2, "C": 3}, {"B": 3, "C": 3}]
    r = tally_star(ABC, ballots)
    assert r.totals == {"A": 10, "B": 10, "C": 10}
    assert r.finalists == ("A", "B")
    assert r.tie_breaks[1].startswith("A advanced: most five-star ratings, 2")
    assert r.tie_breaks[2] == "B advanced: most five-star ratings, 1 against 0 for C."


def test_three_tied_for_first_then_lot_for_last_place() -> None:
    ballots = [{"A": 5, "B": 5, "C": 5}, {"A": 5, "B": 2, "C": 3}, {"B": 3, "C": 2}]
    r = tally_star(ABC, ballots, seed="lot-seed")
    assert r.finalists[0] == "A"
    lot = r.lots[0]
    assert lot.options == ("B", "C") and lot.winners == (r.finalists[1],)
    assert lot.winners == lot_order("lot-seed", ["B", "C"])[:1]


# --- runoff tie-breaks -------------------------------------------------------------------------------


def test_runoff_tie_goes_to_higher_total() -> None:
    r = tally_star(["A", "B"], [{"A": 5, "B": 0}, {"A": 1, "B": 5}])
    assert r.runoff is not None and r.runoff.decided_by == "total"
    assert r.winners == ("A",)
    assert r.tie_breaks == (
        "The runoff between A and B tied, 1 to 1 (0 with no preference); A won: higher total score, 6 to 5 stars.",
    )


def test_runoff_tie_then_total_tie_goes_to_more_five_stars() -> None:
    ballots = [{"A": 5}, {"B": 3}, {"A": 2}, {"B": 4}]
    r = tally_star(["A", "B"], ballots)
    assert r.runoff is not None and r.runoff.decided_by == "five_star"
    assert r.winners == ("A",)
    assert "A won: more five-star ratings, 1 to 0." in r.tie_breaks[0]


def test_runoff_full_tie_goes_to_lot() -> None:
    r = tally_star(["A", "B"], [{"A": 5}, {"B": 5}], seed="x")
    assert r.runoff is not None and r.runoff.decided_by == "lot"
    assert r.lot == Lot(("A", "B"), r.winners, "x", "runoff", 1)
    assert r.winners == lot_order("x", ["A", "B"])[:1]


# --- degenerate cases --------------------------------------------------------------------------------


def test_one_option_wins_without_runoff() -> None:
    r = tally_star(["Only"], [{"Only": 2}, {}])
    assert r.winners == ("Only",) and r.finalists == ("Only",) and r.runoff is None
    assert r.blank_or_equal_count == 2


def test_two_options_runoff_beats_totals() -> None:
    ballots = [{"A": 5, "B": 0}] + repeat({"A": 3, "B": 4}, 2)
    r = tally_star(["A", "B"], ballots)
    assert r.totals == {"A": 11, "B": 8}
    assert r.winners == ("B",) and r.tie_breaks == ()


def test_zero_ballots_reports_no_votes_and_decides_by_lot() -> None:
    r = tally_star(ABC, [])
    assert r.no_votes and r.ballot_count == 0 and r.blank_or_equal_count == 0
    assert r.totals == {"A": 0, "B": 0, "C": 0} and r.averages["A"] == 0
    assert len(r.winners) == 1 and r.lot is not None
    assert r.runoff is not None and (r.runoff.prefer_a, r.runoff.prefer_b, r.runoff.no_preference) == (0, 0, 0)
    assert r.lot.seed == ballots_seed(ABC, [])
    assert tally_star(ABC, []).winners == r.winners  # deterministic
    assert tally_star(["A"], []).winners == ("A",)


def test_all_equal_and_blank_ballots_count_and_are_reported() -> None:
    ballots = [{"A": 3, "B": 3, "C": 3}, {}, {"A": 5, "B": 1}]
    r = tally_star(ABC, ballots)
    assert r.ballot_count == 3 and r.blank_or_equal_count == 2
    assert r.runoff is not None and r.runoff.no_preference == 2
    assert r.winners == ("A",)


def test_option_nobody_scored_is_still_an_option() -> None:
    r = tally_star(["A", "B", "Ghost"], [{"A": 4, "B": 2}])
    assert r.totals["Ghost"] == 0 and r.five_star["Ghost"] == 0
    assert r.winners == ("A",)


# --- Bloc STAR ---------------------------------------------------------------------------------------


def test_bloc_star_three_seats() -> None:
    options = ["Ana", "Bo", "Cy", "Di", "Ed"]
    ballots = (
        repeat({"Ana": 5, "Bo": 4, "Cy": 3, "Di": 1}, 6)
        + repeat({"Bo": 5, "Cy": 4, "Ana": 2, "Ed": 1}, 4)
        + repeat({"Di": 5, "Cy": 4, "Ed": 3}, 3)
    )
    r = tally_star(options, ballots, seats=3)
    # Totals: Cy 46, Bo 44, Ana 38, Di 21, Ed 13.
    # Round 1: Cy v Bo, Bo preferred 10 to 3. Round 2: Cy v Ana, Cy preferred 7 to 6.
    # Round 3: Ana v Di, Ana preferred 10 to 3.
    assert r.totals == {"Ana": 38, "Bo": 44, "Cy": 46, "Di": 21, "Ed": 13}
    assert r.winners == ("Bo", "Cy", "Ana")
    assert [rnd.number for rnd in r.rounds] == [1, 2, 3]
    assert r.rounds[1].options == ("Ana", "Cy", "Di", "Ed")
    assert r.rounds[1].runoff is not None
    assert (r.rounds[1].runoff.prefer_a, r.rounds[1].runoff.prefer_b) == (7, 6)
    assert r.rounds[2].finalists == ("Ana", "Di")
    assert reference_star(options, ballots, seats=3).winners == list(r.winners)


def test_bloc_star_with_seats_at_least_options_elects_everyone_in_round_order() -> None:
    ballots = [{"A": 5, "B": 3, "C": 1}, {"A": 4, "B": 2}]
    r = tally_star(ABC, ballots, seats=5)
    assert r.winners == ("A", "B", "C")
    assert r.rounds[-1].finalists == ("C",) and r.rounds[-1].runoff is None


def test_bloc_tie_breaks_are_prefixed_with_their_round() -> None:
    r = tally_star(ABC, [], seats=2, seed="q")
    assert all(m.startswith(("Round 1: ", "Round 2: ")) for m in r.tie_breaks)
    assert any(m.startswith("Round 2: ") for m in r.tie_breaks)


# --- input errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "ballots", "seats", "message"),
    [
        (["A", "A"], [], 1, "listed twice"),
        ([], [], 1, "at least one option"),
        (["A", 3], [], 1, "must be strings"),
        (ABC, [{"Z": 1}], 1, "ballot 1 scores 'Z', which is not an option"),
        (ABC, [{}, {"A": 6}], 1, "ballot 2 gives 'A' the score 6"),
        (ABC, [{"B": -1}], 1, "the score -1"),
        (ABC, [{"C": 2.5}], 1, "the score 2.5"),
        (ABC, [{"C": "4"}], 1, "the score '4'"),
        (ABC, [], 0, "seats"),
    ],
)
def test_bad_input_raises_value_error(options, ballots, seats, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        tally_star(options, ballots, seats=seats)


def test_unicode_option_names() -> None:
    options = ["Ñandú 🦤", "東京", "a\x00b", ""]
    r = tally_star(options, [{"東京": 5, "": 1}, {"Ñandú 🦤": 4}])
    assert r.winners == ("東京",)


# --- lots --------------------------------------------------------------------------------------------


def test_lot_is_reproducible_and_reports_options_and_seed() -> None:
    a = tally_star(["A", "B", "C", "D"], [], seed="poll-1")
    b = tally_star(["D", "C", "B", "A"], [], seed="poll-1")
    assert a.winners == b.winners and a.lots == b.lots
    assert a.lot is not None
    assert a.lot.options == ("A", "B", "C", "D") and a.lot.seed == "poll-1"
    assert "decided by lot (seed poll-1)" in " ".join(a.tie_breaks)


def test_different_seeds_can_give_different_lots() -> None:
    outcomes = {tally_star(["A", "B"], [], seed=f"seed {i}").winners for i in range(20)}
    assert outcomes == {("A",), ("B",)}


def test_lot_order_is_the_documented_sha256_rule() -> None:
    key = lambda o: hashlib.sha256(("s" + "\x00" + o).encode()).hexdigest()  # noqa: E731
    assert lot_order("s", ["x", "y", "z", "w"]) == tuple(sorted(["x", "y", "z", "w"], key=key))


def test_default_seed_is_canonical_hash_of_ballots_and_options() -> None:
    ballots = [{"B": 2}, {"A": 5, "C": 1}, {}]
    seed = ballots_seed(ABC, ballots)
    assert seed == reference_seed(ABC, ballots)
    assert seed == ballots_seed(["C", "A", "B"], list(reversed(ballots)))
    assert seed != ballots_seed(ABC, ballots[:2])
    r = tally_star(ABC, [{"A": 1}, {"B": 1}, {"C": 1}])
    assert r.lot is not None and r.lot.seed == ballots_seed(ABC, [{"A": 1}, {"B": 1}, {"C": 1}])


def test_large_election_is_fast_and_matches_reference() -> None:
    rng = random.Random(7)
    options = [f"o{i}" for i in range(10)]
    ballots = [{o: rng.randint(0, 5) for o in options} for _ in range(20_000)]
    r = tally_star(options, ballots)
    ref = reference_star(options, ballots[:2000])
    assert tally_star(options, ballots[:2000]).winners == tuple(ref.winners)
    assert sum(r.totals.values()) == sum(sum(b.values()) for b in ballots)


# --- properties --------------------------------------------------------------------------------------

NAMES = ["A", "B", "C", "D", "É", "五"]


@st.composite
def elections(draw: st.DrawFn, max_score: int = 5) -> tuple[list[str], list[dict[str, int]]]:
    n = draw(st.integers(1, 5))
    options = draw(st.permutations(NAMES))[:n]
    low = draw(st.sampled_from([0, 3, 4]))
    high = draw(st.integers(low, max_score))
    scores = st.integers(low, high)
    ballot = st.dictionaries(st.sampled_from(options), scores, max_size=n)
    ballots = draw(st.lists(ballot, max_size=8))
    return list(options), ballots


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(elections(), st.randoms(use_true_random=False), st.integers(1, 4))
def test_order_independence(election, rnd, seats) -> None:  # type: ignore[no-untyped-def]
    options, ballots = election
    base = tally_star(options, ballots, seats=seats)
    shuffled_ballots = list(ballots)
    rnd.shuffle(shuffled_ballots)
    shuffled_options = list(options)
    rnd.shuffle(shuffled_options)
    other = tally_star(shuffled_options, shuffled_ballots, seats=seats)
    assert other.winners == base.winners
    assert other.totals == base.totals
    assert [set(x.finalists) for x in other.rounds] == [set(x.finalists) for x in base.rounds]


@FAST
@given(elections(), st.integers(1, 4))
def test_invariants(election, seats) -> None:  # type: ignore[no-untyped-def]
    options, ballots = election
    r = tally_star(options, ballots, seats=seats)
    assert isinstance(r, StarResult)
    for o in options:
        assert r.totals[o] == sum(b.get(o, 0) for b in ballots)
    assert r.ballot_count == len(ballots) and r.no_votes == (not ballots)
    assert len(r.winners) == len(set(r.winners)) == min(seats, len(options))
    for rnd in r.rounds:
        assert rnd.winner in rnd.finalists
        assert set(rnd.finalists) <= set(rnd.options)
        if rnd.runoff is not None:
            ro = rnd.runoff
            assert ro.prefer_a + ro.prefer_b + ro.no_preference == r.ballot_count
            assert (ro.a, ro.b) == rnd.finalists
        for lot in rnd.lots:
            assert set(lot.winners) <= set(lot.options) and len(lot.options) > len(lot.winners)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elections(), st.integers(1, 4), st.sampled_from([None, "seed-1", "seed-2"]))
def test_matches_reference(election, seats, seed) -> None:  # type: ignore[no-untyped-def]
    options, ballots = election
    r = tally_star(options, ballots, seats=seats, seed=seed)
    ref = reference_star(options, ballots, seats=seats, seed=seed)
    assert list(r.winners) == ref.winners
    assert r.totals == ref.totals and r.five_star == ref.five_star
    assert r.blank_or_equal_count == ref.blank_or_equal
    for mine, theirs in zip(r.rounds, ref.rounds, strict=True):
        assert frozenset(mine.finalists) == theirs.finalists
        assert bool(mine.lots) == theirs.lot_used
        if mine.runoff is None:
            assert theirs.runoff is None
        else:
            assert theirs.runoff == {mine.runoff.a: mine.runoff.prefer_a, mine.runoff.b: mine.runoff.prefer_b}
            assert mine.runoff.no_preference == theirs.no_preference
