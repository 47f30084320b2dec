from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.orders_server import GrpcOrdersServer


@pytest_asyncio.fixture
async def orders() -> AsyncIterator[GrpcOrdersServer]:
    async with GrpcOrdersServer() as server:
        yield server
