"""EventSweep on the in-memory store: one replica at a time sweeps, from the watermark it leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from payments.checkout.service import CreatePayment, PaymentService
from payments.webhooks.idempotency import WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.processor import WebhookConfig, WebhookProcessor
from payments.webhooks.sweep import EventSweep, SweepConfig
from tests.support import stripe_events as se
from tests.support.clock import NOW, FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, chain
from tests.support.service import service_settings

T0 = int(NOW.timestamp())
CONFIG = SweepConfig(lag=timedelta(minutes=5), window=timedelta(hours=1), initial_lookback=timedelta(days=3))


class Events:
    """Stripe's Events API over a list."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.calls: list[tuple[int, int | None]] = []

    async def iter_events(
        self, *, created_gte: int, created_lt: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append((created_gte, created_lt))
        for event in sorted(self.events, key=lambda e: e["created"]):
            if created_gte <= event["created"] and (created_lt is None or event["created"] < created_lt):
                yield event


async def test_one_replica_sweeps_at_a_time_and_the_next_goes_on_from_its_watermark() -> None:
    store, stripe, clock = FakeStore(), FakeStripeGateway(), FakeClock()
    config = WebhookConfig(secrets=lambda: [], tolerance_seconds=300, livemode=False)
    processor = WebhookProcessor(
        store, WebhookIdempotencyService(store, None, clock), PaymentOrchestrator(), config, clock
    )
    payments = PaymentService(store, stripe, service_settings(), clock)
    payment = (await payments.create_payment(CreatePayment("ord_sw", "u_1", 10_000, "eur"))).payment
    session = se.session(payment.stripe_checkout_session_id or "", payment.id, "ord_sw", "pi_sw")
    paid = se.event("checkout.session.completed", session, created=T0 - 3600 * 30)
    refund = se.event("refund.created", se.refund("re_2", "pi_sw", "ch_sw", 500), created=T0 - 60)
    source = Events([paid, refund])
    a = EventSweep(store, source, processor, clock, CONFIG)
    b = EventSweep(store, source, processor, clock, CONFIG)

    assert await a._lease(clock()) is not None  # a is mid-round
    assert await b.run_once() is None and source.calls == []
    await a._release(T0 - 3 * 86_400)

    first = await b.run_once()
    assert first is not None and (first.applied, first.watermark) == (1, T0 - 300)  # the refund is too recent
    assert source.calls[0][0] == T0 - 3 * 86_400
    assert store.tables.sweeps["stripe_events"].lease_owner is None

    clock.advance(timedelta(minutes=10))
    second = await a.run_once()
    assert second is not None and (second.fetched, second.applied) == (1, 1)  # from b's watermark on
    assert store.tables.payment(payment.id).amount_refunded == 500
    assert chain(store, "ord_sw") == [(1, "pending", "paid"), (2, "paid", "partially_refunded")]
