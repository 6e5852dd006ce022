"""Poll rules: reaction keys, which reaction counts, the poll start and vote grammar, references."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmony_matrix.assemblies.assembly import Assembly, AssemblyKind, Federation
from harmony_matrix.errors import UserError
from harmony_matrix.polls.poll import (
    SEED_KEYS,
    CountedReaction,
    build_ballots,
    counting_assemblies,
    describe_eligibility,
    missing_seed_keys,
    option_letter,
    parse_ballot,
    parse_poll_ref,
    parse_poll_start,
    score_of_key,
)

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


# --- keys ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("digit", range(6))
def test_keycaps_with_and_without_vs16_and_plain_digits(digit: int) -> None:
    assert score_of_key(f"{digit}\ufe0f\u20e3") == digit
    assert score_of_key(f"{digit}\u20e3") == digit
    assert score_of_key(str(digit)) == digit
    assert SEED_KEYS[digit] == f"{digit}\ufe0f\u20e3"


@pytest.mark.parametrize("key", ["6\ufe0f\u20e3", "6", "👍", "", "10", "5\ufe0f", "\u20e3", "#\ufe0f\u20e3",
                                 "٣", "5\u20e3\u20e3", "55"])
def test_other_keys_are_not_votes(key: str) -> None:
    assert score_of_key(key) is None


@given(st.text(max_size=4))
def test_score_of_key_is_total_and_in_range(key: str) -> None:
    score = score_of_key(key)
    assert score is None or 0 <= score <= 5


# --- which reaction counts ----------------------------------------------------------------------------

def r(event_id: str, voter: str, option: int, score: int, ts: int) -> CountedReaction:
    return CountedReaction(event_id=event_id, voter=voter, option=option, score=score, ts=ts)


def test_latest_reaction_per_voter_and_option_counts() -> None:
    built = build_ballots([
        r("$1", "@a", 0, 3, 100), r("$2", "@a", 0, 5, 200), r("$3", "@a", 1, 2, 150), r("$4", "@b", 0, 1, 50),
    ])
    assert built.ballots == {"@a": {0: 5, 1: 2}, "@b": {0: 1}}
    assert built.superseded == {"$1"}
    assert built.counted[("@a", 0)] == "$2"


def test_equal_timestamps_are_ordered_by_event_id() -> None:
    built = build_ballots([r("$b", "@a", 0, 4, 100), r("$a", "@a", 0, 1, 100)])
    assert built.ballots == {"@a": {0: 4}}
    assert built.superseded == {"$a"}


def test_duplicate_event_ids_count_once() -> None:
    built = build_ballots([r("$1", "@a", 0, 3, 100), r("$1", "@a", 0, 3, 100)])
    assert built.ballots == {"@a": {0: 3}} and not built.superseded


reactions = st.lists(
    st.builds(r, st.text("abcdefgh", min_size=1, max_size=3).map(lambda s: "$" + s),
              st.sampled_from(["@a", "@b", "@c"]), st.integers(0, 3), st.integers(0, 5), st.integers(0, 20)),
    max_size=30, unique_by=lambda x: x.event_id)


@settings(max_examples=200, deadline=None)
@given(reactions, st.randoms())
def test_ballots_do_not_depend_on_arrival_order(items: list[CountedReaction], rnd: random.Random) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert build_ballots(items) == build_ballots(shuffled)


@settings(max_examples=200, deadline=None)
@given(reactions)
def test_each_reaction_either_counts_or_is_superseded(items: list[CountedReaction]) -> None:
    built = build_ballots(items)
    counted = set(built.counted.values())
    assert counted | built.superseded == {x.event_id for x in items}
    assert not counted & built.superseded
    for x in items:  # the counted one is never older than anything it supersedes
        winner = next(y for y in items if y.event_id == built.counted[(x.voter, x.option)])
        assert (winner.ts, winner.event_id) >= (x.ts, x.event_id)


# --- poll start -----------------------------------------------------------------------------------------

def start(text: str):
    return parse_poll_start(text, now=NOW, tz=LONDON)


def test_poll_start_with_all_settings() -> None:
    spec = start("Where do we meet? | The library | Café Rouge|Online closes=tomorrow 19:00 seats=2 secret")
    assert spec.question == "Where do we meet?"
    assert spec.options == ("The library", "Café Rouge", "Online")
    assert spec.closes_at == datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    assert spec.seats == 2 and spec.secret and spec.eligibility == "members"


def test_poll_start_defaults_and_eligibility() -> None:
    spec = start("Q | A | B eligibility=participants")
    assert spec.options == ("A", "B") and spec.seats == 1 and not spec.secret and spec.closes_at is None
    assert spec.eligibility == "participants"
    assert start("Q | A | B secret closes=in 2h").closes_at == NOW + timedelta(hours=2)


@pytest.mark.parametrize(("text", "message"), [
    (" | A | B", "question is missing"),
    ("Q | A", "at least 2 options"),
    ("Q", "at least 2 options"),
    ("Q | A | | B", "option 2 is empty"),
    ("Q | A | a", 'option "a" is listed twice'),
    ("Q | " + " | ".join(f"o{i}" for i in range(21)), "at most 20 options"),
    ("Q | A | B seats=0", "seats="),
    ("Q | A | B seats=2", "would elect every option"),
    ("Q | A | B seats=two", "seats="),
    ("Q | A | B closes=yesterday-ish", "closes="),
    ("Q | A | B closes=2020-01-01", "in the past"),
    ("Q | A | B closes=", "has no value"),
    ("Q | A | B secret=yes", "secret takes no value"),
    ("Q | A | B eligibility=everyone", "eligibility="),
    ("Q | A | B seats=1 seats=1", "given twice"),
])
def test_poll_start_errors_are_specific(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        start(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="|", blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")),
                        min_size=1, max_size=8), min_size=2, max_size=20, unique_by=str.casefold))
def test_any_unique_option_names_round_trip(options: list[str]) -> None:
    options = [o for o in options if not o.lower().startswith(("closes", "seats", "eligibility", "secret"))]
    if len(options) < 2:
        return
    spec = start("Question? | " + " | ".join(options))
    assert spec.options == tuple(options)


# --- vote ------------------------------------------------------------------------------------------------

OPTIONS = ("Pizza", "Sushi", "Tapas place")


def test_ballot_by_letter_and_by_name() -> None:
    assert parse_ballot("A=5 b=3", OPTIONS) == {0: 5, 1: 3}
    assert parse_ballot('sushi=2 "Tapas place"=0', OPTIONS) == {1: 2, 2: 0}
    assert parse_ballot("A = 4", OPTIONS) == {0: 4}
    assert parse_ballot("C=3\ufe0f\u20e3", OPTIONS) == {2: 3}


@pytest.mark.parametrize(("text", "message"), [
    ("", "ballot is empty"),
    ("D=5", '"D" is not an option'),
    ("Burgers=5", '"Burgers" is not an option'),
    ("A=6", "from 0 to 5"),
    ("A=-1", "from 0 to 5"),
    ("A=2.5", "from 0 to 5"),
    ("A=5 A=3", "scored twice"),
    ("A=5 hello", "can't read"),
])
def test_ballot_errors_are_specific(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_ballot(text, OPTIONS)


def test_letters_and_references() -> None:
    assert option_letter(0) == "A" and option_letter(19) == "T"
    for text in ("#3", "poll-3", "poll3", "3", "Poll #3"):
        assert parse_poll_ref(text) == 3
    for text in ("#0", "three", "#", "poll-x"):
        with pytest.raises(UserError, match="not a poll reference"):
            parse_poll_ref(text)


# --- finishing an interrupted seeding -------------------------------------------------------------------

def test_missing_seed_keys_are_the_absent_ones_in_score_order() -> None:
    assert missing_seed_keys([]) == SEED_KEYS
    assert missing_seed_keys(SEED_KEYS) == ()
    assert missing_seed_keys([SEED_KEYS[4], SEED_KEYS[0], "👍"]) == (SEED_KEYS[1], SEED_KEYS[2], SEED_KEYS[3],
                                                                       SEED_KEYS[5])


def test_a_seed_in_another_form_does_not_stand_in_for_the_bots_own() -> None:
    # The bot seeds exactly SEED_KEYS; a bare keycap is a different annotation key on the server.
    assert missing_seed_keys(["3\u20e3"]) == SEED_KEYS


@given(st.lists(st.sampled_from([*SEED_KEYS, "👍", "3", "3\u20e3"])))
def test_present_and_missing_seeds_make_up_all_six(present: list[str]) -> None:
    missing = missing_seed_keys(present)
    assert set(missing) | (set(present) & set(SEED_KEYS)) == set(SEED_KEYS)
    assert not set(missing) & set(present)
    assert missing_seed_keys([*present, *missing]) == ()  # idempotent: a second pass adds nothing


# --- who may vote ------------------------------------------------------------------------------------

def _assembly(slug: str, *parents: str) -> Assembly:
    kind = AssemblyKind.PARTY if not parents else AssemblyKind.WORKING_GROUP
    return Assembly(slug, slug.title(), kind, parents=parents)  # type: ignore[arg-type]


FED = Federation([_assembly("party"), _assembly("city", "party"), _assembly("ward", "city"),
                  _assembly("wg", "party"), _assembly("other")])


def test_participants_of_an_assembly_include_those_of_every_nested_one() -> None:
    assert counting_assemblies(FED, "party") == ("party", "city", "ward", "wg")
    assert counting_assemblies(FED, "city") == ("city", "ward")
    assert counting_assemblies(FED, "ward") == ("ward",)


def test_counting_assemblies_agrees_with_federation_participates() -> None:
    for slug in FED.slugs:
        counted = set(counting_assemblies(FED, slug))
        for direct in FED.slugs:
            assert FED.participates(slug, {direct}) == (direct in counted), (slug, direct)


def test_who_may_vote_in_words() -> None:
    assert describe_eligibility("members") == "registered party members"
    assert describe_eligibility("participants") == "people in this room"
    assert describe_eligibility("participants", assembly_name="Ward") == "participants of Ward"
    assert describe_eligibility("participants", assembly_name="Party", nested=True) == \
        "participants of Party (including its nested assemblies)"
    assert describe_eligibility("members", assembly_name="Party") == "registered party members"
