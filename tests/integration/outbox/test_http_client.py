"""The HTTP Orders client against a real HTTP server on a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.adapters.orders import (
    HttpOrdersClient,
    OrdersRejected,
    OrdersUnavailable,
    orders_client_from_url,
)
from payments.outbox.relay import OutboxRelay
from tests.integration.outbox.outbox_rows import FakeClock, diff_row, insert_diffs, list_pending, rows_by_id
from tests.support.orders_server import HttpOrdersServer


@pytest.fixture
def http_orders() -> Iterator[HttpOrdersServer]:
    with HttpOrdersServer() as server:
        yield server


async def test_relay_delivers_over_http_with_the_idempotency_key_header(
    engine: AsyncEngine, http_orders: HttpOrdersServer
) -> None:
    await insert_diffs(engine, [diff_row("o1", 1), diff_row("o1", 2), diff_row("o2", 1)])
    client = orders_client_from_url(http_orders.url + "/")
    assert isinstance(client, HttpOrdersClient)
    try:
        assert await OutboxRelay(SqlPaymentStore(engine), client, clock=FakeClock()).run_once() == 3
    finally:
        await client.close()
    assert http_orders.behaviour.applied_seqs() == {"o1": [1, 2], "o2": [1]}
    for call, headers in zip(http_orders.calls, http_orders.headers, strict=True):
        expected = f"osd_{call.diff['order_id']}_{call.diff['seq']}"
        assert call.key == call.body_key == headers["Idempotency-Key"] == expected
        assert headers["Content-Type"] == "application/json"
    assert await list_pending(engine) == []


async def test_http_errors_map_to_retryable_or_rejected(
    engine: AsyncEngine, http_orders: HttpOrdersServer
) -> None:
    await insert_diffs(engine, [diff_row("o1", 1)])
    (message,) = await list_pending(engine)
    client = HttpOrdersClient(http_orders.url)
    try:
        http_orders.behaviour.fail_next = 1
        with pytest.raises(OrdersUnavailable, match="http 503"):
            await client.apply(message.update)
        http_orders.behaviour.reject_next = 1
        with pytest.raises(OrdersRejected, match="http 422"):
            await client.apply(message.update)
        await client.apply(message.update)
        await client.apply(message.update)  # a replay is fine: Orders answers applied=false
    finally:
        await client.close()
    assert [c.applied for c in http_orders.calls] == [None, None, True, False]


async def test_http_connection_refused_is_retryable_and_recorded(engine: AsyncEngine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    await insert_diffs(engine, [diff_row("o1", 1)])
    client = HttpOrdersClient(f"http://user:hunter2@127.0.0.1:{port}")
    try:
        (message,) = await list_pending(engine)
        with pytest.raises(OrdersUnavailable):
            await client.apply(message.update)
        assert await OutboxRelay(SqlPaymentStore(engine), client, clock=FakeClock()).run_once() == 0
    finally:
        await client.close()
    row = (await rows_by_id(engine))["osd_o1_1"]
    assert row["attempts"] == 1
    assert row["last_error"] == "http transport error: ConnectError"
    assert "hunter2" not in row["last_error"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_orders_that_trickles_its_answer_is_unavailable_after_the_deadline(
    engine: AsyncEngine,
) -> None:
    """httpx bounds each read; a body coming a byte a second never trips that. The whole answer is bounded."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                writer.write(b"1\r\nX\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)

    await insert_diffs(engine, [diff_row("o1", 1)])
    (message,) = await list_pending(engine)
    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HttpOrdersClient(f"http://127.0.0.1:{port}", timeout_seconds=1.0)
    try:
        with pytest.raises(OrdersUnavailable, match="timeout"):
            await asyncio.wait_for(client.apply(message.update), timeout=10)
    finally:
        await client.close()
        server.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_answer_each_of_whose_steps_is_within_the_timeout_is_an_answer(engine: AsyncEngine) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.6)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.6)
        writer.write(b"{}")
        await writer.drain()
        writer.close()

    await insert_diffs(engine, [diff_row("o1", 1)])
    (message,) = await list_pending(engine)
    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    client = HttpOrdersClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", timeout_seconds=1.0)
    try:
        await client.apply(message.update)  # 1.2 s in all, no step over 1 s: delivered
    finally:
        await client.close()
        server.close()
