"""One error shape: ``{"error": {"code", "message", "field"?}}``; never a 500 for bad input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from payments.adapters.stripe_gateway.signature import SignatureError
from payments.errors import Conflict, Forbidden, InvalidRequest, NotFound, ServiceError, UpstreamError
from payments.referrals.models import (
    CommissionConflict,
    CommissionError,
    CommissionNotFound,
    InvalidReportQuery,
    NothingToPay,
)

_STATUS: dict[type[ServiceError], int] = {
    InvalidRequest: 422,
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    UpstreamError: 502,
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        return error_response(status, exc.code, exc.message, exc.field)

    @app.exception_handler(CommissionError)
    async def _commission(_: Request, exc: CommissionError) -> JSONResponse:
        status, code = 400, "commission_error"
        if isinstance(exc, CommissionNotFound):
            status, code = 404, "not_found"
        elif isinstance(exc, CommissionConflict | NothingToPay):
            status, code = (
                409,
                "commission_conflict" if isinstance(exc, CommissionConflict) else "nothing_to_pay",
            )
        elif isinstance(exc, InvalidReportQuery):
            status, code = 422, "invalid_report_query"
        return error_response(status, code, str(exc))

    @app.exception_handler(SignatureError)
    async def _signature(_: Request, exc: SignatureError) -> JSONResponse:
        return error_response(400, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return error_response(422, "validation_error", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
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
