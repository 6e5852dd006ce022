"""Delegates up the levels (pure): a regional instance's delegates take their seats in a national
umbrella its assembly is nested in, on the regional instance's word, within the seats the umbrella
grants that region (docs/FEDERATION.md, "Delegates").

The child's host (the regional instance) sends ``delegate.seat`` naming the person and the link
(its space, the umbrella's space); the parent's host (the national instance) admits them when
:func:`judge_seat` says so, and seats them in the umbrella (its rooms, the access a seat gives).
``delegate.unseat`` ends a seat (the delegate stood down, or the region withdrew them).

Delegates are public (they speak for their assembly); nothing here is about membership or ballots.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from harmony_matrix.federation_peers.links import Link, LinkState, Side, check_sender
from harmony_matrix.federation_peers.messages import FederationMessage, Kind
from harmony_matrix.federation_peers.peers import PeerRight, Peers, Refusal, authorise

class DelegateState(StrEnum):
    """Where one delegate's seat stands, as one side records it."""

    #: Child side: asked, no answer yet.
    ASKED = "asked"
    #: Both sides: seated in the umbrella.
    SEATED = "seated"
    #: Child side: the parent refused (``reason``).
    REFUSED = "refused"
    #: Child side: asked to end the seat, no answer yet.
    UNSEATING = "unseating"
    #: Both sides: the seat is ended.
    UNSEATED = "unseated"


@dataclass(frozen=True)
class Delegate:
    """One delegate of a nested assembly in a remote (child side) or local (parent side) umbrella."""

    side: Side
    local_slug: str
    local_space: str
    remote_space: str
    peer: str
    user: str
    state: DelegateState
    #: The idempotency key of the request that made this state (child side: ours; parent side: the peer's).
    key: str
    reason: str = ""


class SeatVerdict(StrEnum):
    """What a ``delegate.seat`` gets."""

    ADMIT = "admit"
    #: Already seated: answer ``delegate.admitted`` again, change nothing.
    ALREADY = "already"
    REFUSE = "refuse"


@dataclass(frozen=True)
class SeatDecision:
    verdict: SeatVerdict
    refusal: Refusal | None = None


def delegate_key(kind: Kind, *, child_space: str, parent_space: str, user: str, epoch: int) -> str:
    """The key of a ``delegate.seat`` / ``delegate.unseat``, fixed when the region decides (``epoch``:
    milliseconds then, stored with the delegate) and kept for every resend."""
    return f"{kind.value}:{child_space}:{parent_space}:{user}:{epoch}"


def seats_granted(peers: Peers, peer: str) -> int:
    """How many delegates each nested assembly of ``peer`` may seat in one of our umbrellas."""
    found = peers.get(peer)
    return 0 if found is None else found.delegate_seats


def judge_seat(message: FederationMessage, *, sender: str, peers: Peers, link: Link | None,
               seated: Collection[str], seats: int) -> SeatDecision:
    """What a ``delegate.seat`` from ``sender`` gets here (the parent's host).

    ``link``: our record of the nesting of ``message.child_space`` in ``message.parent_space``;
    ``seated``: the delegates of that child currently seated in that umbrella; ``seats``: how many
    the umbrella grants it."""
    refusal = authorise(peers, sender, PeerRight.DELEGATES)
    if refusal is not None:
        return SeatDecision(SeatVerdict.REFUSE, refusal)
    refusal = check_sender(message, sender=sender, peers=peers, link=link)
    if refusal is not None:
        return SeatDecision(SeatVerdict.REFUSE, refusal)
    assert link is not None
    if link.side is not Side.PARENT or link.state is not LinkState.LINKED:
        return SeatDecision(SeatVerdict.REFUSE, Refusal(
            f"{link.remote_label or link.remote_space} is not nested in {link.local_slug} (yet)"))
    if message.user in seated:
        return SeatDecision(SeatVerdict.ALREADY)
    if len(seated) >= seats:
        return SeatDecision(SeatVerdict.REFUSE, Refusal(
            f"no seat left for {message.user}: {link.local_slug} grants {link.remote_label or link.remote_space} "
            f"{seats} delegate seat{'' if seats == 1 else 's'}, and {len(seated)} {'is' if len(seated) == 1 else 'are'} "
            "taken"))
    return SeatDecision(SeatVerdict.ADMIT)


def judge_unseat(message: FederationMessage, *, sender: str, peers: Peers, link: Link | None) -> Refusal | None:
    """Whether a ``delegate.unseat`` from ``sender`` is believed: from the peer the nesting was made
    with. Ending a seat needs no right beyond being that peer (it only ever takes power away)."""
    return check_sender(message, sender=sender, peers=peers, link=link)


def current_delegates(delegates: Collection[Delegate], *, local_space: str, remote_space: str) -> list[str]:
    """Who is seated for the pair of spaces (parent side: our umbrella, their child)."""
    return sorted(d.user for d in delegates if d.local_space == local_space and d.remote_space == remote_space
                  and d.state is DelegateState.SEATED)
