"""Eligibility across instances (pure rules): whom to ask, who may ask, which answers are believed,
and the one eligibility rule taking a home instance's yes/no as a fact (docs/FEDERATION.md)."""

from __future__ import annotations

import pytest

from harmony_matrix.federation_peers.eligibility import (
    Question,
    answer_key_of,
    ask_key,
    home_peer,
    judge_answer,
    judge_ask,
)
from harmony_matrix.federation_peers.messages import FederationMessage, Kind, MalformedMessage, answer, parse_message
from harmony_matrix.federation_peers.peers import Peer, PeerRight, Peers
from harmony_matrix.ids import UserId
from harmony_matrix.polls.eligibility import Electorate, Span, VoterFacts, member_at, may_vote, waits_for_home
from harmony_matrix.polls.poll import Eligibility

NATIONAL = UserId("@harmony:national.example")
WALES = UserId("@harmony:wales.example")
ROGUE = UserId("@rogue:evil.example")
PEERS = Peers([Peer(NATIONAL, frozenset({PeerRight.DECISIONS})), Peer(WALES, frozenset({PeerRight.ELIGIBILITY}))])
MEMBERS = Electorate(Eligibility.MEMBERS)
T = 1_764_000_000_000


def ask(user: str = "@ann:national.example", at: int = T) -> FederationMessage:
    return FederationMessage(kind=Kind.ELIGIBILITY_ASK, key=ask_key(user, at), child_space="", parent_space="",
                             user=user, at=at)


def test_the_home_instance_of_a_person_is_the_peer_on_their_server_never_our_own() -> None:
    found = home_peer(PEERS, "@ann:national.example", own_server="wales.example")
    assert found is not None and found.user_id == NATIONAL
    assert home_peer(PEERS, "@bob:elsewhere.example", own_server="wales.example") is None
    assert home_peer(PEERS, "@cy:wales.example", own_server="wales.example") is None


def test_only_a_peer_with_the_eligibility_right_may_ask_about_our_members() -> None:
    assert judge_ask(PEERS, WALES) is None
    refusal = judge_ask(PEERS, NATIONAL)
    assert refusal is not None and refusal.reason.startswith("the peer @harmony:national.example may not ask about "
                                                             "membership here")
    untrusted = judge_ask(PEERS, ROGUE)
    assert untrusted is not None and untrusted.untrusted


def test_an_answer_is_believed_only_from_the_peer_asked_about_the_person_and_moment_asked() -> None:
    asked = Question(key=ask_key("@ann:national.example", T), peer=NATIONAL, user="@ann:national.example", at=T)
    reply = answer(ask(), Kind.ELIGIBILITY_ANSWER)
    reply = FederationMessage(kind=reply.kind, key=reply.key, child_space="", parent_space="", user=reply.user,
                              at=reply.at, member=True)
    assert reply.key == answer_key_of(asked)
    assert judge_answer(reply, sender=NATIONAL, peers=PEERS, asked=asked) is None
    for sender, question, message, reason in [
        (ROGUE, asked, reply, "@rogue:evil.example is not a trusted peer of this instance"),
        (WALES, asked, reply, "@harmony:wales.example was not asked (the question went to @harmony:national.example)"),
        (NATIONAL, None, reply, "an eligibility answer to a question this instance did not ask"),
        (NATIONAL, asked, FederationMessage(kind=reply.kind, key=reply.key, child_space="", parent_space="",
                                            user="@bob:national.example", at=T, member=True),
         "an eligibility answer about another person or moment than asked"),
    ]:
        refusal = judge_answer(message, sender=sender, peers=PEERS, asked=question)
        assert refusal is not None and refusal.reason == reason


def test_eligibility_messages_carry_no_spaces_and_round_trip() -> None:
    content = ask().to_content("was ann a member?")
    assert "child_space" not in content and content["at"] == T and content["user"] == "@ann:national.example"
    assert parse_message(content) == ask()
    reply = FederationMessage(kind=Kind.ELIGIBILITY_ANSWER, key="k/eligibility.answer", child_space="",
                              parent_space="", user="@ann:national.example", at=T, member=False)
    assert reply.to_content("answer")["member"] is False
    assert parse_message(reply.to_content("answer")) == reply


@pytest.mark.parametrize(("change", "problem"), [
    ({"member": "yes"}, "member must be true or false"),
    ({"at": -1}, "at must be a non-negative integer"),
    ({"at": True}, "at must be a non-negative integer"),
])
def test_a_malformed_eligibility_answer_names_the_field(change: dict[str, object], problem: str) -> None:
    content = {"version": 1, "kind": "eligibility.answer", "key": "k", "user": "@ann:national.example", "at": T,
               "member": True, **change}
    with pytest.raises(MalformedMessage, match=problem):
        parse_message(content)


def test_a_vote_of_a_peer_servers_person_waits_for_their_home_instance_and_then_follows_its_answer() -> None:
    unknown = VoterFacts()
    assert waits_for_home(MEMBERS, unknown, at=T, home_is_peer=True)
    assert not waits_for_home(MEMBERS, unknown, at=T, home_is_peer=False)  # nobody to ask: simply not eligible
    assert not may_vote(MEMBERS, unknown, at=T)
    assert may_vote(MEMBERS, VoterFacts(vouched=True), at=T)
    assert not may_vote(MEMBERS, VoterFacts(vouched=False), at=T)
    assert not waits_for_home(MEMBERS, VoterFacts(vouched=False), at=T, home_is_peer=True)
    # A member here is never asked about; a home instance's yes counts only for member polls.
    assert not waits_for_home(MEMBERS, VoterFacts(spans=(Span(T - 1),)), at=T, home_is_peer=True)
    participants = Electorate(Eligibility.PARTICIPANTS, assemblies=("wales",))
    assert not waits_for_home(participants, unknown, at=T, home_is_peer=True)
    assert not may_vote(participants, VoterFacts(vouched=True), at=T)


def test_the_answering_instance_says_yes_only_for_someone_registered_by_that_moment() -> None:
    assert member_at(T - 1, at=T) and member_at(T, at=T)
    assert not member_at(T + 1, at=T)
    assert not member_at(None, at=T)
