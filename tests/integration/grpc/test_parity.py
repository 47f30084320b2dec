"""HTTP and gRPC answer the same request the same way: the same token reading, fields and error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.api.grpc.server import start_grpc_server
from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from payments.stripe_port import GatewayErrorKind
from tests.support.fakes import FakeStripeGateway
from tests.support.processes import free_port
from tests.support.service import TOKEN, Service, running_service

AUTH = (("authorization", f"Bearer {TOKEN}"),)
ORDER: dict[str, Any] = {"order_id": "ord_1", "user_id": "u_1", "amount": 700, "currency": "eur"}
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@asynccontextmanager
async def both(engine: AsyncEngine) -> AsyncIterator[tuple[Service, pb_grpc.PaymentsStub, FakeStripeGateway]]:
    gateway = FakeStripeGateway()
    async with running_service(engine, gateway=gateway) as svc:
        address = f"127.0.0.1:{free_port()}"
        server = await start_grpc_server(svc.container, address)
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                yield svc, pb_grpc.PaymentsStub(channel), gateway
        finally:
            await server.stop(grace=None)


def _code(error: grpc.aio.AioRpcError) -> str:
    return str(dict(error.trailing_metadata() or ())["error-code"])


@sqlite_only
async def test_the_bearer_scheme_is_read_in_any_case_on_both(engine: AsyncEngine) -> None:
    async with both(engine) as (svc, client, _):
        http = await svc.http.post("/v1/payments", json=ORDER, headers={"Authorization": f"bearer {TOKEN}"})
        assert http.status_code == 201
        got = await client.GetPayment(
            pb.GetPaymentRequest(id=http.json()["id"]), metadata=(("authorization", f"bearer  {TOKEN} "),)
        )
        assert got.id == http.json()["id"]


@sqlite_only
async def test_an_empty_mode_is_refused_on_both(engine: AsyncEngine) -> None:
    async with both(engine) as (svc, client, _):
        http = await svc.http.post("/v1/payments", json={**ORDER, "mode": ""})
        assert (http.status_code, http.json()["error"]["field"]) == (422, "mode")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.CreatePayment(pb.CreatePaymentRequest(**ORDER, mode=""), metadata=AUTH)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@sqlite_only
@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_a_bad_idempotency_key_has_one_error_code_on_both(engine: AsyncEngine, key: str) -> None:
    async with both(engine) as (svc, client, _):
        http = await svc.http.post("/v1/payments", json=ORDER, headers={"Idempotency-Key": key})
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.CreatePayment(pb.CreatePaymentRequest(**ORDER, idempotency_key=key), metadata=AUTH)
        assert _code(refused.value) == http.json()["error"]["code"] == "validation_error"


@sqlite_only
async def test_a_refund_stripe_refuses_is_a_422_on_both_not_a_retry(engine: AsyncEngine) -> None:
    """Already refunded from the Dashboard, say: no retry can succeed, so not 502 / UNAVAILABLE."""
    async with both(engine) as (svc, client, gateway):
        created = (await svc.http.post("/v1/payments", json={**ORDER, "mode": "payment_intent"})).json()
        gateway.pay_intent(created["stripe_payment_intent_id"])
        assert (await svc.http.post(f"/v1/payments/{created['id']}/cancel")).status_code == 409  # paid
        gateway.fail_next("create_refund", GatewayErrorKind.INVALID, code="charge_already_refunded")
        http = await svc.http.post(f"/v1/payments/{created['id']}/refunds", json={"amount": 100})
        gateway.fail_next("create_refund", GatewayErrorKind.INVALID, code="charge_already_refunded")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.RefundPayment(
                pb.RefundPaymentRequest(payment_id=created["id"], amount=100), metadata=AUTH
            )
        assert (http.status_code, http.json()["error"]["code"]) == (422, "stripe_invalid_request")
        assert (refused.value.code(), _code(refused.value)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "stripe_invalid_request",
        )
