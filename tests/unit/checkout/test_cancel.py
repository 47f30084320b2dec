"""Canceling on the in-memory store and Stripe: Stripe is told first, and what Stripe says is recorded."""

from __future__ import annotations

from dataclasses import replace

import pytest

from payments.checkout.cancel import AlreadyPaid
from payments.checkout.service import CheckoutMode, CreatePayment, PaymentService
from payments.errors import NotFound, UpstreamError
from payments.stripe_port import GatewayErrorKind
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, chain
from tests.support.service import service_settings

CMD = CreatePayment(order_id="ord_c", user_id="u_1", amount=2500, currency="eur")
SETTINGS = service_settings()


def _service() -> tuple[PaymentService, FakeStore, FakeStripeGateway]:
    store, gateway = FakeStore(), FakeStripeGateway()
    return PaymentService(store, gateway, SETTINGS, FakeClock()), store, gateway


async def test_cancel_expires_the_session_and_a_second_cancel_asks_stripe_nothing() -> None:
    service, store, gateway = _service()
    payment = (await service.create_payment(CMD)).payment
    canceled = await service.cancel_payment(payment.id)
    assert canceled.status == "canceled"
    assert gateway.sessions[payment.stripe_checkout_session_id or ""].status == "expired"
    assert chain(store, "ord_c") == [(1, "pending", "canceled")]
    again = await service.cancel_payment(payment.id)
    assert again.status == "canceled" and len(gateway.calls_to("expire_checkout_session")) == 1
    assert chain(store, "ord_c") == [(1, "pending", "canceled")]


async def test_a_session_the_customer_paid_first_is_not_canceled_but_recorded_paid() -> None:
    service, store, gateway = _service()
    payment = (await service.create_payment(CMD)).payment
    gateway.pay_session(payment.stripe_checkout_session_id or "")
    with pytest.raises(AlreadyPaid) as refused:
        await service.cancel_payment(payment.id)
    assert refused.value.payment.status == "succeeded"
    assert store.tables.payment(payment.id).status == "succeeded"
    assert chain(store, "ord_c") == [(1, "pending", "paid")]


async def test_cancel_of_a_payment_intent_cancels_it_at_stripe() -> None:
    service, _, gateway = _service()
    payment = (await service.create_payment(replace(CMD, mode=CheckoutMode.PAYMENT_INTENT))).payment
    canceled = await service.cancel_payment(payment.id)
    assert canceled.status == "canceled"
    assert gateway.intents[payment.stripe_payment_intent_id or ""].status == "canceled"


async def test_stripe_unavailable_leaves_the_payment_payable_and_the_cancel_retryable() -> None:
    service, store, gateway = _service()
    payment = (await service.create_payment(CMD)).payment
    gateway.fail_next("expire_checkout_session", GatewayErrorKind.UNAVAILABLE)
    with pytest.raises(UpstreamError) as failed:
        await service.cancel_payment(payment.id)
    assert failed.value.retryable
    assert store.tables.payment(payment.id).status == "open"
    assert gateway.sessions[payment.stripe_checkout_session_id or ""].status == "open"
    assert (await service.cancel_payment(payment.id)).status == "canceled"


async def test_cancel_of_an_unknown_payment_is_not_found() -> None:
    service, _, gateway = _service()
    with pytest.raises(NotFound):
        await service.cancel_payment("pay_nope")
    assert gateway.calls == []
