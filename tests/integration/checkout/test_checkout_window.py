"""Every Checkout Session request Stripe receives has an expires_at inside its 30 min - 24 h window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.checkout.service import CreatePayment, PaymentService
from payments.errors import UpstreamError, UpstreamRefused
from payments.stripe_port import GatewayError, GatewayErrorKind
from tests.support import stripe_events as se
from tests.support.clock import NOW
from tests.support.fakes import FakeStripeGateway
from tests.support.payment_steps import chain
from tests.support.service import running_service, service_settings

CMD = CreatePayment(order_id="ord_w", user_id="u_1", amount=2500, currency="eur")
DOWN = GatewayError(GatewayErrorKind.UNAVAILABLE, "down")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def _service(engine: AsyncEngine, gateway: FakeStripeGateway, clock: Clock) -> PaymentService:
    return PaymentService(SqlPaymentStore(engine), gateway, service_settings(), clock)


def _failing(*errors: GatewayError) -> FakeStripeGateway:
    """A gateway whose next create calls raise ``errors``, in order."""
    gateway = FakeStripeGateway()
    for error in errors:
        gateway.fail_next_with("create_checkout_session", error)
    return gateway


@pytest.mark.parametrize("delay_minutes", [1, 27, 28, 29, 45, 61, 24 * 60, 3 * 24 * 60])
async def test_a_retry_any_time_later_sends_stripe_a_window_it_accepts(
    engine: AsyncEngine, delay_minutes: int
) -> None:
    gateway, clock = _failing(DOWN), Clock()
    service = _service(engine, gateway, clock)
    with pytest.raises(UpstreamError):
        await service.create_payment(CMD)
    clock.now = NOW + timedelta(minutes=delay_minutes)
    result = await service.create_payment(CMD)
    assert result.payment.checkout_url
    (first, key1), (second, key2) = gateway.checkout_requests
    for request, sent_at in ((first, NOW), (second, clock.now)):
        lifetime = request.expires_at - int(sent_at.timestamp())
        assert 30 * 60 < lifetime < 24 * 3600, (delay_minutes, lifetime)
    if first.expires_at == second.expires_at:
        # The same parameters under the same key: Stripe replays or creates exactly one session.
        assert key1 == key2 == f"{result.payment.id}:checkout_session" and first == second
    else:
        # A fresh window needs a fresh key (Stripe refuses a key reused with other parameters).
        assert key1 != key2 and key2 == f"{result.payment.id}:checkout_session:1"
        assert second.expires_at == int((clock.now + timedelta(minutes=60)).timestamp())
    assert result.payment.stripe_expires_at is not None
    assert int(result.payment.stripe_expires_at.timestamp()) == second.expires_at


async def test_the_window_is_renewed_only_when_stripe_would_refuse_it(engine: AsyncEngine) -> None:
    gateway, clock = _failing(DOWN, DOWN, DOWN), Clock()
    service = _service(engine, gateway, clock)
    for minutes in (0, 10, 29):  # 60 min lifetime: 50 min left is fine, 31 min left is too close
        clock.now = NOW + timedelta(minutes=minutes)
        with pytest.raises(UpstreamError):
            await service.create_payment(CMD)
    keys = gateway.keys_of("create_checkout_session")
    assert keys[0] == keys[1] and keys[2] is not None and keys[2].endswith(":checkout_session:1")
    record = (await service.create_payment(CMD)).payment
    assert record.stripe_key_generation == 1 and gateway.keys_of("create_checkout_session")[3] == keys[2]


async def test_stripe_refusing_the_request_ends_the_attempt_and_the_order_can_pay_again(
    engine: AsyncEngine,
) -> None:
    refused = GatewayError(GatewayErrorKind.INVALID, "bad", code="parameter_invalid", param="success_url")
    gateway, clock = _failing(refused), Clock()
    service = _service(engine, gateway, clock)
    with pytest.raises(UpstreamRefused) as info:
        await service.create_payment(CMD)
    assert info.value.field == "success_url" and info.value.code == "stripe_invalid_request"
    assert not isinstance(info.value, UpstreamError)  # not the retryable kind
    first = await service.get_payment_for_order("ord_w")
    assert first.status == "failed" and first.last_error == "invalid_request: success_url"
    assert await chain(engine, "ord_w") == [(1, "pending", "payment_failed")]
    again = await service.create_payment(replace(CMD, description="fixed"))
    assert again.created and again.payment.attempt == 2 and again.payment.checkout_url


async def test_the_expiry_of_a_session_whose_answer_was_lost_does_not_end_the_payment(
    engine: AsyncEngine,
) -> None:
    """The first create reached Stripe but its answer was lost; the retry, with under 32 minutes left,
    opened a session of the next generation. The orphan's expiry is not the payment's; its money would be."""
    clock, gateway = Clock(), FakeStripeGateway()
    async with running_service(engine) as svc:
        service = svc.container.payments = PaymentService(
            SqlPaymentStore(engine), gateway, svc.container.settings, clock, svc.container.orchestrator
        )
        gateway.fail_next("create_checkout_session", GatewayErrorKind.UNAVAILABLE, after_effect=True)
        with pytest.raises(UpstreamError):
            await service.create_payment(CMD)
        (orphan,) = gateway.sessions
        clock.now = NOW + timedelta(minutes=29)
        payment = (await service.create_payment(CMD)).payment
        assert payment.stripe_checkout_session_id != orphan

        gone = se.session(orphan, payment.id, "ord_w", None, payment_status="unpaid", status="expired")
        assert (await svc.deliver(se.event("checkout.session.expired", gone))).status_code == 200
        assert (await service.get_payment(payment.id)).status == "open"
        assert await svc.history("ord_w") == []

        paid = se.session(orphan, payment.id, "ord_w", "pi_orphan", amount=2500)
        assert (await svc.deliver(se.event("checkout.session.completed", paid))).status_code == 200
        assert (await service.get_payment(payment.id)).status == "succeeded"


async def test_the_shortest_lifetime_allowed_is_sent_once_not_renewed_by_the_first_call(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(ValueError, match="checkout_expires_minutes"):
        service_settings(checkout_expires_minutes=34)
    gateway = FakeStripeGateway()
    service = PaymentService(
        SqlPaymentStore(engine), gateway, service_settings(checkout_expires_minutes=35), lambda: NOW
    )
    payment = (await service.create_payment(CMD)).payment
    assert gateway.keys_of("create_checkout_session") == [f"{payment.id}:checkout_session"]
