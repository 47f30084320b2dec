"""OrderHistory on the in-memory store: an order's diffs in seq order, or why there are none."""

from __future__ import annotations

import pytest

from payments.checkout.history import OrderHistory
from payments.checkout.service import CreatePayment, PaymentService
from payments.domain.payment_state import PaymentFacts
from payments.domain.stripe_facts import EventFacts
from payments.errors import NotFound
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, apply_facts
from tests.support.service import service_settings


async def test_history_is_the_orders_diffs_and_says_why_when_there_are_none() -> None:
    store, clock = FakeStore(), FakeClock()
    history = OrderHistory(store)
    with pytest.raises(NotFound, match="no payment for order ord_nope"):
        await history.of_order("ord_nope")

    payments = PaymentService(store, FakeStripeGateway(), service_settings(), clock)
    payment = (await payments.create_payment(CreatePayment("ord_1", "u_1", 2500, "eur"))).payment
    with pytest.raises(NotFound, match="no history for order ord_1"):
        await history.of_order("ord_1")

    paid = PaymentFacts(succeeded=True, amount_received=2500, currency_received="eur")
    await apply_facts(store, payment.id, EventFacts(payment_intent_id="pi_1", facts=paid), "evt_1", clock())
    (entry,) = await history.of_order("ord_1")
    assert (entry["seq"], entry["from_state"], entry["to_state"], entry["amount_paid"]) == (
        1,
        "pending",
        "paid",
        2500,
    )
    assert entry["cause_event_id"] == "evt_1"
