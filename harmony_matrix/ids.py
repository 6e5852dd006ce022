"""Typed Matrix identifiers used across the core."""

from __future__ import annotations

from typing import NewType

UserId = NewType("UserId", str)
RoomId = NewType("RoomId", str)
EventId = NewType("EventId", str)


def server_of(user_id: str) -> str:
    """Return the server part of a Matrix user ID (``@alice:example.org`` → ``example.org``)."""
    _, _, server = user_id.partition(":")
    return server


def looks_like_user_id(text: str) -> bool:
    """A cheap syntactic check for ``@localpart:server``."""
    return text.startswith("@") and ":" in text[2:] and " " not in text
