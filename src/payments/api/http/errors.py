"""The error model (payments.errors) on HTTP: one status per kind, one body ``{"error": {...}}``.

Never a 500 for bad input. Routes declare the answers they can give with ``error_responses(...)`` so
that OpenAPI documents every one with this body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from payments.api.schemas import PaymentOut
from payments.checkout.cancel import AlreadyPaid
from payments.errors import Busy, ErrorKind, ServiceError
from payments.pages.error_pages import page_error

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FAILED_PRECONDITION: 409,
    ErrorKind.UNAVAILABLE: 502,
    ErrorKind.BUSY: 503,
}

_DESCRIPTIONS = {
    400: "The request cannot be read (for example a bad signature or a body that is not JSON)",
    401: "No valid token",
    403: "The token may not see this resource",
    404: "No such resource",
    409: "Clashes with an earlier request or with the resource's state; `code` says which",
    413: "The body is larger than this route accepts",
    422: "A field is invalid; `field` names it",
    502: "Stripe failed or could not be reached; the same request may be retried",
    503: "Busy (every export connection in use); retry after Retry-After seconds",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorDetail
    # Only with already_paid / order_already_paid: the payment as it now is, so no second call is needed.
    payment: PaymentOut | None = None


def error_responses(*kinds: ErrorKind, extra: tuple[int, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the errors a route can answer with."""
    statuses = sorted({HTTP_STATUS[kind] for kind in kinds} | set(extra))
    return {status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]} for status in statuses}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def service_error_response(exc: ServiceError) -> JSONResponse:
    """The answer to any service error, for FastAPI's handler and for the endpoints ahead of it."""
    if isinstance(exc, AlreadyPaid):
        # The caller learns what became of the payment without a second call.
        payment = PaymentOut.of(exc.payment).model_dump(mode="json")
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}, "payment": payment},
            status_code=HTTP_STATUS[exc.kind],
        )
    response = error_response(HTTP_STATUS[exc.kind], exc.code, exc.message, exc.field)
    if exc.kind is ErrorKind.UNAUTHENTICATED:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, Busy):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return service_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        html = page_error(request.url.path, HTTP_STATUS[ErrorKind.INVALID], message)
        if html is not None:
            return html
        return error_response(HTTP_STATUS[ErrorKind.INVALID], "validation_error", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # A person who mistypes a console or dashboard address gets a page, not the API's JSON.
        html = page_error(request.url.path, exc.status_code)
        if html is not None:
            return html
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
