"""PaymentService.create_payment against a recording gateway: retries resend identical Stripe requests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.checkout.service import CheckoutMode, CreatePayment, PaymentService
from payments.errors import Conflict, InvalidRequest, UpstreamError
from payments.stripe_port import CheckoutSession, GatewayError, GatewayErrorKind, PaymentIntent
from tests.support.clock import NOW
from tests.support.service import service_settings


class RecordingGateway:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[str, Any, str]] = []
        self.fail_first = fail_first

    async def create_checkout_session(self, req: Any, *, idempotency_key: str) -> CheckoutSession:
        self.calls.append(("session", req, idempotency_key))
        if len(self.calls) <= self.fail_first:
            raise GatewayError(GatewayErrorKind.UNAVAILABLE, "down")
        return CheckoutSession(id="cs_1", url="http://emulator/pay/cs_1", payment_intent_id=None)

    async def create_payment_intent(self, req: Any, *, idempotency_key: str) -> PaymentIntent:
        self.calls.append(("intent", req, idempotency_key))
        return PaymentIntent(id="pi_1", client_secret="pi_1_secret_x", status="requires_payment_method")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def _service(engine: AsyncEngine, gateway: RecordingGateway, clock: Clock) -> PaymentService:
    return PaymentService(SqlPaymentStore(engine), gateway, service_settings(), clock)  # type: ignore[arg-type]


CMD = CreatePayment(
    order_id="ord_1",
    user_id="u_1",
    amount=2500,
    currency="EUR",
    referrer_id="ref_1",
    customer_email="a@example.com",
)


async def test_a_retry_after_a_stripe_failure_sends_identical_parameters(engine: AsyncEngine) -> None:
    gateway, clock = RecordingGateway(fail_first=1), Clock()
    service = _service(engine, gateway, clock)
    with pytest.raises(UpstreamError):
        await service.create_payment(CMD)
    clock.now = NOW + timedelta(minutes=3)
    result = await service.create_payment(CMD)
    assert not result.created and result.payment.checkout_url == "http://emulator/pay/cs_1"
    (_, first, key1), (_, second, key2) = gateway.calls
    assert first == second and key1 == key2 == f"{result.payment.id}:checkout_session"
    assert first.metadata == {
        "order_id": "ord_1",
        "user_id": "u_1",
        "payment_id": result.payment.id,
        "referrer_id": "ref_1",
        "payment_type": "checkout",
    }
    assert first.client_reference_id == "ord_1" and first.currency == "eur"
    assert first.expires_at == int((NOW + timedelta(minutes=60)).timestamp())


async def test_same_terms_same_payment_other_terms_conflict(engine: AsyncEngine) -> None:
    gateway = RecordingGateway()
    service = _service(engine, gateway, Clock())
    first = await service.create_payment(CMD)
    again = await service.create_payment(CMD)
    assert first.created and not again.created and again.payment.id == first.payment.id
    assert len(gateway.calls) == 1
    with pytest.raises(Conflict):
        await service.create_payment(replace(CMD, **{"amount": 2600}))


async def test_idempotency_key_reused_for_another_order_is_a_conflict(engine: AsyncEngine) -> None:
    service = _service(engine, RecordingGateway(), Clock())
    await service.create_payment(replace(CMD, **{"idempotency_key": "k1"}))
    with pytest.raises(Conflict):
        await service.create_payment(replace(CMD, **{"order_id": "ord_2", "idempotency_key": "k1"}))


async def test_payment_intent_mode_and_validation(engine: AsyncEngine) -> None:
    gateway = RecordingGateway()
    service = _service(engine, gateway, Clock())
    result = await service.create_payment(
        CreatePayment(
            order_id="ord_pi", user_id="u", amount=500, currency="jpy", mode=CheckoutMode.PAYMENT_INTENT
        )
    )
    assert (
        result.payment.client_secret == "pi_1_secret_x" and result.payment.stripe_payment_intent_id == "pi_1"
    )
    assert gateway.calls[0][1].metadata["payment_type"] == "payment_intent"
    for bad, field in (
        (dict(amount=0), "amount"),
        (dict(currency="zzz"), "currency"),
        (dict(amount=10**12), "amount"),
        (dict(amount=1005, currency="kwd"), "amount"),
    ):
        with pytest.raises(InvalidRequest) as info:
            await service.create_payment(replace(CMD, **{"order_id": "ord_bad", **bad}))
        assert info.value.field == field
