"""Nesting across instances (pure): the links between a local space and a remote one, what a
nesting request gets, and which answers are believed.

A *link* is one nesting that crosses instances, as one side records it:

* ``Side.CHILD``: our assembly's space is nested in a peer's space (the federation file names the
  parent by its alias, ``remote_parents``). We ask; the parent's host answers.
* ``Side.PARENT``: a peer's space is nested in ours. It asked; we (or our secretary) accepted.

Both sides then hold the Matrix state: the parent's host an ``m.space.child`` in its space, the
child's host an ``m.space.parent`` in its space, each with the other's server in ``via``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from harmony_matrix.federation_peers.messages import SENDER_ROLE, FederationMessage, Role
from harmony_matrix.federation_peers.peers import Peer, PeerRight, Peers, Refusal, authorise, host_refusal


class Side(StrEnum):
    """Which end of the link this instance hosts."""

    CHILD = "child"
    PARENT = "parent"


class LinkState(StrEnum):
    """Where a link stands, as this side records it."""

    #: Child side: asked, no answer yet.
    REQUESTED = "requested"
    #: Either side: waiting for the parent assembly's secretary.
    PENDING = "pending"
    #: Both spaces carry the nesting.
    LINKED = "linked"
    #: Child side: asked to be taken out (our ``m.space.parent`` is already gone).
    UNLINKING = "unlinking"
    #: The parent refused (child side), or our secretary did (parent side).
    REFUSED = "refused"
    #: Taken apart again (both sides' state removed).
    UNLINKED = "unlinked"


@dataclass(frozen=True)
class Link:
    """One cross-instance nesting as this side records it."""

    side: Side
    local_slug: str
    local_space: str
    remote_space: str
    #: The peer bot hosting the remote space.
    peer: str
    state: LinkState
    #: The idempotency key of the request that made it (child side: ours; parent side: the peer's).
    key: str
    #: Servers to reach the remote space through.
    via: tuple[str, ...] = ()
    #: How to show the remote space: its alias (child side) or the name the peer gave (parent side).
    remote_label: str = ""
    #: Why it was refused, if it was.
    reason: str = ""


class Verdict(StrEnum):
    """What a nesting request gets."""

    ACCEPT = "accept"
    PENDING = "pending"
    REFUSE = "refuse"
    #: Already linked (or already waiting): answer as before, change nothing.
    REPEAT = "repeat"


@dataclass(frozen=True)
class RequestDecision:
    verdict: Verdict
    refusal: Refusal | None = None
    #: The local assembly the child would nest in.
    parent_slug: str | None = None


def judge_nest_request(message: FederationMessage, *, sender: str, peers: Peers,
                       local_spaces: Mapping[str, str], child_host: str | None,
                       existing: Link | None, ancestors: Iterable[str] = ()) -> RequestDecision:
    """What a ``nest.request`` from ``sender`` gets here.

    ``local_spaces``: our assemblies' spaces, space ID → slug. ``child_host``: the creator of the
    child space (None when we cannot read it). ``existing``: our link for this child and parent, if
    any. ``ancestors``: remote spaces our assemblies are nested in (nesting one of them under us
    would make a cycle across instances).
    """
    refusal = authorise(peers, sender, None)
    if refusal is not None:
        return RequestDecision(Verdict.REFUSE, refusal)
    parent_slug = local_spaces.get(message.parent_space)
    if parent_slug is None:
        return RequestDecision(Verdict.REFUSE, Refusal(f"{message.parent_space} is not an assembly's space here"))
    if message.child_space in local_spaces:
        return RequestDecision(Verdict.REFUSE, Refusal("the child space is one of ours"), parent_slug)
    if message.child_space in set(ancestors):
        return RequestDecision(Verdict.REFUSE, Refusal(
            "the child space is an umbrella of one of our assemblies: nesting it would make a cycle"), parent_slug)
    refusal = host_refusal(sender=sender, host=child_host, what=f"the space {message.child_space}")
    if refusal is not None:
        return RequestDecision(Verdict.REFUSE, refusal, parent_slug)
    if existing is not None and existing.state in (LinkState.LINKED, LinkState.PENDING):
        return RequestDecision(Verdict.REPEAT, parent_slug=parent_slug)
    peer = peers.get(sender)
    assert peer is not None
    verdict = Verdict.ACCEPT if peer.may(PeerRight.NEST) else Verdict.PENDING
    return RequestDecision(verdict, parent_slug=parent_slug)


def check_sender(message: FederationMessage, *, sender: str, peers: Peers, link: Link | None,
                 child_host: str | None = None) -> Refusal | None:
    """Whether ``sender`` may send ``message`` (any kind but ``nest.request``), given our link.

    Answers (``nest.accepted`` …) are believed only from the peer we asked, about a link we asked
    for; ``unnest.request`` only from the peer the link was made with (the child's host)."""
    refusal = authorise(peers, sender, None)
    if refusal is not None:
        return refusal
    role = SENDER_ROLE[message.kind]
    expected_side = Side.CHILD if role is Role.PARENT_HOST else Side.PARENT
    if link is None or link.side is not expected_side:
        return Refusal(f"{message.kind.value} about a nesting this instance has no record of")
    if link.peer != sender:
        return Refusal(f"{sender} is not the instance this nesting was made with ({link.peer})")
    if role is Role.CHILD_HOST and child_host is not None and child_host != sender:
        return host_refusal(sender=sender, host=child_host, what=f"the space {message.child_space}")
    return None


# --- the child side: which links the federation file asks for -----------------------------------
@dataclass(frozen=True)
class LinkPlan:
    """Child side: requests to send (slug, alias) and links to undo."""

    to_request: tuple[tuple[str, str], ...]
    to_unlink: tuple[Link, ...]


def plan_child_links(wanted: Iterable[tuple[str, str]], links: Iterable[Link]) -> LinkPlan:
    """``wanted``: (slug, parent alias) pairs from the federation file. A wanted pair without a
    live link is requested (again, after a refusal only if the file changes); a live link no longer
    wanted is undone."""
    wanted_set = set(wanted)
    child_links = [link for link in links if link.side is Side.CHILD]
    live = {(link.local_slug, link.remote_label): link for link in child_links
            if link.state in (LinkState.REQUESTED, LinkState.PENDING, LinkState.LINKED, LinkState.REFUSED)}
    to_request = tuple(sorted(pair for pair in wanted_set if pair not in live))
    to_unlink = tuple(link for pair, link in sorted(live.items())
                      if pair not in wanted_set and link.state is not LinkState.REFUSED)
    return LinkPlan(to_request, to_unlink)


def peer_for_alias(peers: Peers, alias: str) -> Peer | None:
    """The peer hosting the space named by ``alias`` (``#party:national.example`` → the peer whose bot
    lives on ``national.example``)."""
    _, _, server = alias.partition(":")
    return peers.on_server(server) if server else None
