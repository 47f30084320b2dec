"""A gRPC caller told already_paid / order_already_paid also gets the payment as it now is, as HTTP's 409
body carries it: a serialized payments.v1.Payment in the trailing metadata ``payment-bin``."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import bootstrap
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.api.grpc.server import start_grpc_server
from payments.checkout.service import PaymentService
from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from tests.support.fakes import FakeStripeGateway
from tests.support.processes import free_port
from tests.support.service import TOKEN, service_settings

AUTH = (("authorization", f"Bearer {TOKEN}"),)


def _trailing(error: grpc.aio.AioRpcError) -> dict[str, str | bytes]:
    return {key: value for key, value in error.trailing_metadata() or ()}


async def test_already_paid_carries_the_payment_over_a_real_grpc_call(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    container = bootstrap.build(service_settings(), engine=engine)
    container.payments = PaymentService(
        SqlPaymentStore(engine),
        gateway,
        container.settings,
        container.clock,
        container.orchestrator,
    )
    address = f"127.0.0.1:{free_port()}"
    server = await start_grpc_server(container, address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            client = pb_grpc.PaymentsStub(channel)
            request = pb.CreatePaymentRequest(order_id="ord_g", user_id="u_1", amount=700, currency="eur")
            created = (await client.CreatePayment(request, metadata=AUTH)).payment
            gateway.pay_session(created.stripe_checkout_session_id)

            with pytest.raises(grpc.aio.AioRpcError) as cancel:
                await client.CancelPayment(pb.CancelPaymentRequest(payment_id=created.id), metadata=AUTH)
            assert cancel.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            trailing = _trailing(cancel.value)
            assert trailing["error-code"] == "already_paid"
            paid = pb.Payment.FromString(trailing["payment-bin"])  # type: ignore[arg-type]
            assert (paid.id, paid.status, paid.amount) == (created.id, "succeeded", 700)
            assert paid == await client.GetPayment(pb.GetPaymentRequest(id=created.id), metadata=AUTH)

            with pytest.raises(grpc.aio.AioRpcError) as again:
                await client.CreatePayment(request, metadata=AUTH)
            trailing = _trailing(again.value)
            assert trailing["error-code"] == "order_already_paid"
            assert pb.Payment.FromString(trailing["payment-bin"]).id == created.id  # type: ignore[arg-type]

            # Other refusals carry no payment.
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await client.CancelPayment(pb.CancelPaymentRequest(payment_id="pay_none"), metadata=AUTH)
            assert missing.value.code() is grpc.StatusCode.NOT_FOUND
            assert "payment-bin" not in _trailing(missing.value)
    finally:
        await server.stop(grace=None)
