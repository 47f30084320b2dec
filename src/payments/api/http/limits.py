"""Bounds on what a client can make us hold in memory: the request head and the request body.

The body limit is ASGI middleware in front of every route (HTML pages included): it refuses a declared
Content-Length over the limit before reading a byte, and counts the bytes of a chunked (or lying) body
as they arrive, answering 413 the moment the count passes the limit. Uvicorn stops reading the socket
while the application has not asked for more (its flow control), so memory stays at one read buffer
whatever the client sends. The 413 says ``Connection: close`` so the rest of the body is never read.

The request head (request line and headers) is bounded in the HTTP protocol itself (``BoundedHttpTools``):
httptools has no limit of its own and uvicorn would buffer a head of any size.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from payments.api.http.bare import content_length

Scope = dict[str, Any]

KIB = 1024
# Longest prefix first. Stripe's events are a few KiB (the largest, with expanded objects, tens of KiB);
# our own JSON bodies are a few hundred bytes, their fields bounded far below these limits.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/v1/webhooks/", 512 * KIB),
    ("/v1/payments", 16 * KIB),
    ("/v1/", 4 * KIB),  # the admin routes: a decision, a ban reason
)
DEFAULT_BODY_LIMIT = 64 * KIB  # anything else (HTML forms, unknown paths)
MAX_REQUEST_HEAD = 16 * KIB  # request line + headers; Stripe-Signature and a JWT are well under 2 KiB

TOO_LARGE = json.dumps(
    {"error": {"code": "payload_too_large", "message": "the request body is larger than this route accepts"}}
).encode()


def body_limit_for(path: str) -> int:
    for prefix, limit in BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_BODY_LIMIT


class PayloadTooLarge(HTTPException):
    """Raised from ``receive``: FastAPI re-raises HTTPExceptions met while reading a body, so the error
    handler (or, if an endpoint swallowed it, this middleware) answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes", {"Connection": "close"})


class LimitBody:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_too_large(send)  # refused before reading any of it
            return
        received = 0
        body_done = not _has_body(scope, declared)
        response_started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, body_done
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                if not body_done:
                    # Answered without reading the body (a 401, a 404): close rather than read the rest of
                    # it just to reach the next request on this connection.
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge:
            if response_started:
                raise
            await send_too_large(send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            return content_length(value)
    return None


def _has_body(scope: Scope, declared: int | None) -> bool:
    if declared is not None:
        return declared > 0
    return any(key == b"transfer-encoding" for key, _ in scope.get("headers", ()))


async def send_too_large(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(TOO_LARGE)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})


_HEAD_TOO_LARGE_MESSAGE = b"request line or headers too large"


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head: 431 and close once it is passed."""

    _head_bytes = 0
    _head_too_large = False

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_REQUEST_HEAD:
            self._head_too_large = True
            raise _HeadTooLarge  # the parser stops; uvicorn answers through send_400_response below

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (len(_HEAD_TOO_LARGE_MESSAGE), _HEAD_TOO_LARGE_MESSAGE)
        )
        self.transport.close()


class _HeadTooLarge(Exception):
    pass
