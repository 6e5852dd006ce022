"""The encrypted room this bot shares with each peer bot: found, opened, and written in.

A peer room is private (invite only, the two bots), end-to-end encrypted, opened by whichever bot
first has something to say. A message is sent only once the peer has joined: before that its device
would get no key for it (Megolm keys go to the devices of members) and could never read it. Until
then the message waits (``pending``), and is sent when the peer joins (``flush``); a link stuck at
"requested" across a restart is asked again with the same idempotency key.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from harmony_matrix.event_types import HARMONY_FEDERATION, MEGOLM_ALGORITHM, ROOM_ENCRYPTION
from harmony_matrix.federation_peers.messages import FederationMessage
from harmony_matrix.ids import RoomId

log = logging.getLogger(__name__)


class PeerRoomRecords(Protocol):
    """Which room is shared with which peer (``storage.federation.stores.FederationStore``)."""

    async def peer_room(self, peer: str) -> RoomId | None: ...
    async def remember_peer_room(self, peer: str, room_id: str) -> None: ...


class PeerRooms:
    """Sends protocol messages to peers in the room shared with each."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster, records: PeerRoomRecords) -> None:
        self.gateway = gateway
        self.poster = poster
        self.records = records
        #: Messages waiting for their peer to join the room: peer → [(message, body)].
        self.pending: dict[str, list[tuple[FederationMessage, str]]] = {}

    async def room_for(self, peer: str) -> RoomId:
        """The room shared with ``peer``, opened (and the peer invited) if there is none."""
        room = await self.records.peer_room(peer)
        if room is not None and self.gateway.user_id in await self.gateway.current_members(room):
            return room
        room = await self.gateway.create_room({
            "preset": "private_chat", "invite": [peer],
            "name": f"harmony federation: {self.gateway.server_name} ↔ {peer.partition(':')[2]}",
            "topic": "Messages between two harmony-matrix instances (docs/FEDERATION.md).",
            "power_level_content_override": {"invite": 100},
            "initial_state": [{"type": ROOM_ENCRYPTION, "state_key": "", "content": {"algorithm": MEGOLM_ALGORITHM}}],
        })
        await self.records.remember_peer_room(peer, room)
        log.info("opened the peer room %s with %s", room, peer)
        return room

    async def adopt(self, peer: str, room_id: str) -> None:
        """``peer`` wrote to us in ``room_id`` (an encrypted room of us two): answer there from now on."""
        if await self.records.peer_room(peer) != room_id:
            await self.records.remember_peer_room(peer, room_id)

    async def send(self, peer: str, message: FederationMessage, body: str) -> bool:
        """Send ``message`` to ``peer`` now if it is in our room, else keep it for ``flush``. True if sent."""
        try:
            room = await self.room_for(peer)
            if peer not in await self.gateway.current_joined(room):
                self.pending.setdefault(peer, []).append((message, body))
                log.info("%s has not joined the peer room yet: %s waits", peer, message.kind.value)
                return False
        except MatrixError as exc:
            self.pending.setdefault(peer, []).append((message, body))
            log.warning("cannot reach the peer room with %s (%s): %s waits", peer, exc, message.kind.value)
            return False
        await self._post(room, message, body)
        return True

    async def flush(self) -> None:
        """Send what waits for peers that have joined since."""
        for peer in list(self.pending):
            waiting = self.pending.pop(peer)
            for index, (message, body) in enumerate(waiting):
                if not await self.send(peer, message, body):
                    # Still not there: keep the rest, in order, behind the one just re-queued.
                    self.pending[peer].extend(waiting[index + 1:])
                    break

    async def _post(self, room: RoomId, message: FederationMessage, body: str) -> None:
        content: dict[str, Any] = message.to_content(body)
        # The transaction ID comes from the idempotency key: a resend is deduplicated by the homeserver too.
        await self.poster.event(room, HARMONY_FEDERATION, content, txn_seed=f"federation:{message.key}")
