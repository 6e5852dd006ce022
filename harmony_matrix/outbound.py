"""What the bot sends, and in which order: the rules of the outbound queue.

Every event the bot sends (a reply, a notice, a poll's posts, a seed keycap, a redaction, a state
change) is an ``OutboundItem``. Under the homeserver's rate limit they cannot all go at once, so
they go in ``send_order``: answers to people first, then notices and state, then cosmetic sends
(seed keycaps, redactions that tidy up replaced votes); first come, first served within a rank.

Two pending items that would do the same thing are one (``coalesce_key``): the same keycap on the
same message, the same event redacted twice, or two writes of the same state (the later content
wins). This module is pure: ``handlers/matrix/outbox.py`` does the sending and the retrying.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from harmony_matrix.event_types import REACTION


class Priority(enum.IntEnum):
    """How soon an item goes out; lower goes first."""

    ANSWER = 0  # a reply to what someone just asked
    NOTICE = 1  # notices, a poll's posts, direct messages, state changes
    COSMETIC = 2  # seed keycaps, tidying redactions, edits that only improve what is there


class OutboundKind(enum.Enum):
    """What the homeserver is asked to do."""

    EVENT = "event"  # PUT /rooms/{room}/send/{type}/{txn}
    REDACTION = "redaction"  # PUT /rooms/{room}/redact/{event}/{txn}
    STATE = "state"  # PUT /rooms/{room}/state/{type}/{state_key}


@dataclass(frozen=True)
class OutboundItem:
    """One send, as it waits in the queue (and, when ``durable``, in the database).

    ``txn_seed`` makes the transaction ID, so sending the same item again (after a timeout or a
    crash) is deduplicated by the homeserver rather than posted twice."""

    kind: OutboundKind
    room_id: str
    priority: Priority
    txn_seed: str = ""
    event_type: str = ""  # EVENT and STATE
    content: Mapping[str, Any] = field(default_factory=dict)  # EVENT and STATE
    state_key: str = ""  # STATE
    redacts: str = ""  # REDACTION: the event to redact
    reason: str | None = None  # REDACTION

    @property
    def durable(self) -> bool:
        """Whether losing the item in a crash would lose meaning (timeline sends). A state write is
        not kept: its caller waits for it, and the state is reconciled from the registry anyway."""
        return self.kind is not OutboundKind.STATE

    @property
    def coalesce_key(self) -> str | None:
        """Items with the same key do the same thing: only one of them is sent."""
        if self.kind is OutboundKind.STATE:
            return f"state\0{self.room_id}\0{self.event_type}\0{self.state_key}"
        if self.kind is OutboundKind.REDACTION:
            return f"redact\0{self.room_id}\0{self.redacts}"
        if self.event_type == REACTION:
            relates = self.content.get("m.relates_to")
            if isinstance(relates, Mapping):
                return f"react\0{self.room_id}\0{relates.get('event_id')}\0{relates.get('key')}"
        return None

    def describe(self) -> str:
        """A log-safe description: what and where, never the content (it may be private)."""
        if self.kind is OutboundKind.REDACTION:
            return f"redaction of {self.redacts} in {self.room_id}"
        if self.kind is OutboundKind.STATE:
            return f"state {self.event_type} in {self.room_id}"
        return f"{self.event_type} in {self.room_id}"


@dataclass(frozen=True)
class StoredOutbound:
    """A durable item as the database keeps it until it is sent."""

    id: int
    item: OutboundItem
    queued_at: datetime


def coalesce(pending: OutboundItem, newer: OutboundItem) -> OutboundItem:
    """The one item to send for two with the same ``coalesce_key``: the pending one keeps its place
    and transaction; a state write takes the newer content, and the more urgent priority wins."""
    priority = min(pending.priority, newer.priority)
    if pending.kind is OutboundKind.STATE:
        return replace(pending, content=newer.content, priority=priority)
    return replace(pending, priority=priority)


def send_order(priority: Priority, sequence: int) -> tuple[int, int]:
    """The sort key of a pending item: by priority, then first come, first served."""
    return (int(priority), sequence)
