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


#: The Matrix specification's limit on a user ID (appendices, "User Identifiers"), in bytes of UTF-8.
MAX_USER_ID_LENGTH = 255


def looks_like_user_id(text: str) -> bool:
    """The one syntactic check for ``@localpart:server``: both parts non-empty, no whitespace, and
    within the Matrix specification's length limit."""
    localpart, colon, server = text[1:].partition(":")
    return (text.startswith("@") and bool(localpart) and bool(colon) and bool(server)
            and not any(character.isspace() for character in text)
            and len(text.encode("utf-8")) <= MAX_USER_ID_LENGTH)


def parse_user_id(text: str) -> UserId:
    """``text`` as a ``UserId``; a ValueError says what a user ID looks like."""
    if not looks_like_user_id(text):
        shown = text if len(text) <= 60 else text[:57] + "…"
        raise ValueError(f'"{shown}" is not a Matrix user ID like @name:server')
    return UserId(text)
