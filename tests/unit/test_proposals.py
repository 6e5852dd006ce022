"""Proposal references, the ``!h propose`` grammar and the status machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.consensus.proposals import (
    ALLOWED_TRANSITIONS,
    DETAILS_MAX,
    TITLE_MAX,
    Proposal,
    ProposalStatus,
    make_proposal_ref,
    parse_proposal_ref,
    parse_proposal_refs,
    parse_propose_args,
    transition,
)

S = ProposalStatus


def a_proposal(status: ProposalStatus = S.DISCUSSION) -> Proposal:
    return Proposal(
        ref=make_proposal_ref("ops", 3),
        assembly="ops",
        number=3,
        title="Adopt a budget",
        details="",
        author=UserId("@alice:example.org"),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        status=status,
    )


def test_the_full_path_through_a_ballot() -> None:
    proposal = a_proposal()
    for step in (S.MOOT, S.DEADLOCK, S.BALLOT, S.DECIDED):
        proposal = transition(proposal, step, evidence=EventId(f"${step.value}"))
    assert proposal.status is S.DECIDED
    assert proposal.is_closed
    assert proposal.evidence == ("$moot", "$deadlock", "$ballot", "$decided")


@pytest.mark.parametrize(
    ("path"),
    [
        [S.CONSENSUS],
        [S.MOOT, S.CONSENSUS],
        [S.MOOT, S.REJECTED],
        [S.MOOT, S.MOOT, S.CONSENSUS],
        [S.MOOT, S.DISCUSSION, S.MOOT],
        [S.DEADLOCK, S.DISCUSSION],
    ],
)
def test_allowed_paths(path: list[ProposalStatus]) -> None:
    proposal = a_proposal()
    for step in path:
        proposal = transition(proposal, step)
    assert proposal.status is path[-1]


def test_refused_transition_names_current_and_allowed() -> None:
    with pytest.raises(UserError) as caught:
        transition(a_proposal(S.DEADLOCK), S.CONSENSUS)
    assert caught.value.message == (
        "P-ops-3 is in deadlock and can't move to consensus; from there it can go to: ballot, discussion"
    )


def test_final_statuses_say_they_are_final() -> None:
    with pytest.raises(UserError, match="is in consensus.*final"):
        transition(a_proposal(S.CONSENSUS), S.MOOT)


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_transition_follows_the_table(current: ProposalStatus, new: ProposalStatus) -> None:
    proposal = a_proposal(current)
    if new in ALLOWED_TRANSITIONS[current]:
        assert transition(proposal, new).status is new
    else:
        with pytest.raises(UserError, match=current.value):
            transition(proposal, new)


def test_every_status_is_reachable_from_discussion() -> None:
    seen, frontier = {S.DISCUSSION}, [S.DISCUSSION]
    while frontier:
        for nxt in ALLOWED_TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(S)


def test_refs() -> None:
    assert make_proposal_ref("west-leeds", 2) == "P-west-leeds-2"
    assert parse_proposal_ref("P-west-leeds-2").locate(None) == ("west-leeds", 2)
    assert parse_proposal_ref(" p-OPS-7 ").resolve("west") == "P-ops-7"
    assert parse_proposal_ref("#7").locate("ops") == ("ops", 7)
    assert parse_proposal_ref(" p-OPS-7 ").text == "p-OPS-7"
    with pytest.raises(UserError, match="not a proposal reference"):
        parse_proposal_ref("budget")
    with pytest.raises(UserError, match="P-ops-3"):
        parse_proposal_ref("7").locate(None)
    assert [r.resolve("ops") for r in parse_proposal_refs("P-ops-2, 3 #4")] == ["P-ops-2", "P-ops-3", "P-ops-4"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Adopt a budget", ("Adopt a budget", "")),
        ("  Adopt   a budget  |  Details here ", ("Adopt a budget", "Details here")),
        ("Title | a | b", ("Title", "a | b")),
        ("Title |", ("Title", "")),
        ("Title | line one\nline two", ("Title", "line one\nline two")),
    ],
)
def test_parse_propose_args(text: str, expected: tuple[str, str]) -> None:
    assert parse_propose_args(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "needs a title"),
        ("   | only details", "needs a title"),
        ("x" * (TITLE_MAX + 1), "title is too long"),
        ("t | " + "x" * (DETAILS_MAX + 1), "details are too long"),
    ],
)
def test_parse_propose_args_errors(text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        parse_propose_args(text)
