"""Decisions across instances (pure): what an instance publishes as state in an assembly's space,
and what another instance believes of it.

Each instance publishes every entry of its decision record as an ``org.harmony.decision`` state
event in the space of the decision's assembly (``state_key``: the reference), with the entry's
position, previous hash and hash, and the head of its chain as ``org.harmony.decision_chain``. Any
client can read them; a peer bot reads them in the spaces its assemblies are nested in.

A published decision counts on another instance only when all of this holds (:func:`read_published`):
it was sent by the bot that *hosts* the space (the creator of the space), which is a peer holding
the ``decisions`` right there; its assembly is the assembly of that space (the space's own
``org.harmony.assembly`` slug): **a peer never records a decision for an assembly it does not
host**; and its hash is right (the entry is what the peer's chain holds). Whatever fails is left
out, with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Final

from harmony_matrix import event_types as et
from harmony_matrix.consensus.decisions import ChainEntry, Decision, chain_hash, entry_from_json, entry_to_json
from harmony_matrix.federation_peers.peers import PeerRight, Peers, authorise

STATE_VERSION: Final = 1


def decision_state(entry: ChainEntry) -> dict[str, Any]:
    """``org.harmony.decision`` content for one entry of the record."""
    return {"version": STATE_VERSION, "entry": entry_to_json(entry)}


def chain_head_state(head: ChainEntry) -> dict[str, Any]:
    """``org.harmony.decision_chain`` content: the newest entry's position and hash."""
    return {"version": STATE_VERSION, "seq": head.seq, "head": head.hash}


def remote_key(slug: str, server: str) -> str:
    """How a remote assembly (and its references) is named here: ``party@national.example``."""
    return f"{slug}@{server}"


@dataclass(frozen=True)
class RemoteDecision:
    """A decision published by a peer, checked; ``decision`` renamed to the remote key (its ref and
    assembly gain ``@server``) so it never collides with a local one."""

    decision: Decision
    entry: ChainEntry
    server: str
    #: The head of the peer's chain when read (``seq``, hash), if it published one.
    head: tuple[int, str] | None


@dataclass(frozen=True)
class Ignored:
    """A published decision left out, and why (for logs and the secretariat; decisions are public)."""

    state_key: str
    reason: str


@dataclass(frozen=True)
class Published:
    """What one remote space publishes, checked."""

    #: The remote assembly's key here (``party@national.example``), None when the space has no
    #: ``org.harmony.assembly`` from its host.
    assembly: str | None
    decisions: tuple[RemoteDecision, ...]
    ignored: tuple[Ignored, ...]


@dataclass(frozen=True)
class RemoteRecord:
    """Decisions of remote umbrellas that bind a local assembly, for precedence."""

    decisions: tuple[RemoteDecision, ...] = ()
    #: local slug → the remote assemblies (keys) it is nested in directly.
    remote_parents: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    ignored: tuple[Ignored, ...] = ()


def read_published(events: Iterable[Mapping[str, Any]], *, peers: Peers, server: str) -> Published:
    """The decisions in one remote space's state (``events``: its full state, as ``/state`` gives it)."""
    events = list(events)
    creator = next((str(e.get("sender")) for e in events if e.get("type") == et.ROOM_CREATE), None)
    assembly_state: Any = next((e.get("content", {}) for e in events if e.get("type") == et.HARMONY_ASSEMBLY
                           and e.get("state_key") == ""), {})
    slug = assembly_state.get("slug") if isinstance(assembly_state, Mapping) else None
    chain = next((e for e in events if e.get("type") == et.HARMONY_DECISION_CHAIN and e.get("state_key") == ""), None)
    head: tuple[int, str] | None = None
    if chain is not None and chain.get("sender") == creator:
        content = chain.get("content", {})
        if isinstance(content.get("seq"), int) and isinstance(content.get("head"), str):
            head = (content["seq"], content["head"])
    found: list[RemoteDecision] = []
    ignored: list[Ignored] = []
    for event in events:
        if event.get("type") != et.HARMONY_DECISION_STATE:
            continue
        key = str(event.get("state_key", ""))
        content = event.get("content") or {}
        if not content:
            continue  # withdrawn
        sender = str(event.get("sender"))
        reason = _refusal(sender=sender, creator=creator, peers=peers)
        if reason is None:
            try:
                entry = entry_from_json(content["entry"]) if content.get("version") == STATE_VERSION \
                    else None
            except (KeyError, TypeError, ValueError) as exc:
                entry, reason = None, f"malformed ({exc})"
            if entry is None and reason is None:
                reason = "unknown version"
            elif entry is not None:
                reason = _entry_refusal(entry, state_key=key, slug=slug, sender=sender)
                if reason is None:
                    found.append(RemoteDecision(decision=_renamed(entry.decision, server), entry=entry,
                                                server=server, head=head))
        if reason is not None:
            ignored.append(Ignored(key, reason))
    trusted_slug = slug if isinstance(slug, str) and _assembly_sender(events) == creator else None
    return Published(assembly=None if trusted_slug is None else remote_key(trusted_slug, server),
                     decisions=tuple(found), ignored=tuple(ignored))


def _assembly_sender(events: list[Mapping[str, Any]]) -> str | None:
    return next((str(e.get("sender")) for e in events if e.get("type") == et.HARMONY_ASSEMBLY
                 and e.get("state_key") == ""), None)


def _refusal(*, sender: str, creator: str | None, peers: Peers) -> str | None:
    if creator is None or sender != creator:
        return f"set by {sender}, not by the bot hosting the space ({creator or 'unknown'})"
    refusal = authorise(peers, sender, PeerRight.DECISIONS)
    return None if refusal is None else refusal.reason


def _entry_refusal(entry: ChainEntry, *, state_key: str, slug: Any, sender: str) -> str | None:
    decision = entry.decision
    if state_key != decision.ref:
        return f"published under {state_key!r} but its reference is {decision.ref!r}"
    if not isinstance(slug, str) or decision.assembly != slug:
        return (f"{sender} published a decision of {decision.assembly!r} in the space of {slug!r}: "
                "a peer records decisions only for the assemblies it hosts")
    if chain_hash(entry.prev_hash, decision) != entry.hash:
        return "its hash does not match its content"
    return None


def _renamed(decision: Decision, server: str) -> Decision:
    return dataclasses.replace(
        decision, ref=remote_key(decision.ref, server), assembly=remote_key(decision.assembly, server),
        supersedes=None if decision.supersedes is None else remote_key(decision.supersedes, server))


def ancestors_across(local_ancestors: Callable[[str], AbstractSet[str]], record: RemoteRecord) -> Callable[[str], AbstractSet[str]]:
    """``ancestors_of`` for precedence (``consensus.precedence.decisions_in_force``): a local
    assembly's umbrellas, local and remote (the remote umbrellas of it and of every local umbrella
    above it); a remote assembly's are unknown here (none)."""

    def ancestors_of(slug: str) -> AbstractSet[str]:
        local = set(local_ancestors(slug)) if "@" not in slug else set()
        remote: set[str] = set()
        for member in local | ({slug} if "@" not in slug else set()):
            remote |= record.remote_parents.get(member, frozenset())
        return local | remote

    return ancestors_of
