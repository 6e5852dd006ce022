"""Display names from the bot's sync cache: the rooms it is in, with their member lists.

No request is made: the bot syncs without lazy loading, so nio keeps every member (and display name)
of the rooms it holds: all of them in bot mode by default, only those heard from since the start with
``sync.full_state_at_start`` off or in appservice mode. A person in none of those rooms has no known
name here (the page shows their ID).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["SyncedDisplayNames"]


class SyncedDisplayNames:
    """``DisplayNames`` over nio's ``client.rooms`` (room ID → ``MatrixRoom``)."""

    def __init__(self, rooms: Callable[[], Mapping[str, Any]]) -> None:
        self._rooms = rooms

    def display_name(self, user_id: str, room_ids: Iterable[str]) -> str | None:
        """The name ``user_id`` shows in the first of ``room_ids`` where the bot knows one."""
        rooms = self._rooms()
        for room_id in room_ids:
            room = rooms.get(room_id)
            user = getattr(room, "users", {}).get(user_id) if room is not None else None
            name = getattr(user, "display_name", None)
            if isinstance(name, str) and name.strip():
                return name.strip()
        return None
