"""One way to post: every notice, reply, thread message, direct message, keycap, redaction and state
change the bot sends goes through ``Poster``, and from there through one outbound queue
(``handlers/matrix/outbox.py``): answers first, at the pace the homeserver allows, persisted until
sent.

Content is built by ``render.notice`` (the only builder of reply and thread relations), shortened
with "…" if it would be over the homeserver's event size limit (``harmony_matrix.event_size``), and
sent with a transaction ID derived from ``txn_seed`` (so a post repeated after a crash is
deduplicated by the homeserver). It may carry marker keys (e.g. ``org.harmony.post_part``) that let
a restart find in the room what it already posted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from handlers.matrix.direct import DirectChats
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.outbox import Outbox, OutboxRecords
from handlers.matrix.render import notice
from harmony_matrix.event_size import fit_message
from harmony_matrix.event_types import REACTION, ROOM_MESSAGE
from harmony_matrix.ids import EventId, RoomId
from harmony_matrix.outbound import OutboundItem, OutboundKind, Priority


class Poster:
    """Sends the bot's posts. Built once by the composition root and handed to every feature.

    ``records`` keeps durable items across crashes (without it the queue lives in memory only, as
    in the fast tests)."""

    def __init__(self, *, gateway: MatrixGateway, direct: DirectChats, records: OutboxRecords | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gateway = gateway
        self.direct = direct
        self.outbox = Outbox(gateway=gateway, records=records, clock=clock)

    async def start(self) -> None:
        """Send what the last run left unsent, and keep sending (the composition root calls this)."""
        await self.outbox.start()

    async def close(self, *, grace_s: float = 5.0) -> None:
        """Stop sending, after up to ``grace_s`` seconds for what waits; unsent durable items wait in
        the database for the next start."""
        await self.outbox.close(grace_s=grace_s)

    async def notice(self, room_id: str, text: str, html: str | None = None, *, txn_seed: str | None = None,
                     reply_to: str | None = None, thread_root: str | None = None, mentions: Iterable[str] = (),
                     extra: Mapping[str, Any] | None = None, priority: Priority = Priority.NOTICE) -> EventId:
        """Post an ``m.notice`` in ``room_id`` and return its event ID once sent; ``extra`` adds content
        keys (markers, attachments). Answers to people go with ``priority=Priority.ANSWER``."""
        content = notice(text, html, reply_to=reply_to, thread_root=thread_root, mentions=mentions)
        if extra:
            content.update(extra)
        return await self.message(room_id, content, txn_seed=txn_seed, priority=priority)

    async def message(self, room_id: str, content: dict[str, Any], *, txn_seed: str | None = None,
                      priority: Priority = Priority.NOTICE) -> EventId:
        """Post a prepared ``m.room.message`` (an image, a file) in ``room_id``; returns its event ID."""
        item = OutboundItem(kind=OutboundKind.EVENT, room_id=room_id, priority=priority,
                            txn_seed=_seed(txn_seed), event_type=ROOM_MESSAGE, content=fit_message(content))
        return await self._sent(item)

    async def event(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_seed: str,
                    priority: Priority = Priority.NOTICE) -> EventId:
        """Send a timeline event of our own type (``org.harmony.federation`` to a peer bot): kept until
        sent like a notice, encrypted in an encrypted room; returns its event ID once sent."""
        item = OutboundItem(kind=OutboundKind.EVENT, room_id=room_id, priority=priority,
                            txn_seed=_seed(txn_seed), event_type=event_type, content=dict(content))
        return await self._sent(item)

    async def attachment(self, room_id: str, data: bytes, content: dict[str, Any], *, content_type: str,
                         txn_seed: str | None = None, priority: Priority = Priority.NOTICE) -> EventId:
        """Upload ``data`` and post ``content`` (an ``m.file`` or ``m.image`` message) pointing to it:
        ``url`` in the clear, or in an encrypted room the encrypted ``file`` with its key inside
        (``MatrixGateway.attach``). The upload is not rate-limited like messages; the message is queued."""
        filename = str(content.get("filename") or content.get("body") or "attachment")
        keys = await self.gateway.attach(room_id, data, content_type=content_type, filename=filename)
        return await self.message(room_id, {**content, **keys}, txn_seed=txn_seed, priority=priority)

    async def dm(self, user_id: str, text: str, html: str | None = None, *,
                 txn_seed: str | None = None, wait: bool = True) -> RoomId:
        """Tell one person something privately, in their direct chat with the bot (opened if needed).

        Returns the direct chat's room ID: with ``wait``, once the message is sent; without, once it
        is queued and stored (a notice that need not hold up what caused it, like telling a voter why
        a vote did not count: the outbox sends it, also after a crash, under the same transaction)."""
        room_id = await self.direct.room_for(user_id)
        if wait:
            await self.notice(room_id, text, html, txn_seed=txn_seed)
        else:
            item = OutboundItem(kind=OutboundKind.EVENT, room_id=room_id, priority=Priority.NOTICE,
                                txn_seed=_seed(txn_seed), event_type=ROOM_MESSAGE,
                                content=fit_message(notice(text, html)))
            await self.outbox.submit(item, wait=False)
        return room_id

    async def react(self, room_id: str, event_id: str, key: str, *, txn_seed: str | None = None,
                    priority: Priority = Priority.COSMETIC) -> None:
        """Put the reaction ``key`` on ``event_id`` (a poll's seed keycaps). Returns once queued and
        stored: it is sent when nothing more urgent waits; one already there counts as sent."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        item = OutboundItem(kind=OutboundKind.EVENT, room_id=room_id, priority=priority,
                            txn_seed=_seed(txn_seed), event_type=REACTION, content=content)
        await self.outbox.submit(item, wait=False)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None, *,
                     txn_seed: str | None = None, wait: bool = False, priority: Priority | None = None) -> None:
        """Redact ``event_id``. By default returns once queued and stored, and the redaction is
        cosmetic (a vote replaced by a newer one: it goes after everything else). With ``wait`` it
        returns once done, raising the homeserver's refusal (``MatrixError``), and goes with the
        notices: whoever waits for it needs it now. The same event redacted twice while waiting is
        redacted once."""
        rank = priority if priority is not None else (Priority.NOTICE if wait else Priority.COSMETIC)
        item = OutboundItem(kind=OutboundKind.REDACTION, room_id=room_id, priority=rank,
                            txn_seed=_seed(txn_seed), redacts=event_id, reason=reason)
        await self.outbox.submit(item, wait=wait)

    async def redact_many(self, redactions: Iterable[tuple[str, str, str | None]]) -> None:
        """Queue many cosmetic redactions ``(room_id, event_id, reason)`` at once (a catch-up's superseded
        votes): stored together, each with the transaction ID ``redact:<event_id>``, sent after
        everything more urgent. Returns once they are queued and stored."""
        items = [OutboundItem(kind=OutboundKind.REDACTION, room_id=room_id, priority=Priority.COSMETIC,
                              txn_seed=f"redact:{event_id}", redacts=event_id, reason=reason)
                 for room_id, event_id, reason in redactions]
        if items:
            await self.outbox.submit_many(items)

    async def put_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "", *,
                        priority: Priority = Priority.NOTICE) -> EventId:
        """Set a state event and return its event ID once set; two writes of the same state waiting
        together are sent once, with the later content."""
        item = OutboundItem(kind=OutboundKind.STATE, room_id=room_id, priority=priority, event_type=event_type,
                            content=content, state_key=state_key)
        return await self._sent(item)

    async def _sent(self, item: OutboundItem) -> EventId:
        event_id = await self.outbox.submit(item, wait=True)
        return event_id or EventId("")


def _seed(txn_seed: str | None) -> str:
    """The item's transaction seed: the caller's (derived from what caused the post), else a fresh
    one fixed now, so every retry of this item, even after a crash, is the same transaction."""
    return txn_seed if txn_seed is not None else f"outbox:{uuid.uuid4().hex}"
