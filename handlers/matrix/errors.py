"""One exception class per Matrix errcode (as mautrix does), and the one place nio's returned errors
become raised ones (``raise_for``). ``handlers/matrix/gateway.py`` re-exports them."""

from __future__ import annotations

from typing import Any

from nio import ErrorResponse


class MatrixError(Exception):
    """A request the homeserver refused; ``errcode`` and ``status`` are as the server sent them."""

    errcode = "M_UNKNOWN"

    def __init__(self, message: str, *, errcode: str | None = None, status: int | None = None,
                 retry_after_ms: int | None = None, path: str = "") -> None:
        super().__init__(f"{errcode or self.errcode}: {message} ({path})" if path else message)
        self.message = message
        self.errcode = errcode or self.errcode
        self.status = status
        self.retry_after_ms = retry_after_ms
        self.path = path


class Forbidden(MatrixError):
    errcode = "M_FORBIDDEN"


class NotFound(MatrixError):
    errcode = "M_NOT_FOUND"


class LimitExceeded(MatrixError):
    errcode = "M_LIMIT_EXCEEDED"


class UnknownToken(MatrixError):
    errcode = "M_UNKNOWN_TOKEN"


class DuplicateAnnotation(MatrixError):
    errcode = "M_DUPLICATE_ANNOTATION"


class BadJson(MatrixError):
    errcode = "M_BAD_JSON"


class InvalidParam(MatrixError):
    errcode = "M_INVALID_PARAM"


class UserInUse(MatrixError):
    errcode = "M_USER_IN_USE"


class ServerUnavailable(MatrixError):
    """The homeserver did not answer (connection refused, timeouts) after nio's retries."""

    errcode = "HARMONY_UNAVAILABLE"


_ERRORS: dict[str, type[MatrixError]] = {
    cls.errcode: cls
    for cls in (Forbidden, NotFound, LimitExceeded, UnknownToken, DuplicateAnnotation, BadJson,
                InvalidParam, UserInUse)
}


def raise_for(response: Any, path: str) -> None:
    """Turn a nio ErrorResponse into the matching MatrixError subclass."""
    if isinstance(response, ErrorResponse):
        errcode = str(response.status_code or "M_UNKNOWN")
        status = getattr(getattr(response, "transport_response", None), "status", None)
        cls = _ERRORS.get(errcode, MatrixError)
        raise cls(response.message or errcode, errcode=errcode, status=status,
                  retry_after_ms=response.retry_after_ms, path=path)


class EncryptionFailed(MatrixError):
    """nio refused to encrypt for an encrypted room (e.g. the members or their devices could not be
    loaded): the message was not sent, and never in the clear."""

    errcode = "HARMONY_E2EE"
