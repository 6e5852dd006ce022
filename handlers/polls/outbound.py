"""What the polls feature does to the chat besides posting its own poll messages, in one place:
removing (redacting) votes and ballots, telling a voter something privately, and asking whether a
direct chat is encrypted.

Everything goes out through ``Poster`` (the outbound queue); kept together so that a change of that
path is an edit here only. Every redaction carries a transaction ID derived from the event it
removes, so a redaction repeated after a crash is the same request to the homeserver.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from harmony_matrix.event_types import ROOM_CREATE, ROOM_POWER_LEVELS
from harmony_matrix.power import creators_of, may_redact_others

log = logging.getLogger(__name__)

#: Redaction reasons, visible in the room to everyone: they never say why a vote was refused (that
#: could tell the room someone is not a registered member); the voter is told privately.
REPLACED = "replaced by a newer score on this option"
OUTDATED = "a newer score on this option counts"
REPLACED_BY_DM = "replaced by a ballot sent by direct message"
NOT_COUNTED = "not counted; the voter was told privately why"
SECRET_REACTION = "secret ballot: vote by direct message"
BALLOT_RECORDED = "ballot recorded"
BALLOT_NOT_RECORDED = "ballot not recorded: this chat is not encrypted"


class PollOutbound:
    """Redactions, private notices and the encryption check of the polls feature."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster) -> None:
        self.gateway = gateway
        self.poster = poster

    async def redact(self, room_id: str, event_id: str, reason: str) -> None:
        """Remove ``event_id`` from ``room_id`` (a vote that does not count): queued behind everything more
        urgent; a refusal is logged by the queue (the recount at close tries a refused vote again)."""
        await self.poster.redact(room_id, event_id, reason, txn_seed=f"redact:{event_id}")

    async def remove_now(self, room_id: str, event_id: str, reason: str) -> bool:
        """Remove ``event_id`` (a ballot message) before answering its sender; False (logged, not raised)
        when the server refused, e.g. because the bot lacks the power to remove others' messages there."""
        try:
            await self.poster.redact(room_id, event_id, reason, txn_seed=f"redact:{event_id}", wait=True)
        except MatrixError as exc:
            log.warning("could not redact %s in %s: %s", event_id, room_id, exc.errcode)
            return False
        return True

    async def redact_many(self, redactions: list[tuple[str, str, str]]) -> None:
        """Queue many ``redact`` at once ``(room_id, event_id, reason)``: a catch-up's superseded votes,
        stored in one write."""
        await self.poster.redact_many(redactions)

    async def tell(self, user_id: str, text: str, *, txn_seed: str) -> bool:
        """Tell ``user_id`` something in their direct chat with the bot: queued (and stored) for the
        outbox, not waited for; False (logged) when even that failed, e.g. no direct chat could be
        opened."""
        try:
            await self.poster.dm(user_id, text, txn_seed=txn_seed, wait=False)
        except MatrixError as exc:
            log.warning("could not send a private notice (%s): %s", txn_seed.split(":", 1)[0], exc.errcode)
            return False
        return True

    async def may_remove_reactions(self, room_id: str) -> bool | None:
        """Whether the bot may redact other people's reactions in ``room_id`` (``power.may_redact_others``
        on the room's create event and power levels); None when the room's state cannot be read."""
        try:
            power = await self.gateway.get_state_event(room_id, ROOM_POWER_LEVELS)
            create = await self.gateway.request("GET", f"/v3/rooms/{quote(room_id)}/state/{ROOM_CREATE}/",
                                                query={"format": "event"})
        except MatrixError as exc:
            log.warning("could not read the power levels of %s: %s", room_id, exc.errcode)
            return None
        inner = create.get("content")
        content = inner if isinstance(inner, dict) else create
        creators = creators_of(content, str(create.get("sender", "")))
        return may_redact_others(power, self.gateway.user_id, creators=creators)

    async def is_encrypted(self, room_id: str) -> bool:
        """Whether ``room_id`` is end-to-end encrypted (its ``m.room.encryption`` state, as the gateway
        knows it)."""
        return await self.gateway.is_encrypted(room_id)
