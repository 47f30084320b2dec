"""Request ids, metrics and the last-resort 500, as plain ASGI middleware.

Starlette's BaseHTTPMiddleware runs each request through an extra task and memory streams, which costs
more CPU than the webhook handler's own Python; this is the same duty at the cost of a function call.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog

from payments.api.http.bare import INTERNAL_ERROR
from payments.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger(__name__)

Scope = dict[str, Any]


class ObserveRequests:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                echoed = (b"x-request-id", request_id.encode("latin-1"))
                message["headers"] = [*message.get("headers", []), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            # The route's template, never the raw path: ids are personal data and a path can be 200 KB.
            log.exception("http.unhandled", method=scope.get("method"), route=_route(scope))
            if not response_started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-length", str(len(INTERNAL_ERROR)).encode()),
                            (b"content-type", b"application/json"),
                            (b"x-request-id", request_id.encode("latin-1")),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": INTERNAL_ERROR})
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            path = _route(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, path, str(status)).inc()
            HTTP_LATENCY.labels(method, path).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    return str(getattr(scope.get("route"), "path", "unmatched"))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))[:64]
    return None
