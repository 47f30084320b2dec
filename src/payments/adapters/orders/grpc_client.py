"""Orders over gRPC: ``orders.v1.Orders/ApplyPaymentUpdate``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import grpc.aio

from payments.adapters.orders.wire import rfc3339
from payments.domain.state_diff import OrderUpdate
from payments.generated.orders.v1 import orders_pb2, orders_pb2_grpc
from payments.orders_port import OrdersRejected, OrdersUnavailable

# Codes that say "not now" rather than "not this": the same request may well succeed later.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)

# gRPC's default reconnect backoff grows to two minutes, during which calls fail without even trying;
# the relay has its own backoff, so the channel should try again soon after Orders comes back.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def to_proto(diff: OrderUpdate) -> orders_pb2.ApplyPaymentUpdateRequest:
    return orders_pb2.ApplyPaymentUpdateRequest(
        idempotency_key=diff.idempotency_key,
        diff=orders_pb2.OrderStateDiff(
            order_id=diff.order_id,
            payment_id=diff.payment_id,
            seq=diff.seq,
            from_state=diff.from_state,
            to_state=diff.to_state,
            amount_paid=diff.amount_paid,
            amount_refunded=diff.amount_refunded,
            currency=diff.currency,
            cause_event_id=diff.cause_event_id,
            cause_event_type=diff.cause_event_type,
            at=rfc3339(diff.at),
        ),
    )


@dataclass(frozen=True, slots=True)
class OrdersTls:
    """TLS towards Orders: a private CA (None: the system's roots) and an optional client certificate."""

    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


class GrpcOrdersClient:
    def __init__(self, target: str, *, timeout_seconds: float = 5.0, tls: OrdersTls | None = None) -> None:
        self._target = target
        self._timeout = timeout_seconds
        self._tls = tls
        # Created on first use: a grpc.aio channel belongs to the event loop that is running then.
        self._channel: grpc.aio.Channel | None = None
        self._stub: orders_pb2_grpc.OrdersAsyncStub | None = None

    @property
    def target(self) -> str:
        return self._target

    def _get_stub(self) -> orders_pb2_grpc.OrdersAsyncStub:
        if self._stub is None:
            if self._tls is not None:
                self._channel = grpc.aio.secure_channel(
                    self._target, self._tls.credentials(), options=_CHANNEL_OPTIONS
                )
            else:
                self._channel = grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS)
            self._stub = orders_pb2_grpc.OrdersStub(self._channel)
        return self._stub

    async def wait_ready(self, timeout_seconds: float) -> bool:
        """Connect now and wait until the channel is up (or the time is over); False if Orders is not there.

        Calls fail at once while the channel waits out its reconnect backoff, even if Orders is already
        back; this lets a caller (start-up, readiness, a test) wait for the connection instead.
        """
        self._get_stub()
        assert self._channel is not None
        try:
            await asyncio.wait_for(self._channel.channel_ready(), timeout_seconds)
        except TimeoutError:
            return False
        return True

    async def apply(self, update: OrderUpdate) -> None:
        stub = self._get_stub()
        try:
            await stub.ApplyPaymentUpdate(
                to_proto(update),
                timeout=self._timeout,
                metadata=(("idempotency-key", update.idempotency_key),),
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            detail = (exc.details() or "")[:200]
            message = f"grpc {code.name}: {detail}" if detail else f"grpc {code.name}"
            if code in _RETRYABLE:
                raise OrdersUnavailable(message) from exc
            raise OrdersRejected(message) from exc

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(grace=None)
        self._channel = None
        self._stub = None
