"""A real webhook receiver for the tests: verifies every delivery with the SDK and records it."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import stripe

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll until `condition()` is truthy; fail loudly after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def related(event: dict[str, Any], ids: set[str]) -> bool:
    obj = event["data"]["object"]
    return any(obj.get(field) in ids for field in ("id", "payment_intent", "charge"))


class Receiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.fail_first = 0
        self.events: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.pages: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                receiver.pages.append(self.path)
                body = f"<html><body><h1 id='landing'>Landed</h1><p id='path'>{self.path}</p></body></html>"
                self._answer(200, body.encode(), "text/html")

            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get("Stripe-Signature", "")
                try:
                    assert receiver.secret is not None, "receiver has no secret yet"
                    stripe.Webhook.construct_event(payload.decode(), header, receiver.secret)
                except Exception as exc:
                    with receiver._lock:
                        receiver.rejected.append(f"{type(exc).__name__}: {exc}")
                    self._answer(400, b"bad signature", "text/plain")
                    return
                event = json.loads(payload)
                with receiver._lock:
                    receiver.attempts[event["id"]] += 1
                    failing = receiver.attempts[event["id"]] <= receiver.fail_first
                    if not failing:
                        receiver.events.append(event)
                self._answer(500 if failing else 200, b'{"received": true}', "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events_for(self, ids: set[str]) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.events if related(event, ids)]

    def types_for(self, ids: set[str]) -> list[str]:
        return [event["type"] for event in self.events_for(ids)]

    def wait_for_types(self, ids: set[str], count: int, timeout: float = 10.0) -> list[str]:
        wait_until(
            lambda: len(self.events_for(ids)) >= count, timeout=timeout, what=f"{count} events for {ids}"
        )
        return self.types_for(ids)

    def wait_for_type(self, ids: set[str], event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events_for(ids) if e["type"] == event_type), None)

        return wait_until(found, timeout=timeout, what=f"{event_type} for {ids}")
