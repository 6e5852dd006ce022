"""Delegates up the levels (pure rules, docs/FEDERATION.md "Delegates"): who may seat a delegate,
within how many seats, and the ``delegate.*`` messages' schema."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harmony_matrix.config import ConfigError, load_config
from harmony_matrix.federation_peers.delegates import (
    Delegate,
    DelegateState,
    SeatVerdict,
    current_delegates,
    delegate_key,
    judge_seat,
    judge_unseat,
    seats_granted,
)
from harmony_matrix.federation_peers.links import Link, LinkState, Side
from harmony_matrix.federation_peers.messages import (
    FederationMessage,
    Kind,
    MalformedMessage,
    answer,
    parse_message,
)
from harmony_matrix.federation_peers.peers import Peer, PeerRight, Peers
from harmony_matrix.ids import UserId

WALES = UserId("@harmony:wales.example")
SCOTS = UserId("@harmony:scot.example")
ROGUE = UserId("@rogue:evil.example")
PEERS = Peers([Peer(WALES, frozenset({PeerRight.NEST, PeerRight.DELEGATES}), delegate_seats=2),
               Peer(SCOTS, frozenset({PeerRight.NEST}))])
CHILD, PARENT = "!wales-space", "!party-space"
LINK = Link(side=Side.PARENT, local_slug="party", local_space=PARENT, remote_space=CHILD, peer=WALES,
            state=LinkState.LINKED, key="nest.request:x", remote_label="Wales Regional Assembly")


def seat(user: str = "@cy:wales.example", key: str = "delegate.seat:1") -> FederationMessage:
    return FederationMessage(kind=Kind.DELEGATE_SEAT, key=key, child_space=CHILD, parent_space=PARENT, user=user)


def test_a_delegate_is_admitted_within_the_seats_and_one_over_is_refused_with_the_count() -> None:
    assert judge_seat(seat(), sender=WALES, peers=PEERS, link=LINK, seated=[], seats=2).verdict is SeatVerdict.ADMIT
    assert judge_seat(seat(), sender=WALES, peers=PEERS, link=LINK, seated=["@a:wales.example"],
                      seats=2).verdict is SeatVerdict.ADMIT
    full = judge_seat(seat(), sender=WALES, peers=PEERS, link=LINK, seated=["@a:wales.example", "@b:wales.example"],
                      seats=2)
    assert full.verdict is SeatVerdict.REFUSE and full.refusal is not None
    assert full.refusal.reason == ("no seat left for @cy:wales.example: party grants Wales Regional Assembly 2 "
                                   "delegate seats, and 2 are taken")
    assert not full.refusal.untrusted


def test_a_delegate_already_seated_is_a_repeat_even_when_the_seats_are_full() -> None:
    decision = judge_seat(seat(), sender=WALES, peers=PEERS, link=LINK,
                          seated=["@a:wales.example", "@cy:wales.example"], seats=2)
    assert decision.verdict is SeatVerdict.ALREADY


@pytest.mark.parametrize(("sender", "link", "reason"), [
    (ROGUE, LINK, "@rogue:evil.example is not a trusted peer of this instance"),
    (SCOTS, LINK, "the peer @harmony:scot.example may not seat delegates here (its rights: nest)"),
    (WALES, None, "delegate.seat about a nesting this instance has no record of"),
    (WALES, replace(LINK, state=LinkState.PENDING), "Wales Regional Assembly is not nested in party (yet)"),
    (WALES, replace(LINK, side=Side.CHILD), "delegate.seat about a nesting this instance has no record of"),
])
def test_a_delegate_is_refused_from_a_stranger_without_the_right_or_without_a_nesting(
        sender: UserId, link: Link | None, reason: str) -> None:
    decision = judge_seat(seat(), sender=sender, peers=PEERS, link=link, seated=[], seats=5)
    assert decision.verdict is SeatVerdict.REFUSE and decision.refusal is not None
    assert decision.refusal.reason == reason


def test_a_peer_cannot_seat_delegates_for_a_nesting_made_with_another_peer() -> None:
    peers = Peers([*PEERS, Peer(ROGUE, frozenset({PeerRight.DELEGATES}))])
    decision = judge_seat(seat(), sender=ROGUE, peers=peers, link=LINK, seated=[], seats=5)
    assert decision.refusal is not None
    assert decision.refusal.reason == ("@rogue:evil.example is not the instance this nesting was made with "
                                       "(@harmony:wales.example)")


def test_a_seat_is_ended_only_on_the_word_of_the_peer_the_nesting_was_made_with() -> None:
    unseat = replace(seat(), kind=Kind.DELEGATE_UNSEAT)
    assert judge_unseat(unseat, sender=WALES, peers=PEERS, link=LINK) is None
    assert judge_unseat(unseat, sender=SCOTS, peers=PEERS, link=LINK) is not None


def test_the_seats_granted_come_from_the_peers_configuration() -> None:
    assert seats_granted(PEERS, WALES) == 2
    assert seats_granted(PEERS, SCOTS) == 1  # the default
    assert seats_granted(PEERS, ROGUE) == 0


def test_only_seated_delegates_of_the_same_two_spaces_count() -> None:
    base = Delegate(side=Side.PARENT, local_slug="party", local_space=PARENT, remote_space=CHILD, peer=WALES,
                    user="@a:wales.example", state=DelegateState.SEATED, key="k1")
    delegates = [base, replace(base, user="@b:wales.example", state=DelegateState.UNSEATED),
                 replace(base, user="@c:wales.example", remote_space="!other"),
                 replace(base, user="@d:wales.example")]
    assert current_delegates(delegates, local_space=PARENT, remote_space=CHILD) == ["@a:wales.example",
                                                                                     "@d:wales.example"]


def test_delegate_messages_round_trip_and_answers_name_the_same_person() -> None:
    message = seat(key=delegate_key(Kind.DELEGATE_SEAT, child_space=CHILD, parent_space=PARENT,
                                    user="@cy:wales.example", epoch=7))
    assert message.key == "delegate.seat:!wales-space:!party-space:@cy:wales.example:7"
    assert parse_message(message.to_content("seat them")) == message
    refused = answer(message, Kind.DELEGATE_REFUSED, reason="no seat left")
    assert refused.user == "@cy:wales.example" and refused.key == message.key + "/delegate.refused"
    assert parse_message(refused.to_content("no")) == refused


@pytest.mark.parametrize(("user", "problem"), [("cy", "user is not a Matrix user ID"),
                                               ("", "user is empty"), (5, "user must be text")])
def test_a_delegate_message_without_a_proper_user_is_malformed(user: object, problem: str) -> None:
    content = seat().to_content("x")
    content["user"] = user
    with pytest.raises(MalformedMessage, match=problem):
        parse_message(content)


def test_the_seats_a_peer_is_granted_are_configured_and_bounded(tmp_path: Path) -> None:
    base = "homeserver: {url: 'http://localhost:8008'}\nbot: {user_id: '@bot:localhost', access_token: t}\n"
    path = tmp_path / "c.yaml"
    path.write_text(base + "federation:\n  peers:\n    - {user_id: '@h:wales.example', may: [delegates], "
                           "delegate_seats: 3}\n")
    peers = load_config(path).federation.peer_directory()
    assert seats_granted(peers, "@h:wales.example") == 3
    path.write_text(base + "federation:\n  peers:\n    - {user_id: '@h:wales.example', delegate_seats: -1}\n")
    with pytest.raises(ConfigError, match="delegate_seats"):
        load_config(path)
