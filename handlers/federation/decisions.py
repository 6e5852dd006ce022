"""Decisions across instances on the Matrix side: the local record published as state in the
assemblies' spaces, and the decisions of remote umbrellas read back and checked
(``harmony_matrix.federation_peers.decisions``) for ``!h decisions`` (``ports.RemoteDecisions``)."""

from __future__ import annotations

import logging
from typing import Protocol

from handlers.federation.feature_ports import LocalAssemblies
from handlers.federation.tree import LinkRecords
from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from harmony_matrix import event_types as et
from harmony_matrix.consensus.decisions import ChainEntry
from harmony_matrix.federation_peers.decisions import (
    Ignored,
    RemoteDecision,
    RemoteRecord,
    chain_head_state,
    decision_state,
    read_published,
)
from harmony_matrix.federation_peers.links import LinkState, Side
from harmony_matrix.federation_peers.peers import Peers
from harmony_matrix.ids import server_of

log = logging.getLogger(__name__)


class DecisionChain(Protocol):
    """The local decision record (``storage.consensus.decisions.DecisionStore``)."""

    async def chain(self) -> list[ChainEntry]: ...
    async def count(self) -> int: ...


class DecisionExchange:
    """Publishes our record; reads and checks the remote umbrellas' records."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster, store: LinkRecords, peers: Peers,
                 assemblies: LocalAssemblies, record: DecisionChain | None) -> None:
        self.gateway = gateway
        self.poster = poster
        self.store = store
        self.peers = peers
        self.assemblies = assemblies
        self.record = record
        #: How many entries of the record are published (as state in their spaces) by this run.
        self._published = 0

    async def publish_decisions(self) -> int:
        """Publish the entries of the record not published yet by this run (all of them at start:
        the homeserver keeps unchanged state as it is) as state in their assemblies' spaces, and the
        chain's head in each space written to. Returns how many were written."""
        if self.record is None or await self.record.count() <= self._published:
            return 0  # runs after every sync batch: one count, the chain only when it grew
        chain = await self.record.chain()
        if len(chain) <= self._published:
            return 0
        spaces: set[str] = set()
        for entry in chain[self._published:]:
            slug = entry.decision.assembly
            space = (await self.assemblies.rooms_of(slug)).get("space") if slug in self.assemblies.federation() else None
            if space is None:
                continue
            await self.poster.put_state(space, et.HARMONY_DECISION_STATE, decision_state(entry), entry.decision.ref)
            spaces.add(space)
        for written_to in sorted(spaces):
            await self.poster.put_state(written_to, et.HARMONY_DECISION_CHAIN, chain_head_state(chain[-1]), "")
        written = len(chain) - self._published
        self._published = len(chain)
        return written

    async def remote_record(self, slug: str) -> RemoteRecord:
        """The decisions published in the remote umbrellas of ``slug`` and of its local umbrellas,
        each checked (``federation_peers.decisions.read_published``)."""
        federation = self.assemblies.federation()
        chain = ({slug} | set(federation.ancestors(slug))) if slug in federation else {slug}
        decisions: list[RemoteDecision] = []
        ignored: list[Ignored] = []
        parents: dict[str, set[str]] = {}
        for link in await self.store.links():
            if link.side is not Side.CHILD or link.state is not LinkState.LINKED or link.local_slug not in chain:
                continue
            try:
                events = await self.gateway.get_state(link.remote_space)
            except MatrixError as exc:
                ignored.append(Ignored(link.remote_space, f"cannot read {link.remote_label}: {exc}"))
                continue
            published = read_published(events, peers=self.peers, server=server_of(link.peer))
            if published.assembly is not None:
                parents.setdefault(link.local_slug, set()).add(published.assembly)
            decisions.extend(published.decisions)
            ignored.extend(published.ignored)
            for item in published.ignored:
                log.warning("ignored a decision published in %s: %s", link.remote_space, item.reason)
        return RemoteRecord(decisions=tuple(decisions), ignored=tuple(ignored),
                            remote_parents={k: frozenset(v) for k, v in parents.items()})
