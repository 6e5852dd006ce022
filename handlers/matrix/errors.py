"""One exception class per Matrix errcode (as mautrix does), and the one place nio's returned errors
become raised ones (``raise_for``). ``handlers/matrix/gateway.py`` re-exports them."""

from __future__ import annotations

from typing import Any

from nio import ErrorResponse


#: errcode → the class raised for it; each class registers itself once, where it is declared.
_ERRORS: dict[str, type[MatrixError]] = {}


class MatrixError(Exception):
    """A request the homeserver refused; ``errcode`` and ``status`` are as the server sent them.

    A subclass names its errcode once, in its class line (``class Forbidden(MatrixError,
    errcode="M_FORBIDDEN")``), and is then what ``raise_for`` raises for that errcode; ``standard=False``
    keeps our own codes (``HARMONY_*``) out of that table, since no server sends them."""

    errcode = "M_UNKNOWN"

    def __init_subclass__(cls, *, errcode: str | None = None, standard: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if errcode is None:  # a refinement of its parent's errcode, not a code of its own
            return
        cls.errcode = errcode
        if standard:
            assert errcode not in _ERRORS, f"{errcode} is registered twice"
            _ERRORS[errcode] = cls

    def __init__(self, message: str, *, errcode: str | None = None, status: int | None = None,
                 retry_after_ms: int | None = None, path: str = "") -> None:
        super().__init__(f"{errcode or self.errcode}: {message} ({path})" if path else message)
        self.message = message
        self.errcode = errcode or self.errcode
        self.status = status
        self.retry_after_ms = retry_after_ms
        self.path = path


class Forbidden(MatrixError, errcode="M_FORBIDDEN"):
    """Not allowed: too little power, not in the room, or a server ACL."""


class NotFound(MatrixError, errcode="M_NOT_FOUND"):
    """No such room, event, alias or profile."""


class LimitExceeded(MatrixError, errcode="M_LIMIT_EXCEEDED"):
    """Rate-limited: ``retry_after_ms`` says when to try again (the outbox honours it)."""


class UnknownToken(MatrixError, errcode="M_UNKNOWN_TOKEN"):
    """The access token is not (or no longer) valid."""


class DuplicateAnnotation(MatrixError, errcode="M_DUPLICATE_ANNOTATION"):
    """This reaction is already there (a retried seed counts as sent)."""


class BadJson(MatrixError, errcode="M_BAD_JSON"):
    """The server could not read the request body as it expects it."""


class InvalidParam(MatrixError, errcode="M_INVALID_PARAM"):
    """A parameter is malformed, e.g. a room version or an alias the server will not take."""


class UserInUse(MatrixError, errcode="M_USER_IN_USE"):
    """Registration: the user ID is taken (the local Synapse's test users)."""


class ServerUnavailable(MatrixError, errcode="HARMONY_UNAVAILABLE", standard=False):
    """The homeserver did not answer (connection refused, timeouts) after nio's retries."""


def raise_for(response: Any, path: str) -> None:
    """Turn a nio ErrorResponse into the matching MatrixError subclass."""
    if isinstance(response, ErrorResponse):
        errcode = str(response.status_code or "M_UNKNOWN")
        status = getattr(getattr(response, "transport_response", None), "status", None)
        cls = _ERRORS.get(errcode, MatrixError)
        raise cls(response.message or errcode, errcode=errcode, status=status,
                  retry_after_ms=response.retry_after_ms, path=path)


class EncryptionFailed(MatrixError, errcode="HARMONY_E2EE", standard=False):
    """nio refused to encrypt for an encrypted room (e.g. the members or their devices could not be
    loaded): the message was not sent, and never in the clear."""
