"""What a user may do in a room by its power levels (the spec's auth rules, v1–v12), read from the room's
``m.room.create`` and ``m.room.power_levels`` contents.

nio's ``MatrixRoom.power_levels`` cannot answer this for v12 rooms: it knows nothing of creators, who
have infinite power there (and must not appear in ``users``). Missing keys take the spec's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["creators_of", "may_redact_others", "user_level"]

#: Room versions where the creator has only the power ``users`` gives it (v12 made creators infinite).
_ORDINARY_CREATOR_VERSIONS = frozenset(str(v) for v in range(1, 12))

#: The spec's default levels for keys a power levels event leaves out.
_DEFAULT_REDACT = 50
_DEFAULT_EVENTS = 0


def creators_of(create_content: Mapping[str, Any], create_sender: str) -> frozenset[str]:
    """The users with infinite power in a room: in v12 and later its creator and ``additional_creators``;
    none in earlier versions (``room_version`` absent means v1)."""
    version = str(create_content.get("room_version", "1"))
    if version in _ORDINARY_CREATOR_VERSIONS:
        return frozenset()
    extra = create_content.get("additional_creators")
    return frozenset([create_sender, *(u for u in extra if isinstance(u, str))] if isinstance(extra, list)
                     else [create_sender])


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def user_level(power_levels: Mapping[str, Any] | None, user_id: str, *,
               creators: frozenset[str] = frozenset()) -> float:
    """``user_id``'s level: infinite for a creator (v12), else ``users[user_id]`` or ``users_default``.
    Without a power levels event, only the creator of a v1–v11 room has 100 (pass it in ``users``
    of a synthesised content); everyone else 0."""
    if user_id in creators:
        return float("inf")
    content = power_levels or {}
    users = content.get("users")
    if isinstance(users, Mapping) and user_id in users:
        return _int(users[user_id], 0)
    return _int(content.get("users_default"), 0)


def may_redact_others(power_levels: Mapping[str, Any] | None, user_id: str, *,
                      creators: frozenset[str] = frozenset()) -> bool:
    """Whether ``user_id`` may redact other people's events (their reactions): level ≥ ``redact`` and
    ≥ the level to send ``m.room.redaction`` (``events`` entry, else ``events_default``)."""
    content = power_levels or {}
    level = user_level(content, user_id, creators=creators)
    events = content.get("events")
    send = (_int(events["m.room.redaction"], _DEFAULT_EVENTS)
            if isinstance(events, Mapping) and "m.room.redaction" in events
            else _int(content.get("events_default"), _DEFAULT_EVENTS))
    return level >= _int(content.get("redact"), _DEFAULT_REDACT) and level >= send
