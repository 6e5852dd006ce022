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


class PrivateRefusal(UserError):
    """A refusal whose reason is about the person (whether they are a registered member, whether they
    take part): said to them alone, in a direct message, never in a room (the command router does it).
    ``doing`` names what was refused in the room's neutral word ("standing for the Secretary of ops");
    without it the router names the command."""

    def __init__(self, message: str, *, doing: str | None = None) -> None:
        super().__init__(message)
        self.doing = doing


class PermissionRefused(UserError):
    """The sender may not run this command here."""
