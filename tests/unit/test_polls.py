"""Poll rules: reaction keys, which vote counts, who may vote, the poll start and vote arguments,
references, and the tally's lot seed."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmony_matrix.assemblies.assembly import Assembly, AssemblyKind

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.commands import CommandParseError, CommandSpec, bind_arguments
from harmony_matrix.errors import UserError
from harmony_matrix.polls.arguments import (
    CLOSES,
    ELIGIBILITY,
    POLL_TEXT,
    SEATS,
    SECRET,
    parse_ballot,
    poll_start_spec,
)
from harmony_matrix.polls.eligibility import Electorate, Span, VoterFacts, electorate_of, joined_spans, may_vote
from harmony_matrix.polls.poll import (
    Eligibility,
    Poll,
    PollOption,
    PollSpec,
    new_poll_spec,
    option_letter,
    parse_poll_ref,
    timestamp_ms,
)
from harmony_matrix.polls.reactions import (
    SEED_KEYS,
    CountedReaction,
    build_ballots,
    missing_seed_keys,
    score_of_key,
    VoteOutcome,
    settle_vote,
    settle_votes,
)
from harmony_matrix.polls.results import PollResult, lot_seed, poll_result, tally_poll
from harmony_matrix.polls.star import ballots_seed

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


def test_a_newer_vote_supersedes_the_older_ones_on_its_option_and_replaces_the_reactions() -> None:
    older = r("$1", "@a", 0, 3, 100)
    by_dm = CountedReaction(event_id="$dm#0", voter="@a", option=0, score=2, ts=150, source="dm")
    elsewhere = [r("$2", "@a", 1, 4, 120), r("$3", "@b", 0, 5, 90)]  # another option, another voter
    newer = r("$4", "@a", 0, 5, 200)
    outcome = settle_vote(newer, [older, by_dm, *elsewhere, newer])
    assert outcome.counts
    assert set(outcome.superseded) == {"$1", "$dm#0"}
    assert outcome.replaced == ("$1",)  # a DM ballot line has nothing in the room to remove


def test_a_late_but_older_vote_does_not_count_and_replaces_nothing() -> None:
    outcome = settle_vote(r("$0", "@a", 0, 1, 50), [r("$2", "@a", 0, 5, 200)])
    assert not outcome.counts and outcome.superseded == ("$0",) and outcome.replaced == ()


def test_a_first_vote_counts_alone() -> None:
    vote = r("$1", "@a", 0, 3, 100)
    assert settle_vote(vote, [vote]) == settle_vote(vote, []) == VoteOutcome(counts=True)


@settings(max_examples=200, deadline=None)
@given(reactions)
def test_settling_votes_one_by_one_leaves_what_build_ballots_counts(items: list[CountedReaction]) -> None:
    live: dict[str, CountedReaction] = {}
    for vote in items:  # as the store and the handler do: add, settle, mark the superseded
        live[vote.event_id] = vote
        for event_id in settle_vote(vote, live.values()).superseded:
            live.pop(event_id, None)
    assert set(live) == set(build_ballots(items).counted.values())


@settings(max_examples=200, deadline=None)
@given(reactions, st.integers(min_value=0, max_value=30))
def test_settling_a_catch_up_batch_at_once_is_settling_it_one_by_one(items: list[CountedReaction],
                                                                     split: int) -> None:
    """A catch-up stores its votes in one go (``settle_votes``): the same outcome for each, and the
    latest per voter and option counts, whatever was stored before the batch."""
    items = list({x.event_id: x for x in items}.values())
    before, batch = items[:split], items[split:]
    live: dict[str, CountedReaction] = {}
    for vote in before:
        live[vote.event_id] = vote
        for event_id in settle_vote(vote, live.values()).superseded:
            live.pop(event_id, None)
    outcomes = settle_votes(batch, live.values())
    one_by_one = dict(live)
    for vote in batch:
        one_by_one[vote.event_id] = vote
        expected = settle_vote(vote, one_by_one.values())
        assert outcomes[vote.event_id] == expected
        for event_id in expected.superseded:
            one_by_one.pop(event_id, None)
    superseded = {e for outcome in outcomes.values() for e in outcome.superseded}
    remaining = {e for e in [*live, *(v.event_id for v in batch)] if e not in superseded}
    latest = {}
    for x in items:  # the latest (timestamp, then event ID) of each voter's votes on each option
        key = (x.voter, x.option)
        if key not in latest or (x.ts, x.event_id) > (latest[key].ts, latest[key].event_id):
            latest[key] = x
    assert remaining == {x.event_id for x in latest.values()}


# --- poll start -----------------------------------------------------------------------------------------

POLL_START = CommandSpec(name="poll start", summary="", example="", params=(POLL_TEXT,),
                         options=(CLOSES, SEATS, ELIGIBILITY), flags=(SECRET,))

def start(text: str) -> PollSpec:
    """What ``poll start <text>`` opens: its declared arguments, then the one check of a new poll."""
    args = bind_arguments(POLL_START, text)
    return poll_start_spec(args["poll"], closes=args["closes"], seats=args["seats"], eligibility=args["eligibility"],
                           secret=args["secret"], now=NOW, tz=LONDON, default_eligibility=Eligibility.MEMBERS)


def test_poll_start_with_all_settings() -> None:
    spec = start('Where do we meet? | The library | Café Rouge|Online closes="tomorrow 19:00" seats=2 secret')
    assert spec.question == "Where do we meet?"
    assert spec.options == ("The library", "Café Rouge", "Online")
    assert spec.closes_at == datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    assert spec.seats == 2 and spec.secret and spec.eligibility is Eligibility.MEMBERS


def test_poll_start_defaults_and_eligibility() -> None:
    spec = start("Q | A | B eligibility=participants")
    assert spec.options == ("A", "B") and spec.seats == 1 and not spec.secret and spec.closes_at is None
    assert spec.eligibility is Eligibility.PARTICIPANTS
    assert start("Q | A | B secret closes=2h").closes_at == NOW + timedelta(hours=2)
    assert start("Q | A | B eligibility=Members").eligibility is Eligibility.MEMBERS


@pytest.mark.parametrize(("text", "closes"), [
    ("Where do we meet? | The library | Café | Online closes=tomorrow 19:00 seats=2 secret",
     datetime(2026, 3, 28, 19, 0, tzinfo=UTC)),
    ("Q | A | B secret closes=in 2h", NOW + timedelta(hours=2)),
    ("Q | A | B closes=in 2h secret", NOW + timedelta(hours=2)),
])
def test_closes_takes_several_words_without_quotes(text: str, closes: datetime) -> None:
    spec = start(text)
    assert spec.options[-1] in ("Online", "B") and spec.closes_at == closes


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
    ("Q | A | B closes=2020-01-01", "closes=: that time is in the past"),
    ("Q | A | B closes=", "closes=: no time given"),
    ("Q | A | B eligibility=everyone", 'eligibility=: "everyone" is not one of: members, participants'),
    ("Q | A | B seats=1 seats=1", "given twice"),
    ("Q? | " + "x" * 201 + " | B", "option 1 is too long"),
    ("Q" * 501 + " | A | B", "question is too long"),
])
def test_poll_start_errors_are_specific(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        start(text)


def test_a_flag_takes_no_value() -> None:
    with pytest.raises(UserError, match="secret takes no value"):
        start("Q | A | B secret=yes")


def test_argument_errors_come_with_the_usage_line() -> None:
    with pytest.raises(CommandParseError) as raised:
        start("Q | A | B seats=two")
    assert raised.value.usage == ("!h poll start <question | option | option …> [closes=<when>] [seats=<N>] "
                                  "[eligibility=<members|participants>] [secret]")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="|", blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")),
                        min_size=1, max_size=8), min_size=2, max_size=20, unique_by=str.casefold))
def test_any_unique_option_names_round_trip(options: list[str]) -> None:
    options = [o for o in options if not o.lower().startswith(("closes", "seats", "eligibility", "secret"))]
    if len(options) < 2:
        return
    spec = start("Question? | " + " | ".join(options))
    assert spec.options == tuple(options)


def test_the_api_and_the_command_share_one_check() -> None:
    with pytest.raises(UserError, match="must be different from each other"):
        new_poll_spec("Q", ["@a:x", "@A:x"], now=NOW)
    with pytest.raises(UserError, match="would elect every option"):
        new_poll_spec("Q", ["A", "B"], now=NOW, seats=2)
    with pytest.raises(UserError, match="in the past"):
        new_poll_spec("Q", ["A", "B"], now=NOW, closes_at=NOW)
    with pytest.raises(UserError, match="option 2 is empty"):
        new_poll_spec("Q", ["A", " "], now=NOW)
    spec = new_poll_spec(" Q ", [" A", "B "], now=NOW, eligibility=Eligibility.PARTICIPANTS)
    assert spec == PollSpec("Q", ("A", "B"), eligibility=Eligibility.PARTICIPANTS)


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
        with pytest.raises(UserError, match="not a poll reference") as raised:
            parse_poll_ref(text)
        assert "!h" not in str(raised.value)  # the router adds the usage line, with the prefix used


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
    return Assembly(slug, slug.title(), kind, parents=parents)


FED = Federation((_assembly("party"), _assembly("city", "party"), _assembly("ward", "city"),
                  _assembly("wg", "party"), _assembly("other")))
PARTICIPANTS = Eligibility.PARTICIPANTS


def test_participants_of_an_assembly_include_those_of_every_nested_one() -> None:
    assert electorate_of(PARTICIPANTS, federation=FED, assembly="party").assemblies == ("party", "city", "ward", "wg")
    assert electorate_of(PARTICIPANTS, federation=FED, assembly="city").assemblies == ("city", "ward")
    assert electorate_of(PARTICIPANTS, federation=FED, assembly="ward").assemblies == ("ward",)


NOW_MS = timestamp_ms(NOW)
ALWAYS = (Span(0),)


def test_may_vote_agrees_with_federation_participates() -> None:
    for slug in FED.slugs:
        electorate = electorate_of(PARTICIPANTS, federation=FED, assembly=slug)
        for joined in FED.slugs:
            # The edge asks only the spaces of ``electorate.assemblies`` and passes their join spans.
            facts = VoterFacts(spans=ALWAYS if joined in electorate.assemblies else ())
            assert may_vote(electorate, facts, at=NOW_MS) == FED.participates(slug, {joined}), (slug, joined)


def test_members_polls_ask_the_registry_only() -> None:
    electorate = electorate_of(Eligibility.MEMBERS, federation=FED, assembly="party")
    assert electorate == Electorate(Eligibility.MEMBERS) and electorate.asks_membership
    assert may_vote(electorate, VoterFacts(spans=ALWAYS), at=NOW_MS)
    # Having sent the reaction in the poll's room proves nothing about membership.
    assert not may_vote(electorate, VoterFacts(sent_in_room=True), at=NOW_MS)


def test_participants_outside_assemblies_are_the_people_in_the_room() -> None:
    for electorate in (electorate_of(PARTICIPANTS), electorate_of(PARTICIPANTS, federation=FED, assembly="gone")):
        assert electorate.asks_room and not electorate.asks_membership and not electorate.assemblies
        assert may_vote(electorate, VoterFacts(sent_in_room=True), at=NOW_MS)  # Matrix let them send it there
        assert may_vote(electorate, VoterFacts(spans=(Span(NOW_MS - 1),)), at=NOW_MS)
        assert not may_vote(electorate, VoterFacts(), at=NOW_MS)


def test_a_vote_counts_only_if_its_sender_was_eligible_when_it_was_sent() -> None:
    members = electorate_of(Eligibility.MEMBERS)
    registered = VoterFacts(spans=(Span(1_000),))  # registered at 1000 ms
    assert not may_vote(members, registered, at=999)  # reacted before: refused, whatever happens later
    assert may_vote(members, registered, at=1_000) and may_vote(members, registered, at=5_000)
    a_while = VoterFacts(spans=(Span(100, 200), Span(300)))
    assert [may_vote(members, a_while, at=t) for t in (99, 100, 199, 200, 299, 300)] == \
        [False, True, True, False, False, True]


def test_join_spans_follow_membership_events() -> None:
    assert joined_spans([]) == ()
    assert joined_spans([(100, "join")]) == (Span(100),)
    # Any order in; a second join (a profile change) keeps the span open; leave and ban close it.
    assert joined_spans([(300, "join"), (100, "join"), (200, "leave"), (150, "join")]) == (Span(100, 200), Span(300))
    assert joined_spans([(50, "invite"), (60, "join"), (70, "ban")]) == (Span(60, 70),)
    assert joined_spans([(10, "leave"), (20, "knock")]) == ()


memberships = st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["join", "leave", "ban", "invite"])),
                       max_size=12, unique_by=lambda change: change[0])


@given(memberships, st.integers(0, 60))
def test_joined_at_a_moment_is_the_membership_of_the_last_event_before_it(changes: list[tuple[int, str]],
                                                                         at: int) -> None:
    spans = joined_spans(changes)
    before = [membership for ts, membership in sorted(changes) if ts <= at]
    assert any(span.covers(at) for span in spans) == (bool(before) and before[-1] == "join")
    ends = [point for span in spans for point in (span.start, span.end) if point is not None]
    assert ends == sorted(ends)  # spans are disjoint and in order


def test_who_may_vote_in_words() -> None:
    assert electorate_of(Eligibility.MEMBERS).describe() == "registered party members"
    assert electorate_of(PARTICIPANTS).describe() == "people in this room"
    assert electorate_of(PARTICIPANTS, federation=FED, assembly="ward").describe() == "participants of Ward"
    assert electorate_of(PARTICIPANTS, federation=FED, assembly="party").describe() == \
        "participants of Party (including its nested assemblies)"
    assert electorate_of(Eligibility.MEMBERS, federation=FED, assembly="party").describe() == \
        "registered party members"


# --- deadline, tally and lot seed ------------------------------------------------------------------------

def _poll(**changes: object) -> Poll:
    base = Poll(number=7, room_id="!room:x", question="Where?", options=(PollOption(0, "Pub"), PollOption(1, "Park"),
                                                                          PollOption(2, "Library")),
                seats=1, secret=False, eligibility=Eligibility.MEMBERS, closes_at=NOW, status="open",
                created_by="@s:x", created_at=NOW - timedelta(days=1), header_event_id="$header")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_vote_counts_until_the_deadline_inclusive() -> None:
    deadline = timestamp_ms(NOW)
    assert _poll().takes_votes_at(deadline) and not _poll().takes_votes_at(deadline + 1)
    assert _poll(closes_at=None).takes_votes_at(deadline + 10**9)
    assert not _poll(status="closed", closes_at=None).takes_votes_at(0)


def test_the_lot_seed_is_the_poll_then_the_hash_of_its_canonical_ballots() -> None:
    ballots = [{0: 5, 1: 5}, {2: 1}]
    named = [{"Pub": 5, "Park": 5}, {"Library": 1}]
    assert lot_seed(_poll(), ballots) == "#7@$header:" + ballots_seed(("Pub", "Park", "Library"), named)
    assert lot_seed(_poll(header_event_id=None), ballots).startswith("#7@!room:x:")
    assert lot_seed(_poll(), list(reversed(ballots))) == lot_seed(_poll(), ballots)


def test_a_tie_is_drawn_with_the_polls_seed() -> None:
    ballots = [{0: 5, 1: 5}, {0: 5, 1: 5}]  # Pub and Park level on everything: a lot decides
    result = tally_poll(_poll(), ballots)
    assert result.lots and all(lot.seed == lot_seed(_poll(), ballots) for lot in result.lots)


def test_the_stored_result_reads_back_as_written() -> None:
    result = poll_result(_poll(), [{0: 5, 1: 3}, {1: 4}, {2: 5, 0: 1}, {}])
    assert PollResult.from_json(result.to_json()) == result
    assert result.distribution == {"Pub": [2, 1, 0, 0, 0, 1], "Park": [2, 0, 0, 1, 1, 0],
                                   "Library": [3, 0, 0, 0, 0, 1]}
    assert result.totals == {"Pub": 6, "Park": 7, "Library": 5} and result.ballot_count == 4
