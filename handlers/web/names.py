"""Display names from the bot's sync cache: the rooms it is in, with their member lists.

No request is made: the bot syncs without lazy loading, so nio keeps every member (and display name)
of the rooms it holds: all of them with ``sync.full_state_at_start`` on, otherwise (and in appservice
mode) the rooms heard from since the start. For the other rooms, the names the bot's last read of their
member list gave (``MatrixGateway.read_display_names``: the start-up sweep reads every room, each full
sweep again). A person in none of the rooms has no known name here (the page shows their ID).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["SyncedDisplayNames"]


class SyncedDisplayNames:
    """``DisplayNames`` over nio's ``client.rooms`` (room ID → ``MatrixRoom``), then the names read with
    the rooms' member lists (room ID → person → name)."""

    def __init__(self, rooms: Callable[[], Mapping[str, Any]],
                 read: Callable[[], Mapping[str, Mapping[str, str]]] = dict) -> None:
        self._rooms = rooms
        self._read = read

    def display_name(self, user_id: str, room_ids: Iterable[str]) -> str | None:
        """The name ``user_id`` shows in the first of ``room_ids`` where the bot knows one."""
        room_ids = list(room_ids)
        rooms = self._rooms()
        for room_id in room_ids:
            room = rooms.get(room_id)
            user = getattr(room, "users", {}).get(user_id) if room is not None else None
            name = getattr(user, "display_name", None)
            if isinstance(name, str) and name.strip():
                return name.strip()
        read = self._read()
        for room_id in room_ids:
            name = read.get(room_id, {}).get(user_id)
            if name:
                return name
        return None
