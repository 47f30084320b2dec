"""Pure parts of the outbox: backoff, client selection, the message, the claim statement."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from payments.adapters.db.outbox_repo import due_heads
from payments.adapters.db.timestamps import as_utc
from payments.adapters.orders import (
    GrpcOrdersClient,
    HttpOrdersClient,
    OrdersSettingsError,
    orders_client_from_url,
)
from payments.outbox.relay import backoff_seconds
from payments.records import OutboxMessage
from tests.support.clock import NOW


@given(attempts=st.integers(1, 10_000), seed=st.integers(0, 2**32), cap=st.floats(1, 3600))
def test_backoff_stays_between_the_floor_and_the_cap(attempts: int, seed: int, cap: float) -> None:
    delay = backoff_seconds(attempts, base=1.0, cap=cap, rng=random.Random(seed))
    assert 1.0 <= delay <= cap


def test_backoff_ceiling_doubles_until_the_cap() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    delays = [backoff_seconds(n, base=1.0, cap=300, rng=Top()) for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_backoff_has_jitter() -> None:
    rng = random.Random(7)
    delays = {backoff_seconds(8, base=1.0, cap=300, rng=rng) for _ in range(50)}
    assert len(delays) > 40


@pytest.mark.parametrize("url", [None, "", "   "])
def test_no_orders_url_means_no_client(url: str | None) -> None:
    assert orders_client_from_url(url) is None


async def test_grpc_url_gives_the_grpc_client() -> None:
    client = orders_client_from_url("grpc://orders.internal:50052")
    assert isinstance(client, GrpcOrdersClient)
    assert client.target == "orders.internal:50052"
    await client.close()


@pytest.mark.parametrize("url", ["http://orders:8080", "https://orders.example.com/api"])
async def test_http_urls_give_the_http_client(url: str) -> None:
    client = orders_client_from_url(url)
    assert isinstance(client, HttpOrdersClient)
    await client.close()


@pytest.mark.parametrize(
    "url", ["grpc://orders", "grpc://orders:1/x", "grpc://orders:port", "amqp://orders", "orders:50051"]
)
def test_bad_orders_urls_are_refused(url: str) -> None:
    with pytest.raises(OrdersSettingsError, match="PAYMENTS_ORDERS_URL"):
        orders_client_from_url(url)


def _message() -> OutboxMessage:
    return OutboxMessage(
        id="osd_1",
        order_id="ord_1",
        seq=2,
        payment_id="pay_1",
        from_state="paid",
        to_state="partially_refunded",
        amount_paid=5000,
        amount_refunded=1500,
        currency="eur",
        cause_event_id="evt_1",
        cause_event_type="charge.refunded",
        at=NOW,
        next_attempt_at=NOW,
    )


def test_the_message_tells_orders_its_diff_keyed_by_the_message_id() -> None:
    update = _message().update
    assert update.idempotency_key == "osd_1"
    assert (update.order_id, update.seq, update.to_state) == ("ord_1", 2, "partially_refunded")
    assert update.at == NOW


def test_timestamps_are_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_only_postgresql_locks_with_skip_locked() -> None:
    stmt = due_heads(NOW, 10).with_for_update(skip_locked=True)
    pg = str(stmt.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    lite = str(stmt.compile(dialect=sqlite.dialect()))
    assert "FOR UPDATE" in pg and "SKIP LOCKED" in pg
    assert "FOR UPDATE" not in lite  # SQLite has no row locks; BEGIN IMMEDIATE serialises claims instead
    assert "NOT (EXISTS" in lite
