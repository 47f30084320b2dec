"""The emulator and the service as real processes, on this run's own PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import stripe

from payments.migrations_runner import upgrade_to_head
from tests.conftest import PgDatabases
from tests.support.orders_server import GrpcOrdersServer
from tests.support.processes import Proc, free_port, start_emulator, start_service

TOKEN = "e2e-token"


@dataclass
class Stack:
    emulator_url: str
    service_url: str
    grpc_target: str
    stripe: stripe.StripeClient
    http: httpx.AsyncClient
    orders: GrpcOrdersServer
    service: Proc
    log_path: Path

    async def helper(self, path: str, body: dict | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.emulator_url) as client:
            return await client.post(f"/_emulator{path}", json=body or {})

    async def payment(self, payment_id: str) -> dict:
        return (await self.http.get(f"/v1/payments/{payment_id}")).json()


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    proc, url = start_emulator()
    yield url
    proc.stop()


@pytest_asyncio.fixture(scope="session")
async def stack(
    emulator_url: str, pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    pg_database = await pg_databases.create("e2e")
    await asyncio.to_thread(upgrade_to_head, pg_database)
    client = stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emulator_url}, max_network_retries=0
    )
    http_port = free_port()
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{http_port}/v1/webhooks/stripe", "enabled_events": ["*"]}
    )
    orders = GrpcOrdersServer()
    await orders.start()
    workdir = tmp_path_factory.mktemp("service")
    log_path = workdir / "service.log"
    env = {
        "PAYMENTS_DATABASE_URL": pg_database,
        "PAYMENTS_STRIPE_API_BASE": emulator_url,
        "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": str(endpoint.secret),
        "PAYMENTS_API_TOKEN": TOKEN,
        "PAYMENTS_HTTP_PORT": str(http_port),
        "PAYMENTS_ORDERS_URL": orders.url,
        "PAYMENTS_OUTBOX_POLL_SECONDS": "0.1",
        "PAYMENTS_JWT_SECRET": "e2e-jwt-secret",
    }
    proc, base = start_service(env, workdir, log_path)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as http:
        yield Stack(
            emulator_url, base, f"127.0.0.1:{proc.extra['grpc_port']}", client, http, orders, proc, log_path
        )
    proc.stop()
    await orders.stop()
