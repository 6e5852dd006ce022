"""One way to post: every notice, reply, thread message and direct message the bot sends goes through
``Poster``.

Content is built by ``render.notice`` (the only builder of reply and thread relations), sent as an
``m.room.message`` through the gateway with a transaction ID derived from ``txn_seed`` (so a post
repeated after a crash is deduplicated by the homeserver), and may carry marker keys (e.g.
``org.harmony.post_part``) that let a restart find in the room what it already posted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from handlers.matrix.direct import DirectChats
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.render import notice
from harmony_matrix.event_types import ROOM_MESSAGE
from harmony_matrix.ids import EventId, RoomId


class Poster:
    """Sends the bot's notices. Built once by the composition root and handed to every feature."""

    def __init__(self, *, gateway: MatrixGateway, direct: DirectChats) -> None:
        self.gateway = gateway
        self.direct = direct

    async def notice(self, room_id: str, text: str, html: str | None = None, *, txn_seed: str | None = None,
                     reply_to: str | None = None, thread_root: str | None = None, mentions: Iterable[str] = (),
                     extra: Mapping[str, Any] | None = None) -> EventId:
        """Post an ``m.notice`` in ``room_id``; ``extra`` adds content keys (markers, attachments)."""
        content = notice(text, html, reply_to=reply_to, thread_root=thread_root, mentions=mentions)
        if extra:
            content.update(extra)
        return await self.gateway.send_event(room_id, ROOM_MESSAGE, content, txn_seed=txn_seed)

    async def message(self, room_id: str, content: dict[str, Any], *, txn_seed: str | None = None) -> EventId:
        """Post a prepared ``m.room.message`` (an image, a file) in ``room_id``."""
        return await self.gateway.send_event(room_id, ROOM_MESSAGE, content, txn_seed=txn_seed)

    async def dm(self, user_id: str, text: str, html: str | None = None, *,
                 txn_seed: str | None = None) -> RoomId:
        """Tell one person something privately, in their direct chat with the bot (opened if needed).

        Returns the direct chat's room ID."""
        room_id = await self.direct.room_for(user_id)
        await self.notice(room_id, text, html, txn_seed=txn_seed)
        return room_id
