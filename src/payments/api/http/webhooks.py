"""The Stripe webhook endpoint as bare ASGI, answered ahead of FastAPI's routing and middleware.

Stripe signs instead of sending our token, so there is nothing for FastAPI to do here but cost CPU: at
webhook rates its routing, request objects and the middleware stack were a tenth of the handler's time.
Because the middleware is skipped, this endpoint does its own share of it: the body limit (a declared
Content-Length over the limit is refused before a byte is read; a chunked or lying body is counted as it
arrives and refused the moment it passes), the request id header, the HTTP metrics, and the last-resort
500. It logs nothing when nothing is wrong.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from payments.api.http.bare import (
    INTERNAL_ERROR,
    Disconnected,
    RouteMetrics,
    TooLarge,
    answer,
    content_length,
    new_request_id,
    read_body,
    route_path,
)
from payments.api.http.errors import HTTP_STATUS
from payments.api.http.limits import TOO_LARGE, body_limit_for
from payments.errors import ServiceError
from payments.webhooks.processor import WebhookProcessor
from payments.webhooks.signature import SignatureError

log = structlog.get_logger(__name__)

PATH = "/v1/webhooks/stripe"
MAX_BODY = body_limit_for(PATH)  # the one table of body limits (api/http/limits.py): 512 KiB

_RECEIVED = b'{"received":true,"duplicate":false}'
# The route as OpenAPI shows it: answered ahead of FastAPI, so no FastAPI route describes it.
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
OPENAPI: dict[str, Any] = {
    "post": {
        "summary": "Receive a Stripe event",
        "operationId": "receive_stripe_event",
        "description": "Stripe's webhook: the event, signed under the Stripe-Signature header; applied "
        "exactly once. An answer other than 200 makes Stripe deliver it again.",
        "parameters": [
            {"name": "Stripe-Signature", "in": "header", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "200": {
                "description": "Received (duplicate: this event was applied before)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"received": {"type": "boolean"}, "duplicate": {"type": "boolean"}},
                        }
                    }
                },
            },
            "400": {"description": "Signature missing, invalid or stale; or an unreadable body", **_ERROR},
            "409": {"description": "An event of the other livemode: stored as failed", **_ERROR},
            "413": {"description": "Body over 512 KiB", **_ERROR},
            "500": {"description": "Internal error: Stripe delivers it again", **_ERROR},
            "502": {"description": "Stripe could not list the charge's refunds: delivered again", **_ERROR},
        },
    }
}
_DUPLICATE = b'{"received":true,"duplicate":true}'
_NOT_ALLOWED = json.dumps({"error": {"code": "method_not_allowed", "message": "Method Not Allowed"}}).encode()


class StripeWebhookEndpoint:
    """ASGI middleware that answers ``PATH`` itself and passes everything else on to ``app``."""

    def __init__(self, app: ASGIApp, processor: WebhookProcessor) -> None:
        self.app = app
        self._processor = processor
        self._metrics = RouteMetrics("POST", PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) != PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id, declared, signature = _headers(scope)
        status = 500
        try:
            if scope["method"] != "POST":
                status = 405
                await answer(send, status, _NOT_ALLOWED, request_id, ((b"allow", b"POST"),))
            elif declared is not None and declared > MAX_BODY:
                status = 413  # refused before reading it
                await answer(send, status, TOO_LARGE, request_id, ((b"connection", b"close"),))
            else:
                status, body = await self._handle(receive, signature)
                extra = ((b"connection", b"close"),) if status == 413 else ()
                await answer(send, status, body, request_id, extra)
        except Disconnected:
            status = 499  # the client went away mid-body: nobody to answer, nothing done
        except Exception:
            log.exception("http.unhandled", path=PATH, request_id=request_id)
            status = 500
            await answer(send, status, INTERNAL_ERROR, request_id)
        finally:
            self._metrics.observe(status, started)

    async def _handle(self, receive: Receive, signature: str | None) -> tuple[int, bytes]:
        try:
            payload = await read_body(receive, MAX_BODY)
        except TooLarge:
            return 413, TOO_LARGE
        try:
            handled = await self._processor.receive(payload, signature)
        except SignatureError as exc:
            # The code and message never carry a secret or the signature (signature.py says so).
            log.info("webhook.rejected", code=exc.code)
            return HTTP_STATUS[exc.kind], json.dumps(
                {"error": {"code": exc.code, "message": exc.message}}
            ).encode()
        except ServiceError as exc:
            # Stored as failed with its reason and not acknowledged, so Stripe delivers it again: an event
            # of the other livemode (409), a charge whose refunds Stripe could not list (502).
            log.warning("webhook.not_applied", code=exc.code)
            return HTTP_STATUS[exc.kind], json.dumps(
                {"error": {"code": exc.code, "message": exc.message}}
            ).encode()
        return 200, _DUPLICATE if handled.duplicate else _RECEIVED


def _headers(scope: Scope) -> tuple[str, int | None, str | None]:
    request_id: bytes | None = None
    declared: int | None = None
    signature: str | None = None
    for key, value in scope["headers"]:
        if key == b"stripe-signature":
            signature = value.decode("latin-1")
        elif key == b"content-length":
            declared = content_length(value)
        elif key == b"x-request-id":
            request_id = value
    return new_request_id(request_id), declared, signature
