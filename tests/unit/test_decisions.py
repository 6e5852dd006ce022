"""The consensus record: the hash chain, tamper detection, and precedence."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.consensus.ballots import parse_ballot_options
from harmony_matrix.consensus.decisions import (
    GENESIS_HASH,
    ChainEntry,
    Decision,
    Level,
    Method,
    append,
    chain_hash,
    decision_from_json,
    decision_to_json,
    entry_from_json,
    entry_to_json,
    normalize_topic,
    parse_topics,
    verify_chain,
)
from harmony_matrix.consensus.precedence import Link, Relation, decisions_in_force, overridden_by
from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# party ⊃ regional committee ⊃ leeds-wg; leeds-wg is also in the housing committee.
UMBRELLAS: dict[str, set[str]] = {
    "leeds-wg": {"yorkshire", "party", "housing-cttee"},
    "yorkshire": {"party"},
    "housing-cttee": {"party"},
    "bristol-wg": {"party"},
    "party": set(),
}


def ancestors_of(slug: str) -> set[str]:
    return UMBRELLAS.get(slug, set())


def d(
    ref: str,
    assembly: str,
    *,
    days: int = 0,
    level: Level = Level.MOOT,
    topics: Sequence[str] = ("housing",),
    method: Method = Method.CONSENSUS,
    supersedes: str | None = None,
) -> Decision:
    return Decision(
        ref=ref,
        assembly=assembly,
        level=level,
        method=method,
        outcome="adopted",
        statement=f"statement of {ref}",
        topics=tuple(topics),
        decided_at=T0 + timedelta(days=days),
        evidence=(EventId(f"${ref}"),),
        proposal=None,
        supersedes=supersedes,
    )


def in_force(decisions: Sequence[Decision], assembly: str, topic: str | None = "housing") -> list[str]:
    return [f.decision.ref for f in decisions_in_force(decisions, assembly=assembly, topic=topic, ancestors_of=ancestors_of)]


def build(decisions: Sequence[Decision]) -> list[ChainEntry]:
    chain: list[ChainEntry] = []
    for decision in decisions:
        chain.append(append(chain, decision))
    return chain


# --- values ------------------------------------------------------------------------------------


def test_levels_are_ordered() -> None:
    assert Level.MOOT < Level.ALL_THING
    assert max(Level) is Level.ALL_THING
    assert Level.parse("All Thing") is Level.ALL_THING
    assert Level.parse("moot") is Level.MOOT
    with pytest.raises(UserError, match="level=moot or level=all-thing"):
        Level.parse("council")


def test_topics_are_case_insensitive_tags() -> None:
    assert normalize_topic("#Housing Policy") == "housing-policy"
    assert parse_topics("Housing, transport ,#housing,, ") == ("housing", "transport")
    assert d("D-1", "ops", topics=("Housing", "HOUSING", "budget")).topics == ("budget", "housing")


def test_decided_at_is_kept_in_utc_to_the_second() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 7, 1, 19, 0, 0, 123456, tzinfo=ZoneInfo("Europe/London"))
    decision = dataclasses.replace(d("D-1", "ops"), decided_at=local)
    assert decision.decided_at == datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
    assert decision.decided_at.tzinfo is UTC


def test_json_round_trip_with_scores() -> None:
    decision = dataclasses.replace(
        d("D-ops-1", "ops", method=Method.STAR_BALLOT),
        score_totals=(("Option A", 41), ("Option B", 37)),
        proposal="P-ops-3",
    )
    data = decision_to_json(decision)
    assert json.loads(json.dumps(data)) == data
    assert data["score_totals"] == [["Option A", 41], ["Option B", 37]]
    assert data["decided_at"] == "2026-01-01T12:00:00+00:00"
    assert decision_from_json(data) == decision


# --- the chain ---------------------------------------------------------------------------------


def test_chain_links_each_entry_to_the_previous() -> None:
    chain = build([d("D-1", "ops"), d("D-2", "ops", days=1), d("D-3", "ops", days=2)])
    assert [e.seq for e in chain] == [1, 2, 3]
    assert chain[0].prev_hash == GENESIS_HASH
    assert chain[1].prev_hash == chain[0].hash
    assert chain[2].hash == chain_hash(chain[1].hash, chain[2].decision)
    assert verify_chain(chain) == []


def test_hash_is_sha256_over_canonical_json() -> None:
    import hashlib

    decision = d("D-1", "ops")
    canonical = json.dumps(
        {"prev": GENESIS_HASH, "decision": decision_to_json(decision)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert chain_hash(GENESIS_HASH, decision) == hashlib.sha256(canonical).hexdigest()


def test_append_refuses_bad_links() -> None:
    chain = build([d("D-1", "ops"), d("A-1", "party", level=Level.ALL_THING)])
    with pytest.raises(ValueError, match="already in the record"):
        append(chain, d("D-1", "ops"))
    with pytest.raises(UserError, match="not in the record"):
        append(chain, d("D-2", "ops", supersedes="D-9"))
    with pytest.raises(UserError, match="can't supersede A-1"):
        append(chain, d("D-2", "ops", supersedes="A-1"))
    assert append(chain, d("A-2", "party", level=Level.ALL_THING, supersedes="D-1")).seq == 3


def test_an_edited_entry_is_named() -> None:
    chain = build([d(f"D-{i}", "ops", days=i) for i in range(1, 5)])
    edited = dataclasses.replace(chain[1].decision, statement="something else")
    chain[1] = dataclasses.replace(chain[1], decision=edited)
    problems = verify_chain(chain)
    assert len(problems) == 1
    assert problems[0].startswith("entry 2 (D-2): content does not match its hash")
    assert f"expected {chain_hash(chain[0].hash, edited)}, found {chain[1].hash}" in problems[0]


def test_an_edit_that_also_rewrites_the_hash_breaks_the_next_link() -> None:
    chain = build([d(f"D-{i}", "ops", days=i) for i in range(1, 4)])
    edited = dataclasses.replace(chain[1].decision, outcome="rejected")
    chain[1] = dataclasses.replace(chain[1], decision=edited, hash=chain_hash(chain[1].prev_hash, edited))
    problems = verify_chain(chain)
    assert len(problems) == 1
    assert problems[0].startswith("entry 3 (D-3): link to entry 2 broken")


def test_removed_and_reordered_entries_are_detected() -> None:
    chain = build([d(f"D-{i}", "ops", days=i) for i in range(1, 5)])
    removed = [chain[0], chain[2], chain[3]]
    assert any("entry 2 (D-3): position is 3, expected 2" in p for p in verify_chain(removed))
    assert any("link to entry 1 broken" in p for p in verify_chain(removed))
    swapped = [chain[1], chain[0], chain[2], chain[3]]
    assert verify_chain(swapped)


def test_export_round_trip_verifies() -> None:
    chain = build([d("D-1", "ops"), d("D-2", "ops", days=1, supersedes="D-1")])
    exported = json.loads(json.dumps([entry_to_json(e) for e in chain]))
    assert [entry_from_json(e) for e in exported] == chain
    exported[0]["decision"]["topics"] = ["transport"]
    problems = verify_chain([entry_from_json(e) for e in exported])
    assert problems and problems[0].startswith("entry 1 (D-1)")


def _field_changes(decision: Decision) -> list[tuple[str, Any]]:
    return [
        ("ref", decision.ref + "x"),
        ("assembly", decision.assembly + "x"),
        ("level", Level.ALL_THING if decision.level is Level.MOOT else Level.MOOT),
        ("method", Method.REJECTED if decision.method is not Method.REJECTED else Method.CONSENSUS),
        ("outcome", decision.outcome + "x"),
        ("statement", decision.statement + " "),
        ("topics", (*decision.topics, "zzz-new")),
        ("decided_at", decision.decided_at + timedelta(seconds=1)),
        ("evidence", (*decision.evidence, EventId("$forged"))),
        ("proposal", (decision.proposal or "") + "P"),
        ("score_totals", ((("X", 1),) if decision.score_totals is None else None)),
        ("supersedes", (decision.supersedes or "") + "S"),
        ("recorded_by", "@forger:example.org"),
        ("cites", (*decision.cites, "M-ops-9")),
        ("without_quorum", not decision.without_quorum),
    ]


def test_entries_recorded_before_the_later_fields_keep_their_hash() -> None:
    # Computed with the record's code as it was before recorded_by / cites / without_quorum existed.
    old = Decision(ref="D-ops-1", assembly="ops", level=Level.MOOT, method=Method.STAR_BALLOT, outcome="Spend",
                   statement="Budget: Spend", topics=("budget",), decided_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
                   evidence=(EventId("$a"),), proposal="P-ops-1", score_totals=(("Spend", 5), ("Save", 1)))
    assert chain_hash(GENESIS_HASH, old) == "16346b7b036b3f72fa7fd3b0100f1fe2570a24066bde35c330b61f8c23b77580"
    assert "recorded_by" not in decision_to_json(old) and "cites" not in decision_to_json(old)
    new = dataclasses.replace(old, recorded_by="@sec:example.org", cites=("M-ops-2",), without_quorum=True)
    assert decision_from_json(json.loads(json.dumps(decision_to_json(new)))) == new


def test_field_changes_cover_every_field() -> None:
    names = {name for name, _ in _field_changes(d("D-1", "ops"))}
    assert names == {f.name for f in dataclasses.fields(Decision)}


DECISIONS = st.builds(
    d,
    st.text(alphabet="ABCD-0123", min_size=1, max_size=6),
    st.sampled_from(sorted(UMBRELLAS)),
    days=st.integers(min_value=0, max_value=3000),
    level=st.sampled_from(list(Level)),
    topics=st.lists(st.sampled_from(["housing", "budget", "transport"]), max_size=3),
    method=st.sampled_from(list(Method)),
)


@given(st.lists(DECISIONS, min_size=1, max_size=6, unique_by=lambda x: x.ref), st.data())
def test_any_single_field_change_is_detected(decisions: list[Decision], data: st.DataObject) -> None:
    chain = build(decisions)
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1))
    name, value = data.draw(st.sampled_from(_field_changes(chain[index].decision)))
    tampered = list(chain)
    tampered[index] = dataclasses.replace(
        chain[index], decision=dataclasses.replace(chain[index].decision, **{name: value})
    )
    problems = verify_chain(tampered)
    assert problems
    assert problems[0].startswith(f"entry {index + 1} ")


# --- precedence --------------------------------------------------------------------------------


def test_all_thing_overrides_an_assembly_decision_on_the_same_topic() -> None:
    record = [d("A-1", "party", level=Level.ALL_THING), d("D-1", "leeds-wg", days=5)]
    result = decisions_in_force(record, assembly="leeds-wg", topic="housing", ancestors_of=ancestors_of)
    assert [f.decision.ref for f in result] == ["A-1"]
    assert result[0].displaced == (Link("A-1", "D-1", Relation.OVERRIDDEN, "housing"),)
    # It binds assemblies that are not nested in the All Thing's assembly too.
    assert in_force(record + [d("D-9", "orphan")], "orphan") == ["A-1"]


def test_umbrella_trumps_nested_whatever_the_dates() -> None:
    record = [d("Y-1", "yorkshire"), d("L-1", "leeds-wg", days=10)]
    result = decisions_in_force(record, assembly="leeds-wg", topic="housing", ancestors_of=ancestors_of)
    assert [f.decision.ref for f in result] == ["Y-1"]
    assert result[0].displaced == (Link("Y-1", "L-1", Relation.TRUMPED, "housing"),)
    # The nested assembly's decision does not bind the umbrella at all.
    assert in_force(record, "yorkshire") == ["Y-1"]
    assert in_force([d("L-1", "leeds-wg")], "yorkshire") == []


def test_later_supersedes_earlier_in_the_same_assembly_and_level() -> None:
    record = [d("L-1", "leeds-wg"), d("L-2", "leeds-wg", days=1), d("L-3", "leeds-wg", days=2)]
    result = decisions_in_force(record, assembly="leeds-wg", topic="Housing", ancestors_of=ancestors_of)
    assert [f.decision.ref for f in result] == ["L-3"]
    assert [(link.loser, link.relation) for link in result[0].displaced] == [
        ("L-2", Relation.SUPERSEDED),
        ("L-1", Relation.SUPERSEDED),
    ]


def test_same_timestamp_the_later_entry_wins() -> None:
    assert in_force([d("L-1", "leeds-wg"), d("L-2", "leeds-wg")], "leeds-wg") == ["L-2"]


def test_different_topics_do_not_interact() -> None:
    record = [
        d("A-1", "party", level=Level.ALL_THING, topics=["budget"]),
        d("Y-1", "yorkshire", topics=["transport"]),
        d("L-1", "leeds-wg", topics=["housing"]),
    ]
    assert in_force(record, "leeds-wg", "housing") == ["L-1"]
    everything = in_force(record, "leeds-wg", None)
    assert everything[0] == "A-1"  # the All Thing first
    assert set(everything) == {"A-1", "Y-1", "L-1"}


def test_other_assemblies_decisions_do_not_bind() -> None:
    assert in_force([d("B-1", "bristol-wg")], "leeds-wg") == []


def test_unrelated_umbrellas_conflict_rather_than_one_silently_winning() -> None:
    record = [d("Y-1", "yorkshire"), d("H-1", "housing-cttee", days=3), d("L-1", "leeds-wg", days=9)]
    result = decisions_in_force(record, assembly="leeds-wg", topic="housing", ancestors_of=ancestors_of)
    assert {f.decision.ref for f in result} == {"Y-1", "H-1"}
    by_ref = {f.decision.ref: f for f in result}
    assert by_ref["Y-1"].conflicts_with == ("H-1",)
    assert by_ref["H-1"].conflicts_with == ("Y-1",)
    assert Link("H-1", "L-1", Relation.TRUMPED, "housing") in by_ref["H-1"].displaced


def test_a_decision_may_hold_on_one_topic_and_lose_on_another() -> None:
    record = [
        d("L-1", "leeds-wg", topics=["housing", "budget"]),
        d("A-1", "party", level=Level.ALL_THING, topics=["budget"], days=1),
    ]
    result = decisions_in_force(record, assembly="leeds-wg", topic=None, ancestors_of=ancestors_of)
    by_ref = {f.decision.ref: f for f in result}
    assert by_ref["L-1"].topics == ("housing",)
    assert by_ref["L-1"].displaced_by == (Link("A-1", "L-1", Relation.OVERRIDDEN, "budget"),)
    assert by_ref["A-1"].topics == ("budget",)


def test_explicit_supersedes_retires_on_every_topic_and_shows_the_chain() -> None:
    record = [
        d("L-1", "leeds-wg", topics=["housing"]),
        d("L-2", "leeds-wg", topics=["rents"], days=1, supersedes="L-1"),
        d("L-3", "leeds-wg", topics=["tenancy"], days=2, supersedes="L-2"),
    ]
    result = decisions_in_force(record, assembly="leeds-wg", topic=None, ancestors_of=ancestors_of)
    assert [f.decision.ref for f in result] == ["L-3"]
    assert result[0].displaced == (
        Link("L-3", "L-2", Relation.SUPERSEDED, None),
        Link("L-2", "L-1", Relation.SUPERSEDED, None),
    )


def test_rejections_change_nothing_in_force() -> None:
    record = [d("L-1", "leeds-wg"), d("L-2", "leeds-wg", days=1, method=Method.REJECTED)]
    assert in_force(record, "leeds-wg") == ["L-1"]


def test_as_of_a_date() -> None:
    record = [d("L-1", "leeds-wg"), d("A-1", "party", level=Level.ALL_THING, days=10)]
    found = decisions_in_force(
        record, assembly="leeds-wg", topic="housing", ancestors_of=ancestors_of, at=T0 + timedelta(days=5)
    )
    assert [f.decision.ref for f in found] == ["L-1"]


def test_untagged_decisions_show_only_without_a_topic() -> None:
    record = [d("L-1", "leeds-wg", topics=())]
    assert in_force(record, "leeds-wg", None) == ["L-1"]
    assert in_force(record, "leeds-wg", "housing") == []


def test_overridden_by_lists_every_decision_above() -> None:
    record = [
        d("L-1", "leeds-wg"),
        d("Y-1", "yorkshire", days=1),
        d("A-1", "party", level=Level.ALL_THING, days=2, supersedes="L-1"),
    ]
    links = overridden_by(record[0], record, ancestors_of=ancestors_of)
    assert set(links) == {
        Link("A-1", "L-1", Relation.SUPERSEDED, None),
        Link("Y-1", "L-1", Relation.TRUMPED, "housing"),
        Link("A-1", "L-1", Relation.OVERRIDDEN, "housing"),
    }


@given(st.lists(DECISIONS, max_size=8, unique_by=lambda x: x.ref), st.sampled_from(sorted(UMBRELLAS)))
def test_in_force_invariants(decisions: list[Decision], assembly: str) -> None:
    result = decisions_in_force(decisions, assembly=assembly, topic="housing", ancestors_of=ancestors_of)
    refs = [f.decision.ref for f in result]
    assert len(refs) == len(set(refs))
    for found in result:
        decision = found.decision
        assert decision.adopts and "housing" in decision.topics
        assert decision.assembly == assembly or decision.assembly in ancestors_of(assembly) or decision.level is Level.ALL_THING
    # Whenever an All Thing decision on the topic exists, only All Thing decisions are in force.
    if any(x.level is Level.ALL_THING and x.adopts and "housing" in x.topics and not any(y.supersedes == x.ref and y.adopts for y in decisions) for x in decisions):
        assert all(f.decision.level is Level.ALL_THING for f in result)
    # Order of the input list matters only for exact ties; shuffling distinct times changes nothing.
    distinct = len({x.decided_at for x in decisions}) == len(decisions)
    if distinct:
        again = decisions_in_force(list(reversed(decisions)), assembly=assembly, topic="housing", ancestors_of=ancestors_of)
        assert {f.decision.ref for f in again} == set(refs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Spend | Save", ("Spend", "Save")), (" A |B| C ", ("A", "B", "C")), ("  ", ())],
)
def test_a_deadlock_ballots_options(text: str, expected: tuple[str, ...]) -> None:
    assert parse_ballot_options(text) == expected


@pytest.mark.parametrize("text", ["Spend", "Spend | Spend", "|", "A | | a | A"])
def test_a_deadlock_ballot_needs_two_different_options(text: str) -> None:
    with pytest.raises(UserError, match="at least two different options"):
        parse_ballot_options(text)
