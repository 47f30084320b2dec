"""WebhookProcessor.process on the in-memory store: an event's effects happen once, or not at all."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.checkout.service import CreatePayment, PaymentService
from payments.records import EventStatus, PaymentRecord
from payments.webhooks.idempotency import WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.processor import LivemodeMismatch, WebhookConfig, WebhookProcessor
from tests.support import stripe_events as se
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, chain
from tests.support.service import service_settings


class World:
    def __init__(self) -> None:
        self.store, self.stripe, self.clock = FakeStore(), FakeStripeGateway(), FakeClock()
        config = WebhookConfig(secrets=lambda: [], tolerance_seconds=300, livemode=False)
        idempotency = WebhookIdempotencyService(self.store, None, self.clock)
        self.processor = WebhookProcessor(
            self.store, idempotency, PaymentOrchestrator(), config, self.clock, refunds=self.stripe
        )

    async def open_payment(self, order_id: str) -> PaymentRecord:
        payments = PaymentService(self.store, self.stripe, service_settings(), self.clock)
        return (await payments.create_payment(CreatePayment(order_id, "u_1", 10_000, "eur"))).payment

    async def deliver(self, event: dict[str, Any]) -> Any:
        return await self.processor.process(event, json.dumps(event))


def _completed(payment: PaymentRecord, **overrides: Any) -> dict[str, Any]:
    session = se.session(payment.stripe_checkout_session_id or "", payment.id, payment.order_id, "pi_w1")
    return se.event("checkout.session.completed", session, **overrides)


async def test_checkout_completed_makes_the_payment_paid_and_tells_orders_once() -> None:
    w = World()
    payment = await w.open_payment("ord_w")
    event = _completed(payment)
    handled = await w.deliver(event)
    assert (handled.duplicate, handled.status) == (False, EventStatus.PROCESSED)
    paid = w.store.tables.payment(payment.id)
    assert paid.status == "succeeded" and paid.stripe_payment_intent_id == "pi_w1"
    assert chain(w.store, "ord_w") == [(1, "pending", "paid")]
    assert w.store.tables.events[event["id"]].status is EventStatus.PROCESSED


async def test_the_same_event_again_is_a_duplicate_and_changes_nothing() -> None:
    w = World()
    payment = await w.open_payment("ord_w")
    event = _completed(payment)
    await w.deliver(event)
    before = w.store.tables.copy()
    again = await w.deliver(event)
    assert again.duplicate
    assert w.store.tables.payments == before.payments
    assert w.store.tables.diffs == before.diffs and len(w.store.tables.diffs) == 1
    assert w.store.tables.events == before.events


async def test_a_handler_that_raises_leaves_no_effect_and_the_event_is_stored_failed() -> None:
    w = World()
    payment = await w.open_payment("ord_w")
    event = _completed(payment, livemode=True)  # a live-mode event at a test-mode service
    with pytest.raises(LivemodeMismatch):
        await w.deliver(event)
    assert w.store.tables.payment(payment.id).status == "open"
    assert chain(w.store, "ord_w") == []
    stored = w.store.tables.events[event["id"]]
    assert stored.status is EventStatus.FAILED and (stored.last_error or "").startswith("LivemodeMismatch")


def _charge_refunded_without_refunds(amount_refunded: int) -> dict[str, Any]:
    """``charge.refunded`` as API 2022-11-15 and later send it: the total, not the refunds."""
    charge = {**se.charge("ch_1", "pi_w1"), "amount_refunded": amount_refunded}
    del charge["refunds"]
    return se.event("charge.refunded", charge)


async def _paid_with_a_failed_refund(w: World) -> PaymentRecord:
    payment = await w.open_payment("ord_fx")
    await w.deliver(_completed(payment))
    await w.deliver(se.event("refund.created", se.refund("re_1", "pi_w1", "ch_1", 3_000)))
    await w.deliver(se.event("refund.failed", se.refund("re_1", "pi_w1", "ch_1", 3_000, status="failed")))
    assert w.store.tables.payment(payment.id).amount_refunded == 0
    return payment


async def test_a_dashboard_refund_after_a_failed_one_of_the_same_amount_is_listed_and_counted() -> None:
    w = World()
    payment = await _paid_with_a_failed_refund(w)
    w.stripe.charge_refunds["ch_1"] = [
        se.refund("re_2", "pi_w1", "ch_1", 3_000),
        se.refund("re_1", "pi_w1", "ch_1", 3_000, status="failed"),
    ]
    handled = await w.deliver(_charge_refunded_without_refunds(3_000))
    after = w.store.tables.payment(payment.id)
    assert handled.status is EventStatus.PROCESSED
    assert (after.status, after.amount_refunded) == ("partially_refunded", 3_000)


async def test_a_charge_total_from_before_a_refund_failed_is_applied_once_the_listing_shows_it() -> None:
    w = World()
    payment = await _paid_with_a_failed_refund(w)
    w.stripe.charge_refunds["ch_1"] = [se.refund("re_1", "pi_w1", "ch_1", 3_000, status="failed")]
    handled = await w.deliver(_charge_refunded_without_refunds(3_000))
    after = w.store.tables.payment(payment.id)
    assert handled.status is EventStatus.PROCESSED
    assert (after.status, after.amount_refunded) == ("succeeded", 0)
