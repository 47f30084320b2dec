"""A real in-process Orders service for tests: gRPC (``orders.v1.Orders``) and a tiny HTTP variant.

Both record every call, deduplicate by idempotency key like the real Orders must, and can be made to
fail or be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import grpc.aio

from payments.generated.orders.v1 import orders_pb2, orders_pb2_grpc


@dataclass(frozen=True)
class RecordedCall:
    key: str  # the idempotency key as the transport carried it (metadata or header)
    body_key: str  # the idempotency_key field of the request body
    diff: dict[str, Any]
    applied: bool | None  # None: the call was failed on purpose


@dataclass
class OrdersBehaviour:
    """What the fake Orders does with the next calls; shared by the gRPC and the HTTP variant."""

    calls: list[RecordedCall] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    fail_next: int = 0  # fail this many calls as unavailable
    failing: bool = False  # fail every call as unavailable while set
    reject_next: int = 0  # refuse this many calls as invalid
    delay_seconds: float = 0.0  # how long the gRPC variant takes to answer (lets concurrent calls overlap)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, key: str, body_key: str, diff: dict[str, Any]) -> str:
        """One of "unavailable", "rejected", "applied", "duplicate"; records the call."""
        with self.lock:
            if self.failing or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                self.calls.append(RecordedCall(key, body_key, diff, None))
                return "unavailable"
            if self.reject_next > 0:
                self.reject_next -= 1
                self.calls.append(RecordedCall(key, body_key, diff, None))
                return "rejected"
            applied = key not in self.seen
            self.seen.add(key)
            self.calls.append(RecordedCall(key, body_key, diff, applied))
            return "applied" if applied else "duplicate"

    @property
    def applied(self) -> list[RecordedCall]:
        """The calls that changed the order, in the order Orders applied them."""
        return [c for c in self.calls if c.applied]

    def applied_seqs(self) -> dict[str, list[int]]:
        seqs: dict[str, list[int]] = {}
        for call in self.applied:
            seqs.setdefault(call.diff["order_id"], []).append(int(call.diff["seq"]))
        return seqs


def _diff_dict(diff: orders_pb2.OrderStateDiff) -> dict[str, Any]:
    return {
        "order_id": diff.order_id,
        "payment_id": diff.payment_id,
        "seq": diff.seq,
        "from_state": diff.from_state,
        "to_state": diff.to_state,
        "amount_paid": diff.amount_paid,
        "amount_refunded": diff.amount_refunded,
        "currency": diff.currency,
        "cause_event_id": diff.cause_event_id,
        "cause_event_type": diff.cause_event_type,
        "at": diff.at,
    }


class _Servicer(orders_pb2_grpc.OrdersServicer):
    def __init__(self, behaviour: OrdersBehaviour) -> None:
        self._behaviour = behaviour

    async def ApplyPaymentUpdate(
        self, request: orders_pb2.ApplyPaymentUpdateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> orders_pb2.ApplyPaymentUpdateResponse:
        if self._behaviour.delay_seconds:
            await asyncio.sleep(self._behaviour.delay_seconds)
        metadata = dict(context.invocation_metadata() or ())
        key = str(metadata.get("idempotency-key", ""))
        outcome = self._behaviour.decide(key, request.idempotency_key, _diff_dict(request.diff))
        if outcome == "unavailable":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "orders is down (test switch)")
        if outcome == "rejected":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad diff (test switch)")
        return orders_pb2.ApplyPaymentUpdateResponse(applied=outcome == "applied")


class GrpcOrdersServer:
    """``async with GrpcOrdersServer() as orders: ... orders.target``; ``stop()``/``start()`` for outages."""

    def __init__(self, credentials: grpc.ServerCredentials | None = None) -> None:
        self.behaviour = OrdersBehaviour()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._credentials = credentials  # TLS when given

    @property
    def target(self) -> str:
        assert self.port is not None, "start the server first"
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"grpc://{self.target}"

    @property
    def calls(self) -> list[RecordedCall]:
        return self.behaviour.calls

    async def start(self) -> None:
        # A grpc.aio server cannot start again once stopped; a new one takes over the same port.
        server = grpc.aio.server()
        orders_pb2_grpc.add_OrdersServicer_to_server(_Servicer(self.behaviour), server)
        address = f"127.0.0.1:{self.port or 0}"
        if self._credentials is not None:
            port = server.add_secure_port(address, self._credentials)
        else:
            port = server.add_insecure_port(address)
        if port == 0:
            raise RuntimeError(f"could not bind 127.0.0.1:{self.port}")
        self.port = port
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def __aenter__(self) -> GrpcOrdersServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class HttpOrdersServer:
    """``POST /v1/payment-updates`` on a thread: 200 {"applied": bool}, 503 when failing, 422 rejected."""

    def __init__(self) -> None:
        self.behaviour = OrdersBehaviour()
        self.headers: list[dict[str, str]] = []
        behaviour, headers = self.behaviour, self.headers

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/v1/payment-updates":
                    self._answer(404, {"error": "not found"})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                headers.append(dict(self.headers.items()))
                outcome = behaviour.decide(
                    self.headers.get("Idempotency-Key", ""), body.get("idempotency_key", ""), body["diff"]
                )
                if outcome == "unavailable":
                    self._answer(503, {"error": "down"})
                elif outcome == "rejected":
                    self._answer(422, {"error": "bad diff"})
                else:
                    self._answer(200, {"applied": outcome == "applied"})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def calls(self) -> list[RecordedCall]:
        return self.behaviour.calls

    def __enter__(self) -> HttpOrdersServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
