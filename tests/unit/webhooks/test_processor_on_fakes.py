"""WebhookProcessor.process on the in-memory store: an event's effects happen once, or not at all."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.checkout.service import CreatePayment, PaymentService
from payments.domain.state_diff import Cause
from payments.records import EventStatus, PaymentRecord
from payments.webhooks.idempotency import WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.processor import LivemodeMismatch, WebhookConfig, WebhookProcessor
from payments.webhooks.stripe_events import translate
from tests.support import stripe_events as se
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, FakeUnitOfWork, chain
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


async def test_a_refund_deferred_while_its_payment_was_being_linked_is_applied_by_the_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The completion's own look for deferred events ran before the refund's deferral committed; once
    committed, it looks again and applies the refund at once (not at housekeeping's next sweep)."""
    w = World()
    payment = await w.open_payment("ord_w")
    refund = se.event("refund.created", se.refund("re_w1", "pi_w1", "ch_w1", 3000))
    assert (await w.deliver(refund)).status is EventStatus.DEFERRED
    looks = 0
    real = FakeUnitOfWork.deferred_for

    async def raced(self: FakeUnitOfWork, refs: Any) -> Any:
        nonlocal looks
        looks += 1
        return [] if looks == 1 else await real(self, refs)  # the first look, inside the completion

    monkeypatch.setattr(FakeUnitOfWork, "deferred_for", raced)
    await w.deliver(_completed(payment))

    assert looks >= 2
    paid = w.store.tables.payment(payment.id)
    assert (paid.status, paid.amount_refunded) == ("partially_refunded", 3000)
    assert w.store.tables.events[refund["id"]].status is EventStatus.PROCESSED
    assert chain(w.store, "ord_w") == [(1, "pending", "paid"), (2, "paid", "partially_refunded")]


async def test_a_payment_linked_while_its_refund_was_being_deferred_gets_it_from_the_deferral() -> None:
    """The refund found no payment, and the completion committed (without seeing the refund) before the
    refund's deferral did: the refund, once committed, finds its payment linked and applies itself."""
    w = World()
    payment = await w.open_payment("ord_w")
    completion = _completed(payment)

    async def completion_commits_meanwhile() -> None:
        # The deferral is committed; the completion applies without looking for it.
        assert any(e.status is EventStatus.DEFERRED for e in w.store.tables.events.values())
        async with w.store.transaction() as tx:
            record = await tx.get_payment_for_update(payment.id)
            assert record is not None
            await PaymentOrchestrator().apply(
                tx, record, translate(completion), Cause(completion["id"], completion["type"]), w.clock()
            )

    w.store.after_next_optimistic = completion_commits_meanwhile
    refund = se.event("refund.created", se.refund("re_w1", "pi_w1", "ch_w1", 3000))
    handled = await w.deliver(refund)

    assert handled.status is EventStatus.DEFERRED  # what the delivery itself did
    paid = w.store.tables.payment(payment.id)
    assert (paid.status, paid.amount_refunded) == ("partially_refunded", 3000)
    assert w.store.tables.events[refund["id"]].status is EventStatus.PROCESSED
