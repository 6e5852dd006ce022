"""Plain values the core stores take and return (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from harmony_matrix.ids import RoomId, UserId


@dataclass(frozen=True)
class BotSession:
    """The bot's login: reusing it on restart keeps the same device (and its E2EE keys)."""

    user_id: UserId
    device_id: str
    # Kept out of repr so a logged session does not leak the token.
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class AuditEntry:
    """One thing the bot did to someone (kick, ban, power change) and why."""

    action: str
    at: datetime
    room_id: RoomId | None = None
    target_user: UserId | None = None
    actor: UserId | None = None
    reason: str | None = None
