"""The relay against a real in-process gRPC Orders, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.adapters.orders import GrpcOrdersClient
from payments.outbox.relay import OutboxRelay
from tests.integration.outbox.outbox_rows import (
    FakeClock,
    MaxRandom,
    diff_row,
    insert_diffs,
    list_pending,
    rows_by_id,
)
from tests.support.clock import NOW
from tests.support.orders_server import GrpcOrdersServer


async def _drain(relay: OutboxRelay, engine: AsyncEngine, clock: FakeClock, *, step: float = 301) -> int:
    """run_once until the outbox is empty, moving the clock past any backoff between rounds."""
    delivered = 0
    for _ in range(50):
        delivered += await relay.run_once()
        if not await list_pending(engine):
            return delivered
        clock.advance(step)
    raise AssertionError("the outbox did not drain")


async def test_delivers_each_order_in_seq_order_keyed_by_message_id(
    engine: AsyncEngine, orders: GrpcOrdersServer
) -> None:
    await insert_diffs(engine, [diff_row(o, s) for o in ("o1", "o2", "o3") for s in (1, 2, 3)])
    client = GrpcOrdersClient(orders.target)
    try:
        relay = OutboxRelay(SqlPaymentStore(engine), client, clock=FakeClock())
        assert await relay.run_once() == 9
        assert await relay.run_once() == 0
    finally:
        await client.close()

    assert orders.behaviour.applied_seqs() == {"o1": [1, 2, 3], "o2": [1, 2, 3], "o3": [1, 2, 3]}
    for call in orders.calls:
        assert call.key == call.body_key == f"osd_{call.diff['order_id']}_{call.diff['seq']}"
    first = orders.calls[0].diff
    assert first["payment_id"] == f"pay_{first['order_id']}"
    assert first["amount_paid"] == 1000
    assert first["currency"] == "eur"
    assert first["at"] == (NOW + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    rows = await rows_by_id(engine)
    assert all(r["delivered_at"] == NOW for r in rows.values())
    assert await list_pending(engine) == []


async def test_a_diff_not_yet_due_holds_back_the_later_diffs_of_its_order(
    engine: AsyncEngine, orders: GrpcOrdersServer
) -> None:
    await insert_diffs(
        engine,
        [
            diff_row("o1", 1, due=NOW + timedelta(minutes=5)),
            diff_row("o1", 2),
            diff_row("o2", 1),
        ],
    )
    client = GrpcOrdersClient(orders.target)
    clock = FakeClock()
    try:
        relay = OutboxRelay(SqlPaymentStore(engine), client, clock=clock)
        assert await relay.run_once() == 1
        assert orders.behaviour.applied_seqs() == {"o2": [1]}
        clock.advance(300)
        assert await relay.run_once() == 2
    finally:
        await client.close()
    assert orders.behaviour.applied_seqs() == {"o2": [1], "o1": [1, 2]}


async def test_orders_down_then_up_delivers_everything_once_in_order(
    engine: AsyncEngine, orders: GrpcOrdersServer
) -> None:
    await insert_diffs(engine, [diff_row(o, s) for o in ("o1", "o2") for s in (1, 2, 3)])
    clock = FakeClock()
    client = GrpcOrdersClient(orders.target)
    relay = OutboxRelay(
        SqlPaymentStore(engine), client, clock=clock, rng=MaxRandom(), max_backoff_seconds=300
    )
    try:
        await orders.stop()
        assert await relay.run_once() == 0
        rows = await rows_by_id(engine)
        for order in ("o1", "o2"):
            head = rows[f"osd_{order}_1"]
            assert head["attempts"] == 1
            assert "UNAVAILABLE" in head["last_error"]
            assert head["next_attempt_at"] == NOW + timedelta(seconds=1)  # base 1 s, top of the jitter
            # The later diffs were not tried: they wait for the head of their order.
            assert rows[f"osd_{order}_2"]["attempts"] == 0
            assert rows[f"osd_{order}_2"]["last_error"] is None

        # Not due yet: nothing is tried again.
        assert await relay.run_once() == 0
        assert (await rows_by_id(engine))["osd_o1_1"]["attempts"] == 1

        clock.advance(1)
        assert await relay.run_once() == 0
        rows = await rows_by_id(engine)
        assert rows["osd_o1_1"]["attempts"] == 2
        assert rows["osd_o1_1"]["next_attempt_at"] == clock.now + timedelta(seconds=2)

        await orders.start()
        # The channel is still in its reconnect backoff (real time); wait for it rather than sleep.
        assert await client.wait_ready(5)
        clock.advance(2)
        assert await _drain(relay, engine, clock, step=1) == 6
    finally:
        await client.close()

    keys = [c.key for c in orders.calls]
    assert len(keys) == len(set(keys)) == 6
    assert orders.behaviour.applied_seqs() == {"o1": [1, 2, 3], "o2": [1, 2, 3]}


async def test_failing_orders_backs_off_exponentially_up_to_the_cap(
    engine: AsyncEngine, orders: GrpcOrdersServer
) -> None:
    await insert_diffs(engine, [diff_row("o1", 1), diff_row("o1", 2)])
    clock = FakeClock()
    client = GrpcOrdersClient(orders.target)
    relay = OutboxRelay(SqlPaymentStore(engine), client, clock=clock, rng=MaxRandom(), max_backoff_seconds=10)
    orders.behaviour.failing = True
    delays = []
    try:
        for _ in range(6):
            assert await relay.run_once() == 0
            head = (await rows_by_id(engine))["osd_o1_1"]
            delay = (head["next_attempt_at"] - clock.now).total_seconds()
            delays.append(delay)
            clock.advance(delay)
        assert delays == [1, 2, 4, 8, 10, 10]
        assert head["attempts"] == 6
        assert all(c.diff["seq"] == 1 for c in orders.calls)

        orders.behaviour.failing = False
        assert await relay.run_once() == 2
    finally:
        await client.close()
    assert orders.behaviour.applied_seqs() == {"o1": [1, 2]}
    assert (await rows_by_id(engine))["osd_o1_1"]["last_error"] is None


async def test_a_rejected_diff_backs_off_longer_and_is_kept(
    engine: AsyncEngine, orders: GrpcOrdersServer
) -> None:
    await insert_diffs(engine, [diff_row("o1", 1), diff_row("o1", 2), diff_row("o2", 1)])
    clock = FakeClock()
    client = GrpcOrdersClient(orders.target)
    relay = OutboxRelay(
        SqlPaymentStore(engine), client, clock=clock, rng=MaxRandom(), max_backoff_seconds=300
    )
    orders.behaviour.reject_next = 1
    try:
        # The rejected head is o1's or o2's, whichever the relay sent first; find it afterwards.
        assert await relay.run_once() >= 1
    finally:
        await client.close()
    rows = await rows_by_id(engine)
    rejected = [r for r in rows.values() if r["last_error"]]
    assert len(rejected) == 1
    bad = rejected[0]
    assert bad["delivered_at"] is None
    assert "INVALID_ARGUMENT" in bad["last_error"]
    assert bad["next_attempt_at"] == NOW + timedelta(seconds=60)
    # Nothing after the rejected diff in its order went out.
    assert all(c.diff["order_id"] != bad["order_id"] or c.diff["seq"] == 1 for c in orders.calls)
    pending = await list_pending(engine)
    assert pending[0].id == bad["id"]


async def test_two_relays_side_by_side_never_send_a_message_twice(
    engine: AsyncEngine, database_url: str, orders: GrpcOrdersServer
) -> None:
    from payments.adapters.db.engine import create_engine

    order_ids = [f"o{i}" for i in range(20)]
    await insert_diffs(engine, [diff_row(o, s) for o in order_ids for s in (1, 2, 3)])
    orders.behaviour.delay_seconds = 0.005  # answers overlap, so the relays really race
    other_engine = create_engine(database_url)
    clients = [GrpcOrdersClient(orders.target), GrpcOrdersClient(orders.target)]
    clock = FakeClock()

    async def loop(relay: OutboxRelay) -> int:
        delivered = 0
        for _ in range(200):
            delivered += await relay.run_once()
            if not await list_pending(engine):
                break
            await asyncio.sleep(0)
        return delivered

    try:
        relays = [
            OutboxRelay(SqlPaymentStore(engine), clients[0], clock=clock, batch_size=7),
            OutboxRelay(SqlPaymentStore(other_engine), clients[1], clock=clock, batch_size=7),
        ]
        counts = await asyncio.gather(*(loop(r) for r in relays))
    finally:
        for client in clients:
            await client.close()
        await other_engine.dispose()

    assert sum(counts) == 60
    keys = [c.key for c in orders.calls]
    assert len(keys) == len(set(keys)) == 60
    assert all(c.applied for c in orders.calls)
    assert orders.behaviour.applied_seqs() == {o: [1, 2, 3] for o in order_ids}


async def test_run_forever_delivers_and_stops(engine: AsyncEngine, orders: GrpcOrdersServer) -> None:
    await insert_diffs(engine, [diff_row("o1", 1), diff_row("o1", 2)])
    client = GrpcOrdersClient(orders.target)
    relay = OutboxRelay(SqlPaymentStore(engine), client)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run_forever(0.01, stop))
    try:
        for _ in range(500):
            if not await list_pending(engine):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    finally:
        stop.set()
        await client.close()
    assert orders.behaviour.applied_seqs() == {"o1": [1, 2]}
