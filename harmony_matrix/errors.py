"""Errors meant for the people using the bot (as opposed to log messages)."""

from __future__ import annotations


class UserError(Exception):
    """Something the user did that we can explain to them in one sentence.

    ``message`` is safe to post in the room the command came from: it never contains
    sensitive data (membership status, self-declarations).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermissionRefused(UserError):
    """The sender may not run this command here."""
