"""Drive the ASGI app with a hand-made ``receive``: the tests see exactly how many body bytes it pulled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # as sent, in order
    body: bytes = b""
    pulled: int = 0  # body bytes the app asked for

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: Any,
    method: str,
    path: str,
    chunks: Iterator[bytes],
    headers: dict[str, str] | None = None,
    query: bytes = b"",
) -> Answer:
    answer = Answer()
    pending = iter(chunks)
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        chunk = next(pending, None)
        if chunk is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        answer.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.raw_headers = list(message.get("headers", []))
            answer.headers = {k.decode().lower(): v.decode("latin-1") for k, v in answer.raw_headers}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return answer


def chunks_of(total: int, size: int = 64 * 1024, byte: bytes = b"a") -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield byte * n
