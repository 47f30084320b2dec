"""``POST /v1/payments`` answered ahead of FastAPI's stack when the request is well-formed.

Orders calls this once per order, and each call waits on Stripe; FastAPI's middleware, routing, request
objects and dependency solving were a fifth of the CPU a payment cost. So a request that will plainly
succeed as far as HTTP goes (the service token, a JSON body within the limit that ``CreatePaymentBody``
accepts, no query string) is answered here: the same service call (``payments.created_payment``), the
same answer, the same error body (``errors.service_error_response``).

Anything else goes to FastAPI untouched, with the body replayed if it was read: a missing token, a body
that is not JSON or fails validation, a chunked or oversized body. Those answers (401, 400, 422, 413)
therefore come from the one place that makes them for every route, and cannot drift from it.

As for the webhook endpoint, the skipped middleware's duties are done here: the request id (echoed,
bound to the log context), the HTTP metrics, the last-resort 500. FastAPI's own OpenTelemetry server span
is skipped; the service's ``payments.create_payment`` span is not.
"""

from __future__ import annotations

import json
import time

import structlog
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from payments.api.http.auth import bearer_token, is_service_token
from payments.api.http.bare import (
    INTERNAL_ERROR,
    Disconnected,
    RouteMetrics,
    TooLarge,
    answer,
    content_length,
    new_request_id,
    read_body,
    replaying,
    route_path,
    with_request_id,
)
from payments.api.http.errors import service_error_response
from payments.api.http.limits import body_limit_for, send_too_large
from payments.api.http.payments import created_payment
from payments.api.schemas import CreatePaymentBody
from payments.bootstrap import Container
from payments.errors import ServiceError

log = structlog.get_logger(__name__)

PATH = "/v1/payments"
MAX_BODY = body_limit_for(PATH)
MAX_IDEMPOTENCY_KEY = 255  # as the route's header parameter says


class _Head:
    """The headers that decide whether this request is ours, each seen at most once."""

    __slots__ = ("authorization", "content_type", "declared", "idempotency_key", "repeated", "request_id")

    def __init__(self, scope: Scope) -> None:
        self.authorization: bytes | None = None
        self.content_type: bytes | None = None
        self.declared: int | None = None
        self.idempotency_key: bytes | None = None
        self.request_id: bytes | None = None
        self.repeated = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                self.repeated |= self.authorization is not None
                self.authorization = value
            elif key == b"content-type":
                self.repeated |= self.content_type is not None
                self.content_type = value
            elif key == b"content-length":
                self.repeated |= self.declared is not None
                self.declared = content_length(value)
            elif key == b"idempotency-key":
                self.repeated |= self.idempotency_key is not None
                self.idempotency_key = value
            elif key == b"x-request-id" and self.request_id is None:
                self.request_id = value

    def plain(self, c: Container) -> bool:
        """True when FastAPI would not refuse the request before validating its body."""
        return (
            not self.repeated
            and self.content_type is not None
            and self.content_type.split(b";", 1)[0].strip().lower() == b"application/json"
            and self.declared is not None
            and self.declared <= MAX_BODY
            and (self.idempotency_key is None or 0 < len(self.idempotency_key) <= MAX_IDEMPOTENCY_KEY)
            and is_service_token(c, bearer_token((self.authorization or b"").decode("latin-1")))
        )


class CreatePaymentEndpoint:
    """ASGI middleware that answers a plain ``POST /v1/payments`` itself; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, container: Container) -> None:
        self.app = app
        self._container = container
        self._metrics = RouteMetrics("POST", PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        head = _Head(scope)
        if scope["query_string"] or not head.plain(self._container):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id(head.request_id)
        try:
            raw = await read_body(receive, MAX_BODY)
        except Disconnected:
            self._metrics.observe(499, started)
            return
        except TooLarge:  # longer than it said (uvicorn frames by Content-Length, so not under it)
            await send_too_large(with_request_id(send, request_id))
            self._metrics.observe(413, started)
            return
        body = _valid_body(raw)
        if body is None:
            await self.app(scope, replaying(raw, receive), send)
            return
        status, answered = await self._answer(body, head, request_id)
        try:
            if isinstance(answered, bytes):
                await answer(send, status, answered, request_id)
            else:
                await answered(scope, receive, with_request_id(send, request_id))
        finally:
            self._metrics.observe(status, started)

    async def _answer(
        self, body: CreatePaymentBody, head: _Head, request_id: str
    ) -> tuple[int, bytes | Response]:
        """The answer (the payment's JSON, or an error response), built before a byte of it is sent, so a
        fault is never answered twice."""
        key = head.idempotency_key.decode("latin-1") if head.idempotency_key is not None else None
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            status, payment = await created_payment(self._container, body, key)
            return status, payment.model_dump_json().encode()
        except ServiceError as exc:
            response = service_error_response(exc)
            return response.status_code, response
        except Exception:
            log.exception("http.unhandled", method="POST", route=PATH)
            return 500, INTERNAL_ERROR
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


def _valid_body(raw: bytes) -> CreatePaymentBody | None:
    """The body as FastAPI would read it (``json.loads``, then the model), or None for FastAPI to answer:
    a ValueError (json's, pydantic's) or anything else (a RecursionError from deep nesting) alike."""
    try:
        return CreatePaymentBody.model_validate(json.loads(raw))
    except Exception:
        return None
