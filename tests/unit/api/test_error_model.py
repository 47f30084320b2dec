"""One error model, mapped once per transport: each kind has one HTTP status and one gRPC code."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from payments.api.grpc.errors import GRPC_STATUS, abort
from payments.api.http.errors import HTTP_STATUS, service_error_response
from payments.errors import (
    Conflict,
    ErrorKind,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    ServiceError,
    UpstreamError,
)
from payments.referrals.access import InvalidReferrerToken
from payments.referrals.models import (
    CommissionConflict,
    CommissionNotFound,
    ExportsBusy,
    InvalidCursor,
    NothingToPay,
)
from payments.webhooks.signature import SignatureError


def test_every_kind_has_an_answer_on_both_transports() -> None:
    assert set(HTTP_STATUS) == set(ErrorKind)
    assert set(GRPC_STATUS) == set(ErrorKind)


CASES = [
    (InvalidRequest("amount must be positive", field="amount"), 422, "INVALID_ARGUMENT", "invalid_request"),
    (SignatureError("bad_signature", "no match"), 400, "INVALID_ARGUMENT", "bad_signature"),
    (InvalidReferrerToken("the token has expired"), 401, "UNAUTHENTICATED", "invalid_token"),
    (NotFound("no payment pay_1"), 404, "NOT_FOUND", "not_found"),
    (CommissionNotFound("no commission c_1"), 404, "NOT_FOUND", "commission_not_found"),
    (Conflict("key reused", code="idempotency_conflict"), 409, "ALREADY_EXISTS", "idempotency_conflict"),
    (FailedPrecondition("too much", code="over_refund"), 409, "FAILED_PRECONDITION", "over_refund"),
    (CommissionConflict("commission c_1 is paid"), 409, "FAILED_PRECONDITION", "commission_conflict"),
    (NothingToPay("nothing approved"), 409, "FAILED_PRECONDITION", "nothing_to_pay"),
    (InvalidCursor("not ours"), 422, "INVALID_ARGUMENT", "invalid_cursor"),
    (UpstreamError("Stripe is down", code="stripe_api"), 502, "UNAVAILABLE", "stripe_api"),
    (ExportsBusy("every export connection is busy"), 503, "RESOURCE_EXHAUSTED", "exports_busy"),
]


@pytest.mark.parametrize(("error", "status", "grpc_code", "code"), CASES)
def test_an_error_answers_alike_over_http_and_grpc(
    error: ServiceError, status: int, grpc_code: str, code: str
) -> None:
    response = service_error_response(error)
    assert response.status_code == status
    body = json.loads(bytes(response.body))
    assert body["error"]["code"] == code and body["error"]["message"] == error.message
    assert body["error"].get("field") == error.field
    assert GRPC_STATUS[error.kind].name == grpc_code


def test_an_unauthenticated_answer_says_how_to_authenticate() -> None:
    response = service_error_response(InvalidReferrerToken("the token is invalid"))
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "WWW-Authenticate" not in service_error_response(NotFound("x")).headers


class _Aborted(Exception):
    pass


class _Context:
    def __init__(self) -> None:
        self.aborted: tuple[Any, ...] | None = None

    async def abort(self, code: grpc.StatusCode, details: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details, tuple(trailing_metadata))
        raise _Aborted


async def test_grpc_carries_the_stable_code_and_field_in_trailing_metadata() -> None:
    context = _Context()
    with pytest.raises(_Aborted):
        await abort(context, InvalidRequest("amount must be positive", field="amount"))  # type: ignore[arg-type]
    assert context.aborted == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_request: amount must be positive",
        (("error-code", "invalid_request"), ("error-field", "amount")),
    )


def test_a_busy_answer_says_when_to_try_again() -> None:
    response = service_error_response(ExportsBusy("every export connection is busy"))
    assert response.headers["Retry-After"] == "5"
