"""What an endpoint answered ahead of FastAPI's stack does for itself: the middleware's duties, by hand.

The middleware (``middleware.py``, ``limits.py``) is skipped for those endpoints, so each reads its body
within the route's limit, echoes or makes the request id, counts its answers in the HTTP metrics and
answers the last-resort 500 through these.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from payments.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

JSON_TYPE = (b"content-type", b"application/json")
INTERNAL_ERROR = json.dumps(
    {"error": {"code": "internal_error", "message": "internal error; the request may be retried"}}
).encode()


class TooLarge(Exception):
    pass


class Disconnected(Exception):
    """The client went away mid-body: nobody to answer, nothing done (counted as 499)."""


def new_request_id(given: bytes | None) -> str:
    """The caller's X-Request-Id (first 64 characters), or a uuid4's randomness at less cost."""
    return given.decode("latin-1")[:64] if given else os.urandom(16).hex()


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, refused (``TooLarge``) the moment it passes ``limit``, however it is framed."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def content_length(text: bytes) -> int | None:
    value = text.decode("latin-1").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None


def route_path(scope: Scope) -> str:
    """The path the routes see: without the ``root_path`` a proxy mounts us under (as Starlette routes)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def answer(
    send: Send, status: int, body: bytes, request_id: str, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [  # in the order Starlette's responses and our middleware give them
                (b"content-length", str(len(body)).encode()),
                JSON_TYPE,
                *extra,
                (b"x-request-id", request_id.encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RouteMetrics:
    """The HTTP metrics of one route, labelled as the middleware labels them, children cached."""

    def __init__(self, method: str, path: str) -> None:
        self._method, self._path = method, path
        self._latency = HTTP_LATENCY.labels(method, path)
        self._counts: dict[int, Any] = {}

    def observe(self, status: int, started: float) -> None:
        counter = self._counts.get(status)
        if counter is None:
            counter = self._counts[status] = HTTP_REQUESTS.labels(self._method, self._path, str(status))
        counter.inc()
        self._latency.observe(time.perf_counter() - started)


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app that should see a body this endpoint already read: the body, then the
    connection as it is."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def with_request_id(send: Send, request_id: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            header = (b"x-request-id", request_id.encode("latin-1"))
            message["headers"] = [*message.get("headers", []), header]
        await send(message)

    return sending
