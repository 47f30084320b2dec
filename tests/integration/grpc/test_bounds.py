"""gRPC takes no larger request than HTTP does for the same calls."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import bootstrap
from payments.api.grpc.server import MAX_REQUEST_MESSAGE, start_grpc_server
from payments.api.http.limits import body_limit_for
from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from tests.support.processes import free_port
from tests.support.service import service_settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_message_over_the_http_bound_is_refused_for_its_size_before_the_token(
    engine: AsyncEngine,
) -> None:
    assert body_limit_for("/v1/payments") == MAX_REQUEST_MESSAGE
    container = bootstrap.build(service_settings(), engine=engine)
    address = f"127.0.0.1:{free_port()}"
    server = await start_grpc_server(container, address)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            client = pb_grpc.PaymentsStub(channel)
            fields = {"order_id": "ord_big", "user_id": "u_1", "amount": 700, "currency": "eur"}
            huge = pb.CreatePaymentRequest(**fields, description="x" * (MAX_REQUEST_MESSAGE + 1))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.CreatePayment(huge)  # no token: the size is refused first
            assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.aio.AioRpcError) as small:
                await client.CreatePayment(pb.CreatePaymentRequest(**fields))
            assert small.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        await server.stop(grace=None)
