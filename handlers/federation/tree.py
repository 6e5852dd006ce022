"""Nestings across instances as the assemblies feature reads them (``ports.RemoteTree``): the remote
umbrellas and nested spaces of an assembly once both sides agreed, who takes part through a remote
nested space, and the labels ``!h assemblies`` shows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.ports import RemoteSpace
from harmony_matrix.federation_peers.links import Link, LinkState, Side
from harmony_matrix.ids import server_of

log = logging.getLogger(__name__)


class LinkRecords(Protocol):
    """The links (``storage.federation.stores.FederationStore``)."""

    async def links(self) -> list[Link]: ...


class RemoteTreeView:
    """Reads the links; built by the federation feature, handed to the assemblies feature."""

    def __init__(self, *, gateway: MatrixGateway, store: LinkRecords) -> None:
        self.gateway = gateway
        self.store = store

    async def remote_parents(self, slug: str) -> list[RemoteSpace]:
        """Spaces on peer instances ``slug`` is nested in (both sides agreed)."""
        return [(link.remote_space, list(link.via)) for link in await self.store.links()
                if link.side is Side.CHILD and link.state is LinkState.LINKED and link.local_slug == slug]

    async def remote_children(self, slug: str) -> list[RemoteSpace]:
        """Spaces on peer instances nested in ``slug`` (both sides agreed)."""
        return [(link.remote_space, list(link.via)) for link in await self.store.links()
                if link.side is Side.PARENT and link.state is LinkState.LINKED and link.local_slug == slug]

    async def participates_remotely(self, user_id: str) -> frozenset[str]:
        """Local umbrellas ``user_id`` takes part in through a space nested from a peer (joined there;
        this bot sits in those spaces, so its sync cache knows who has joined)."""
        slugs: set[str] = set()
        for link in await self.store.links():
            if link.side is Side.PARENT and link.state is LinkState.LINKED and link.local_slug not in slugs:
                try:
                    if user_id in await self.gateway.current_joined(link.remote_space):
                        slugs.add(link.local_slug)
                except MatrixError as exc:
                    log.info("cannot read who joined %s: %s", link.remote_space, exc)
        return frozenset(slugs)

    async def remote_listing(self) -> Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """slug → (labels of its remote umbrellas, labels of its remote nested assemblies)."""
        parents: dict[str, list[str]] = {}
        children: dict[str, list[str]] = {}
        for link in await self.store.links():
            if link.state is not LinkState.LINKED:
                continue
            label = f"{link.remote_label or link.remote_space} (on {server_of(link.peer)}, run by {link.peer})"
            (parents if link.side is Side.CHILD else children).setdefault(link.local_slug, []).append(label)
        return {slug: (tuple(parents.get(slug, ())), tuple(children.get(slug, ())))
                for slug in set(parents) | set(children)}
