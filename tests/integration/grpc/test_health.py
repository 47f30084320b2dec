"""gRPC's health service says what /readyz says."""

from __future__ import annotations

import asyncio

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import bootstrap
from payments.adapters.db.engine import create_engine
from payments.adapters.db.probe import DatabaseProbe, probe_engine
from payments.api.grpc.server import follow_readiness, new_health_servicer, start_grpc_server
from tests.support.processes import free_port
from tests.support.service import service_settings

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


async def _status(engine: AsyncEngine) -> tuple[bool, list[int]]:
    container = bootstrap.build(service_settings(), engine=engine)
    health = new_health_servicer()
    address = f"127.0.0.1:{free_port()}"
    server = await start_grpc_server(container, address, health)
    try:
        ready = await follow_readiness(container, health)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answers = [
                (await stub.Check(health_pb2.HealthCheckRequest(service=name))).status
                for name in ("", "payments.v1.Payments")
            ]
        return ready, answers
    finally:
        await server.stop(grace=None)


async def test_health_is_serving_while_the_database_answers(engine: AsyncEngine) -> None:
    assert await _status(engine) == (True, [SERVING, SERVING])


async def test_health_is_not_serving_while_the_database_is_down() -> None:
    dead = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")  # nobody listens
    try:
        assert await _status(dead) == (False, [NOT_SERVING, NOT_SERVING])
    finally:
        await dead.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_pool_busy_with_a_burst_is_not_a_database_down(engine: AsyncEngine) -> None:
    small = create_engine(engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:

        async def hold_the_only_connection() -> None:
            async with small.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(3)"))

        busy = asyncio.create_task(hold_the_only_connection())
        await asyncio.sleep(0.3)
        assert await DatabaseProbe(probe_engine(small)).answers()
        await busy
    finally:
        await small.dispose()
