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


#: The spec's limit on a user ID (appendices#user-identifiers), in bytes of UTF-8.
MAX_USER_ID_LENGTH = 255


def looks_like_user_id(text: str) -> bool:
    """The one syntactic check for ``@localpart:server`` (and the spec's length limit)."""
    return (text.startswith("@") and ":" in text[2:] and " " not in text
            and len(text.encode("utf-8")) <= MAX_USER_ID_LENGTH)


def parse_user_id(text: str) -> UserId:
    """``text`` as a ``UserId``; a ValueError says what a user ID looks like."""
    if not looks_like_user_id(text):
        shown = text if len(text) <= 60 else text[:57] + "…"
        raise ValueError(f'"{shown}" is not a Matrix user ID like @name:server')
    return UserId(text)
