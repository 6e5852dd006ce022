"""Peers: the other harmony-matrix instances this one trusts, and what each may do here (pure).

An instance lists its peers in its configuration (``federation.peers``): each peer is a bot user ID
and the rights it holds here. Everything a peer sends is authorised by :func:`authorise` before it
changes anything; a sender that is not a peer at all is refused too, and the refusal is reported
(docs/FEDERATION.md). The rights are about *this* instance's assemblies and data:

* ``nest``: the peer may nest its assemblies under ours, accepted without a secretary's approval
  (without it, a nesting request waits for the parent assembly's secretary);
* ``decisions``: the decisions the peer publishes in its spaces count here (precedence across the
  tree, ``!h decisions``);
* ``eligibility``: the peer may ask whether a person is a registered member here (yes/no);
* ``delegates``: the peer's word admits its delegates to our umbrella's rooms, within its seats.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from harmony_matrix.ids import UserId, server_of


class PeerRight(StrEnum):
    """What a peer may do here (config ``federation.peers[].may``)."""

    NEST = "nest"
    DECISIONS = "decisions"
    ELIGIBILITY = "eligibility"
    DELEGATES = "delegates"


@dataclass(frozen=True)
class Peer:
    """One trusted instance: its bot and its rights here."""

    user_id: UserId
    rights: frozenset[PeerRight]
    #: Delegate seats each of its assemblies nested in one of our umbrellas is granted there (``delegates``).
    delegate_seats: int = 1

    @property
    def server(self) -> str:
        """The homeserver the peer's bot lives on (where its assemblies' spaces are hosted)."""
        return server_of(self.user_id)

    def may(self, right: PeerRight) -> bool:
        """Whether the peer holds ``right``."""
        return right in self.rights


@dataclass(frozen=True)
class Refusal:
    """Why a message is refused; ``reason`` is safe to post in a secretariat and to send back."""

    reason: str
    #: The sender is no peer at all (reported as such; nothing is sent back to it).
    untrusted: bool = False


class Peers:
    """The configured peers, by bot user ID."""

    def __init__(self, peers: Iterable[Peer] = ()) -> None:
        self._by_user: Mapping[str, Peer] = {peer.user_id: peer for peer in peers}

    def __iter__(self) -> Iterator[Peer]:
        return iter(self._by_user.values())

    def __len__(self) -> int:
        return len(self._by_user)

    def get(self, user_id: str) -> Peer | None:
        """The peer whose bot is ``user_id``, or None."""
        return self._by_user.get(user_id)

    def is_peer(self, user_id: str) -> bool:
        """Whether ``user_id`` is a configured peer's bot."""
        return user_id in self._by_user

    def on_server(self, server: str) -> Peer | None:
        """The peer whose bot lives on ``server`` (a remote space's alias names its server), if one."""
        for peer in self._by_user.values():
            if peer.server == server:
                return peer
        return None


def authorise(peers: Peers, sender: str, right: PeerRight | None) -> Refusal | None:
    """None when ``sender`` may send a message needing ``right`` (None: any peer may), else why not."""
    peer = peers.get(sender)
    if peer is None:
        return Refusal(f"{sender} is not a trusted peer of this instance", untrusted=True)
    if right is not None and not peer.may(right):
        return Refusal(f"the peer {sender} may not {_DOING[right]} here (its rights: "
                       f"{', '.join(sorted(r.value for r in peer.rights)) or 'none'})")
    return None


_DOING: Mapping[PeerRight, str] = {
    PeerRight.NEST: "nest assemblies without a secretary's approval",
    PeerRight.DECISIONS: "publish decisions that count",
    PeerRight.ELIGIBILITY: "ask about membership",
    PeerRight.DELEGATES: "seat delegates",
}


def host_refusal(*, sender: str, host: str | None, what: str) -> Refusal | None:
    """A peer speaks only for what it hosts: the space ``what`` must have been created by ``sender``.

    ``host`` is the creator of the space (its ``m.room.create`` sender), None when it cannot be read."""
    if host is None:
        return Refusal(f"cannot tell who hosts {what}: I cannot read it")
    if host != sender:
        return Refusal(f"{sender} does not host {what} (it is hosted by {host})")
    return None
