"""Each Matrix errcode raises its own class (registered once, where the class is declared)."""

from __future__ import annotations

import pytest
from nio import ErrorResponse

from handlers.matrix.errors import (
    BadJson,
    DuplicateAnnotation,
    EncryptionFailed,
    Forbidden,
    InvalidParam,
    LimitExceeded,
    MatrixError,
    NotFound,
    ServerUnavailable,
    UnknownToken,
    UserInUse,
    raise_for,
)
from handlers.matrix.outbox import OutboxClosed


@pytest.mark.parametrize(("errcode", "cls"), [
    ("M_FORBIDDEN", Forbidden), ("M_NOT_FOUND", NotFound), ("M_LIMIT_EXCEEDED", LimitExceeded),
    ("M_UNKNOWN_TOKEN", UnknownToken), ("M_DUPLICATE_ANNOTATION", DuplicateAnnotation), ("M_BAD_JSON", BadJson),
    ("M_INVALID_PARAM", InvalidParam), ("M_USER_IN_USE", UserInUse),
])
def test_a_returned_error_is_raised_as_its_errcode_class(errcode: str, cls: type[MatrixError]) -> None:
    with pytest.raises(cls) as raised:
        raise_for(ErrorResponse("no", errcode, retry_after_ms=1500), "/v3/x")
    assert type(raised.value) is cls
    assert raised.value.errcode == errcode and raised.value.retry_after_ms == 1500
    assert str(raised.value) == f"{errcode}: no (/v3/x)"


def test_unknown_and_our_own_codes_raise_the_base_class() -> None:
    for errcode in ("M_SOMETHING_NEW", "HARMONY_UNAVAILABLE", "HARMONY_E2EE", "HARMONY_OUTBOX_CLOSED"):
        with pytest.raises(MatrixError) as raised:
            raise_for(ErrorResponse("no", errcode), "/v3/x")
        assert type(raised.value) is MatrixError and raised.value.errcode == errcode
    assert (ServerUnavailable("x").errcode, EncryptionFailed("x").errcode, OutboxClosed("x").errcode) == (
        "HARMONY_UNAVAILABLE", "HARMONY_E2EE", "HARMONY_OUTBOX_CLOSED")


def test_a_response_that_is_not_an_error_raises_nothing() -> None:
    raise_for(object(), "/v3/x")
