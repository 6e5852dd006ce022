"""Eligibility across instances (pure): "was @x a registered member at moment T?" asked of the
person's home instance, over the encrypted peer room only, answered yes/no, logged without the
answer (docs/FEDERATION.md, "Eligibility across instances").

The rule that decides a vote stays ``harmony_matrix.polls.eligibility``: this module says whom to
ask, who may ask us, and which answers are believed.
"""

from __future__ import annotations

from dataclasses import dataclass

from harmony_matrix.federation_peers.messages import FederationMessage, Kind, answer_key
from harmony_matrix.federation_peers.peers import Peer, PeerRight, Peers, Refusal, authorise
from harmony_matrix.ids import server_of


@dataclass(frozen=True)
class Question:
    """One question this instance asked a peer, and its answer once it came (None: not yet)."""

    key: str
    peer: str
    user: str
    at: int
    answer: bool | None = None


def ask_key(user: str, at: int) -> str:
    """The key of the question about ``user`` at ``at``: the same question is asked once, however
    many votes (or restarts) need it."""
    return f"{Kind.ELIGIBILITY_ASK.value}:{user}:{at}"


def home_peer(peers: Peers, user: str, *, own_server: str) -> Peer | None:
    """The peer instance to ask about ``user``: the one on the person's own server (it keeps their
    membership), never for someone of our own server."""
    server = server_of(user)
    return None if server == own_server else peers.on_server(server)


def judge_ask(peers: Peers, sender: str) -> Refusal | None:
    """Whether ``sender`` may ask us about membership: a peer with the ``eligibility`` right."""
    return authorise(peers, sender, PeerRight.ELIGIBILITY)


def judge_answer(message: FederationMessage, *, sender: str, peers: Peers, asked: Question | None) -> Refusal | None:
    """Whether an ``eligibility.answer`` is believed: from a peer, to a question we asked it, about the
    same person and moment (a claim nobody asked for changes nothing)."""
    refusal = authorise(peers, sender, None)
    if refusal is not None:
        return refusal
    if asked is None or answer_key_of(asked) != message.key:
        return Refusal("an eligibility answer to a question this instance did not ask")
    if asked.peer != sender:
        return Refusal(f"{sender} was not asked (the question went to {asked.peer})")
    if asked.user != message.user or asked.at != message.at:
        return Refusal("an eligibility answer about another person or moment than asked")
    return None


def answer_key_of(question: Question) -> str:
    """The key the answer to ``question`` carries."""
    return answer_key(FederationMessage(kind=Kind.ELIGIBILITY_ASK, key=question.key, child_space="", parent_space=""),
                      Kind.ELIGIBILITY_ANSWER)
