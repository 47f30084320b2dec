"""The relay and the backlog on the in-memory store: per-order order, failures held back, retry now."""

from __future__ import annotations

import random
from datetime import timedelta

from payments.domain.state_diff import OrderUpdate
from payments.orders_port import OrdersError, OrdersRejected, OrdersUnavailable
from payments.outbox.backlog import OutboxBacklog
from payments.outbox.relay import OutboxRelay
from payments.records import OutboxMessage
from tests.support.clock import NOW, FakeClock
from tests.support.fakes import FakeStore


class TopOfJitter(random.Random):
    """Full jitter always drawing the top of its range: the backoff becomes exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class FakeOrders:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.failing: dict[str, OrdersError] = {}

    async def apply(self, update: OrderUpdate) -> None:
        self.calls.append((update.order_id, update.seq))
        error = self.failing.get(update.order_id)
        if error is not None:
            raise error

    async def close(self) -> None:
        pass

    def heard(self, order_id: str) -> list[int]:
        return [seq for order, seq in self.calls if order == order_id]


def _diff(order_id: str, seq: int) -> OutboxMessage:
    return OutboxMessage(
        id=f"osd_{order_id}_{seq}",
        order_id=order_id,
        seq=seq,
        payment_id=f"pay_{order_id}",
        from_state="pending",
        to_state="paid",
        amount_paid=1000,
        amount_refunded=0,
        currency="eur",
        cause_event_id=f"evt_{order_id}_{seq}",
        cause_event_type="checkout.session.completed",
        at=NOW + timedelta(seconds=seq),
        next_attempt_at=NOW,
    )


def _world(*orders: str, diffs: int = 3) -> tuple[FakeStore, FakeOrders, FakeClock, OutboxRelay]:
    store, client, clock = FakeStore(), FakeOrders(), FakeClock()
    store.tables.diffs = [_diff(o, s) for o in orders for s in range(1, diffs + 1)]
    return store, client, clock, OutboxRelay(store, client, clock=clock, rng=TopOfJitter())


def _row(store: FakeStore, message_id: str) -> OutboxMessage:
    return next(d for d in store.tables.diffs if d.id == message_id)


async def test_one_call_delivers_every_order_in_seq_order() -> None:
    store, orders, _, relay = _world("o1", "o2")
    assert await relay.run_once() == 6
    assert orders.heard("o1") == orders.heard("o2") == [1, 2, 3]
    assert all(d.delivered_at == NOW for d in store.tables.diffs)
    assert await relay.run_once() == 0


async def test_a_failing_order_is_left_alone_for_the_call_while_the_others_go_on() -> None:
    store, orders, _, relay = _world("o1", "o2")
    orders.failing["o1"] = OrdersUnavailable("grpc UNAVAILABLE")
    assert await relay.run_once() == 3
    assert orders.heard("o1") == [1]  # tried once; its later diffs wait behind it
    assert orders.heard("o2") == [1, 2, 3]
    head = _row(store, "osd_o1_1")
    assert (head.attempts, head.last_error) == (1, "grpc UNAVAILABLE")
    assert head.next_attempt_at == NOW + timedelta(seconds=1)  # base 1 s, the top of its jitter
    assert _row(store, "osd_o1_2").attempts == 0


async def test_a_rejected_diff_backs_off_longer_than_an_outage() -> None:
    store, orders, _, relay = _world("o1", "o2", diffs=1)
    orders.failing["o1"] = OrdersRejected("grpc INVALID_ARGUMENT")
    orders.failing["o2"] = OrdersUnavailable("grpc UNAVAILABLE")
    assert await relay.run_once() == 0
    assert _row(store, "osd_o1_1").next_attempt_at == NOW + timedelta(seconds=60)
    assert _row(store, "osd_o2_1").next_attempt_at == NOW + timedelta(seconds=1)


async def test_retry_now_makes_a_backed_off_diff_due_and_the_next_call_sends_it() -> None:
    store, orders, clock, relay = _world("o1", diffs=2)
    orders.failing["o1"] = OrdersRejected("http 422")
    assert await relay.run_once() == 0
    del orders.failing["o1"]
    clock.advance(timedelta(seconds=5))
    assert await relay.run_once() == 0  # still backing off (60 s)
    backlog = OutboxBacklog(store, clock)
    assert [m.id for m in await backlog.pending()] == ["osd_o1_1", "osd_o1_2"]
    assert await backlog.retry_now("osd_o1_1") == 1
    assert await backlog.retry_now("no_such_id") == 0
    assert await relay.run_once() == 2
    assert orders.heard("o1") == [1, 1, 2]
    assert await backlog.count() == 0
